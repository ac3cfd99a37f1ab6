import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
import SafeTensors
@testable import Runtime

let modelFixtures = ["gpt2", "gpt2-prefixed", "bert", "bert-tf", "bert-mlm", "bert-tf-mlm", "llama", "qwen2", "mistral", "gpt2-t2r", "gpt2-t2r-folded",
                     "bert-t2r", "bert-t2r-folded", "bert-elu", "llama-hedgehog", "qwen2-performer"]

func load(_ name: String) throws -> Transformer {
    let m = try Model(path: fixture(name))
    return try Transformer(graph: try m.graph(), store: m.store)
}

/// Recast's forward pass against the NumPy reference (tools/reference.py, float64), on every family fixture.
@Suite struct ForwardTests {
    @Test(arguments: modelFixtures)
    func matchesStoredReference(_ name: String) throws {
        let expected = try SafeTensorsFile(path: fixture("expected/\(name).safetensors"))
        let tokens = expected.metadata.first { $0.key == "tokens" }!.value.split(separator: ",").map { Int($0)! }
        let model = try load(name)
        let out = try model.forward(tokens: tokens)
        #expect(maxRelativeError(out.hiddenStates.data, try expected.loadFloat32("hidden_states")) < 1e-4)
        if expected.info(named: "logits") != nil {
            let logits = try #require(out.logits)
            #expect(maxRelativeError(logits.data, try expected.loadFloat32("logits")) < 1e-4)
        } else {
            #expect(out.logits == nil)
        }
    }

    @Test(arguments: modelFixtures.filter { !$0.hasPrefix("bert") })
    func recurrentAgreesWithParallel(_ name: String) throws {
        let model = try load(name)
        let tokens = syntheticTokens(length: 40, seed: 11, vocab: model.graph.vocabSize)
        let p = try model.forward(tokens: tokens), r = try model.forwardRecurrent(tokens: tokens)
        #expect(maxRelativeError(r.hiddenStates.data, p.hiddenStates.data) < 1e-5)
        #expect(maxRelativeError(r.logits!.data, p.logits!.data) < 1e-5)
    }

    /// Sequences longer than one chunk of the parallel linear attention exercise the carried state.
    @Test func linearAttentionAcrossChunks() throws {
        let model = try load("gpt2-t2r")
        let tokens = syntheticTokens(length: 64, seed: 5, vocab: 64)
        let p = try model.forward(tokens: tokens), r = try model.forwardRecurrent(tokens: tokens)
        #expect(maxRelativeError(r.hiddenStates.data, p.hiddenStates.data) < 1e-5)
    }

    /// A live run of the reference on seeded tokens, so the token contract is checked end to end.
    @Test(arguments: ["gpt2", "llama", "bert-tf", "qwen2-performer"])
    func matchesLiveReference(_ name: String) throws {
        let dir = TempDir()
        let out = dir.file("ref.safetensors")
        let r = try python([repoRoot + "/tools/reference.py", fixture(name), "--length", "24", "--seed", "9", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let ref = try SafeTensorsFile(path: out)
        let model = try load(name)
        let got = try model.forward(tokens: syntheticTokens(length: 24, seed: 9, vocab: model.graph.vocabSize))
        #expect(ref.metadata.first { $0.key == "tokens" }?.value == syntheticTokens(length: 24, seed: 9, vocab: model.graph.vocabSize).map(String.init).joined(separator: ","))
        #expect(maxRelativeError(got.hiddenStates.data, try ref.loadFloat32("hidden_states")) < 1e-4)
    }

    @Test func tokenContract() {
        #expect(syntheticTokens(length: 5, seed: 3, vocab: 64) == [45, 9, 1, 15, 22])
        #expect(syntheticTokens(length: 4, seed: 42, vocab: 50257) == [22975, 40835, 38622, 25336])
        #expect(syntheticTokens(length: 4, seed: UInt64.max, vocab: 32000) == [27936, 969, 1001, 5842])
    }

    @Test func refusals() throws {
        let bert = try load("bert")
        #expect(throws: RuntimeError.self) { try bert.forwardRecurrent(tokens: [1, 2]) }
        let gpt2 = try load("gpt2")
        #expect(throws: RuntimeError.self) { try gpt2.forward(tokens: [1, 64]) }
        #expect(throws: RuntimeError.self) { try gpt2.forward(tokens: [-1]) }
        #expect(throws: RuntimeError.self) { try gpt2.forward(tokens: []) }
        #expect(throws: RuntimeError.self) { try gpt2.forward(tokens: Array(repeating: 1, count: 65)) }
    }

    @Test func recurrentStateIsConstantForLinearLayers() throws {
        let model = try load("gpt2-t2r")
        let decoder = try model.makeDecoder()
        _ = try decoder.step(1)
        let after1 = decoder.stateBytes
        for t in 0..<20 { _ = try decoder.step(t) }
        #expect(decoder.stateBytes == after1, "every layer is linear, so the state does not grow")
        let softmax = try load("gpt2").makeDecoder()
        _ = try softmax.step(1)
        let s1 = softmax.stateBytes
        _ = try softmax.step(2)
        #expect(softmax.stateBytes == 2 * s1, "a KV cache grows by one token's keys and values")
    }
}
