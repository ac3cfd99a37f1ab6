import Testing
import TestSupport
import RecastCore
import ModelGraph
@testable import Runtime

/// The per-layer states over sequences longer than one parallel block (128 queries for softmax layers, 64
/// tokens for linear ones): parallel mode, token-by-token decoding and a prompt fed at once agree.
@Suite struct StateTests {
    func longModel(_ name: String, in dir: TempDir) throws -> Transformer {
        try loadModel(at: try editedCopy(of: name, in: dir) { $0.set("max_position_embeddings", .int(512)) })
    }

    @Test(arguments: ["llama", "mistral", "llama-hedgehog", "qwen2-performer"])
    func modesAgreePastOneBlock(_ name: String) throws {
        let dir = TempDir()
        let t = try longModel(name, in: dir)
        let tokens = syntheticTokens(length: 300, seed: 9, vocab: t.graph.vocabSize)
        let parallel = try t.forward(tokens: tokens), recurrent = try t.forwardRecurrent(tokens: tokens)
        #expect(maxRelativeError(recurrent.hiddenStates.data, parallel.hiddenStates.data) < 1e-5, "\(name)")
        // A prompt fed at once, then one more token, as generation does.
        let decoder = try t.makeDecoder()
        let fed = try decoder.feed(Array(tokens[..<299]))
        let e = t.graph.hiddenSize
        #expect(maxRelativeError(fed.hiddenStates.data, Array(parallel.hiddenStates.data[(298 * e)..<(299 * e)])) < 1e-5)
        let next = try decoder.step(tokens[299])
        #expect(maxRelativeError(next.hiddenStates.data, Array(parallel.hiddenStates.data[(299 * e)...])) < 1e-5)
        #expect(decoder.position == 300)
    }

    /// A prompt fed in two blocks, the second longer than one run of causal rows (`AttentionKernels.causalRun`):
    /// its queries see the first block's keys from the cache and a prefix of their own, which the prefill
    /// trims run by run; the result equals the parallel pass over the whole sequence.
    @Test(arguments: ["llama", "llama-hedgehog"])
    func aPromptFedInBlocksEqualsOnePass(_ name: String) throws {
        let dir = TempDir()
        let t = try longModel(name, in: dir)
        let tokens = syntheticTokens(length: 300, seed: 11, vocab: t.graph.vocabSize)
        let parallel = try t.forward(tokens: tokens)
        let e = t.graph.hiddenSize
        let decoder = try t.makeDecoder()
        let first = try decoder.feed(Array(tokens[..<37]))
        #expect(maxRelativeError(first.hiddenStates.data, Array(parallel.hiddenStates.data[(36 * e)..<(37 * e)])) < 1e-5, "\(name)")
        #expect(AttentionKernels.causalRun < 300 - 37)
        let second = try decoder.feed(Array(tokens[37...]))
        #expect(maxRelativeError(second.hiddenStates.data, Array(parallel.hiddenStates.data[(299 * e)...])) < 1e-5, "\(name)")
        #expect(decoder.position == 300)
    }

    /// The ring keeps slot p mod W from the first block on, whatever the block sizes.
    @Test func ringHoldsTheLastWindow() {
        var ring = KeyValueRing(width: 1, capacity: 4)
        let rows: [Float] = (0..<10).map(Float.init)
        rows.withUnsafeBufferPointer { p in
            ring.append(rows: 6, keys: p.baseAddress!, values: p.baseAddress!, stride: 1)
            #expect(ring.count == 4 && ring.end == 6)
            #expect((0..<4).map { ring.position(ofSlot: $0) } == [4, 5, 2, 3])
            #expect((0..<4).map { ring.keys[$0] } == [4, 5, 2, 3])
            ring.append(rows: 1, keys: p.baseAddress! + 6, values: p.baseAddress! + 6, stride: 1)
            #expect((0..<4).map { ring.keys[$0] } == [4, 5, 6, 3] && ring.position(ofSlot: 3) == 3)
        }
    }
}
