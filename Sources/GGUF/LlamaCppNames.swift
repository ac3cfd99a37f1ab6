import RecastCore

/// How a tensor's stored layout differs between llama.cpp and Hugging Face.
public enum LlamaCppLayout: Sendable, Equatable {
    /// The same values in the same order.
    case same
    /// GPT-2's `Conv1D` weights: Hugging Face stores them `[in, out]`, llama.cpp `[out, in]` (the converter
    /// transposes `c_attn`, `c_proj` and `c_fc`).
    case transposed
    /// The rows of a rotary q or k projection (weight or bias), interleaved per head by llama.cpp's
    /// converter (`RotaryPermutation`); `heads` is the query head count for q, the key/value head count for k.
    case rotaryRows(heads: Int)
}

/// A Hugging Face tensor name with the layout change from llama.cpp's.
public struct LlamaCppName: Sendable, Equatable {
    public var huggingFace: String
    public var layout: LlamaCppLayout

    public init(huggingFace: String, layout: LlamaCppLayout) {
        self.huggingFace = huggingFace
        self.layout = layout
    }
}

/// llama.cpp's tensor names (`blk.3.attn_q.weight`) and Hugging Face's (`model.layers.3.self_attn.q_proj.weight`)
/// for the architectures Recast has a family for, in both directions, as llama.cpp's `convert_hf_to_gguf.py`
/// and gguf-py's `TensorNameMap` relate them:
/// - `llama` (LlamaForCausalLM, MistralForCausalLM: SmolLM, Mistral and kin): q and k rows permuted
///   (`LlamaModel.modify_tensors`), weights and biases alike;
/// - `qwen2` (Qwen2ForCausalLM): the same names, not permuted (`Qwen2Model` keeps Hugging Face's layout);
/// - `gpt2` (GPT2LMHeadModel): `Conv1D` weights transposed (`GPT2Model.modify_tensors`), the causal-mask
///   buffers dropped;
/// - `bert` (BertModel): the `bert.` prefix and `gamma`/`beta` spellings normalised, the pooler, the
///   `position_ids` buffer and the `cls.*` heads dropped (`BertModel.filter_tensors`).
///
/// Hugging Face names are given as the PyTorch checkpoints of those classes name them (GPT-2 with its
/// `transformer.` prefix, BERT without `bert.`); the reverse direction accepts the other spellings
/// Recast reads too.
public enum LlamaCppNames {
    /// Architectures with a mapping: llama (Mistral and SmolLM convert to `llama` too), qwen2, gpt2, bert.
    public static func supports(architecture: String) -> Bool { LlamaCppTable.of(architecture) != nil }

    /// The llama.cpp architecture (`general.architecture`) a Hugging Face `model_type` converts to, as
    /// llama.cpp's converter registers the classes: `mistral` becomes `llama`. Nil for model types Recast
    /// has no llama.cpp mapping for.
    public static func architecture(modelType: String) -> String? {
        ["llama": "llama", "mistral": "llama", "qwen2": "qwen2", "gpt2": "gpt2", "bert": "bert"][modelType]
    }

    /// The Hugging Face name and layout of llama.cpp tensor `name`, given the Hugging Face config (for the
    /// head counts of the rotary permutation, and the layer count); nil when the name is not one llama.cpp
    /// gives a tensor of this architecture with a Hugging Face counterpart (`rope_freqs.weight`, which
    /// llama.cpp computes from the rope scaling, is one), its block is beyond `num_hidden_layers`, or it is a
    /// q or k projection and the config lacks valid head counts.
    public static func huggingFace(_ name: String, architecture: String, config: JSON) -> LlamaCppName? {
        guard let table = LlamaCppTable.of(architecture), let parsed = LlamaCppTensorName(name) else { return nil }
        let entries = parsed.block == nil ? table.globalEntries : table.blockEntries
        guard let entry = entries.first(where: { $0.llamaCpp == parsed.stem }),
              let layout = table.layout(of: entry.role, suffix: parsed.suffix, config: config) else { return nil }
        var hfName = entry.huggingFace + "." + parsed.suffix
        if let block = parsed.block {
            guard table.blockIndexIsValid(block, config: config) else { return nil }
            hfName = table.blockPrefix(block) + hfName
        }
        return LlamaCppName(huggingFace: hfName, layout: layout)
    }

