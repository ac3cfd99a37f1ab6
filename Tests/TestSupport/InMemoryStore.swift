import RecastCore

/// A `TensorStore` held in memory (f32 tensors), for tests that build a model inside the test instead of reading a
/// fixture file.
public final class InMemoryStore: TensorStore {
    public let format = CheckpointFormat.safetensors
    public let layout = "safetensors"
    /// Stands in for a file name in messages; nothing is read from it.
    public let files: [String]
    public let metadata: Metadata = []
    public private(set) var tensors: [TensorInfo] = []
    private var data: [String: [Float]] = [:]

    public init(name: String = "in-memory.safetensors") { files = [name] }

    /// Adds (or replaces) a tensor.
    public func add(_ name: String, shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        tensors.removeAll { $0.name == name }
        tensors.append(TensorInfo(name: name, dtype: .f32, shape: shape, byteCount: values.count * 4))
        data[name] = values
    }

    public func remove(_ name: String) {
        tensors.removeAll { $0.name == name }
        data[name] = nil
    }

    public func info(named name: String) -> TensorInfo? { tensors.first { $0.name == name } }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let values = data[name] else { throw CheckpointError(file: files[0], object: name, "no such tensor") }
        return try values.withUnsafeBytes(body)
    }

    public func sha256(of file: String) throws -> String {
        throw CheckpointError(file: file, "an in-memory store has no file to hash")
    }

    /// The tensors as `OutputTensor`s, to write them to a file for a tool that reads files (`tools/reference.py`).
    public var outputTensors: [OutputTensor] { tensors.map { .values($0.name, data[$0.name] ?? [], shape: $0.shape) } }
}

/// Small random models of each family, built in memory with their `config.json`: the names and shapes of
/// transformers' GPT2LMHeadModel, BertModel and LlamaForCausalLM, values from a seeded SplitMix64.
public enum TinyModel {
    /// GPT-2: 2 layers, width 8, 2 heads, 16 tokens, 16 positions.
    public static func gpt2(seed: UInt64 = 1) -> (JSON, InMemoryStore) {
        let (e, v, p, layers) = (8, 16, 16, 2)
        let config = JSON.object([("model_type", .string("gpt2")), ("n_embd", .int(e)), ("n_head", .int(2)), ("n_layer", .int(layers)),
                                  ("vocab_size", .int(v)), ("n_positions", .int(p))])
        var g = Filler(seed: seed)
        let s = InMemoryStore()
        g.fill(s, "wte.weight", [v, e]); g.fill(s, "wpe.weight", [p, e])
        for i in 0..<layers {
            let h = "h.\(i)."
            g.norm(s, h + "ln_1", e); g.norm(s, h + "ln_2", e)
            g.fill(s, h + "attn.c_attn.weight", [e, 3 * e]); g.fill(s, h + "attn.c_attn.bias", [3 * e])
            g.fill(s, h + "attn.c_proj.weight", [e, e]); g.fill(s, h + "attn.c_proj.bias", [e])
            g.fill(s, h + "mlp.c_fc.weight", [e, 4 * e]); g.fill(s, h + "mlp.c_fc.bias", [4 * e])
            g.fill(s, h + "mlp.c_proj.weight", [4 * e, e]); g.fill(s, h + "mlp.c_proj.bias", [e])
        }
        g.norm(s, "ln_f", e)
        return (config, s)
    }

