import RecastCore

/// A `config.json` key that asks for a computation Recast does not implement: refused by name unless it holds one
/// of the values computed the same way (`neutral`; absent and null always pass). Each family's typed config lists
/// the keys it refuses.
public struct UnsupportedKey: Sendable {
    public var key: String
    public var neutral: [JSON]
    public var why: String

    public init(_ key: String, neutral: [JSON] = [], _ why: String) {
        self.key = key
        self.neutral = neutral
        self.why = why
    }

    /// Keys of other architectures that, set to anything but their neutral value, ask for a computation none of
    /// Recast's families has. transformers' classes for gpt2, bert, llama, mistral and qwen2 do not read them,
    /// so such a config is a mislabelled model (a GPT-NeoX, OLMo, Gemma, Granite, Falcon, …): refused by name.
    public static let foreign: [UnsupportedKey] = [
        UnsupportedKey("qk_layernorm", neutral: [.bool(false)], "normalising q and k is not part of this model type"),
        UnsupportedKey("use_qk_norm", neutral: [.bool(false)], "normalising q and k is not part of this model type"),
        UnsupportedKey("use_parallel_residual", neutral: [.bool(false)], "parallel attention and MLP residuals are not part of this model type"),
        UnsupportedKey("parallel_attn", neutral: [.bool(false)], "parallel attention and MLP residuals are not part of this model type"),
        UnsupportedKey("alibi", neutral: [.bool(false)], "ALiBi position biases are not implemented"),
        UnsupportedKey("rotary_pct", neutral: [.int(1)], "rotary embeddings over part of each head are not implemented"),
        UnsupportedKey("clip_qkv", "clipping q, k and v is not implemented"),
        UnsupportedKey("attn_logit_softcapping", "attention logit soft-capping is not implemented"),
        UnsupportedKey("final_logit_softcapping", "logit soft-capping is not implemented"),
        UnsupportedKey("attention_multiplier", "a custom attention scale is not part of this model type"),
        UnsupportedKey("embedding_multiplier", neutral: [.int(1)], "scaled embeddings are not part of this model type"),
        UnsupportedKey("residual_multiplier", neutral: [.int(1)], "scaled residuals are not part of this model type"),
        UnsupportedKey("logits_scaling", neutral: [.int(1)], "scaled logits are not part of this model type"),
    ]

    /// Cross-attention (GPT-2 and BERT can be built as the decoder of an encoder–decoder pair).
    public static let crossAttention = UnsupportedKey("add_cross_attention", neutral: [.bool(false)],
                                                      "cross-attention layers need an encoder's states, which Recast does not run")
}

extension ConfigReader {
    /// Refuses each of `keys` that the config sets to a value other than its neutral ones.
    public mutating func refuse(_ keys: [UnsupportedKey]) {
        for k in keys { refuse(k.key, unless: k.neutral, k.why) }
    }
}
