import Checkpoint
import ModelGraph
import RecastCore

/// A swap resolved against a model: what the `linear_attention` block will say.
public struct SwapPlan: Sendable, Equatable {
    public var featureMap: FeatureMapKind
    /// k (t2r, hedgehog), m (performer), or d (elu).
    public var featureDim: Int
    /// Swapped layers, ascending.
    public var layers: [Int]
    public var eps: Double
    public var sharedQK: Bool
    public var folded: Bool
    public var seed: UInt64
    /// T2R: φ was drawn as two maps (q and k) rather than one. Differs from `!sharedQK` when folded:
    /// folded tensors are always per q and k, but the map folded into them may be one.
    public var separateMaps: Bool
    /// The sliding-window hybrid's window W (`--window`); nil for plain linear attention.
    public var window: Int? = nil
    /// Attention sinks of the hybrid (`--sinks`): the first positions always in the softmax terms; 0 for none.
    public var sinks: Int = 0

    /// The swapped model's `linear_attention` config.
    public var config: LinearAttentionConfig {
        LinearAttentionConfig(featureMap, featureDim: featureDim, layers: layers, eps: eps, sharedQK: sharedQK,
                              folded: folded, window: window, sinks: sinks)
    }

    /// Features φ produces per head on heads of size `d` (2k for hedgehog).
    public func featureCount(headDim d: Int) -> Int { featureMap.map.featureCount(dimension: featureDim, headDim: d) }
}

/// A source file named in the provenance of a swapped model.
public struct SourceFile: Sendable, Equatable {
    /// The name inside the source folder, e.g. `model.safetensors`.
    public var name: String
    /// Lowercase hex SHA-256 of the file.
    public var sha256: String

    public init(name: String, sha256: String) {
        self.name = name
        self.sha256 = sha256
    }
}

/// The attention swap: replaces softmax attention in chosen layers by linear attention with a feature
/// map per head, adding the maps' parameters beside the untouched original tensors.
public enum Swap {
    /// Resolves options against a graph: layers, feature dimension, q/k sharing; refuses what cannot be done.
    /// `file` names the source in messages.
    public static func plan(graph: ModelGraph, options: SwapOptions, file: String? = nil) throws(SwapError) -> SwapPlan {
        try options.validate()
        if graph.linearAttention != nil {
            throw SwapError(file: file, "already uses linear attention (its config.json has a 'linear_attention' block); swap the original softmax-attention model instead")
        }
        let layers = try options.layers.resolve(layerCount: graph.layerCount, file: file)
        let d = graph.headDim
        let map = options.featureMap.map
        if let k = options.featureDim, let refusal = map.dimensionRefusal(k, headDim: d) {
            throw SwapError(file: file, refusal)
        }
        let dim = options.featureDim ?? map.defaultDimension(headDim: d)
        if options.fold {
            if let i = layers.first(where: { graph.blocks[$0].attention.rotary != nil }) {
                throw SwapError(file: file, "--fold is refused for model_type '\(graph.modelType)': layer \(i) applies rotary position embeddings to q and k between the projection and the feature map, so W_φ cannot be multiplied into the projection")
            }
        }
        let shared: Bool, separateMaps: Bool
        switch map.qkSharing {
        case .optional: (shared, separateMaps) = (!options.separateQK && !options.fold, options.separateQK)
        case .alwaysSeparate: (shared, separateMaps) = (false, true)
        case .refused: (shared, separateMaps) = (true, false)
        }
        return SwapPlan(featureMap: options.featureMap, featureDim: dim, layers: layers, eps: options.eps,
                        sharedQK: shared, folded: options.fold, seed: options.seed, separateMaps: separateMaps, window: options.window,
                        sinks: options.sinks)
    }

    /// The swap as a function of the graph: the swapped graph (its `linearAttention` and each swapped
    /// layer's feature-map tensors) and the new tensors it names, which compute their values only when written.
    public static func rewrite(graph: ModelGraph, store: TensorStore, plan: SwapPlan) throws -> (graph: ModelGraph, tensors: [OutputTensor]) {
        (graph.swapped(to: plan.config), try newTensors(graph: graph, store: store, plan: plan))
    }

    /// The feature-map tensors of a swap, in layer order; each computes its values only when written.
    /// Pure: the same graph, store and options give the same bytes.
    public static func newTensors(graph: ModelGraph, store: TensorStore, options: SwapOptions) throws -> [OutputTensor] {
        try newTensors(graph: graph, store: store, plan: plan(graph: graph, options: options, file: store.files.first))
    }

    public static func newTensors(graph: ModelGraph, store: TensorStore, plan: SwapPlan) throws -> [OutputTensor] {
        try plan.checkMemory(graph: graph, file: store.files.first)
        var out: [OutputTensor] = []
        for layer in plan.layers {
            for t in try layerTensors(graph: graph, store: store, plan: plan, layer: layer) {
                if store.info(named: t.info.name) != nil {
                    throw SwapError(file: store.files.first, "already holds tensor '\(t.info.name)'; it looks like an already swapped model, so swap the original instead")
                }
                out.append(t)
            }
        }
        return out
    }

