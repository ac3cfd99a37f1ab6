import RecastCore

/// Hugging Face `config.json` from a GGUF file's metadata, and GGUF metadata from a `config.json`, for the
/// architectures `LlamaCppNames` maps (llama, qwen2, gpt2, bert), as llama.cpp's `convert_hf_to_gguf.py`
/// writes the `{arch}.*` keys: `TextModel.set_gguf_parameters`, plus `vocab_size` and `rope.dimension_count`
/// for `LlamaModel`, and `attention.causal` for `BertModel`.
public enum GGUFConfig {
    /// The Hugging Face `config.json` of a GGUF model, from `general.architecture` and the `{arch}.*` keys,
    /// the tokenizer's special ids, and the tensor infos (for the vocabulary size, `tie_word_embeddings`,
    /// biases and token types):
    /// - `architectures`, `model_type`; sizes, layer and head counts, key/value heads, `head_dim` when it is
    ///   not `hidden_size / num_attention_heads`; the intermediate size; `max_position_embeddings` from the
    ///   context length;
    /// - `rms_norm_eps` / `layer_norm_eps` / `layer_norm_epsilon`: GGUF stores them as f32, written back as
    ///   the shortest decimal that reads as the same f32 (9.9999997e-06 → 1e-05); `rope_theta` likewise;
    /// - `vocab_size` from the token embedding's rows (checked against `{arch}.vocab_size`);
    /// - `tie_word_embeddings`: true when there is no `output.weight`;
    /// - `bos_token_id`, `eos_token_id`, `pad_token_id` from `tokenizer.ggml.*`; `hidden_act`; `torch_dtype`
    ///   `float32` (what dequantised weights are: set it when writing another dtype);
    /// - `rope_scaling` (`GGUFRopeScaling`): `{"rope_type": "linear", "factor": f}` from
    ///   `{arch}.rope.scaling.type` `linear` (or absent) and `{arch}.rope.scaling.factor` (or the older
    ///   `rope.scale_linear`) other than 0 and 1; llama3's parameters recovered from a `rope_freqs.weight`
    ///   tensor (`Llama3RopeParameters.recovered`), whose values `tensorValues` reads. A `rope_freqs` of
    ///   ones only is no scaling at all.
    ///
    /// Throws, naming `file` and the key or tensor, for a missing or ill-typed key, head counts that do not
    /// divide, and what Recast cannot run: other rope scalings (yarn, longrope…), a `rope_freqs` tensor no
    /// llama3 parameters reproduce, partial rotary dimensions, experts, per-layer head counts, causal BERT.
    public static func huggingFaceConfig(from header: GGUFHeader, file: String,
                                         tensorValues: ((String) throws -> [Float])? = nil) throws -> JSON {
        var m = MetadataReader(header: header, file: file, tensorValues: tensorValues)
        guard let architecture = try m.string("general.architecture") else {
            throw CheckpointError(file: file, object: "key 'general.architecture'", "is missing: the file does not say which model it holds")
        }
        guard LlamaCppNames.supports(architecture: architecture) else {
            throw CheckpointError(file: file, object: "key 'general.architecture'",
                "is '\(architecture)': Recast converts the llama.cpp architectures llama, qwen2, gpt2 and bert")
        }
        m.architecture = architecture
        if let experts = try m.int(m.arch("expert_count")), experts > 0 {
            throw m.error(m.arch("expert_count"), "is \(experts): mixture-of-experts models are not implemented")
        }
        switch architecture {
        case "llama", "qwen2": return try decoderConfig(&m)
        case "gpt2": return try gpt2Config(&m)
        default: return try bertConfig(&m)
        }
    }

