/// Llama-family decoders (Llama, Mistral, Qwen2): RMSNorm pre-norm blocks, grouped-query attention,
/// rotary embeddings (`rope_theta`, Hugging Face `rotate_half` convention), SiLU-gated MLP, tied or
/// untied LM head. Qwen2 adds q/k/v biases; Llama adds them when `attention_bias` is true.
///
/// Names: `model.embed_tokens.weight`, `model.layers.{i}.input_layernorm.weight`,
/// `model.layers.{i}.self_attn.{q,k,v,o}_proj`, `model.layers.{i}.post_attention_layernorm.weight`,
/// `model.layers.{i}.mlp.{gate,up,down}_proj.weight`, `model.norm.weight`, `lm_head.weight`.
public enum LlamaFamily: ModelFamily {
    public static let family = FamilyName.llama
    public static let modelTypes: Set<String> = ["llama", "mistral", "qwen2"]

    public static func build(modelType: String, config c: inout ConfigReader, builder b: inout GraphBuilder) -> ModelGraph {
        let hidden = c.positiveInt("hidden_size")
        let heads = c.positiveInt("num_attention_heads")
        let kvHeads = c.positiveInt("num_key_value_heads", default: heads)
        let layers = c.positiveInt("num_hidden_layers")
        let inter = c.positiveInt("intermediate_size")
        let vocab = c.positiveInt("vocab_size")
        let positions = c.positiveInt("max_position_embeddings", default: 2048)
        let eps = c.double("rms_norm_eps", default: 1e-6)
        let theta = c.double("rope_theta", default: 10000)
        let activation = c.activation("hidden_act", default: "silu")
        let tied = c.bool("tie_word_embeddings", default: modelType == "qwen2" ? true : false)
        let explicitHeadDim = c.json["head_dim"].flatMap { $0.isNull ? nil : $0 } != nil ? c.positiveInt("head_dim") : nil
        let qkvBias = modelType == "qwen2" || c.bool("attention_bias", default: false)
        let oBias = modelType != "qwen2" && c.bool("attention_bias", default: false)
        if let scaling = c.json["rope_scaling"], !scaling.isNull {
            c.add("rope_scaling \(scaling.serialized()) is not supported yet: only plain rotary embeddings are")
        }
        ModelGraph.checkHeads(hidden: hidden, heads: heads, kvHeads: kvHeads, headDim: explicitHeadDim, into: &b)
        let d = explicitHeadDim ?? (heads > 0 ? hidden / heads : 0)

        if !b.choosePrefix(["model.", ""], anchor: "embed_tokens.weight") {
            b.add("no tensor 'model.embed_tokens.weight': not a Llama-family checkpoint")
        }
        let token = b.required("embed_tokens.weight", shape: [vocab, hidden])
        var blocks: [Block] = []
        for i in 0..<b.layers(layers, key: "num_hidden_layers") {
            let l = "layers.\(i)."
            let a = l + "self_attn."
            let attention = Attention(
                query: b.linear(a + "q_proj.weight", bias: qkvBias ? a + "q_proj.bias" : nil, in: hidden, out: heads * d),
                key: b.linear(a + "k_proj.weight", bias: qkvBias ? a + "k_proj.bias" : nil, in: hidden, out: kvHeads * d),
                value: b.linear(a + "v_proj.weight", bias: qkvBias ? a + "v_proj.bias" : nil, in: hidden, out: kvHeads * d),
                output: b.linear(a + "o_proj.weight", bias: oBias ? a + "o_proj.bias" : nil, in: heads * d, out: hidden),
                heads: heads, kvHeads: kvHeads, headDim: d, rotary: Rotary(theta: theta, dimensions: d), causal: true,
                modulePath: b.prefix + l + "self_attn", featureMap: nil)
            b.ignore(a + "rotary_emb.inv_freq")
            let mlp = MLP(up: b.linear(l + "mlp.up_proj.weight", bias: nil, in: hidden, out: inter),
                          gate: b.linear(l + "mlp.gate_proj.weight", bias: nil, in: hidden, out: inter),
                          down: b.linear(l + "mlp.down_proj.weight", bias: nil, in: inter, out: hidden),
                          activation: activation)
            blocks.append(Block(index: i, placement: .pre,
                                attentionNorm: b.norm(.rmsNorm, weight: l + "input_layernorm.weight", bias: nil, size: hidden, eps: eps),
                                attention: attention,
                                mlpNorm: b.norm(.rmsNorm, weight: l + "post_attention_layernorm.weight", bias: nil, size: hidden, eps: eps),
                                mlp: mlp))
        }
        let finalNorm = b.norm(.rmsNorm, weight: "norm.weight", bias: nil, size: hidden, eps: eps)
        let head = b.tensor("/lm_head.weight", shape: [vocab, hidden], optional: true)
        if head == nil && !tied { b.add("tie_word_embeddings is false but tensor 'lm_head.weight' is missing") }
        return ModelGraph(
            family: .llama, modelType: modelType, hiddenSize: hidden, vocabSize: vocab, heads: heads, kvHeads: kvHeads, headDim: d,
            intermediateSize: inter, maxPositions: positions, causal: true,
            embeddings: Embeddings(token: token, position: nil, positionOffset: 0, tokenType: nil, norm: nil),
            blocks: blocks, finalNorm: finalNorm,
            lmHead: Projection(weight: head ?? token, bias: nil, layout: .outIn, inFeatures: hidden, outFeatures: vocab),
            tiedEmbeddings: head == nil, prefix: b.prefix, linearAttention: nil, ignoredTensors: [])
    }
}
