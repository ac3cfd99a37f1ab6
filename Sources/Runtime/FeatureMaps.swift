import FeatureMaps
import ModelGraph

/// A swapped layer's φ as the runtime holds it: the map of the config and its f32 parameters per q and k.
/// The arithmetic is the map's own kernel (`FeatureMaps.FeatureMap.forward`).
struct FeatureMap {
    var kind: FeatureMapKind
    var query: FeatureMapWeights
    var key: FeatureMapWeights
    /// T2R folded into the projections: the maps read the attention input, not q and k.
    var isFolded: Bool

    /// Number of features φ produces for a head of size `d`.
    func featureCount(headDim d: Int) -> Int { kind.map.featureCount(dimension: query.dimension, headDim: d) }

    /// φ of `rows` vectors of one head into `out` (`[rows, featureCount]`, dense), without allocating. `x` is
    /// q or k of that head (row stride `ldx`), or for a folded map the attention input.
    func apply(head h: Int, isQuery: Bool, x: UnsafePointer<Float>, rows: Int, ldx: Int, into out: UnsafeMutablePointer<Float>) {
        kind.map.forward(isQuery ? query : key, head: h, x: x, rows: rows, ldx: ldx, into: out)
    }

    /// φ of `rows` vectors of one head, as a new array.
    func apply(head h: Int, isQuery: Bool, x: UnsafePointer<Float>, rows: Int, ldx: Int, headDim d: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * featureCount(headDim: d))
        out.withUnsafeMutableBufferPointer { apply(head: h, isQuery: isQuery, x: x, rows: rows, ldx: ldx, into: $0.baseAddress!) }
        return out
    }
}

extension FeatureMap {
    /// Builds the runtime map of a swapped layer from its tensors: each parameter the map lists for the
    /// layer's layout, read as f32; shared parameters serve q and k.
    static func load(_ la: LinearAttentionConfig, tensors: FeatureMapTensors, attention: Attention, hidden: Int,
                     loader: WeightLoader) throws -> FeatureMap {
        let layout = la.layout(attention, hiddenSize: hidden)
        var weights: [FeatureMapRole: FeatureMapWeights] = [:]
        for role in FeatureMapRole.allCases {
            weights[role] = FeatureMapWeights(dimension: la.featureDim, inFeatures: layout.inFeatures)
        }
        for parameter in la.featureMap.map.parameters(layout) {
            guard let ref = tensors[parameter.role][parameter.key] else {
                throw RuntimeError(file: loader.store.files.first ?? "", "\(la.featureMap.name) feature-map tensor '\(parameter.suffix)' of layer \(attention.modulePath) is missing")
            }
            weights[parameter.role]?.values[parameter.key] = try loader.values(ref)
        }
        func role(_ r: FeatureMapRole) -> FeatureMapWeights {
            let own = weights[r] ?? FeatureMapWeights(dimension: la.featureDim, inFeatures: layout.inFeatures)
            return own.values.isEmpty ? weights[.shared] ?? own : own
        }
        return FeatureMap(kind: la.featureMap, query: role(.query), key: role(.key), isFolded: layout.folded)
    }
}
