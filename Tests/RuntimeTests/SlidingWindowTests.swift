import Foundation
import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
import SafeTensors
@testable import Runtime

/// A copy of a fixture model folder with its config.json edited (the weights are copied, not linked).
func editedCopy(of name: String, in dir: TempDir, _ edit: (inout JSON) -> Void) throws -> String {
    let dst = dir.file(name)
    try FileManager.default.copyItem(atPath: fixture(name), toPath: dst)
    var config = try JSON.parse(try FileSystem.readAll(dst + "/config.json"))
    edit(&config)
    try FileManager.default.removeItem(atPath: dst + "/config.json")
    dir.write(name + "/config.json", config.serialized(pretty: true))
    return dst
}

func loadModel(at path: String) throws -> Transformer {
    let m = try Model(path: path)
    return try Transformer(graph: try m.graph(), store: m.store)
}

/// The same model with every sliding window removed.
func withoutWindows(_ t: Transformer, at path: String) throws -> Transformer {
    var g = t.graph
    for i in g.blocks.indices { g.blocks[i].attention.slidingWindow = nil }
    return try Transformer(graph: g, store: try Model(path: path).store)
}

/// Sliding-window softmax attention (Mistral, Qwen2) against `tools/reference.py`, which implements the window
/// on its own from transformers' definition: a query at i sees the keys i − W < j ≤ i.
@Suite struct SlidingWindowTests {
    let length = 20

    func reference(_ model: String, mode: ForwardMode, dir: TempDir) throws -> SafeTensorsFile {
        let out = dir.file("ref-\(mode.rawValue).safetensors")
        let r = try python([repoRoot + "/tools/reference.py", model, "--length", "\(length)", "--seed", "3",
                            "--mode", mode.rawValue, "--out", out])
        try #require(r.status == 0, "\(r.stderr)")
        return try SafeTensorsFile(path: out)
    }

    @Test func mistralGraphCarriesTheWindow() throws {
        let g = try Model(path: fixture("mistral")).graph()
        #expect(g.blocks.allSatisfy { $0.attention.slidingWindow == 4 })
        #expect(g.kvCacheBytes(length: 100) == g.kvCacheBytes(length: 4))
        #expect(g.kvCacheBytes(length: 3) < g.kvCacheBytes(length: 4))
        // MistralConfig's own default when the key is absent is 4096; null means no window.
        let dir = TempDir()
        let absent = try Model(path: try editedCopy(of: "mistral", in: dir) { $0 = .object($0.objectValue!.filter { $0.0 != "sliding_window" }) }).graph()
        #expect(absent.blocks[0].attention.slidingWindow == 4096)
        let dir2 = TempDir()
        let none = try Model(path: try editedCopy(of: "mistral", in: dir2) { $0.set("sliding_window", .null) }).graph()
        #expect(none.blocks[0].attention.slidingWindow == nil)
        // Llama does not read the key at all (LlamaModel has no sliding window).
        let dir3 = TempDir()
        let llama = try Model(path: try editedCopy(of: "llama", in: dir3) { $0.set("sliding_window", .int(2)) }).graph()
        #expect(llama.blocks.allSatisfy { $0.attention.slidingWindow == nil })
    }

    @Test(arguments: ForwardMode.allCases)
    func mistralMatchesTheReference(_ mode: ForwardMode) throws {
        let dir = TempDir()
        let ref = try reference(fixture("mistral"), mode: mode, dir: dir)
        let t = try loadModel(at: fixture("mistral"))
        let tokens = syntheticTokens(length: length, seed: 3, vocab: t.graph.vocabSize)
        let ours = try t.run(tokens: tokens, mode: mode)
        #expect(maxRelativeError(ours.hiddenStates.data, try ref.loadFloat32("hidden_states")) < 1e-4)
        #expect(maxRelativeError(try #require(ours.logits).data, try ref.loadFloat32("logits")) < 1e-4)
    }

