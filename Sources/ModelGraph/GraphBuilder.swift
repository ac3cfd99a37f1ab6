import RecastCore

/// Looks tensors up by canonical name under the checkpoint's prefix, checks their shapes, and
/// collects every problem so that validation reports them all at once.
public struct GraphBuilder {
    public let names: NameTable
    public let file: String
    public var prefix = ""
    public private(set) var problems: [String] = []
    public private(set) var used: Set<String> = []
    /// Layers whose feature maps are folded into the projections: their q and k weights may be absent.
    public var foldedLayers: Set<Int> = []

    public init(names: NameTable, file: String) {
        self.names = names
        self.file = file
    }

    /// Picks the first prefix under which `anchor` exists; false if none does.
    public mutating func choosePrefix(_ candidates: [String], anchor: String) -> Bool {
        for p in candidates where names.entry(p + anchor) != nil {
            prefix = p
            return true
        }
        return false
    }

    /// A tensor under the chosen prefix (or, for names starting with `/`, at the root), trying
    /// alternative spellings; records a problem when missing (unless optional) or misshapen.
    public mutating func tensor(_ name: String, _ alternatives: [String] = [], shape: [Int?]?, optional: Bool = false) -> TensorRef? {
        let candidates = ([name] + alternatives).map { $0.hasPrefix("/") ? String($0.dropFirst()) : prefix + $0 }
        for c in candidates {
            guard let ref = names.ref(c) else { continue }
            used.insert(ref.name)
            if let shape {
                let matches = shape.count == ref.shape.count && zip(shape, ref.shape).allSatisfy { $0 == nil || $0 == $1 }
                if !matches {
                    let want = "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
                    problems.append("tensor '\(ref.name)' has shape \(ref.shape), expected \(want)")
                }
            }
            return ref
        }
        if !optional { problems.append("tensor '\(candidates[0])' is missing") }
        return nil
    }

    /// A tensor that must exist; a placeholder stands in when it does not, so that building goes on.
    public mutating func required(_ name: String, _ alternatives: [String] = [], shape: [Int?]?) -> TensorRef {
        tensor(name, alternatives, shape: shape) ?? TensorRef(name: prefix + name, shape: shape?.map { $0 ?? 0 } ?? [])
    }

    /// A projection whose weight is stored `[out, in]` (PyTorch) unless `layout` says otherwise.
    public mutating func linear(_ weight: String, bias: String?, biasOptional: Bool = false, in inFeatures: Int, out outFeatures: Int,
                                layout: WeightLayout = .outIn, optional: Bool = false) -> Projection {
        let shape = layout == .outIn ? [outFeatures, inFeatures] : [inFeatures, outFeatures]
        let w = tensor(weight, shape: shape, optional: optional) ?? TensorRef(name: prefix + weight, shape: shape)
        let b = bias.flatMap { tensor($0, shape: [outFeatures], optional: biasOptional || optional) }
        return Projection(weight: w, bias: b, layout: layout, inFeatures: inFeatures, outFeatures: outFeatures)
    }

    public mutating func norm(_ kind: NormKind, weight: String, _ alternatives: [String] = [], bias: String?, _ biasAlternatives: [String] = [],
                              size: Int, eps: Double) -> Norm {
        let w = required(weight, alternatives, shape: [size])
        let b = bias.flatMap { tensor($0, biasAlternatives, shape: [size]) }
        return Norm(kind: kind, weight: w, bias: b, eps: eps)
    }

    /// The layer count to build: a config that claims more layers than the checkpoint has tensors is
    /// reported once instead of producing a problem per missing tensor (or running out of memory).
    public mutating func layers(_ n: Int, key: String) -> Int {
        if n > names.entries.count {
            problems.append("config key '\(key)' says \(n) layers but the checkpoint holds only \(names.entries.count) tensors")
            return 0
        }
        return n
    }

    public mutating func add(_ problem: String) { problems.append(problem) }
    public mutating func add(_ more: [String]) { problems.append(contentsOf: more) }

    /// Marks buffers a family recognises and ignores (GPT-2's `attn.bias`).
    public mutating func ignore(_ name: String) {
        if let ref = names.ref(prefix + name) { used.insert(ref.name) }
    }
}

/// What a family file provides: which configs it claims and how it maps names and keys.
public protocol ModelFamily: SendableMetatype {
    static var family: FamilyName { get }
    /// `model_type` values this family reads.
    static var modelTypes: Set<String> { get }
    /// Builds the graph; problems go into `builder` and `config`.
    static func build(modelType: String, config: inout ConfigReader, builder: inout GraphBuilder) -> ModelGraph
}

/// A family as a value, so the list of known families is plain data.
public struct FamilyDescriptor: Sendable {
    public var family: FamilyName
    public var modelTypes: Set<String>
    public var build: @Sendable (String, inout ConfigReader, inout GraphBuilder) -> ModelGraph

    public init<F: ModelFamily>(_ type: F.Type) {
        family = F.family
        modelTypes = F.modelTypes
        build = { F.build(modelType: $0, config: &$1, builder: &$2) }
    }
}

/// The families Recast knows. Adding a family is a new file conforming to `ModelFamily` and its entry here.
public let knownFamilies: [FamilyDescriptor] = [
    FamilyDescriptor(GPT2Family.self), FamilyDescriptor(BERTFamily.self), FamilyDescriptor(LlamaFamily.self),
]

extension ModelGraph {
    /// The family that reads this `model_type` (or its `recast_` form), if any.
    public static func family(forModelType type: String) -> FamilyDescriptor? {
        let plain = baseModelType(type)
        return knownFamilies.first { $0.modelTypes.contains(plain) }
    }

