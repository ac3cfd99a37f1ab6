import RecastCore

/// Feature-map kinds of the attention swap.
public enum FeatureMapKind: String, Sendable, CaseIterable {
    case t2r, performer, elu, hedgehog
}

extension LinearAttentionConfig {
    public static let defaultEps = 1e-6
    /// The accepted ε of the denominator φ(q)ᵀz + ε: positive, or an all-zero φ(q) row divides by zero, and finite.
    public static let epsRange = NumberRange.positive

    /// Reads the `linear_attention` block of a config; nil when there is none. Problems go to `reader`.
    static func read(_ config: JSON, reader: inout ConfigReader, layers: Int) -> LinearAttentionConfig? {
        guard let block = config["linear_attention"], !block.isNull else { return nil }
        guard block.objectValue != nil else {
            reader.add("config key 'linear_attention' is not an object")
            return nil
        }
        var r = ConfigReader(json: block, file: reader.file)
        let map = r.string("feature_map", default: "")
        if FeatureMapKind(rawValue: map) == nil {
            r.add("config key 'linear_attention.feature_map' is '\(map)', not one of t2r, performer, elu, hedgehog")
        }
        let dim = r.positiveInt("feature_dim")
        var list: [Int] = []
        if let arr = block["layers"]?.arrayValue {
            for v in arr {
                if let i = v.intValue, i >= 0, i < layers { list.append(i) } else {
                    r.add("config key 'linear_attention.layers' holds \(v.serialized()), not a layer index below \(layers)")
                }
            }
        } else {
            r.add("config key 'linear_attention.layers' is missing or not a list")
        }
        let eps = r.double("eps", default: defaultEps, range: epsRange)
        let shared = r.bool("shared_qk", default: true)
        let folded = r.bool("folded", default: false)
        var window: Int?
        if let w = block["window"], !w.isNull { window = r.positiveInt("window") }
        for p in r.problems { reader.add(p.replacingOccurrences("config key '", "config key 'linear_attention.")) }
        return LinearAttentionConfig(featureMap: map, featureDim: dim, layers: list, eps: eps, sharedQK: shared, folded: folded, window: window)
    }
}

extension ModelGraph {
    /// Finds each swapped layer's feature-map tensors (`{P}.feature_map.weight`, …) and checks their shapes.
    mutating func attachFeatureMaps(_ la: LinearAttentionConfig, builder: inout GraphBuilder) {
        guard let kind = FeatureMapKind(rawValue: la.featureMap) else { return }
        for i in la.layers where i < blocks.count {
            let a = blocks[i].attention
            let p = "/" + a.modulePath
            let h = a.heads, d = a.headDim, k = la.featureDim
            var maps = FeatureMapTensors()
            switch kind {
            case .elu:
                break
            case .performer:
                maps.shared["projection"] = builder.required(p + ".feature_map.projection", shape: [h, k, d])
            case .t2r where la.folded:
                if a.rotary != nil { builder.add("layer \(i): a folded feature map cannot follow rotary embeddings") }
                for (role, name) in [("q", "feature_map_q"), ("k", "feature_map_k")] {
                    let w = builder.required(p + ".\(name).weight", shape: [h, k, hiddenSize])
                    let b = builder.required(p + ".\(name).bias", shape: [h, k])
                    if role == "q" { maps.query = ["weight": w, "bias": b] } else { maps.key = ["weight": w, "bias": b] }
                }
            case .t2r where la.sharedQK:
                maps.shared["weight"] = builder.required(p + ".feature_map.weight", shape: [h, k, d])
                maps.shared["bias"] = builder.required(p + ".feature_map.bias", shape: [h, k])
            case .t2r, .hedgehog:
                maps.query["weight"] = builder.required(p + ".feature_map_q.weight", shape: [h, k, d])
                maps.query["bias"] = builder.required(p + ".feature_map_q.bias", shape: [h, k])
                maps.key["weight"] = builder.required(p + ".feature_map_k.weight", shape: [h, k, d])
                maps.key["bias"] = builder.required(p + ".feature_map_k.bias", shape: [h, k])
            }
            if la.window != nil {
                maps.windowFactors = builder.required(p + ".window_factors", shape: [h])
            }
            blocks[i].attention.featureMap = maps
        }
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        components(separatedBy: target).joined(separator: replacement)
    }
}
