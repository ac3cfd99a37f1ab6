import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
@testable import Runtime

/// Running a model one block at a time (`embed`, `advance`, `finish`), as `recast calibrate`'s teacher forcing
/// does, against the whole forward pass.
@Suite struct LayerwiseTests {
    static let fixtures = ["gpt2", "bert", "llama", "qwen2", "mistral", "gpt2-t2r", "llama-hedgehog", "bert-elu"]

    /// Teacher forcing through every layer gives the forward pass's hidden states and logits, bit for bit (the
    /// same passes over the same rows), on sequences of different lengths.
    @Test(arguments: fixtures)
    func teacherForcingEqualsTheForwardPass(_ name: String) throws {
        let t = try load(name)
        let batch = [5, 64, 1, 23].enumerated().map { syntheticTokens(length: $1, seed: UInt64(40 + $0), vocab: t.graph.vocabSize) }
        let whole = try t.forward(batch: batch, logits: .all)
        var states = try t.embed(batch: batch)
        #expect(states.nextLayer == 0 && states.tokens == 93)
        for l in 0..<t.graph.layerCount {
            try t.advance(&states)
            #expect(states.nextLayer == l + 1)
        }
        let layerwise = try t.finish(states, logits: .all)
        #expect(layerwise.count == batch.count)
        for s in batch.indices {
            #expect(layerwise[s].hiddenStates.data == whole[s].hiddenStates.data, "\(name) sequence \(s)")
            #expect(layerwise[s].logits?.data == whole[s].logits?.data, "\(name) sequence \(s) logits")
        }
    }

    /// A swapped model with every layer back to softmax attention is the model it was swapped from: the
    /// hedgehog fixture is the llama fixture with layer 1 swapped.
    @Test func softmaxOnlyIsTheOriginal() throws {
        let swapped = try Model(path: fixture("llama-hedgehog"))
        let graph = try swapped.graph()
        #expect(graph.linearAttention != nil)
        let teacher = try Transformer(graph: graph.softmaxOnly, store: swapped.store)
        #expect((0..<graph.layerCount).allSatisfy { !teacher.isLinear(layer: $0) })
        let original = try load("llama")
        let tokens = syntheticTokens(length: 40, seed: 3, vocab: graph.vocabSize)
        #expect(try teacher.forward(batch: [tokens])[0].hiddenStates.data == original.forward(batch: [tokens])[0].hiddenStates.data)
        // The swapped model itself differs in layer 1.
        let student = try Transformer(graph: graph, store: swapped.store)
        #expect(try student.forward(batch: [tokens])[0].hiddenStates.data != original.forward(batch: [tokens])[0].hiddenStates.data)
    }

    /// Over more rows than one pass holds, a probe on one layer sees every sequence once, numbered as in the
    /// batch, with the capture that sequence gives alone.
    @Test func probeSeesEverySequenceAcrossPasses() throws {
        let t = try load("llama")
        let count = Transformer.rowsPerPass / 60 + 20
        let batch = (0..<count).map { syntheticTokens(length: 60, seed: UInt64(100 + $0), vocab: t.graph.vocabSize) }
        var states = try t.embed(batch: batch)
        try t.advance(&states)
        var seen: [Int: AttentionCapture] = [:]
        try t.advance(&states, probe: Probe(layers: [1]) { c in
            #expect(c.layer == 1 && seen[c.sequence] == nil)
            seen[c.sequence] = c
        })
        #expect(seen.count == count)
        for s in [0, count / 2, count - 1] {
            var alone: AttentionCapture?
            _ = try t.forward(batch: [batch[s]], probe: Probe(layers: [1]) { alone = $0 })
            let a = try #require(alone), c = try #require(seen[s])
            #expect(maxRelativeError(c.outputs.flatMap(\.data), a.outputs.flatMap(\.data)) < 1e-5)
            #expect(maxRelativeError(c.values.flatMap(\.data), a.values.flatMap(\.data)) < 1e-5)
            #expect(maxRelativeError(c.input.data, a.input.data) < 1e-5)
        }
    }

    @Test func refusesToRunPastTheEnds() throws {
        let t = try load("gpt2")
        var states = try t.embed(batch: [[1, 2, 3]])
        #expect(throws: RuntimeError.self) { try t.finish(states) }
        for _ in 0..<t.graph.layerCount { try t.advance(&states) }
        #expect { try t.advance(&states) } throws: { "\($0)".contains("nothing to advance") }
        #expect { try t.embed(batch: [[t.graph.vocabSize]]) } throws: { "\($0)".contains("outside the vocabulary") }
    }
}
