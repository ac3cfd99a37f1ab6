import Foundation
import RecastCore
import SafeTensors
import TestSupport

/// A deterministic pseudo-random stream for test inputs.
struct TestRNG {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

/// Writes a GPT-2-shaped model folder with `layers` blocks of width `hidden` (f32), for tests that need
/// a checkpoint large enough that writing it takes a while.
func writeSyntheticGPT2(to dir: String, hidden: Int, layers: Int, vocab: Int) throws {
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var rng = TestRNG(state: 7)
    func tensor(_ name: String, _ shape: [Int]) -> OutputTensor {
        let n = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n { values[i] = Float(Int(rng.next() >> 40) - (1 << 23)) / Float(1 << 28) }
        return .values(name, values, shape: shape)
    }
    let e = hidden
    var tensors = [tensor("wte.weight", [vocab, e]), tensor("wpe.weight", [128, e])]
    for i in 0..<layers {
        let p = "h.\(i)."
        tensors += [
            .values(p + "ln_1.weight", [Float](repeating: 1, count: e), shape: [e]), .values(p + "ln_1.bias", [Float](repeating: 0, count: e), shape: [e]),
            tensor(p + "attn.c_attn.weight", [e, 3 * e]), tensor(p + "attn.c_attn.bias", [3 * e]),
            tensor(p + "attn.c_proj.weight", [e, e]), tensor(p + "attn.c_proj.bias", [e]),
            .values(p + "ln_2.weight", [Float](repeating: 1, count: e), shape: [e]), .values(p + "ln_2.bias", [Float](repeating: 0, count: e), shape: [e]),
            tensor(p + "mlp.c_fc.weight", [e, 4 * e]), tensor(p + "mlp.c_fc.bias", [4 * e]),
            tensor(p + "mlp.c_proj.weight", [4 * e, e]), tensor(p + "mlp.c_proj.bias", [e]),
        ]
    }
    tensors += [.values("ln_f.weight", [Float](repeating: 1, count: e), shape: [e]), .values("ln_f.bias", [Float](repeating: 0, count: e), shape: [e])]
    try SafeTensorsWriter.write(tensors, metadata: [("format", "pt")], to: dir + "/model.safetensors")
    let config = """
        {"model_type": "gpt2", "n_embd": \(e), "n_layer": \(layers), "n_head": 8, "vocab_size": \(vocab), "n_positions": 128}
        """
    try FileSystem.writeAll(dir + "/config.json", Array(config.utf8))
}

func fileHash(_ path: String) throws -> String { try SHA256.hex(file: path) }

/// Every entry below a folder, recursively, as relative paths.
func tree(_ dir: String) -> [String] {
    (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).sorted()
}