    /// The reverse: llama.cpp's name and layout for a Hugging Face tensor name. Nil when llama.cpp's
    /// converter drops the tensor (BERT's pooler and heads, GPT-2's mask buffers, rotary `inv_freq`).
    /// Throws, naming `file` and the tensor, for a name llama.cpp cannot map (its converter stops with
    /// "Can not map tensor"), and for a q or k projection when `config` lacks the head counts.
    public static func llamaCpp(_ hfName: String, architecture: String, config: JSON, file: String) throws -> (name: String, layout: LlamaCppLayout)? {
        guard let table = LlamaCppTable.of(architecture) else {
            throw CheckpointError.tensor(hfName, in: file, "has no llama.cpp name: Recast maps the architectures llama, qwen2, gpt2 and bert, not '\(architecture)'")
        }
        let normalised = table.normalise(hfName)
        if table.dropped(normalised) { return nil }
        func unknown() -> CheckpointError {
            CheckpointError.tensor(hfName, in: file, "has no llama.cpp name for architecture '\(architecture)' (llama.cpp's converter would stop with \"Can not map tensor\")")
        }
        guard let dot = normalised.lastIndex(of: "."),
              case let suffix = String(normalised[normalised.index(after: dot)...]), suffix == "weight" || suffix == "bias" else { throw unknown() }
        let stem = String(normalised[..<dot])
        if let e = table.globalEntries.first(where: { $0.huggingFace == stem }),
           let layout = table.layout(of: e.role, suffix: suffix, config: config) {
            return (e.llamaCpp + "." + suffix, layout)
        }
        guard let (block, rest) = table.splitBlock(stem), table.blockIndexIsValid(block, config: config),
              let e = table.blockEntries.first(where: { $0.huggingFace == rest }) else { throw unknown() }
        guard let layout = table.layout(of: e.role, suffix: suffix, config: config) else {
            throw CheckpointError.tensor(hfName, in: file, "is a rotary projection, but the config has no valid num_attention_heads / num_key_value_heads to permute its rows by")
        }
        return ("blk.\(block).\(e.llamaCpp).\(suffix)", layout)
    }
}

/// A llama.cpp tensor name split into its block number (nil for global tensors), stem and suffix:
/// `blk.3.attn_q.weight` → (3, `attn_q`, `weight`). Only the canonical spelling the converter writes
/// parses (decimal block numbers without leading zeros), so each name maps one way.
struct LlamaCppTensorName {
    var block: Int?
    var stem: String
    var suffix: String

    init?(_ name: String) {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let suffix = parts.last, suffix == "weight" || suffix == "bias" else { return nil }
        switch parts.count {
        case 2:
            block = nil
        case 4 where parts[0] == "blk":
            guard let n = canonicalIndex(parts[1]) else { return nil }
            block = n
        default:
            return nil
        }
        stem = parts[parts.count - 2]
        self.suffix = suffix
        guard !stem.isEmpty else { return nil }
    }
}

/// A layer number written as Python's `str(int)` writes it: digits, no sign, no leading zero.
func canonicalIndex(_ s: some StringProtocol) -> Int? {
    guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), s == "0" || !s.hasPrefix("0"), s.count < 10 else { return nil }
    return Int(s)
}

/// The name correspondences of one architecture.
struct LlamaCppTable: Sendable {
    /// What a tensor is, for its layout.
    enum Role: Sendable { case plain, conv1D, rotaryQuery, rotaryKey }

    struct Entry: Sendable {
        let llamaCpp: String
        let huggingFace: String
        let role: Role
        init(_ llamaCpp: String, _ huggingFace: String, _ role: Role = .plain) {
            self.llamaCpp = llamaCpp
            self.huggingFace = huggingFace
            self.role = role
        }
    }

    let architecture: String
    let globalEntries: [Entry]
    /// Entries inside a block, Hugging Face names relative to the block prefix.
    let blockEntries: [Entry]
    /// The Hugging Face prefix of block `{i}` (`model.layers.{i}.`): before and after the number.
    let blockHead: String
    /// Config keys of the layer count, first present wins.
    let layerKeys: [String]
    /// Hugging Face prefixes that are stripped or added so that every spelling Recast reads maps.
    let normalise: @Sendable (String) -> String
    let dropped: @Sendable (String) -> Bool

    func blockPrefix(_ i: Int) -> String { blockHead + "\(i)." }

    /// `model.layers.3.self_attn.q_proj` → (3, `self_attn.q_proj`).
    func splitBlock(_ stem: String) -> (Int, String)? {
        guard stem.hasPrefix(blockHead) else { return nil }
        let rest = stem.dropFirst(blockHead.count)
        guard let dot = rest.firstIndex(of: "."), let i = canonicalIndex(rest[..<dot]) else { return nil }
        return (i, String(rest[rest.index(after: dot)...]))
    }

    /// Block numbers beyond the config's layer count have no counterpart (gguf-py's map is built for
    /// `n_blocks` too); without a layer count any number is accepted.
    func blockIndexIsValid(_ i: Int, config: JSON) -> Bool {
        guard let layers = layerKeys.lazy.compactMap({ config[$0]?.intValue }).first else { return true }
        return i < layers
    }

    func layout(of role: Role, suffix: String, config: JSON) -> LlamaCppLayout? {
        switch role {
        case .plain: return .same
        case .conv1D: return suffix == "weight" ? .transposed : .same
        case .rotaryQuery, .rotaryKey:
            guard let heads = positive(config, ["num_attention_heads", "n_head"]) else { return nil }
            if role == .rotaryQuery { return .rotaryRows(heads: heads) }
            guard config["num_key_value_heads"].map({ !$0.isNull }) == true else { return .rotaryRows(heads: heads) }
            return positive(config, ["num_key_value_heads"]).map { .rotaryRows(heads: $0) }
        }
    }

