import Foundation
import RecastCore
import TestSupport

/// Real `torch.save` output, written once per test run by tools/torch_fixtures.py (torch 2.13, one Python
/// process), with what `torch.load` makes of each checkpoint: every tensor's dtype, shape and the SHA-256 of
/// `t.contiguous()`'s bytes, the groups of tensors whose bytes overlap (from torch's data pointers), and
/// the plain scalars beside the tensors. Checkpoints are named as the script names them (`views`,
/// `views-legacy`, `views-deflated`, `dtypes`, `sharded`, `hf-gpt2`, …).
final class TorchFixtures: @unchecked Sendable {
    let dir = TempDir()
    /// checkpoint → tensor name → (dtype code, shape, sha256)
    var expected: [String: [String: (dtype: String, shape: [Int], sha256: String)]] = [:]
    /// checkpoint → groups of tied tensor names (each sorted, the groups sorted)
    var ties: [String: [[String]]] = [:]
    /// checkpoint → metadata key → text
    var scalars: [String: [String: String]] = [:]
    /// checkpoint → its path relative to `dir`
    var paths: [String: String] = [:]

    static let shared: TorchFixtures = {
        let f = TorchFixtures()
        do { try f.generate() } catch { f.failure = "\(error)" }
        return f
    }()
    var failure: String?

    func path(_ name: String) -> String { dir.file(paths[name] ?? name) }

    private func generate() throws {
        let json = try pythonJSON("torch_fixtures.py", [dir.path])
        for (name, entry) in json["files"]?.objectValue ?? [] {
            paths[name] = entry["path"]?.stringValue
            var tensors: [String: (String, [Int], String)] = [:]
            for (tensor, t) in entry["digests"]?.objectValue ?? [] {
                tensors[tensor] = (t["dtype"]?.stringValue ?? "", (t["shape"]?.arrayValue ?? []).compactMap(\.intValue),
                                   t["sha256"]?.stringValue ?? "")
            }
            expected[name] = tensors
            ties[name] = (entry["tied"]?.arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.stringValue).sorted() }
                .sorted { $0.lexicographicallyPrecedes($1) }
            var s: [String: String] = [:]
            for (k, v) in entry["scalars"]?.objectValue ?? [] { s[k] = v.stringValue }
            scalars[name] = s
        }
    }
}