    /// The `linear_attention` block of the swapped model's config.json (`schemas/linear-attention.schema.json`).
    public static func linearAttentionBlock(plan: SwapPlan, sourceFiles: [SourceFile]) -> JSON {
        .object([
            ("feature_map", .string(plan.featureMap.rawValue)),
            ("feature_dim", .int(plan.featureDim)),
            ("layers", .array(plan.layers.map { .int($0) })),
            ("eps", .double(plan.eps)),
            ("shared_qk", .bool(plan.sharedQK)),
            ("folded", .bool(plan.folded)),
        ] + (plan.window.map { [("window", JSON.int($0))] } ?? []) + (plan.sinks > 0 ? [("sinks", JSON.int(plan.sinks))] : []) + [
            ("seed", .number(String(plan.seed))),
            ("template_version", .int(RemoteCode.templateVersion)),
            ("source", .object([
                ("files", .array(sourceFiles.map { .object([("name", .string($0.name)), ("sha256", .string($0.sha256))]) })),
            ])),
        ])
    }

    // MARK: tensors of one layer

    /// g_h of every new window factor: γ_h = sigmoid(−2.1972) = 0.1, as LoLCATs starts.
    public static let initialWindowFactor = -2.1972

    static func layerTensors(graph: ModelGraph, store: TensorStore, plan: SwapPlan, layer: Int) throws -> [OutputTensor] {
        let a = graph.blocks[layer].attention
        let h = a.heads, d = a.headDim, k = plan.featureDim
        let la = plan.config
        let layout = la.layout(a, hiddenSize: graph.hiddenSize)
        let map = plan.featureMap.map
        let dtype = parameterDType(store.info(named: a.query.weight.name)?.dtype)

        func tensor(_ ref: TensorRef, _ type: DType, _ values: @escaping () throws -> [Double]) throws -> OutputTensor {
            guard let info = TensorInfo(name: ref.name, dtype: type, shape: ref.shape) else {
                throw SwapError(file: store.files.first, "tensor '\(ref.name)' of shape \(ref.shape) is too large")
            }
            return OutputTensor(info: info) { consume in
                let v = try values()
                precondition(v.count == info.elementCount, "feature-map initialiser produced \(v.count) values for \(ref.shape)")
                try Cast.encode(v, as: type).withUnsafeBytes { try consume($0) }
            }
        }
        /// One unfolded parameter, every head, as stored (rounded through `dtype`).
        func initial(_ p: FeatureMapParameter, _ layout: FeatureMapLayout) -> [Double] {
            var all: [Double] = []
            for head in 0..<h { all += map.initialValues(p, layout: layout, seed: plan.seed, layer: layer, head: head) }
            return Cast.roundTrip(all, through: dtype)
        }

        var out: [OutputTensor] = []
        for (parameter, ref) in graph.linearAttentionTensors(la, layer: layer) {
            guard let parameter else {
                out.append(try tensor(ref, dtype) { [Double](repeating: initialWindowFactor, count: h) })
                continue
            }
            guard layout.folded else {
                out.append(try tensor(ref, dtype) { initial(parameter, layout) })
                continue
            }
            // Folded (t2r): φ is drawn exactly as the unfolded swap with the same options would store it
            // (shared unless --separate-qk), then multiplied into the projection.
            var unfolded = layout
            unfolded.folded = false
            unfolded.sharedQK = !plan.separateMaps
            let mapRole: FeatureMapRole = plan.separateMaps ? parameter.role : .shared
            let weight = FeatureMapParameter(role: mapRole, key: "weight", shape: [h, k, d])
            let bias = FeatureMapParameter(role: mapRole, key: "bias", shape: [h, k])
            let projection = parameter.role == .query ? a.query : a.key
            let n = graph.hiddenSize
            let groups = a.kvHeads > 0 && h % a.kvHeads == 0 ? h / a.kvHeads : 1
            let folded = {
                let (phiWeight, phiBias) = (initial(weight, unfolded), initial(bias, unfolded))
                let (pw, pb) = try projection.load(from: store)
                var w: [Double] = [], b: [Double] = []
                for head in 0..<h {
                    // Keys are shared by the query heads of a group (GQA); φ stays per query head.
                    let src = parameter.role == .query ? head : head / groups
                    let rows = Array(pw[(src * d * n)..<((src + 1) * d * n)]).map(Double.init)
                    let rowBias = pb.map { Array($0[(src * d)..<((src + 1) * d)]).map(Double.init) }
                    let f = T2R.fold(mapWeight: Array(phiWeight[(head * k * d)..<((head + 1) * k * d)]),
                                     mapBias: Array(phiBias[(head * k)..<((head + 1) * k)]),
                                     features: k, headDim: d, projection: rows, projectionBias: rowBias, inFeatures: n)
                    w += f.weight
                    b += f.bias
                }
                return parameter.key == "weight" ? w : b
            }
            out.append(try tensor(ref, dtype == .f64 ? .f64 : .f32, folded))
        }
        return out
    }

    /// New parameters take the dtype of the layer's query weight when it is a float type a writer
    /// can cast to (so a bf16 model stays bf16), else f32.
    static func parameterDType(_ source: DType?) -> DType {
        switch source {
        case .f16?, .bf16?, .f32?, .f64?: source!
        default: .f32
        }
    }
}