    /// llama and qwen2: RMSNorm decoders with rotary embeddings and a gated MLP.
    static func decoderConfig(_ m: inout MetadataReader) throws -> JSON {
        let isLlama = m.architecture == "llama"
        let hidden = try m.positive(m.arch("embedding_length"))
        let layers = try m.positive(m.arch("block_count"))
        let heads = try m.positive(m.arch("attention.head_count"))
        let kvHeads = try m.int(m.arch("attention.head_count_kv"), positive: true) ?? heads
        let headDim = try m.headDim(hidden: hidden, heads: heads)
        if heads % kvHeads != 0 {
            throw m.error(m.arch("attention.head_count_kv"), "is \(kvHeads), which does not divide \(m.arch("attention.head_count")) \(heads)")
        }
        if let rotary = try m.int(m.arch("rope.dimension_count")), rotary != headDim {
            throw m.error(m.arch("rope.dimension_count"),
                "is \(rotary), but heads have \(headDim) dimensions: rotary embeddings over part of each head are not implemented")
        }
        let scaling = try m.ropeScaling(rotaryDimensions: headDim)
        var c = m.newConfig(class: isLlama ? "LlamaForCausalLM" : "Qwen2ForCausalLM")
        c.set("hidden_size", .int(hidden))
        c.set("intermediate_size", .int(try m.positive(m.arch("feed_forward_length"))))
        c.set("num_hidden_layers", .int(layers))
        c.set("num_attention_heads", .int(heads))
        c.set("num_key_value_heads", .int(kvHeads))
        if headDim != hidden / heads || hidden % heads != 0 { c.set("head_dim", .int(headDim)) }
        c.set("rms_norm_eps", try m.requiredFloat(m.arch("attention.layer_norm_rms_epsilon")))
        if let theta = try m.float(m.arch("rope.freq_base")) { c.set("rope_theta", theta) }
        if let scaling { c.set("rope_scaling", scaling.json) }
        c.set("vocab_size", .int(try m.vocabSize(hidden: hidden)))
        if let context = try m.int(m.arch("context_length"), positive: true) { c.set("max_position_embeddings", .int(context)) }
        c.set("tie_word_embeddings", .bool(!m.hasTensor("output.weight")))
        c.set("hidden_act", .string("silu"))
        if isLlama {
            // LlamaConfig puts biases on all four projections or none (`attention_bias`), on the MLP by `mlp_bias`.
            let q = m.hasTensor("blk.0.attn_q.bias"), o = m.hasTensor("blk.0.attn_output.bias")
            if q != o {
                throw CheckpointError.tensor(q ? "blk.0.attn_output.bias" : "blk.0.attn_q.bias", in: m.file,
                    "is \(q ? "missing while blk.0.attn_q.bias exists" : "present while blk.0.attn_q.bias is not"): a Hugging Face Llama has biases on q, k, v and output projections together or on none")
            }
            c.set("attention_bias", .bool(q))
            c.set("mlp_bias", .bool(m.hasTensor("blk.0.ffn_up.bias")))
        }
        try m.setSpecialTokens(&c, ["bos", "eos", "pad"])
        c.set("torch_dtype", .string("float32"))
        return c
    }

    /// gpt2: learned positions, LayerNorm, tanh-approximated GELU.
    static func gpt2Config(_ m: inout MetadataReader) throws -> JSON {
        let (hidden, heads) = try m.widthAndHeads()
        var c = m.newConfig(class: "GPT2LMHeadModel")
        c.set("vocab_size", .int(try m.vocabSize(hidden: hidden)))
        c.set("n_positions", .int(try m.contextLength(positionsTensor: "position_embd.weight")))
        c.set("n_embd", .int(hidden))
        c.set("n_layer", .int(try m.positive(m.arch("block_count"))))
        c.set("n_head", .int(heads))
        c.set("n_inner", .int(try m.positive(m.arch("feed_forward_length"))))
        c.set("activation_function", .string("gelu_new"))
        c.set("layer_norm_epsilon", try m.requiredFloat(m.arch("attention.layer_norm_epsilon")))
        c.set("tie_word_embeddings", .bool(!m.hasTensor("output.weight")))
        try m.setSpecialTokens(&c, ["bos", "eos"])
        c.set("torch_dtype", .string("float32"))
        return c
    }

    /// bert: a bidirectional post-norm encoder with token types.
    static func bertConfig(_ m: inout MetadataReader) throws -> JSON {
        let (hidden, heads) = try m.widthAndHeads()
        if let causal = try m.bool(m.arch("attention.causal")), causal {
            throw m.error(m.arch("attention.causal"), "is true: the causal (decoder) form of BERT is not implemented")
        }
        var c = m.newConfig(class: "BertModel")
        c.set("vocab_size", .int(try m.vocabSize(hidden: hidden)))
        c.set("hidden_size", .int(hidden))
        c.set("num_hidden_layers", .int(try m.positive(m.arch("block_count"))))
        c.set("num_attention_heads", .int(heads))
        c.set("intermediate_size", .int(try m.positive(m.arch("feed_forward_length"))))
        c.set("hidden_act", .string("gelu"))
        c.set("max_position_embeddings", .int(try m.contextLength(positionsTensor: "position_embd.weight")))
        c.set("type_vocab_size", .int(try m.tokenTypes()))
        c.set("layer_norm_eps", try m.requiredFloat(m.arch("attention.layer_norm_epsilon")))
        try m.setSpecialTokens(&c, ["pad"])
        c.set("torch_dtype", .string("float32"))
        return c
    }

