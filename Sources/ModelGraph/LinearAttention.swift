/// The graph's `LinearAttentionConfig` holds a `FeatureMapKind`: users of the graph see the maps too.
@_exported import FeatureMaps
import RecastCore

extension LinearAttentionConfig {
    /// A config of `featureMap` over `layers` (the memberwise initialiser is internal to ModelGraph).
    public init(_ featureMap: FeatureMapKind, featureDim: Int, layers: [Int], eps: Double = defaultEps, sharedQK: Bool,
                folded: Bool = false, window: Int? = nil) {
        self.featureMap = featureMap
        self.featureDim = featureDim
        self.layers = layers
        self.eps = eps
        self.sharedQK = sharedQK
        self.folded = folded
        self.window = window
    }

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
        let name = r.string("feature_map", default: "")
        let map = FeatureMapKind(rawValue: name)
        if map == nil {
            r.add("config key 'linear_attention.feature_map' is '\(name)', not one of \(FeatureMapKind.knownNames)")
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
        guard let map else { return nil }
        return LinearAttentionConfig(featureMap: map, featureDim: dim, layers: list, eps: eps, sharedQK: shared, folded: folded, window: window)
    }
}

extension ModelGraph {
    /// The tensors linear attention adds to layer `i` under `la`, in the order a swap writes them: each of
    /// the map's parameters (`{P}.feature_map.weight`, …, with P the attention module), then the window
    /// factors `{P}.window_factors` `[H]` (parameter nil) when `la` has a window.
    public func linearAttentionTensors(_ la: LinearAttentionConfig, layer i: Int) -> [(parameter: FeatureMapParameter?, ref: TensorRef)] {
        let a = blocks[i].attention
        var out: [(parameter: FeatureMapParameter?, ref: TensorRef)] = la.featureMap.map.parameters(la.layout(a, hiddenSize: hiddenSize)).map {
            ($0, TensorRef(name: a.modulePath + "." + $0.suffix, shape: $0.shape))
        }
        if la.window != nil { out.append((nil, TensorRef(name: a.modulePath + ".window_factors", shape: [a.heads]))) }
        return out
    }

    /// This graph with `la`'s layers swapped for linear attention, their tensors named as
    /// `linearAttentionTensors` names them.
    public func swapped(to la: LinearAttentionConfig) -> ModelGraph {
        var g = self
        g.linearAttention = la
        for i in la.layers where i < blocks.count {
            g.blocks[i].attention.featureMap = featureMapTensors(la, layer: i) { $0 }
        }
        return g
    }

    /// Layer i's `FeatureMapTensors`, each of `linearAttentionTensors` passed through `resolve`.
    func featureMapTensors(_ la: LinearAttentionConfig, layer i: Int, resolve: (TensorRef) -> TensorRef) -> FeatureMapTensors {
        var maps = FeatureMapTensors()
        for (parameter, ref) in linearAttentionTensors(la, layer: i) {
            if let parameter { maps[parameter.role][parameter.key] = resolve(ref) } else { maps.windowFactors = resolve(ref) }
        }
        return maps
    }

    /// Finds each swapped layer's feature-map tensors and window factors in the store and checks their shapes.
    mutating func attachFeatureMaps(_ la: LinearAttentionConfig, builder: inout GraphBuilder) {
        for i in la.layers where i < blocks.count {
            let a = blocks[i].attention
            if la.layout(a, hiddenSize: hiddenSize).folded && a.rotary != nil {
                builder.add("layer \(i): a folded feature map cannot follow rotary embeddings")
            }
            blocks[i].attention.featureMap = featureMapTensors(la, layer: i) { builder.required("/" + $0.name, shape: $0.shape) }
        }
    }
}

extension LinearAttentionConfig {
    /// The sizes the feature map of this config sees in a layer with attention `a`. `folded` applies only to
    /// a map that can fold (t2r); the others read q and k whatever the config says.
    public func layout(_ a: Attention, hiddenSize: Int) -> FeatureMapLayout {
        FeatureMapLayout(heads: a.heads, headDim: a.headDim, dimension: featureDim, sharedQK: sharedQK,
                         folded: folded && featureMap.map.canFold, hiddenSize: hiddenSize)
    }
}

extension FeatureMapTensors {
    /// The tensors of one role, by parameter key.
    public subscript(role: FeatureMapRole) -> [String: TensorRef] {
        get {
            switch role {
            case .shared: shared
            case .query: query
            case .key: key
            }
        }
        set {
            switch role {
            case .shared: shared = newValue
            case .query: query = newValue
            case .key: key = newValue
            }
        }
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        components(separatedBy: target).joined(separator: replacement)
    }
}
