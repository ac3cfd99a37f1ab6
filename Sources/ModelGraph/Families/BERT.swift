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
        let config = BERTConfig(modelType: modelType, reading: &c)
        let hidden = config.hiddenSize, heads = config.heads, inter = config.intermediateSize, vocab = config.vocabSize
        let positions = config.maxPositions, types = config.tokenTypes, eps = config.layerNormEpsilon
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
            positionOffset: config.positionOffset,
            // BertEmbeddings always adds token type 0's row when `type_vocab_size` > 0: a missing table is an
            // error, not a row of zeros.
            tokenType: types > 0 ? b.required("embeddings.token_type_embeddings.weight", shape: [types, hidden]) : nil,
            norm: ln("embeddings.LayerNorm"))
        var blocks: [Block] = []
        for i in 0..<b.layers(config.layers, key: "num_hidden_layers") {
            let l = "encoder.layer.\(i)."
            let s = l + "attention.self."
            let attention = Attention(
                query: b.linear(s + "query.weight", bias: s + "query.bias", in: hidden, out: hidden, optional: b.foldedLayers.contains(i)),
                key: b.linear(s + "key.weight", bias: s + "key.bias", in: hidden, out: hidden, optional: b.foldedLayers.contains(i)),
                value: b.linear(s + "value.weight", bias: s + "value.bias", in: hidden, out: hidden),
                output: b.linear(l + "attention.output.dense.weight", bias: l + "attention.output.dense.bias", in: hidden, out: hidden),
                heads: heads, kvHeads: heads, headDim: d, rotary: nil, causal: false,
                scale: 1 / Double(max(d, 1)).squareRoot(), slidingWindow: nil, modulePath: b.prefix + l + "attention.self", featureMap: nil)
            let mlp = MLP(up: b.linear(l + "intermediate.dense.weight", bias: l + "intermediate.dense.bias", in: hidden, out: inter),
                          gate: nil,
                          down: b.linear(l + "output.dense.weight", bias: l + "output.dense.bias", in: inter, out: hidden),
                          activation: config.activation)
            blocks.append(Block(index: i, placement: .post, attentionNorm: ln(l + "attention.output.LayerNorm"),
                                attention: attention, mlpNorm: ln(l + "output.LayerNorm"), mlp: mlp))
        }
        return ModelGraph(
            family: .bert, modelType: modelType, hiddenSize: hidden, vocabSize: vocab, heads: heads, kvHeads: heads, headDim: d,
            intermediateSize: inter, maxPositions: positions, causal: false, embeddings: embeddings, blocks: blocks,
            finalNorm: nil, lmHead: nil, tiedEmbeddings: false, prefix: b.prefix, linearAttention: nil, ignoredTensors: [])
    }
}

/// A BERT-family `config.json`, typed: every key the family reads, with transformers' `BertConfig` defaults, and
/// the keys it refuses. Problems go into the reader, so that all of them are reported at once.
public struct BERTConfig: Sendable, Hashable {
    public var hiddenSize: Int
    /// `num_attention_heads`.
    public var heads: Int
    /// `num_hidden_layers`.
    public var layers: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    /// `max_position_embeddings`, default 512.
    public var maxPositions: Int
    /// `type_vocab_size`, default 2; 0 means no token-type table.
    public var tokenTypes: Int
    /// `layer_norm_eps`, default 1e-12.
    public var layerNormEpsilon: Double
    /// `hidden_act`, default exact `gelu`.
    public var activation: Activation
    /// The first position's row: RoBERTa-style models number positions from `pad_token_id` + 1 (default pad 1), so
    /// that position must exist in the table; BERT from 0.
    public var positionOffset: Int

    /// The keys BERT knows it does not compute.
    public static let refusedKeys = UnsupportedKey.foreign + [
        UnsupportedKey("position_embedding_type", neutral: [.string("absolute")],
                       "only absolute position embeddings are implemented (relative_key and relative_key_query are not)"),
        UnsupportedKey("is_decoder", neutral: [.bool(false)], "the causal (decoder) form of BERT is not implemented"),
        UnsupportedKey.crossAttention,
    ]

    public init(modelType: String, reading c: inout ConfigReader) {
        hiddenSize = c.positiveInt("hidden_size")
        heads = c.positiveInt("num_attention_heads")
        layers = c.positiveInt("num_hidden_layers")
        intermediateSize = c.positiveInt("intermediate_size")
        vocabSize = c.positiveInt("vocab_size")
        maxPositions = c.positiveInt("max_position_embeddings", default: 512)
        tokenTypes = c.int("type_vocab_size", default: 2, in: 0...ConfigReader.largest)
        layerNormEpsilon = c.double("layer_norm_eps", default: 1e-12, range: .normEpsilon)
        activation = c.activation("hidden_act", default: "gelu")
        let robertaStyle = ["roberta", "xlm-roberta", "camembert"].contains(modelType)
        positionOffset = robertaStyle ? c.int("pad_token_id", default: 1, in: 0...max(maxPositions - 2, 0)) + 1 : 0
        c.refuse(Self.refusedKeys)
        c.check("initializer_range", range: .unit)
    }
}