    private func positive(_ config: JSON, _ keys: [String]) -> Int? {
        guard let v = keys.lazy.compactMap({ config[$0]?.intValue }).first, v > 0 else { return nil }
        return v
    }

    static func of(_ architecture: String) -> LlamaCppTable? {
        switch architecture {
        case "llama": llama(rotary: true)
        case "qwen2": llama(rotary: false)
        case "gpt2": gpt2
        case "bert": bert
        default: nil
        }
    }

    /// Llama and Qwen2 share their names; llama.cpp permutes q and k only for `llama` (LlamaModel), and
    /// keeps Hugging Face's layout for `qwen2` (Qwen2Model, which llama.cpp runs with NeoX-style rotary).
    static func llama(rotary: Bool) -> LlamaCppTable {
        LlamaCppTable(
            architecture: rotary ? "llama" : "qwen2",
            globalEntries: [Entry("token_embd", "model.embed_tokens"), Entry("output_norm", "model.norm"), Entry("output", "lm_head")],
            blockEntries: [
                Entry("attn_norm", "input_layernorm"),
                Entry("attn_q", "self_attn.q_proj", rotary ? .rotaryQuery : .plain),
                Entry("attn_k", "self_attn.k_proj", rotary ? .rotaryKey : .plain),
                Entry("attn_v", "self_attn.v_proj"),
                Entry("attn_output", "self_attn.o_proj"),
                Entry("ffn_norm", "post_attention_layernorm"),
                Entry("ffn_gate", "mlp.gate_proj"),
                Entry("ffn_up", "mlp.up_proj"),
                Entry("ffn_down", "mlp.down_proj"),
            ],
            blockHead: "model.layers.",
            layerKeys: ["num_hidden_layers"],
            // The base-model checkpoints (LlamaModel, Qwen2Model) have no `model.` prefix: llama.cpp adds it.
            normalise: { $0.hasPrefix("model.") || $0.hasPrefix("lm_head.") ? $0 : "model." + $0 },
            // Older checkpoints saved the rotary frequencies, a buffer computed from the config.
            dropped: { $0.hasSuffix(".rotary_emb.inv_freq") })
    }

    static let gpt2 = LlamaCppTable(
        architecture: "gpt2",
        globalEntries: [Entry("token_embd", "transformer.wte"), Entry("position_embd", "transformer.wpe"),
                        Entry("output_norm", "transformer.ln_f"), Entry("output", "lm_head")],
        blockEntries: [
            Entry("attn_norm", "ln_1"),
            Entry("attn_qkv", "attn.c_attn", .conv1D),
            Entry("attn_output", "attn.c_proj", .conv1D),
            Entry("ffn_norm", "ln_2"),
            Entry("ffn_up", "mlp.c_fc", .conv1D),
            Entry("ffn_down", "mlp.c_proj", .conv1D),
        ],
        blockHead: "transformer.h.",
        layerKeys: ["n_layer", "num_hidden_layers"],
        // The Hub's GPT-2 checkpoints name the transformer's tensors without `transformer.`.
        normalise: { $0.hasPrefix("transformer.") || $0.hasPrefix("lm_head.") ? $0 : "transformer." + $0 },
        // The causal mask and its fill value: buffers, not weights.
        dropped: { $0.hasSuffix(".attn.bias") || $0.hasSuffix(".attn.masked_bias") })

    static let bert = LlamaCppTable(
        architecture: "bert",
        globalEntries: [Entry("token_embd", "embeddings.word_embeddings"), Entry("position_embd", "embeddings.position_embeddings"),
                        Entry("token_types", "embeddings.token_type_embeddings"), Entry("token_embd_norm", "embeddings.LayerNorm")],
        blockEntries: [
            Entry("attn_q", "attention.self.query"),
            Entry("attn_k", "attention.self.key"),
            Entry("attn_v", "attention.self.value"),
            Entry("attn_output", "attention.output.dense"),
            Entry("attn_output_norm", "attention.output.LayerNorm"),
            Entry("ffn_up", "intermediate.dense"),
            Entry("ffn_down", "output.dense"),
            Entry("layer_output_norm", "output.LayerNorm"),
        ],
        blockHead: "encoder.layer.",
        layerKeys: ["num_hidden_layers"],
        normalise: { name in
            var n = name.hasPrefix("bert.") ? String(name.dropFirst(5)) : name
            if n.hasSuffix(".gamma") { n = n.dropLast(6) + ".weight" }
            if n.hasSuffix(".beta") { n = n.dropLast(5) + ".bias" }
            return n
        },
        // llama.cpp runs BERT for embeddings: no pooler, no pre-training heads.
        dropped: { n in
            ["embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"].contains(n)
                || n.hasPrefix("cls.predictions") || n.hasPrefix("cls.seq_relationship")
        })
}
