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
        let dim: Int
        switch options.featureMap {
        case .t2r: dim = options.featureDim ?? SwapOptions.defaultT2RFeatures
        case .performer: dim = options.featureDim ?? SwapOptions.defaultPerformerFeatures
        case .hedgehog: dim = options.featureDim ?? d
        case .elu:
            if let k = options.featureDim, k != d {
                throw SwapError(file: file, "--feature-dim \(k) does not apply to elu: elu(x)+1 keeps the head size, \(d) features")
            }
            dim = d
        }
        if options.fold {
            if let i = layers.first(where: { graph.blocks[$0].attention.rotary != nil }) {
                throw SwapError(file: file, "--fold is refused for model_type '\(graph.modelType)': layer \(i) applies rotary position embeddings to q and k between the projection and the feature map, so W_φ cannot be multiplied into the projection")
            }
        }
        let shared: Bool
        switch options.featureMap {
        case .t2r: shared = !options.separateQK && !options.fold
        case .performer, .elu: shared = true
        case .hedgehog: shared = false
        }
        return SwapPlan(featureMap: options.featureMap, featureDim: dim, layers: layers, eps: options.eps,
                        sharedQK: shared, folded: options.fold, seed: options.seed,
                        separateMaps: options.featureMap == .hedgehog || (options.featureMap == .t2r && options.separateQK))
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
            ("seed", .number(String(plan.seed))),
            ("source", .object([
                ("files", .array(sourceFiles.map { .object([("name", .string($0.name)), ("sha256", .string($0.sha256))]) })),
            ])),
        ])
    }

    // MARK: tensors of one layer

    /// The purpose names that key the random streams; changing one changes every seeded output.
    enum Purpose {
        static func t2r(_ role: String, _ param: String) -> String { "t2r/\(role)/\(param)" }
        static let performer = "performer/projection"
    }

    static func layerTensors(graph: ModelGraph, store: TensorStore, plan: SwapPlan, layer: Int) throws -> [OutputTensor] {
        let a = graph.blocks[layer].attention
        let p = a.modulePath
        let h = a.heads, d = a.headDim, k = plan.featureDim, seed = plan.seed
        let dtype = parameterDType(store.info(named: a.query.weight.name)?.dtype)

        func tensor(_ name: String, _ shape: [Int], _ type: DType, _ values: @escaping () throws -> [Double]) throws -> OutputTensor {
            guard let info = TensorInfo(name: name, dtype: type, shape: shape) else {
                throw SwapError(file: store.files.first, "tensor '\(name)' of shape \(shape) is too large")
            }
            return OutputTensor(info: info) { consume in
                let v = try values()
                precondition(v.count == info.elementCount, "feature-map initialiser produced \(v.count) values for \(shape)")
                try encode(v, as: type).withUnsafeBytes { try consume($0) }
            }
        }
        /// T2R weight and bias of every head for one role, as stored unfolded (rounded through `dtype`).
        func t2rValues(_ role: String) -> (weight: [Double], bias: [Double]) {
            var w: [Double] = [], b: [Double] = []
            for head in 0..<h {
                var ws = RandomStream(seed: seed, purpose: Purpose.t2r(role, "weight"), layer: layer, head: head)
                var bs = RandomStream(seed: seed, purpose: Purpose.t2r(role, "bias"), layer: layer, head: head)
                let x = Initializers.t2r(features: k, headDim: d, weightStream: &ws, biasStream: &bs)
                w += x.weight
                b += x.bias
            }
            return (roundTrip(w, through: dtype), roundTrip(b, through: dtype))
        }

        switch plan.featureMap {
        case .elu:
            return []
        case .performer:
            return [try tensor(p + ".feature_map.projection", [h, k, d], dtype) {
                var all: [Double] = []
                for head in 0..<h {
                    var s = RandomStream(seed: seed, purpose: Purpose.performer, layer: layer, head: head)
                    all += Initializers.performer(features: k, headDim: d, stream: &s)
                }
                return all
            }]
        case .hedgehog:
            let x = Initializers.hedgehog(features: k, headDim: d)
            let w = Array((0..<h).map { _ in x.weight }.joined()), b = Array((0..<h).map { _ in x.bias }.joined())
            var out: [OutputTensor] = []
            for role in ["q", "k"] {
                out.append(try tensor(p + ".feature_map_\(role).weight", [h, k, d], dtype) { w })
                out.append(try tensor(p + ".feature_map_\(role).bias", [h, k], dtype) { b })
            }
            return out
        case .t2r where !plan.folded:
            let roles = plan.sharedQK ? [("shared", "feature_map")] : [("q", "feature_map_q"), ("k", "feature_map_k")]
            var out: [OutputTensor] = []
            for (role, name) in roles {
                out.append(try tensor(p + ".\(name).weight", [h, k, d], dtype) { t2rValues(role).weight })
                out.append(try tensor(p + ".\(name).bias", [h, k], dtype) { t2rValues(role).bias })
            }
            return out
        case .t2r:
            // φ is drawn exactly as the unfolded swap with the same options would store it (shared unless
            // --separate-qk), then multiplied into the projection.
            let separate = plan.separateMaps
            let foldedType = dtype == .f64 ? DType.f64 : .f32
            let n = graph.hiddenSize
            let groups = a.kvHeads > 0 && h % a.kvHeads == 0 ? h / a.kvHeads : 1
            var out: [OutputTensor] = []
            for (role, projection) in [("q", a.query), ("k", a.key)] {
                let mapRole = separate ? role : "shared"
                let folded = {
                    let phi = t2rValues(mapRole)
                    let (pw, pb) = try projection.load(from: store)
                    var w: [Double] = [], b: [Double] = []
                    for head in 0..<h {
                        // Keys are shared by the query heads of a group (GQA); φ stays per query head.
                        let src = role == "q" ? head : head / groups
                        let rows = Array(pw[(src * d * n)..<((src + 1) * d * n)]).map(Double.init)
                        let rowBias = pb.map { Array($0[(src * d)..<((src + 1) * d)]).map(Double.init) }
                        let f = Initializers.fold(mapWeight: Array(phi.weight[(head * k * d)..<((head + 1) * k * d)]),
                                                  mapBias: Array(phi.bias[(head * k)..<((head + 1) * k)]),
                                                  features: k, headDim: d, projection: rows, projectionBias: rowBias, inFeatures: n)
                        w += f.weight
                        b += f.bias
                    }
                    return (w, b)
                }
                out.append(try tensor(p + ".feature_map_\(role).weight", [h, k, n], foldedType) { try folded().0 })
                out.append(try tensor(p + ".feature_map_\(role).bias", [h, k], foldedType) { try folded().1 })
            }
            return out
        }
    }

    /// New parameters take the dtype of the layer's query weight when it is a float type a writer
    /// can cast to (so a bf16 model stays bf16), else f32.
    static func parameterDType(_ source: DType?) -> DType {
        switch source {
        case .f16?, .bf16?, .f32?, .f64?: source!
        default: .f32
        }
    }

    /// Values as stored in `dtype` (round to nearest even), little-endian.
    static func encode(_ values: [Double], as dtype: DType) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: dtype.byteCount(elements: values.count) ?? 0)
        values.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in _ = Cast.convert(src, from: .f64, to: dtype, count: values.count, into: dst) }
        }
        return out
    }

    /// Values rounded to `dtype` and widened back.
    static func roundTrip(_ values: [Double], through dtype: DType) -> [Double] {
        if dtype == .f64 { return values }
        let bytes = encode(values, as: dtype)
        var back = [Double](repeating: 0, count: values.count)
        bytes.withUnsafeBytes { src in
            back.withUnsafeMutableBytes { dst in _ = Cast.convert(src, from: dtype, to: .f64, count: values.count, into: dst) }
        }
        return back
    }
}
