import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
import Rewrite
import SafeTensors
@testable import Runtime

/// Models that Recast itself swapped, run by Recast and by the NumPy reference (which reads the
/// `linear_attention` block and the feature-map tensors on its own): every feature map on every family.
@Suite struct SwappedModelTests {
    static let families = ["gpt2", "gpt2-prefixed", "bert", "bert-tf", "llama", "qwen2"]
    static let cases: [(String, FeatureMapKind)] = families.flatMap { f in FeatureMapKind.allCases.map { (f, $0) } }

    func swap(_ family: String, _ map: FeatureMapKind, into dir: TempDir, configure: (inout SwapOptions) -> Void = { _ in }) throws -> String {
        var o = SwapOptions(featureMap: map)
        o.seed = 3
        if map == .t2r || map == .hedgehog { o.featureDim = 12 }
        if map == .performer { o.featureDim = 24 }
        if family == "llama" { o.layers = try LayerSelection("1") }
        configure(&o)
        let dst = dir.file("\(family)-\(map.rawValue)")
        _ = try Swap.write(source: fixture(family), destination: dst, options: o)
        return dst
    }

    @Test(arguments: cases)
    func matchesTheReference(_ family: String, _ map: FeatureMapKind) throws {
        let dir = TempDir()
        let model = try swap(family, map, into: dir)
        // Lengths are checked against max_position_embeddings (64 in the rotary fixtures); the copy
        // allows 128, so that rotary models run past one chunk.
        if ["llama", "qwen2"].contains(family) {
            var config = try JSON.parse(try FileSystem.readAll(model + "/config.json"))
            config.set("max_position_embeddings", .int(128))
            try FileSystem.writeAll(model + "/config.json", Array(config.serialized(pretty: true).utf8))
        }
        let m = try Model(path: model)
        let t = try Transformer(graph: try m.graph(), store: m.store)
        // Past one chunk of the parallel linear attention where the model's positions allow.
        let length = t.graph.embeddings.position == nil ? 100 : 60
        try expectMatchesReference(t, model: model, length: length, seed: 4, in: dir, "\(family) \(map)")
    }

    /// The HDF5 form of a swapped model runs the same, in Recast and in the reference.
    @Test(arguments: ["gpt2", "bert-tf", "llama"])
    func hdf5OutputMatchesTheReference(_ family: String) throws {
        let dir = TempDir()
        let model = try swap(family, .t2r, into: dir) { $0.format = .hdf5 }
        let m = try Model(path: model)
        #expect(m.store.format == .hdf5)
        let t = try Transformer(graph: try m.graph(), store: m.store)
        let ours = try t.forward(tokens: syntheticTokens(length: 30, seed: 6, vocab: t.graph.vocabSize))
        let out = dir.file("ref.safetensors")
        let r = try python([repoRoot + "/tools/reference.py", model, "--length", "30", "--seed", "6", "--out", out])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(maxRelativeError(ours.hiddenStates.data, try SafeTensorsFile(path: out).loadFloat32("hidden_states")) < 1e-4)
    }

    /// T2R folded into the projections computes what the unfolded model computes.
    @Test(arguments: ["gpt2", "gpt2-prefixed", "bert", "bert-tf"])
    func foldingKeepsTheOutputs(_ family: String) throws {
        let dir = TempDir()
        let plain = try swap(family, .t2r, into: dir)
        let foldedDir = TempDir()
        let folded = try swap(family, .t2r, into: foldedDir) { $0.fold = true }
        func run(_ path: String) throws -> ForwardOutput {
            let m = try Model(path: path)
            let t = try Transformer(graph: try m.graph(), store: m.store)
            return try t.forward(tokens: syntheticTokens(length: 40, seed: 8, vocab: t.graph.vocabSize))
        }
        let a = try run(plain), b = try run(folded)
        #expect(maxRelativeError(b.hiddenStates.data, a.hiddenStates.data) < 1e-4)
        let fm = try Model(path: folded).graph()
        #expect(fm.linearAttention?.folded == true && fm.blocks[0].attention.featureMap?.query["weight"]?.shape.last == fm.hiddenSize)
    }
}

/// Runs Recast and `tools/reference.py` on `model` over the synthetic tokens (`length`, `seed`): hidden states
/// and logits within 1e-4 relative of the reference, and for causal models recurrent mode within 1e-5 of parallel.
func expectMatchesReference(_ t: Transformer, model: String, length: Int, seed: UInt64, in dir: TempDir, _ label: String,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
    let tokens = syntheticTokens(length: length, seed: seed, vocab: t.graph.vocabSize)
    let ours = try t.forward(tokens: tokens)
    let out = dir.file("ref-\(seed).safetensors")
    let r = try python([repoRoot + "/tools/reference.py", model, "--length", "\(length)", "--seed", "\(seed)", "--out", out])
    try #require(r.status == 0, "\(r.stderr)", sourceLocation: sourceLocation)
    let ref = try SafeTensorsFile(path: out)
    #expect(maxRelativeError(ours.hiddenStates.data, try ref.loadFloat32("hidden_states")) < 1e-4, "\(label)", sourceLocation: sourceLocation)
    if let logits = ours.logits {
        #expect(maxRelativeError(logits.data, try ref.loadFloat32("logits")) < 1e-4, "\(label) logits", sourceLocation: sourceLocation)
    }
    if t.graph.causal {
        let recurrent = try t.forwardRecurrent(tokens: tokens)
        #expect(maxRelativeError(recurrent.hiddenStates.data, ours.hiddenStates.data) < 1e-5, "\(label) recurrent", sourceLocation: sourceLocation)
    }
}
