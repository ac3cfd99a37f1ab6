/// BERT-family encoders (BERT, RoBERTa, MiniLM-style): post-norm blocks, bidirectional attention,
/// learned absolute positions and token types, exact `gelu`, PyTorch `Linear` weights `[out, in]`.
///
/// Names: `embeddings.{word,position,token_type}_embeddings.weight`, `embeddings.LayerNorm`,
/// `encoder.layer.{i}.attention.self.{query,key,value}`, `encoder.layer.{i}.attention.output.{dense,LayerNorm}`,
/// `encoder.layer.{i}.intermediate.dense`, `encoder.layer.{i}.output.{dense,LayerNorm}`; with or without
/// `bert.` / `roberta.`; the pooler and task heads are optional and ignored. Old checkpoints name
/// LayerNorm parameters `gamma` / `beta`; both spellings are read.
public enum BERTFamily: ModelFamily {
    public static let family = FamilyName.bert
    public static let modelTypes: Set<String> = ["bert", "roberta", "xlm-roberta", "camembert", "minilm"]

    public static func build(modelType: String, config c: inout ConfigReader, builder b: inout GraphBuilder) -> ModelGraph {
        let hidden = c.positiveInt("hidden_size")
        let heads = c.positiveInt("num_attention_heads")
        let layers = c.positiveInt("num_hidden_layers")
        let inter = c.positiveInt("intermediate_size")
        let vocab = c.positiveInt("vocab_size")
        let positions = c.positiveInt("max_position_embeddings", default: 512)
        let types = c.int("type_vocab_size", default: 2)
        let eps = c.double("layer_norm_eps", default: 1e-12)
        let activation = c.activation("hidden_act", default: "gelu")
        let robertaStyle = ["roberta", "xlm-roberta", "camembert"].contains(modelType)
        let offset = robertaStyle ? c.int("pad_token_id", default: 1) + 1 : 0
        ModelGraph.checkHeads(hidden: hidden, heads: heads, kvHeads: heads, headDim: nil, into: &b)
        let d = heads > 0 ? hidden / heads : 0

        if !b.choosePrefix(["", "bert.", "roberta.", "model."], anchor: "embeddings.word_embeddings.weight") {
            b.add("no tensor 'embeddings.word_embeddings.weight' (with or without 'bert.'/'roberta.'): not a BERT-family checkpoint")
        }
        func ln(_ base: String) -> Norm {
            b.norm(.layerNorm, weight: base + ".weight", [base + ".gamma"], bias: base + ".bias", [base + ".beta"], size: hidden, eps: eps)
        }
        let embeddings = Embeddings(
            token: b.required("embeddings.word_embeddings.weight", shape: [vocab, hidden]),
            position: b.required("embeddings.position_embeddings.weight", shape: [positions, hidden]),
            positionOffset: offset,
            tokenType: types > 0 ? b.tensor("embeddings.token_type_embeddings.weight", shape: [types, hidden], optional: true) : nil,
            norm: ln("embeddings.LayerNorm"))
        var blocks: [Block] = []
        for i in 0..<b.layers(layers, key: "num_hidden_layers") {
            let l = "encoder.layer.\(i)."
            let s = l + "attention.self."
            let attention = Attention(
                query: b.linear(s + "query.weight", bias: s + "query.bias", in: hidden, out: hidden, optional: b.foldedLayers.contains(i)),
                key: b.linear(s + "key.weight", bias: s + "key.bias", in: hidden, out: hidden, optional: b.foldedLayers.contains(i)),
                value: b.linear(s + "value.weight", bias: s + "value.bias", in: hidden, out: hidden),
                output: b.linear(l + "attention.output.dense.weight", bias: l + "attention.output.dense.bias", in: hidden, out: hidden),
                heads: heads, kvHeads: heads, headDim: d, rotary: nil, causal: false,
                modulePath: b.prefix + l + "attention.self", featureMap: nil)
            let mlp = MLP(up: b.linear(l + "intermediate.dense.weight", bias: l + "intermediate.dense.bias", in: hidden, out: inter),
                          gate: nil,
                          down: b.linear(l + "output.dense.weight", bias: l + "output.dense.bias", in: inter, out: hidden),
                          activation: activation)
            blocks.append(Block(index: i, placement: .post, attentionNorm: ln(l + "attention.output.LayerNorm"),
                                attention: attention, mlpNorm: ln(l + "output.LayerNorm"), mlp: mlp))
        }
        return ModelGraph(
            family: .bert, modelType: modelType, hiddenSize: hidden, vocabSize: vocab, heads: heads, kvHeads: heads, headDim: d,
            intermediateSize: inter, maxPositions: positions, causal: false, embeddings: embeddings, blocks: blocks,
            finalNorm: nil, lmHead: nil, tiedEmbeddings: false, prefix: b.prefix, linearAttention: nil, ignoredTensors: [])
    }
}