    /// What a swapped safetensors folder's `model_type` starts with ("recast_llama"): its architecture lives in the
    /// folder's remote code, so `transformers` refuses it without `trust_remote_code` instead of loading it as the
    /// library's softmax model and dropping the feature maps without a word.
    public static let swappedModelTypePrefix = "recast_"

    /// The library's `model_type` behind a swapped folder's ("recast_llama" → "llama"); other types as they are.
    public static func baseModelType(_ type: String) -> String {
        type.hasPrefix(swappedModelTypePrefix) ? String(type.dropFirst(swappedModelTypePrefix.count)) : type
    }

    /// Maps a store onto its family's graph, validating names, shapes and config together.
    public static func build(config: JSON, configFile: String, store: TensorStore) throws -> ModelGraph {
        guard config.objectValue != nil else { throw GraphError(file: configFile, "is not a JSON object") }
        guard let given = config["model_type"]?.stringValue else {
            throw GraphError(file: configFile, "has no 'model_type': cannot tell which transformer family this is")
        }
        guard let family = family(forModelType: given) else {
            let known = knownFamilies.flatMap(\.modelTypes).sorted().joined(separator: ", ")
            throw GraphError(file: configFile, "model_type '\(given)' is not a family Recast knows (\(known))")
        }
        let type = baseModelType(given)
        if type != given && (config["linear_attention"] ?? .null).isNull {
            throw GraphError(file: configFile, "model_type '\(given)' names a model swapped by Recast, but there is no 'linear_attention' block to say how")
        }
        var reader = ConfigReader(json: config, file: configFile)
        var builder = GraphBuilder(names: NameTable(store: store, config: config), file: store.files.first ?? configFile)
        if let la = config["linear_attention"], la["folded"]?.boolValue == true, let layers = la["layers"]?.arrayValue {
            builder.foldedLayers = Set(layers.compactMap(\.intValue))
        }
        var graph = family.build(type, &reader, &builder)
        graph.linearAttention = LinearAttentionConfig.read(config, reader: &reader, layers: graph.layerCount)
        if let la = graph.linearAttention { graph.attachFeatureMaps(la, builder: &builder) }
        builder.add(unreadLayerTensors(graph, builder: builder))
        if builder.problems.isEmpty && !reader.problems.isEmpty {
            throw GraphError(file: configFile, problems: reader.problems)
        }
        let problems = reader.problems + builder.problems
        if !problems.isEmpty {
            throw GraphError(file: store.files.first ?? configFile, problems: problems.map { $0.contains("config key") ? "\(configFile): \($0)" : $0 })
        }
        graph.ignoredTensors = store.tensors.map(\.name).filter { !builder.used.contains($0) }
        return graph
    }

    /// Tensors that lie inside a layer (`h.3.`, `encoder.layer.3.`, `model.layers.3.`) but that no part of the
    /// graph reads. Running without them computes another model than the checkpoint's (an `mlp_bias` or
    /// `attention_bias` the config leaves out, q/k norms of another model type), so they are refused.
    static func unreadLayerTensors(_ graph: ModelGraph, builder: GraphBuilder) -> [String] {
        var canonical: [String: String] = [:]
        for e in builder.names.entries { canonical[e.storeName] = e.canonicalName }
        var layerOf: [String: Int] = [:]
        for b in graph.blocks {
            let names = [b.attentionNorm.weight.name, b.mlpNorm.weight.name, b.mlp.down.weight.name, b.attention.output.weight.name]
                .map { canonical[$0] ?? $0 }
            var common = Substring(names[0])
            for n in names.dropFirst() {
                while !n.hasPrefix(common) { common = common.dropLast() }
            }
            guard let dot = common.lastIndex(of: ".") else { continue }
            let prefix = String(common[...dot])
            if prefix.hasSuffix(".\(b.index).") || prefix == "\(b.index)." { layerOf[prefix] = b.index }
        }
        guard !layerOf.isEmpty else { return [] }
        var unread: [(String, Int)] = []
        for e in builder.names.entries where !builder.used.contains(e.storeName) {
            // Each prefix of the name that ends at a dot, looked up: linear in the name, whatever the layer count.
            let name = e.canonicalName
            for i in name.indices where name[i] == "." {
                if let layer = layerOf[String(name[...i])] {
                    unread.append((e.storeName, layer))
                    break
                }
            }
        }
        guard !unread.isEmpty else { return [] }
        let shown = unread.prefix(3).map { "'\($0.0)' (layer \($0.1))" }.joined(separator: ", ")
        let more = unread.count > 3 ? " and \(unread.count - 3) more" : ""
        return ["tensor \(shown)\(more) inside the layers \(unread.count == 1 ? "is" : "are") read by nothing Recast computes for this config: the config leaves out what \(unread.count == 1 ? "it is" : "they are") for (such as mlp_bias or attention_bias), or the checkpoint is of another model type; refusing rather than computing a different model"]
    }

    /// Checks that heads divide the hidden size and key/value heads divide heads.
    static func checkHeads(hidden: Int, heads: Int, kvHeads: Int, headDim: Int?, into builder: inout GraphBuilder) {
        guard heads > 0 else { return }
        if headDim == nil && hidden % heads != 0 {
            builder.add("hidden size \(hidden) is not divisible by the \(heads) attention heads")
        }
        if kvHeads <= 0 || heads % kvHeads != 0 {
            builder.add("the \(kvHeads) key/value heads do not divide the \(heads) attention heads")
        }
    }
}