    /// BERT: 2 layers, width 8, 2 heads, intermediate 16, 16 tokens, 16 positions, 2 token types.
    public static func bert(seed: UInt64 = 2) -> (JSON, InMemoryStore) {
        let (hidden, inter, v, p, layers) = (8, 16, 16, 16, 2)
        let config = JSON.object([("model_type", .string("bert")), ("hidden_size", .int(hidden)), ("num_attention_heads", .int(2)),
                                  ("num_hidden_layers", .int(layers)), ("intermediate_size", .int(inter)), ("vocab_size", .int(v)),
                                  ("max_position_embeddings", .int(p)), ("type_vocab_size", .int(2))])
        var g = Filler(seed: seed)
        let s = InMemoryStore()
        g.fill(s, "embeddings.word_embeddings.weight", [v, hidden]); g.fill(s, "embeddings.position_embeddings.weight", [p, hidden])
        g.fill(s, "embeddings.token_type_embeddings.weight", [2, hidden]); g.norm(s, "embeddings.LayerNorm", hidden)
        for i in 0..<layers {
            let l = "encoder.layer.\(i)."
            for n in ["query", "key", "value"] { g.linear(s, l + "attention.self." + n, out: hidden, in: hidden) }
            g.linear(s, l + "attention.output.dense", out: hidden, in: hidden); g.norm(s, l + "attention.output.LayerNorm", hidden)
            g.linear(s, l + "intermediate.dense", out: inter, in: hidden); g.linear(s, l + "output.dense", out: hidden, in: inter)
            g.norm(s, l + "output.LayerNorm", hidden)
        }
        return (config, s)
    }

    /// Llama: 2 layers, width 16, 4 heads of 4 over 2 key/value heads, intermediate 24, 16 tokens, untied LM head.
    public static func llama(seed: UInt64 = 3) -> (JSON, InMemoryStore) {
        let (hidden, heads, kv, d, inter, v, layers) = (16, 4, 2, 4, 24, 16, 2)
        let config = JSON.object([("model_type", .string("llama")), ("hidden_size", .int(hidden)), ("num_attention_heads", .int(heads)),
                                  ("num_key_value_heads", .int(kv)), ("num_hidden_layers", .int(layers)), ("intermediate_size", .int(inter)),
                                  ("vocab_size", .int(v)), ("max_position_embeddings", .int(64)), ("rope_theta", .int(10000))])
        var g = Filler(seed: seed)
        let s = InMemoryStore()
        g.fill(s, "model.embed_tokens.weight", [v, hidden])
        for i in 0..<layers {
            let l = "model.layers.\(i)."
            g.scale(s, l + "input_layernorm.weight", hidden); g.scale(s, l + "post_attention_layernorm.weight", hidden)
            g.fill(s, l + "self_attn.q_proj.weight", [heads * d, hidden]); g.fill(s, l + "self_attn.k_proj.weight", [kv * d, hidden])
            g.fill(s, l + "self_attn.v_proj.weight", [kv * d, hidden]); g.fill(s, l + "self_attn.o_proj.weight", [hidden, heads * d])
            g.fill(s, l + "mlp.gate_proj.weight", [inter, hidden]); g.fill(s, l + "mlp.up_proj.weight", [inter, hidden])
            g.fill(s, l + "mlp.down_proj.weight", [hidden, inter])
        }
        g.scale(s, "model.norm.weight", hidden)
        g.fill(s, "lm_head.weight", [v, hidden])
        return (config, s)
    }

    /// Seeded values: SplitMix64 mapped to [−0.5, 0.5).
    struct Filler {
        var state: UInt64
        init(seed: UInt64) { state = seed }

        mutating func next() -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(z >> 40) / Float(1 << 24) - 0.5
        }

        mutating func fill(_ s: InMemoryStore, _ name: String, _ shape: [Int]) {
            s.add(name, shape: shape, values: (0..<shape.reduce(1, *)).map { _ in next() })
        }

        /// A norm's scale near 1.
        mutating func scale(_ s: InMemoryStore, _ name: String, _ size: Int) {
            s.add(name, shape: [size], values: (0..<size).map { _ in 1 + 0.2 * next() })
        }

        mutating func norm(_ s: InMemoryStore, _ base: String, _ size: Int) {
            scale(s, base + ".weight", size)
            fill(s, base + ".bias", [size])
        }

        mutating func linear(_ s: InMemoryStore, _ base: String, out: Int, in inputs: Int) {
            fill(s, base + ".weight", [out, inputs])
            fill(s, base + ".bias", [out])
        }
    }
}
