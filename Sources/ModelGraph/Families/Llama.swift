/// Llama-family decoders (Llama, Mistral, Qwen2): RMSNorm pre-norm blocks, grouped-query attention,
/// rotary embeddings (`rope_theta`, Hugging Face `rotate_half` convention), SiLU-gated MLP, tied or
/// untied LM head. Qwen2 adds q/k/v biases; Llama adds them when `attention_bias` is true, and MLP biases
/// when `mlp_bias` is. Mistral and Qwen2 attend through a sliding window when their config asks for one.
///
/// Names: `model.embed_tokens.weight`, `model.layers.{i}.input_layernorm.weight`,
/// `model.layers.{i}.self_attn.{q,k,v,o}_proj`, `model.layers.{i}.post_attention_layernorm.weight`,
/// `model.layers.{i}.mlp.{gate,up,down}_proj.weight`, `model.norm.weight`, `lm_head.weight`.
public enum LlamaFamily: ModelFamily {
    public static let family = FamilyName.llama
    public static let modelTypes: Set<String> = ["llama", "mistral", "qwen2"]

    public static func build(modelType: String, config c: inout ConfigReader, builder b: inout GraphBuilder) -> ModelGraph {
        let config = LlamaConfig(modelType: modelType, reading: &c)
        let hidden = config.hiddenSize, heads = config.heads, kvHeads = config.kvHeads, inter = config.intermediateSize
        let vocab = config.vocabSize, eps = config.rmsNormEpsilon, windows = config.slidingWindows
        let qkvBias = config.qkvBias, oBias = config.outputBias, mlpBias = config.mlpBias
        ModelGraph.checkHeads(hidden: hidden, heads: heads, kvHeads: kvHeads, headDim: config.explicitHeadDim, into: &b)
        let d = config.headDim

        if !b.choosePrefix(["model.", ""], anchor: "embed_tokens.weight") {
            b.add("no tensor 'model.embed_tokens.weight': not a Llama-family checkpoint")
        }
        let token = b.required("embed_tokens.weight", shape: [vocab, hidden])
        var blocks: [Block] = []
        for i in 0..<b.layers(config.layers, key: "num_hidden_layers") {
            let l = "layers.\(i)."
            let a = l + "self_attn."
            let attention = Attention(
                query: b.linear(a + "q_proj.weight", bias: qkvBias ? a + "q_proj.bias" : nil, in: hidden, out: heads * d),
                key: b.linear(a + "k_proj.weight", bias: qkvBias ? a + "k_proj.bias" : nil, in: hidden, out: kvHeads * d),
                value: b.linear(a + "v_proj.weight", bias: qkvBias ? a + "v_proj.bias" : nil, in: hidden, out: kvHeads * d),
                output: b.linear(a + "o_proj.weight", bias: oBias ? a + "o_proj.bias" : nil, in: heads * d, out: hidden),
                heads: heads, kvHeads: kvHeads, headDim: d, rotary: Rotary(theta: config.ropeTheta, dimensions: d, scaling: config.ropeScaling), causal: true,
                scale: 1 / Double(max(d, 1)).squareRoot(), slidingWindow: i < windows.count ? windows[i] : nil, modulePath: b.prefix + l + "self_attn", featureMap: nil)
            b.ignore(a + "rotary_emb.inv_freq")
            func mlpBiasName(_ n: String) -> String? { mlpBias ? l + "mlp.\(n).bias" : nil }
            let mlp = MLP(up: b.linear(l + "mlp.up_proj.weight", bias: mlpBiasName("up_proj"), in: hidden, out: inter),
                          gate: b.linear(l + "mlp.gate_proj.weight", bias: mlpBiasName("gate_proj"), in: hidden, out: inter),
                          down: b.linear(l + "mlp.down_proj.weight", bias: mlpBiasName("down_proj"), in: inter, out: hidden),
                          activation: config.activation)
            blocks.append(Block(index: i, placement: .pre,
                                attentionNorm: b.norm(.rmsNorm, weight: l + "input_layernorm.weight", bias: nil, size: hidden, eps: eps),
                                attention: attention,
                                mlpNorm: b.norm(.rmsNorm, weight: l + "post_attention_layernorm.weight", bias: nil, size: hidden, eps: eps),
                                mlp: mlp))
        }
        let finalNorm = b.norm(.rmsNorm, weight: "norm.weight", bias: nil, size: hidden, eps: eps)
        let head = b.tensor("/lm_head.weight", shape: [vocab, hidden], optional: true)
        if head == nil && !config.tiedEmbeddings { b.add("tie_word_embeddings is false but tensor 'lm_head.weight' is missing") }
        return ModelGraph(
            family: .llama, modelType: modelType, hiddenSize: hidden, vocabSize: vocab, heads: heads, kvHeads: kvHeads, headDim: d,
            intermediateSize: inter, maxPositions: config.maxPositions, causal: true,
            embeddings: Embeddings(token: token, position: nil, positionOffset: 0, tokenType: nil, norm: nil),
            blocks: blocks, finalNorm: finalNorm,
            lmHead: Projection(weight: head ?? token, bias: nil, layout: .outIn, inFeatures: hidden, outFeatures: vocab),
            tiedEmbeddings: head == nil, prefix: b.prefix, linearAttention: nil, ignoredTensors: [])
    }
}