    /// The window is not a no-op: past W tokens the outputs differ from full causal attention, and up to W
    /// they are identical (every earlier key is still inside the window).
    @Test(arguments: ForwardMode.allCases)
    func theWindowChangesTheResult(_ mode: ForwardMode) throws {
        let t = try loadModel(at: fixture("mistral"))
        let full = try withoutWindows(t, at: fixture("mistral"))
        let tokens = syntheticTokens(length: length, seed: 3, vocab: t.graph.vocabSize)
        let a = try t.run(tokens: tokens, mode: mode), b = try full.run(tokens: tokens, mode: mode)
        let w = 4, e = t.graph.hiddenSize
        #expect(Array(a.hiddenStates.data[..<(w * e)]) == Array(b.hiddenStates.data[..<(w * e)]))
        #expect(maxRelativeError(Array(a.hiddenStates.data[(w * e)...]), Array(b.hiddenStates.data[(w * e)...])) > 1e-2)
    }

    @Test func recurrentCacheKeepsOnlyTheWindow() throws {
        let t = try loadModel(at: fixture("mistral"))
        let decoder = try t.makeDecoder()
        for token in 0..<4 { _ = try decoder.step(token) }
        let full = decoder.stateBytes
        for token in 4..<30 { _ = try decoder.step(token % t.graph.vocabSize) }
        #expect(decoder.stateBytes == full, "the KV cache holds the last 4 tokens only")
        #expect(full == t.graph.kvCacheBytes(length: 30))
    }

    /// Qwen2 with `use_sliding_window`: layers from `max_window_layers` on use the window (Qwen2Config's
    /// `layer_types`), the others full attention; both modes match the reference.
    @Test(arguments: ForwardMode.allCases)
    func qwen2WindowFromMaxWindowLayers(_ mode: ForwardMode) throws {
        let dir = TempDir()
        let path = try editedCopy(of: "qwen2", in: dir) {
            $0.set("use_sliding_window", .bool(true))
            $0.set("sliding_window", .int(3))
            $0.set("max_window_layers", .int(1))
        }
        let t = try loadModel(at: path)
        #expect(t.graph.blocks.map(\.attention.slidingWindow) == [nil, 3])
        let ref = try reference(path, mode: mode, dir: dir)
        let ours = try t.run(tokens: syntheticTokens(length: length, seed: 3, vocab: t.graph.vocabSize), mode: mode)
        #expect(maxRelativeError(ours.hiddenStates.data, try ref.loadFloat32("hidden_states")) < 1e-4)
        let plain = try loadModel(at: fixture("qwen2")).run(tokens: syntheticTokens(length: length, seed: 3, vocab: 64), mode: mode)
        #expect(maxRelativeError(ours.hiddenStates.data, plain.hiddenStates.data) > 1e-2)
    }

    @Test func qwen2LayerTypesAndSwitchedOff() throws {
        let dir = TempDir()
        let typed = try editedCopy(of: "qwen2", in: dir) {
            $0.set("use_sliding_window", .bool(true))
            $0.set("layer_types", .array([.string("sliding_attention"), .string("full_attention")]))
        }
        #expect(try Model(path: typed).graph().blocks.map(\.attention.slidingWindow) == [64, nil])
        // `sliding_window` without `use_sliding_window` is ignored by transformers (the fixture has it so).
        #expect(try Model(path: fixture("qwen2")).graph().blocks.allSatisfy { $0.attention.slidingWindow == nil })
    }
}

/// The memory check before a recurrent run counts a sliding-window layer's cache as its window, as the
/// decoder keeps it (fixtures/mistral: W = 4, 2 layers, 2 KV heads of 8), and saturates instead of
/// overflowing at absurd lengths.
@Suite struct SlidingWindowMemoryTests {
    @Test func recurrentNeedCountsTheWindow() throws {
        let g = try Model(path: fixture("mistral")).graph()
        let need = RunLimits.passNeed(graph: g, tokens: 10_000, mode: .recurrent)
        let kv = need.parts.first { $0.0 == "KV cache" }?.1
        #expect(kv == 2 * 4 * 2 * 8 * 4 * 2)
        #expect(g.kvCacheBytes(length: 10_000) == kv)
        var unbounded = g
        for i in unbounded.blocks.indices { unbounded.blocks[i].attention.slidingWindow = nil }
        #expect(unbounded.kvCacheBytes(length: 10_000) == 2 * 10_000 * 2 * 8 * 4 * 2)
        #expect(unbounded.kvCacheBytes(length: Int.max) == Int.max)
    }
}
