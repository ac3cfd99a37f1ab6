import Testing
import TestSupport
import RecastCore
import SafeTensors
@testable import Runtime

/// GPT-2's `scale_attn_weights` and `scale_attn_by_inverse_layer_idx` change the softmax: Recast computes them
/// (they used to be ignored) and matches `tools/reference.py` in both modes.
@Suite struct AttentionScaleTests {
    static let options: [(String, Bool)] = [("scale_attn_weights", false), ("scale_attn_by_inverse_layer_idx", true)]

    @Test(arguments: options)
    func gpt2ScaleOptionsMatchTheReference(_ key: String, _ value: Bool) throws {
        let dir = TempDir()
        let path = try editedCopy(of: "gpt2", in: dir) { $0.set(key, .bool(value)) }
        let t = try loadModel(at: path)
        let tokens = syntheticTokens(length: 24, seed: 5, vocab: t.graph.vocabSize)
        let plain = try loadModel(at: fixture("gpt2")).forward(tokens: tokens)
        for mode in ForwardMode.allCases {
            let out = dir.file("ref-\(mode.rawValue).safetensors")
            let r = try python([repoRoot + "/tools/reference.py", path, "--length", "24", "--seed", "5", "--mode", mode.rawValue, "--out", out])
            try #require(r.status == 0, "\(r.stderr)")
            let ours = try t.run(tokens: tokens, mode: mode)
            #expect(maxRelativeError(ours.hiddenStates.data, try SafeTensorsFile(path: out).loadFloat32("hidden_states")) < 1e-4)
            #expect(maxRelativeError(ours.hiddenStates.data, plain.hiddenStates.data) > 1e-3, "the option changes the result")
        }
    }
}
