import Foundation
import RecastCore

/// Each tensor of each file as [dtype, shape, SHA-256 of its little-endian C-order bytes], read by Python
/// (tools/crosscheck.py's readers of safetensors, sharded indexes and HDF5), all files in one process.
public func pythonTensors(_ paths: [String]) throws -> [String: [String: [String]]] {
    let script = """
        import json, sys
        sys.path.insert(0, sys.argv[1])
        from crosscheck import load_any
        from tensorio import sha256
        out = {}
        for p in sys.argv[2:]:
            tensors, _ = load_any(p)
            out[p] = {n: [r.code, json.dumps(list(r.shape)), sha256(r.data)] for n, r in tensors.items()}
        print(json.dumps(out))
        """
    let r = try python(["-c", script, repoRoot + "/tools"] + paths)
    guard r.status == 0 else { throw CheckpointError(file: "crosscheck.py", "python failed (\(r.status)): \(r.stderr)") }
    var out: [String: [String: [String]]] = [:]
    for (path, tensors) in try JSON.parse(r.stdout).objectValue ?? [] {
        out[path] = Dictionary(uniqueKeysWithValues: (tensors.objectValue ?? []).map { ($0.0, ($0.1.arrayValue ?? []).compactMap(\.stringValue)) })
    }
    return out
}
