import Foundation
import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
import Rewrite
@testable import Runtime
@testable import Calibration

/// A fixture model and the same model with only layer 0 swapped (so that both see the same layer-0 inputs): the
/// teacher, the swapped model as the runtime runs it, and layer 0 as attention transfer sees it. `positions`
/// raises `max_position_embeddings` of a rotary fixture (a copy), for sequences longer than the runtime's blocks.
struct SwappedLayer {
    let teacher: Transformer
    let swapped: Transformer
    let layer: TransferLayer
    let parameters: LayerParameters

    init(_ family: String, _ map: FeatureMapKind, window: Int?, separateQK: Bool = false, fold: Bool = false,
         positions: Int? = nil, in dir: TempDir) throws {
        var source = fixture(family)
        if let positions {
            source = dir.file(family + "-long")
            if !FileManager.default.fileExists(atPath: source) {
                try FileManager.default.copyItem(atPath: fixture(family), toPath: source)
                var config = try JSON.parse(try FileSystem.readAll(source + "/config.json"))
                config.set("max_position_embeddings", .int(positions))
                try FileManager.default.removeItem(atPath: source + "/config.json")
                dir.write(family + "-long/config.json", config.serialized(pretty: true))
            }
        }
        var o = SwapOptions(featureMap: map)
        o.seed = 3
        o.layers = try LayerSelection("0")
        o.window = window
        o.separateQK = separateQK
        o.fold = fold
        if map == .t2r || map == .hedgehog { o.featureDim = 12 }
        if map == .performer { o.featureDim = 24 }
        let destination = dir.file("\(family)-\(map.name)-\(window ?? 0)-\(separateQK)-\(fold)")
        _ = try Swap.write(source: source, destination: destination, options: o)
        let model = try Model(path: destination), graph = try model.graph()
        swapped = try Transformer(graph: graph, store: model.store)
        let original = try Model(path: source)
        teacher = try Transformer(graph: try original.graph(), store: original.store)
        let la = try #require(graph.linearAttention), a = graph.blocks[0].attention
        layer = TransferLayer(map: la.featureMap, layout: la.layout(a, hiddenSize: graph.hiddenSize), window: la.window, sinks: la.sinks,
                              causal: a.causal, eps: Float(la.eps), scale: Float(a.scale))
        var parameters: LayerParameters = [:]
        for (parameter, ref) in graph.linearAttentionTensors(la, layer: 0) {
            parameters[parameter?.suffix ?? windowFactorsSuffix] = try model.store.loadFloat32(ref.name)
        }
        self.parameters = parameters
    }

    /// Layer 0 of `model` on each token sequence.
    static func captures(_ model: Transformer, _ sequences: [[Int]]) throws -> [AttentionCapture] {
        var out: [AttentionCapture] = []
        _ = try model.forward(batch: sequences, probe: Probe(layers: [0]) { out.append($0) })
        return out
    }
}

/// Seeded token ids below `vocab`.
func tokens(_ length: Int, seed: UInt64, vocab: Int = 64) -> [Int] {
    var rng = RandomStream(seed: seed, purpose: "calibration-test/tokens", layer: 0, head: 0)
    return (0..<length).map { _ in Int(rng.nextWord() % UInt64(vocab)) }
}
