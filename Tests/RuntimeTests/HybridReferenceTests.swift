import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
import Rewrite
import SafeTensors
@testable import Runtime

/// Sliding-window hybrids written by `recast swap --window` (the library call behind it), run by Recast and
/// by the NumPy reference, which computes the hybrid from issue 12's formula on its own: every family and
/// every map, a window shorter than the sequence so that both the softmax and the linear part contribute.
@Suite struct HybridReferenceTests {
    static let families = ["gpt2", "gpt2-prefixed", "bert", "bert-tf", "llama", "qwen2", "mistral"]
    static let cases: [(String, FeatureMapKind)] = families.flatMap { f in FeatureMapKind.allCases.map { (f, $0) } }

    @Test(arguments: cases)
    func hybridMatchesTheReference(_ family: String, _ map: FeatureMapKind) throws {
        try check(family, map, sinks: 0)
    }

    /// The same with attention sinks (`--sinks 3`): the reference's masks and states add them on their own.
    @Test(arguments: families.map { ($0, FeatureMapKind.hedgehog) } + [("llama", .t2r), ("llama", .performer), ("llama", .elu), ("bert", .t2r)])
    func sinksMatchTheReference(_ family: String, _ map: FeatureMapKind) throws {
        try check(family, map, sinks: 3)
    }

    func check(_ family: String, _ map: FeatureMapKind, sinks: Int) throws {
        let dir = TempDir()
        var o = SwapOptions(featureMap: map)
        o.seed = 7
        o.window = 5
        o.sinks = sinks
        if map == .t2r || map == .hedgehog { o.featureDim = 12 }
        if map == .performer { o.featureDim = 24 }
        let model = dir.file("\(family)-\(map.rawValue)-w5-s\(sinks)")
        _ = try Swap.write(source: fixture(family), destination: model, options: o)
        // Room past one block of the parallel path on the rotary fixtures (64 positions).
        var config = try JSON.parse(try FileSystem.readAll(model + "/config.json"))
        #expect(config["linear_attention"]?["window"]?.intValue == 5)
        #expect(config["linear_attention"]?["sinks"]?.intValue == (sinks > 0 ? sinks : nil))
        if ["llama", "qwen2", "mistral"].contains(family) {
            config.set("max_position_embeddings", .int(160))
            try FileSystem.writeAll(model + "/config.json", Array(config.serialized(pretty: true).utf8))
        }
        let m = try Model(path: model)
        let t = try Transformer(graph: try m.graph(), store: m.store)
        #expect(t.blocks.contains { $0.attention.hybridWindow == 5 && $0.attention.hybridSinks == sinks })
        try expectMatchesReference(t, model: model, length: min(100, t.graph.maxPositions ?? 100), seed: 8, in: dir, "\(family) \(map) sinks \(sinks)")
    }
}