    /// `huggingFaceConfig(from:file:tensorValues:)` for a whole file, reading its tensors' values from it.
    public static func huggingFaceConfig(of file: GGUFFile) throws -> JSON {
        try huggingFaceConfig(from: file.header, file: file.path, tensorValues: file.loadFloat32)
    }

    /// The shortest decimal that reads back as the same f32 (Swift's `Float.description`, like NumPy's
    /// `str(numpy.float32(x))`): the value a config held before llama.cpp stored it as f32
    /// (9.9999997e-06 → `1e-05`).
    public static func shortestDecimal(_ value: Float) -> String { "\(value)" }
}

/// Reads the metadata of one GGUF header, every failure naming the file and the key.
struct MetadataReader {
    let header: GGUFHeader
    let file: String
    var architecture = ""
    let tensorNames: Set<String>
    /// The f32 values of a tensor of the file (for `rope_freqs.weight`).
    let tensorValues: ((String) throws -> [Float])?

    init(header: GGUFHeader, file: String, tensorValues: ((String) throws -> [Float])? = nil) {
        self.header = header
        self.file = file
        self.tensorValues = tensorValues
        tensorNames = Set(header.tensors.map(\.name))
    }

    func arch(_ key: String) -> String { architecture + "." + key }
    func hasTensor(_ name: String) -> Bool { tensorNames.contains(name) }
    func tensor(_ name: String) -> GGUFTensorInfo? { header.tensors.first { $0.name == name } }

    func error(_ key: String, _ reason: String) -> CheckpointError {
        CheckpointError(file: file, object: "key '\(key)'", reason)
    }

