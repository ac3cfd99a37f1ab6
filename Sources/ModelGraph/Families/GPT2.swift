/// GPT-2: learned positions, pre-norm blocks, fused `Conv1D` q/k/v stored `[in, 3·out]`,
/// `gelu_new`, LM head tied to the token embedding.
///
/// Names: `wte.weight`, `wpe.weight`, `h.{i}.ln_1`, `h.{i}.attn.c_attn`, `h.{i}.attn.c_proj`,
/// `h.{i}.ln_2`, `h.{i}.mlp.c_fc`, `h.{i}.mlp.c_proj`, `ln_f`, with or without `transformer.`.
/// The causal-mask buffers `h.{i}.attn.bias` and `h.{i}.attn.masked_bias` are recognised and ignored.
public enum GPT2Family: ModelFamily {
    public static let family = FamilyName.gpt2
    public static let modelTypes: Set<String> = ["gpt2"]

    public static func build(modelType: String, config c: inout ConfigReader, builder b: inout GraphBuilder) -> ModelGraph {
        let config = GPT2Config(reading: &c)
        let e = config.hiddenSize, heads = config.heads, vocab = config.vocabSize, positions = config.maxPositions
        let inner = config.innerSize, eps = config.layerNormEpsilon
        ModelGraph.checkHeads(hidden: e, heads: heads, kvHeads: heads, headDim: nil, into: &b)
        let d = heads > 0 ? e / heads : 0

        if !b.choosePrefix(["", "transformer."], anchor: "wte.weight") {
            b.add("no tensor 'wte.weight' or 'transformer.wte.weight': not a GPT-2 checkpoint")
        }
        let token = b.required("wte.weight", shape: [vocab, e])
        let position = b.required("wpe.weight", shape: [positions, e])
        var blocks: [Block] = []
        for i in 0..<b.layers(config.layers, key: "n_layer") {
            let h = "h.\(i)."
            let qkv = b.required(h + "attn.c_attn.weight", shape: [e, 3 * e])
            let qkvBias = b.required(h + "attn.c_attn.bias", shape: [3 * e])
            func part(_ k: Int) -> Projection {
                Projection(weight: qkv, bias: qkvBias, layout: .inOut, inFeatures: e, outFeatures: e, outputSlice: (k * e)..<((k + 1) * e))
            }
            let attention = Attention(
                query: part(0), key: part(1), value: part(2),
                output: b.linear(h + "attn.c_proj.weight", bias: h + "attn.c_proj.bias", in: e, out: e, layout: .inOut),
                heads: heads, kvHeads: heads, headDim: d, rotary: nil, causal: true,
                scale: (config.scaleAttentionWeights ? 1 / Double(max(d, 1)).squareRoot() : 1) / (config.scaleByInverseLayerIndex ? Double(i + 1) : 1),
                slidingWindow: nil, modulePath: b.prefix + h + "attn", featureMap: nil)
            b.ignore(h + "attn.bias")
            b.ignore(h + "attn.masked_bias")
            let mlp = MLP(up: b.linear(h + "mlp.c_fc.weight", bias: h + "mlp.c_fc.bias", in: e, out: inner, layout: .inOut),
                          gate: nil,
                          down: b.linear(h + "mlp.c_proj.weight", bias: h + "mlp.c_proj.bias", in: inner, out: e, layout: .inOut),
                          activation: config.activation)
            blocks.append(Block(index: i, placement: .pre,
                                attentionNorm: b.norm(.layerNorm, weight: h + "ln_1.weight", bias: h + "ln_1.bias", size: e, eps: eps),
                                attention: attention,
                                mlpNorm: b.norm(.layerNorm, weight: h + "ln_2.weight", bias: h + "ln_2.bias", size: e, eps: eps),
                                mlp: mlp))
        }
        let finalNorm = b.norm(.layerNorm, weight: "ln_f.weight", bias: "ln_f.bias", size: e, eps: eps)
        // GPT2LMHeadModel stores `lm_head.weight` only when it is not tied.
        let head = b.tensor("/lm_head.weight", shape: [vocab, e], optional: true)
        if head == nil && !config.tiedEmbeddings { b.add("tie_word_embeddings is false but tensor 'lm_head.weight' is missing") }
        let lmWeight = head ?? token
        return ModelGraph(
            family: .gpt2, modelType: "gpt2", hiddenSize: e, vocabSize: vocab, heads: heads, kvHeads: heads, headDim: d,
            intermediateSize: inner, maxPositions: positions, causal: true,
            embeddings: Embeddings(token: token, position: position, positionOffset: 0, tokenType: nil, norm: nil),
            blocks: blocks, finalNorm: finalNorm,
            lmHead: Projection(weight: lmWeight, bias: nil, layout: .outIn, inFeatures: e, outFeatures: vocab),
            tiedEmbeddings: head == nil, prefix: b.prefix, linearAttention: nil, ignoredTensors: [])
    }
}

/// GPT-2's `config.json`, typed: every key the family reads, with transformers' `GPT2Config` defaults, and the keys
/// it refuses. Problems go into the reader, so that all of them are reported at once.
public struct GPT2Config: Sendable, Hashable {
    /// `n_embd` (or `hidden_size`).
    public var hiddenSize: Int
    /// `n_head` (or `num_attention_heads`).
    public var heads: Int
    /// `n_layer` (or `num_hidden_layers`).
    public var layers: Int
    public var vocabSize: Int
    /// `n_positions` (or `max_position_embeddings`), default 1024.
    public var maxPositions: Int
    /// `n_inner`, default 4 × the hidden size.
    public var innerSize: Int
    /// `layer_norm_epsilon`, default 1e-5.
    public var layerNormEpsilon: Double
    /// `activation_function`, default `gelu_new`.
    public var activation: Activation
    /// `tie_word_embeddings`, default true.
    public var tiedEmbeddings: Bool
    /// GPT2Attention scales the weights by 1/√d only when `scale_attn_weights` (default true), and further by
    /// 1/(layer_idx + 1) when `scale_attn_by_inverse_layer_idx`. `reorder_and_upcast_attn` only computes the
    /// same product in f32 with the scale applied first: Recast computes in f32 throughout, so it is read and accepted.
    public var scaleAttentionWeights: Bool
    public var scaleByInverseLayerIndex: Bool

    /// The keys GPT-2 knows it does not compute.
    public static let refusedKeys = UnsupportedKey.foreign + [UnsupportedKey.crossAttention]

    public init(reading c: inout ConfigReader) {
        hiddenSize = c.positiveInt("n_embd", "hidden_size")
        heads = c.positiveInt("n_head", "num_attention_heads")
        layers = c.positiveInt("n_layer", "num_hidden_layers")
        vocabSize = c.positiveInt("vocab_size")
        maxPositions = c.positiveInt("n_positions", "max_position_embeddings", default: 1024)
        innerSize = c.positiveInt("n_inner", default: 4 * hiddenSize)
        layerNormEpsilon = c.double("layer_norm_epsilon", default: 1e-5, range: .normEpsilon)
        activation = c.activation("activation_function", default: "gelu_new")
        tiedEmbeddings = c.bool("tie_word_embeddings", default: true)
        scaleAttentionWeights = c.bool("scale_attn_weights", default: true)
        scaleByInverseLayerIndex = c.bool("scale_attn_by_inverse_layer_idx", default: false)
        _ = c.bool("reorder_and_upcast_attn", default: false)
        c.refuse(Self.refusedKeys)
        c.check("initializer_range", range: .unit)
    }
}
