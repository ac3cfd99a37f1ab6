import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
@testable import Runtime

/// `verify` loads the weights an original and its conversion share once: same-named tensors with the same
/// stored bytes become one array in both models, and nothing else is shared.
@Suite struct SharedWeightsTests {
    func load(_ name: String, _ shared: SharedWeights?) throws -> Transformer {
        let m = try Model(path: fixture(name))
        return try Transformer(graph: try m.graph(), store: m.store, sharing: shared)
    }

    func address(_ x: [Float]) -> UnsafeRawPointer? { x.withUnsafeBytes { $0.baseAddress } }

    @Test func identicalTensorsAreOneArray() throws {
        let shared = SharedWeights()
        let original = try load("gpt2", shared), swapped = try load("gpt2-t2r", shared)
        #expect(address(original.tokenEmbedding) == address(swapped.tokenEmbedding))
        #expect(address(original.blocks[1].up.weight) == address(swapped.blocks[1].up.weight))
        #expect(address(original.blocks[0].attention.value.weight) == address(swapped.blocks[0].attention.value.weight))
        // The same outputs as a model loaded on its own.
        let tokens = syntheticTokens(length: 20, seed: 1, vocab: 64)
        #expect(try swapped.forward(tokens: tokens).hiddenStates.data == (try load("gpt2-t2r", nil)).forward(tokens: tokens).hiddenStates.data)
    }

    @Test func differentBytesAreNotShared() throws {
        let shared = SharedWeights()
        let a = try load("mistral", shared), b = try load("llama", shared)
        #expect(address(a.blocks[0].up.weight) != address(b.blocks[0].up.weight))
        let tokens = syntheticTokens(length: 20, seed: 1, vocab: 64)
        #expect(try b.forward(tokens: tokens).hiddenStates.data == (try load("llama", nil)).forward(tokens: tokens).hiddenStates.data)
    }
}