    func string(_ key: String) throws -> String? {
        guard let v = header.value(key) else { return nil }
        guard let s = v.stringValue else { throw error(key, "is a \(v.type.name); it must be a STRING") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = header.value(key) else { return nil }
        guard let b = v.boolValue else { throw error(key, "is a \(v.type.name); it must be a BOOL") }
        return b
    }

    /// An integer key of any integer type; an array (a value per layer) is refused by name.
    func int(_ key: String, positive: Bool = false) throws -> Int? {
        guard let v = header.value(key) else { return nil }
        if v.type == .array {
            throw error(key, "holds one value per layer (\(v)); Recast needs the same value for every layer")
        }
        guard let i = v.intValue else { throw error(key, "is a \(v.type.name) (\(v)); it must be an integer") }
        guard !positive || i > 0 else { throw error(key, "is \(i); it must be positive") }
        guard i <= 1 << 31 else { throw error(key, "is \(i), larger than any real model has") }
        return i
    }

    func positive(_ key: String) throws -> Int {
        guard let i = try int(key, positive: true) else { throw error(key, "is missing") }
        return i
    }

    /// `architectures` and `model_type` of a new config.
    func newConfig(class name: String) -> JSON {
        .object([("architectures", .array([.string(name)])), ("model_type", .string(architecture))])
    }

    /// `embedding_length` and `attention.head_count`, the heads dividing the width.
    func widthAndHeads() throws -> (Int, Int) {
        let hidden = try positive(arch("embedding_length")), heads = try positive(arch("attention.head_count"))
        try checkDivides(hidden: hidden, heads: heads)
        return (hidden, heads)
    }

    func requiredFloat(_ key: String) throws -> JSON {
        guard let v = try float(key) else { throw error(key, "is missing") }
        return v
    }

    /// A float key as the shortest decimal of its f32 (or f64) value.
    func float(_ key: String) throws -> JSON? {
        guard let v = header.value(key) else { return nil }
        switch v {
        case let .float32(f) where f.isFinite: return .number(GGUFConfig.shortestDecimal(f))
        case let .float64(d) where d.isFinite: return .number("\(d)")
        case .float32, .float64: throw error(key, "is \(v), not a finite number")
        default: throw error(key, "is a \(v.type.name); it must be a FLOAT32")
        }
    }

    func checkDivides(hidden: Int, heads: Int) throws {
        if hidden % heads != 0 {
            throw error(arch("attention.head_count"), "is \(heads), which does not divide \(arch("embedding_length")) \(hidden)")
        }
    }

    /// The head size: `attention.key_length` when given (it must equal `value_length`), else hidden / heads.
    func headDim(hidden: Int, heads: Int) throws -> Int {
        let k = try int(arch("attention.key_length"), positive: true)
        let v = try int(arch("attention.value_length"), positive: true)
        if let k, let v, k != v {
            throw error(arch("attention.value_length"), "is \(v) but \(arch("attention.key_length")) is \(k): keys and values of different sizes are not implemented")
        }
        if let d = k ?? v { return d }
        try checkDivides(hidden: hidden, heads: heads)
        return hidden / heads
    }

    /// A float key as a `Double`: an f32 as the shortest decimal that reads back as it.
    func double(_ key: String) throws -> Double? { try float(key)?.doubleValue }

    /// The rotary scaling of a llama or qwen2 file, as llama.cpp's loader reads it: `rope.scaling.type`
    /// (absent means linear) with `rope.scaling.factor` or the older `rope.scale_linear` (0 or 1: none), and
    /// for llama, the `rope_freqs.weight` tensor of llama3's frequency divisors. Refused by name: other
    /// types (yarn, longrope…), a factor with type `none`, a linear factor together with `rope_freqs`, and a
    /// `rope_freqs` that is not one factor per rotary pair or that no llama3 parameters reproduce.
    func ropeScaling(rotaryDimensions: Int) throws -> GGUFRopeScaling? {
        let typeKey = arch("rope.scaling.type")
        let type = try string(typeKey)
        var factor: (key: String, value: Double)?
        for key in [arch("rope.scaling.factor"), arch("rope.scale_linear")] {
            if factor == nil, let v = try double(key) { factor = (key, v) }
        }
        if let factor, factor.value < 0 { throw error(factor.key, "is \(factor.value); a rope scaling factor must be positive") }
        let scaled = factor.map { $0.value != 0 && $0.value != 1 } ?? false
        let frequencies = GGUFRopeScaling.frequencyTensor
        switch type {
        case nil, "linear":
            if scaled, let factor {
                if hasTensor(frequencies) {
                    throw CheckpointError.tensor(frequencies, in: file, "is present together with linear rope scaling (\(factor.key) \(factor.value)): Recast translates one rope scaling at a time")
                }
                return .linear(factor: factor.value)
            }
        case "none":
            if scaled, let factor {
                throw error(factor.key, "is \(factor.value) while \(typeKey) is 'none': the file contradicts itself")
            }
        case let other?:
            throw error(typeKey, "is '\(other)': Recast translates linear rope scaling and llama3's rope_freqs only; '\(other)' scaling is not implemented")
        }
        guard hasTensor(frequencies) else { return nil }
        return try llama3Scaling(rotaryDimensions: rotaryDimensions)
    }

    /// llama3's parameters from the `rope_freqs.weight` tensor (see `Llama3RopeParameters.recovered`).
    func llama3Scaling(rotaryDimensions: Int) throws -> GGUFRopeScaling? {
        let name = GGUFRopeScaling.frequencyTensor
        guard architecture == "llama" else {
            throw CheckpointError.tensor(name, in: file, "holds llama3 rope scaling factors, which llama.cpp's \(architecture) architecture does not read: the file is not a \(architecture) model llama.cpp would run")
        }
        let pairs = rotaryDimensions / 2
        guard let info = tensor(name), info.elementCount == pairs, info.dimensions.count == 1 else {
            throw CheckpointError.tensor(name, in: file, "has dimensions \(tensor(name)?.dimensions ?? []); llama.cpp's rope_freqs holds one factor per rotary pair: [\(pairs)]")
        }
        guard let tensorValues else {
            throw CheckpointError.tensor(name, in: file, "holds llama3 rope scaling factors, but its values were not read to recover the scaling from")
        }
        let factors = try tensorValues(name)
        if factors.allSatisfy({ $0 == 1 }) { return nil }
        let theta = try double(arch("rope.freq_base")) ?? 10000
        let context = try int(arch("rope.scaling.original_context_length"), positive: true)
        guard let p = Llama3RopeParameters.recovered(from: factors, theta: theta, dimensions: rotaryDimensions, originalContextLength: context) else {
            let shown = factors.prefix(8).map { "\($0)" }.joined(separator: ", ") + (factors.count > 8 ? ", …" : "")
            throw CheckpointError.tensor(name, in: file, "holds rotary frequency factors [\(shown)] that no llama3 rope scaling reproduces (with rope_theta \(theta) and an original context of \(context ?? Llama3RopeParameters.defaultOriginalContextLength)): Recast runs plain, linear and llama3 rotary embeddings only")
        }
        return .llama3(p)
    }

    /// Rows of the token embedding; `{arch}.vocab_size`, when present, must agree. Without an embedding
    /// tensor, `{arch}.vocab_size` or the token list's length.
    func vocabSize(hidden: Int) throws -> Int {
        let key = arch("vocab_size")
        let declared = try int(key, positive: true)
        if let t = tensor("token_embd.weight") {
            guard t.dimensions.count == 2, t.dimensions[0] == hidden, t.dimensions[1] > 0 else {
                throw CheckpointError.tensor(t.name, in: file, "has dimensions \(t.dimensions); expected [\(hidden), vocabulary] (\(arch("embedding_length")) first)")
            }
            if let declared, declared != t.dimensions[1] {
                throw error(key, "is \(declared), but token_embd.weight has \(t.dimensions[1]) rows")
            }
            return t.dimensions[1]
        }
        if let declared { return declared }
        if let tokens = header.value("tokenizer.ggml.tokens")?.arrayValue, tokens.count > 0 { return tokens.count }
        throw error(key, "is missing, and there is neither a token_embd.weight tensor nor tokenizer.ggml.tokens to take the vocabulary size from")
    }

    /// `{arch}.context_length`, or the rows of the learned position table.
    func contextLength(positionsTensor: String) throws -> Int {
        let key = arch("context_length")
        if let n = try int(key, positive: true) { return n }
        if let t = tensor(positionsTensor), t.dimensions.count == 2, t.dimensions[1] > 0 { return t.dimensions[1] }
        throw error(key, "is missing, and there is no \(positionsTensor) to take the number of positions from")
    }

    /// BERT's token types: the rows of `token_types.weight` (none without it), which
    /// `tokenizer.ggml.token_type_count` must agree with when present.
    func tokenTypes() throws -> Int {
        let key = "tokenizer.ggml.token_type_count"
        let declared = try int(key)
        let rows = tensor("token_types.weight").map { $0.dimensions.count == 2 ? $0.dimensions[1] : -1 } ?? 0
        if rows < 0 {
            throw CheckpointError.tensor("token_types.weight", in: file, "is not a matrix")
        }
        if let declared, rows > 0, declared != rows {
            throw error(key, "is \(declared), but token_types.weight has \(rows) rows")
        }
        return rows
    }

    /// `{name}_token_id` from `tokenizer.ggml.{bos,eos,padding}_token_id`, when present and an integer.
    func setSpecialTokens(_ c: inout JSON, _ names: [String]) throws {
        for name in names {
            if let id = try int("tokenizer.ggml.\(name == "pad" ? "padding" : name)_token_id"), id >= 0 {
                c.set("\(name)_token_id", .int(id))
            }
        }
    }
}

extension GGUFConfig {
    /// The GGUF metadata llama.cpp's converter writes for a Hugging Face `config.json`, in its order and
    /// with the value types of gguf-py's `GGUFWriter` methods (counts UINT32, epsilons and `rope_theta`
    /// FLOAT32, `attention.causal` BOOL): `general.architecture`, `general.name` (the last part of
    /// `_name_or_path`, when the config has one), then the `{arch}.*` keys:
    /// - every architecture: `block_count`, `context_length`, `embedding_length`, `feed_forward_length`,
    ///   `attention.head_count`, and `attention.head_count_kv` when the config gives it;
    /// - llama and qwen2: linear rope scaling as `rope.scaling.type` `linear` and `rope.scaling.factor`
    ///   (llama3's goes into the `rope_freqs.weight` tensor, `ropeFrequencyFactors`, with
    ///   `rope.scaling.original_context_length`, which llama.cpp's converter does not write and its runtime
    ///   reads only for YaRN: it lets the parameters be recovered exactly), `rope.freq_base`,
    ///   `attention.layer_norm_rms_epsilon`, and `attention.key_length` /
    ///   `value_length` when `head_dim` is not `hidden_size / num_attention_heads`; llama then
    ///   `vocab_size` and `rope.dimension_count`;
    /// - gpt2: `attention.layer_norm_epsilon`; bert: `attention.layer_norm_epsilon`, `attention.causal`
    ///   false, and `tokenizer.ggml.token_type_count` (BertModel writes it with the vocabulary).
    ///
    /// Not written here: `general.alignment` (Recast writes the default 32, which needs no key),
    /// `general.file_type` and `general.quantization_version` (they follow the tensor types the writer
    /// chooses), and the rest of `tokenizer.*`.
    ///
    /// Throws, naming `file` and the config key, for a model type with no llama.cpp architecture, a missing
    /// or ill-typed key, head counts that do not divide, and what llama.cpp's architecture cannot express:
    /// rope scaling other than linear and llama3 (llama3 only for llama), partial rotary dimensions, a sliding
    /// window shorter than the context (llama.cpp's `llama` and `qwen2` attend to the whole context).
    public static func metadata(fromConfig config: JSON, file: String) throws -> [(key: String, value: GGUFValue)] {
        let c = ConfigValues(config: config, file: file)
        guard let modelType = try c.string("model_type") else { throw c.error("model_type", "is missing") }
        guard let architecture = LlamaCppNames.architecture(modelType: modelType) else {
            throw c.error("model_type", "is '\(modelType)': Recast writes GGUF for llama, mistral, qwen2, gpt2 and bert models")
        }
        var out: [(key: String, value: GGUFValue)] = [("general.architecture", .string(architecture))]
        if let path = try c.string("_name_or_path"), let name = path.split(separator: "/").last, !name.isEmpty {
            out.append(("general.name", .string(String(name))))
        }
        func add(_ key: String, _ value: GGUFValue) { out.append((architecture + "." + key, value)) }
        func u32(_ key: String, _ v: Int) throws {
            guard let u = UInt32(exactly: v) else { throw c.error(key, "is \(v), outside the UINT32 range GGUF stores it in") }
            add(key, .uint32(u))
        }

        switch architecture {
        case "llama", "qwen2":
            let hidden = try c.positive("hidden_size"), heads = try c.positive("num_attention_heads")
            let kvHeads = try c.int("num_key_value_heads", positive: true)
            let headDim = try c.int("head_dim", positive: true)
            if headDim == nil { try c.checkDivides("num_attention_heads", heads, into: "hidden_size", hidden) }
            if let kvHeads { try c.checkDivides("num_key_value_heads", kvHeads, into: "num_attention_heads", heads) }
            try c.refuseUnexpressible(modelType: modelType)
            let scaling = try c.ropeScaling(architecture: architecture)
            try u32("block_count", try c.positive("num_hidden_layers"))
            if let n = try c.int("max_position_embeddings", positive: true) { try u32("context_length", n) }
            try u32("embedding_length", hidden)
            if let n = try c.int("intermediate_size", positive: true) { try u32("feed_forward_length", n) }
            try u32("attention.head_count", heads)
            if let kvHeads { try u32("attention.head_count_kv", kvHeads) }
            switch scaling {
            case let .linear(factor)?:
                add("rope.scaling.type", .string("linear"))
                add("rope.scaling.factor", .float32(Float(factor)))
            case let .llama3(p)?:
                try u32("rope.scaling.original_context_length", p.originalContextLength)
            case nil:
                break
            }
            if let theta = try c.ropeTheta() { add("rope.freq_base", .float32(Float(theta))) }
            if let eps = try c.double("rms_norm_eps") { add("attention.layer_norm_rms_epsilon", .float32(Float(eps))) }
            // llama.cpp takes the head size from here when it is not hidden / heads.
            if let headDim, headDim.multipliedReportingOverflow(by: heads) != (hidden, false) {
                try u32("attention.key_length", headDim)
                try u32("attention.value_length", headDim)
            }
            if architecture == "llama" {
                try u32("vocab_size", try c.positive("vocab_size"))
                try u32("rope.dimension_count", headDim ?? hidden / heads)
            }
        case "gpt2":
            let hidden = try c.positive("n_embd"), heads = try c.positive("n_head")
            try c.checkDivides("n_head", heads, into: "n_embd", hidden)
            if let act = try c.string("activation_function"), !["gelu_new", "gelu_pytorch_tanh"].contains(act) {
                throw c.error("activation_function", "is '\(act)': llama.cpp's gpt2 computes the tanh approximation of GELU (gelu_new) only")
            }
            try u32("block_count", try c.positive("n_layer"))
            // GPT2Model reads `n_ctx`; current configs give only `n_positions`, the same number.
            try u32("context_length", try c.int("n_ctx", positive: true) ?? c.positive("n_positions"))
            try u32("embedding_length", hidden)
            // GPT2Model writes 4 × n_embd whatever `n_inner` says; the MLP's real width is what llama.cpp
            // needs to load the tensors, so a set `n_inner` wins.
            try u32("feed_forward_length", try c.int("n_inner", positive: true) ?? 4 * hidden)
            try u32("attention.head_count", heads)
            add("attention.layer_norm_epsilon", .float32(Float(try c.double("layer_norm_epsilon") ?? 1e-5)))
        default:
            let hidden = try c.positive("hidden_size"), heads = try c.positive("num_attention_heads")
            try c.checkDivides("num_attention_heads", heads, into: "hidden_size", hidden)
            if let v = config["position_embedding_type"], v != .string("absolute"), !v.isNull {
                throw c.error("position_embedding_type", "is \(v.serialized()): llama.cpp's bert has absolute positions only")
            }
            try u32("block_count", try c.positive("num_hidden_layers"))
            if let n = try c.int("max_position_embeddings", positive: true) { try u32("context_length", n) }
            try u32("embedding_length", hidden)
            if let n = try c.int("intermediate_size", positive: true) { try u32("feed_forward_length", n) }
            try u32("attention.head_count", heads)
            if let eps = try c.double("layer_norm_eps") { add("attention.layer_norm_epsilon", .float32(Float(eps))) }
            add("attention.causal", .bool(false))
            let types = try c.int("type_vocab_size") ?? 1
            guard let t = UInt32(exactly: types) else { throw c.error("type_vocab_size", "is \(types), outside the UINT32 range") }
            out.append(("tokenizer.ggml.token_type_count", .uint32(t)))
        }
        return out
    }
}

extension GGUFConfig {
    /// The `rope_freqs.weight` values llama.cpp's converter writes for a config with llama3 rope scaling
    /// (`Llama3RopeParameters.llamaCppFactors` over the head size, with `rope_theta` or its default 10000);
    /// nil for any other config. Throws as `metadata(fromConfig:file:)` does for the scaling.
    public static func ropeFrequencyFactors(fromConfig config: JSON, file: String) throws -> [Float]? {
        let c = ConfigValues(config: config, file: file)
        guard let modelType = try c.string("model_type"), let architecture = LlamaCppNames.architecture(modelType: modelType),
              case let .llama3(p)? = try c.ropeScaling(architecture: architecture) else { return nil }
        let dimensions = try c.int("head_dim", positive: true) ?? (c.positive("hidden_size") / c.positive("num_attention_heads"))
        return p.llamaCppFactors(theta: try c.ropeTheta() ?? 10000, dimensions: dimensions)
    }
}

/// Reads `config.json` keys for `GGUFConfig.metadata`, every failure naming the file and the key.
struct ConfigValues {
    let config: JSON
    let file: String
    /// Where `config` sits in the file (`rope_scaling.` for that object's keys), for the messages.
    var path = ""