/// A Llama-family `config.json` (Llama, Mistral, Qwen2), typed: every key the family reads, with the defaults of
/// transformers' `LlamaConfig`, `MistralConfig` and `Qwen2Config`, and the keys it refuses. Problems go into the
/// reader, so that all of them are reported at once.
public struct LlamaConfig: Sendable, Hashable {
    public var hiddenSize: Int
    /// `num_attention_heads`.
    public var heads: Int
    /// `num_key_value_heads`, default the number of heads.
    public var kvHeads: Int
    /// `num_hidden_layers`.
    public var layers: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    /// `max_position_embeddings`: transformers' defaults are LlamaConfig 2048, MistralConfig 4096 × 32, Qwen2Config 32768.
    public var maxPositions: Int
    /// `rms_norm_eps`, default 1e-6.
    public var rmsNormEpsilon: Double
    /// The rotary base: `rope_theta`, or from `rope_parameters` / `rope_scaling`.
    public var ropeTheta: Double
    /// Linear or llama3 rotary scaling; nil for plain rotary embeddings.
    public var ropeScaling: RopeScaling?
    /// `hidden_act`, default `silu`.
    public var activation: Activation
    /// `tie_word_embeddings`: transformers' Llama, Mistral and Qwen2 configs all default it to false.
    public var tiedEmbeddings: Bool
    /// `head_dim` when the config sets it.
    public var explicitHeadDim: Int?
    /// Which biases exist is fixed per class: Qwen2Attention has q/k/v biases and none on o_proj,
    /// MistralAttention and MistralMLP none, LlamaAttention follows `attention_bias` and LlamaMLP `mlp_bias`.
    public var qkvBias: Bool
    public var outputBias: Bool
    public var mlpBias: Bool
    /// Each layer's sliding window (nil: full causal attention).
    public var slidingWindows: [Int?]

    /// The head size: `head_dim`, else the hidden size over the heads.
    public var headDim: Int { explicitHeadDim ?? (heads > 0 ? hiddenSize / heads : 0) }

    /// The keys the Llama family knows it does not compute (besides the rotary and sliding-window forms refused
    /// where they are read: partial rotary, other rope types, per-layer rotary parameters, Mistral's layer_types).
    public static let refusedKeys = UnsupportedKey.foreign

    public init(modelType: String, reading c: inout ConfigReader) {
        hiddenSize = c.positiveInt("hidden_size")
        heads = c.positiveInt("num_attention_heads")
        kvHeads = c.positiveInt("num_key_value_heads", default: heads)
        layers = c.positiveInt("num_hidden_layers")
        intermediateSize = c.positiveInt("intermediate_size")
        vocabSize = c.positiveInt("vocab_size")
        maxPositions = c.positiveInt("max_position_embeddings", default: ["mistral": 4096 * 32, "qwen2": 32768][modelType] ?? 2048)
        rmsNormEpsilon = c.double("rms_norm_eps", default: 1e-6, range: .normEpsilon)
        (ropeTheta, ropeScaling) = Self.rotary(&c)
        activation = c.activation("hidden_act", default: "silu")
        tiedEmbeddings = c.bool("tie_word_embeddings", default: false)
        explicitHeadDim = c.json["head_dim"].flatMap { $0.isNull ? nil : $0 } != nil ? c.positiveInt("head_dim") : nil
        let attentionBias = modelType == "llama" && c.bool("attention_bias", default: false)
        qkvBias = modelType == "qwen2" || attentionBias
        outputBias = attentionBias
        mlpBias = modelType == "llama" && c.bool("mlp_bias", default: false)
        // LlamaAttention with `pretraining_tp` > 1 (transformers 4.31–4.44) splits each projection into slices
        // and sums them: the same product, so any positive value is computed as 1 is.
        if c.json["pretraining_tp"].map({ !$0.isNull }) == true { _ = c.positiveInt("pretraining_tp") }
        c.refuse(Self.refusedKeys)
        c.check("initializer_range", range: .unit)
        slidingWindows = Self.slidingWindows(modelType: modelType, layers: layers, &c)
    }