    func error(_ key: String, _ reason: String) -> CheckpointError {
        CheckpointError(file: file, object: "config key '\(path)\(key)'", reason)
    }

    /// The value of `key` unless absent or null.
    func value(_ key: String) -> JSON? { config[key].flatMap { $0.isNull ? nil : $0 } }

    func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw error(key, "is \(v.serialized()), not a string") }
        return s
    }

    /// An integer (integral numbers written as `12.0` too).
    func int(_ key: String, positive: Bool = false) throws -> Int? {
        guard let v = value(key) else { return nil }
        let parsed = v.intValue ?? v.doubleValue.flatMap { $0 == $0.rounded() && abs($0) < 1e15 ? Int($0) : nil }
        guard let i = parsed else { throw error(key, "is \(v.serialized()), not an integer") }
        guard !positive || i > 0 else { throw error(key, "is \(i); it must be positive") }
        return i
    }

    func positive(_ key: String) throws -> Int {
        guard let i = try int(key, positive: true) else { throw error(key, "is missing") }
        return i
    }

    func double(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.doubleValue, d.isFinite else { throw error(key, "is \(v.serialized()), not a finite number") }
        return d
    }

    func checkDivides(_ key: String, _ divisor: Int, into otherKey: String, _ n: Int) throws {
        if n % divisor != 0 { throw error(key, "is \(divisor), which does not divide \(otherKey) \(n)") }
    }

    /// `rope_theta`, or transformers 5's `rope_parameters.rope_theta`.
    func ropeTheta() throws -> Double? {
        if let nested = value("rope_parameters")?["rope_theta"], !nested.isNull {
            guard let d = nested.doubleValue, d > 0, d.isFinite else { throw error("rope_parameters.rope_theta", "is \(nested.serialized()), not a positive number") }
            return d
        }
        return try double("rope_theta")
    }

    /// The rotary scaling of `rope_parameters` / `rope_scaling` (transformers' `rope_type`, or the older
    /// `type`), as transformers reads it: `default` is none; `linear` needs a positive `factor`; `llama3`
    /// needs `factor`, `low_freq_factor` < `high_freq_factor` and `original_max_position_embeddings` (in the
    /// object, or at the top level), and llama.cpp's `llama` architecture, the only one that reads its
    /// `rope_freqs` tensor. Other types (yarn, longrope, dynamic…) and per-layer-type parameters are refused
    /// by name.
    func ropeScaling(architecture: String) throws -> GGUFRopeScaling? {
        var scaling: GGUFRopeScaling?
        for key in ["rope_parameters", "rope_scaling"] {
            guard let block = value(key) else { continue }
            guard let pairs = block.objectValue else { throw error(key, "is \(block.serialized()), not an object") }
            if let nested = pairs.first(where: { $0.1.objectValue != nil }) {
                throw error(key, "holds rotary parameters per layer type ('\(nested.0)'): only one set for every layer is converted")
            }
            let inner = ConfigValues(config: block, file: file, path: key + ".")
            if let f = try inner.double("partial_rotary_factor"), f != 1 {
                throw inner.error("partial_rotary_factor", "is \(f): rotary embeddings over part of each head are not converted")
            }
            func positive(_ name: String) throws -> Double {
                guard let v = try inner.double(name) else { throw inner.error(name, "is missing") }
                guard v > 0 else { throw inner.error(name, "is \(v); it must be positive") }
                return v
            }
            let type = try inner.string("rope_type") ?? inner.string("type") ?? "default"
            switch type {
            case "default":
                continue
            case "linear":
                scaling = .linear(factor: try positive("factor"))
            case "llama3":
                guard architecture == "llama" else {
                    throw error(key, "has rope_type 'llama3', which llama.cpp's \(architecture) architecture cannot hold (its rope_freqs tensor is the llama architecture's)")
                }
                let contextKey = "original_max_position_embeddings"
                guard let context = try inner.int(contextKey, positive: true) ?? int(contextKey, positive: true) else {
                    throw inner.error(contextKey, "is missing")
                }
                let p = Llama3RopeParameters(factor: try positive("factor"), lowFrequencyFactor: try positive("low_freq_factor"),
                                             highFrequencyFactor: try positive("high_freq_factor"), originalContextLength: context)
                guard p.highFrequencyFactor > p.lowFrequencyFactor else {
                    throw inner.error("high_freq_factor", "is \(p.highFrequencyFactor), not greater than low_freq_factor \(p.lowFrequencyFactor)")
                }
                scaling = .llama3(p)
            default:
                throw error(key, "has rope_type '\(type)': Recast translates linear and llama3 rope scaling only; '\(type)' is not implemented")
            }
        }
        return scaling
    }

    /// Partial rotary dimensions and sliding windows: a GGUF of llama.cpp's `llama` or `qwen2` cannot say
    /// them (and Recast's reader refuses the first anyway).
    func refuseUnexpressible(modelType: String) throws {
        if let f = try double("partial_rotary_factor"), f != 1 {
            throw error("partial_rotary_factor", "is \(f): rotary embeddings over part of each head are not converted")
        }
        // As transformers (and Recast's Llama family) decide it: Mistral windows every layer, Qwen2 the layers
        // from `max_window_layers` on when `use_sliding_window`; an absent window is their default 4096.
        let positions = try int("max_position_embeddings") ?? Int.max
        let layers = try int("num_hidden_layers") ?? 0
        let firstWindowed = try int("max_window_layers") ?? 28
        let windowed = modelType == "mistral"
            || (modelType == "qwen2" && config["use_sliding_window"]?.boolValue == true && firstWindowed < layers)
        let window = config["sliding_window"] == nil ? 4096 : try int("sliding_window")
        if windowed, let window, window < positions {
            throw error("sliding_window", "is \(window), shorter than the context (\(positions == Int.max ? "unbounded" : String(positions))): llama.cpp's \(modelType == "mistral" ? "llama" : "qwen2") architecture has no sliding window, so the GGUF would attend differently")
        }
    }
}