    /// The rotary base and scaling, from `rope_theta` and the `rope_parameters` / `rope_scaling` object (transformers 5
    /// writes `{"rope_type": "default", "rope_theta": …}` there). Plain rotary embeddings and the scalings of
    /// `RopeScaling` (linear, llama3) are implemented: any other `rope_type` (dynamic, yarn, longrope, …) and a
    /// `partial_rotary_factor` other than 1 are refused by name.
    static func rotary(_ c: inout ConfigReader) -> (Double, RopeScaling?) {
        var theta = c.double("rope_theta", default: 10000, range: .positive)
        var scaling: RopeScaling?
        if let v = c.json["partial_rotary_factor"], !v.isNull, v.doubleValue != 1 {
            c.add("config key 'partial_rotary_factor' is \(v.serialized()): rotary embeddings over part of each head are not implemented for this family")
        }
        for key in ["rope_parameters", "rope_scaling"] {
            guard let block = c.json[key], !block.isNull else { continue }
            guard block.objectValue != nil else {
                c.add("config key '\(key)' is \(block.serialized()), not an object")
                continue
            }
            if let nested = block.objectValue?.first(where: { $0.1.objectValue != nil }) {
                c.add("config key '\(key)' holds rotary parameters per layer type ('\(nested.0)'): only one set for every layer is implemented")
                continue
            }
            var r = ConfigReader(json: block, file: c.file)
            let type = r.string("rope_type", "type", default: "default")
            switch type {
            case "default": break
            case "linear":
                scaling = .linear(factor: r.double("factor", default: 1, range: .positive))
                if block["factor"].map({ $0.isNull }) ?? true { r.add("config key 'factor' is missing") }
            case "llama3":
                for k in ["factor", "low_freq_factor", "high_freq_factor"] where block[k].map({ $0.isNull }) ?? true {
                    r.add("config key '\(k)' is missing")
                }
                let factor = r.double("factor", default: 1, range: .positive)
                let low = r.double("low_freq_factor", default: 1, range: .positive)
                let high = r.double("high_freq_factor", default: 4, range: .positive)
                let original = r.positiveInt("original_max_position_embeddings")
                if high <= low {
                    r.add("config key 'high_freq_factor' is \(high), not greater than low_freq_factor \(low)")
                }
                scaling = .llama3(factor: factor, lowFrequencyFactor: low, highFrequencyFactor: high, originalMaxPositions: original)
            default:
                c.add("config key '\(key)' has rope_type '\(type)': \(key) type '\(type)' is not supported; supported: \(RopeScaling.names.joined(separator: ", ")) (and the plain 'default')")
            }
            if let v = block["partial_rotary_factor"], !v.isNull, v.doubleValue != 1 {
                c.add("config key '\(key).partial_rotary_factor' is \(v.serialized()): rotary embeddings over part of each head are not implemented for this family")
            }
            if block["rope_theta"].map({ !$0.isNull }) == true {
                theta = r.double("rope_theta", default: theta, range: .positive)
            }
            for p in r.problems { c.add(p.replacingOccurrences("config key '", "config key '\(key).")) }
        }
        return (theta, scaling)
    }

    /// The sliding window of each layer, nil for full attention, as transformers decides it:
    /// - Mistral: `sliding_window` (null: none) on every layer;
    /// - Qwen2: none unless `use_sliding_window`; then `layer_types` when given, else layers from
    ///   `max_window_layers` on (`Qwen2Config.__post_init__`: "sliding_attention" if i >= max_window_layers);
    /// - Llama: LlamaModel has no sliding window and does not read the key.
    static func slidingWindows(modelType: String, layers: Int, _ c: inout ConfigReader) -> [Int?] {
        let count = min(max(layers, 0), ConfigReader.largest)
        // Absent means transformers' default of 4096 (MistralConfig, Qwen2Config); null means no window.
        func window() -> Int? {
            guard let v = c.json["sliding_window"] else { return 4096 }
            return v.isNull ? nil : c.positiveInt("sliding_window")
        }
        switch modelType {
        case "mistral":
            c.refuse("layer_types", "per-layer attention types are not part of Mistral's definition")
            let w = window()
            return Array(repeating: w, count: count)
        case "qwen2":
            guard c.bool("use_sliding_window", default: false) else { return Array(repeating: nil, count: count) }
            guard let w = window() else { return Array(repeating: nil, count: count) }
            if let types = c.json["layer_types"], !types.isNull {
                guard let list = types.arrayValue, list.count == count else {
                    c.add("config key 'layer_types' is not a list of \(count) attention types")
                    return Array(repeating: nil, count: count)
                }
                return list.map { t -> Int? in
                    switch t.stringValue {
                    case "sliding_attention": return w
                    case "full_attention": return nil
                    default:
                        c.add("config key 'layer_types' holds \(t.serialized()), not 'full_attention' or 'sliding_attention'")
                        return nil
                    }
                }
            }
            let from = c.int("max_window_layers", default: 28, in: 0...ConfigReader.largest)
            return (0..<count).map { $0 >= from ? w : nil }
        default:
            return Array(repeating: nil, count: count)
        }
    }
}
