import Testing
import TestSupport
import RecastCore
@testable import ModelGraph

/// Builds a graph from a config and an in-memory store.
func build(_ config: JSON, _ store: InMemoryStore) throws -> ModelGraph {
    try ModelGraph.build(config: config, configFile: "/models/tiny/config.json", store: store)
}

/// The same config with one key set.
func with(_ config: JSON, _ key: String, _ value: JSON) -> JSON {
    var c = config
    c.set(key, value)
    return c
}

/// Each family on a model built inside the test (no fixture file): the graph it maps to, the typed config it reads,
/// and the keys it refuses.
@Suite struct FamilyTests {
    /// A tiny model of the family and the keys its typed config refuses.
    static func family(_ name: String) -> (JSON, InMemoryStore, [UnsupportedKey]) {
        switch name {
        case "gpt2": let (c, s) = TinyModel.gpt2(); return (c, s, GPT2Config.refusedKeys)
        case "bert": let (c, s) = TinyModel.bert(); return (c, s, BERTConfig.refusedKeys)
        default: let (c, s) = TinyModel.llama(); return (c, s, LlamaConfig.refusedKeys)
        }
    }

    @Test func gpt2Graph() throws {
        let (config, store) = TinyModel.gpt2()
        let g = try build(config, store)
        #expect(g.family == .gpt2 && g.causal && g.layerCount == 2 && g.headDim == 4 && g.intermediateSize == 32)
        #expect(g.ignoredTensors.isEmpty && g.tiedEmbeddings && g.embeddings.position?.shape == [16, 8])
        // The fused q/k/v weight is cut into three slices of one [in, 3·out] tensor.
        let a = g.blocks[1].attention
        #expect(a.query.weight.name == "h.1.attn.c_attn.weight" && a.key.outputSlice == 8..<16 && a.value.outputSlice == 16..<24)
        #expect(a.rotary == nil && abs(a.scale - 0.5) < 1e-15)
        var c = ConfigReader(json: config, file: "config.json")
        let typed = GPT2Config(reading: &c)
        #expect(c.problems.isEmpty && typed.innerSize == 32 && typed.layerNormEpsilon == 1e-5 && typed.activation == .geluTanh)
    }

    @Test func bertGraph() throws {
        let (config, store) = TinyModel.bert()
        let g = try build(config, store)
        #expect(g.family == .bert && !g.causal && g.blocks.count == 2 && g.blocks[0].placement == .post)
        #expect(g.lmHead == nil && g.embeddings.tokenType?.shape == [2, 8] && g.embeddings.positionOffset == 0)
        // RoBERTa numbers positions from pad_token_id + 1.
        let roberta = try build(with(with(config, "model_type", .string("roberta")), "pad_token_id", .int(3)), store)
        #expect(roberta.embeddings.positionOffset == 4)
        var c = ConfigReader(json: config, file: "config.json")
        let typed = BERTConfig(modelType: "bert", reading: &c)
        #expect(c.problems.isEmpty && typed.layerNormEpsilon == 1e-12 && typed.activation == .gelu && typed.tokenTypes == 2)
    }

    @Test func llamaGraph() throws {
        let (config, store) = TinyModel.llama()
        let g = try build(config, store)
        #expect(g.family == .llama && g.kvHeads == 2 && g.headDim == 4 && !g.tiedEmbeddings && g.ignoredTensors.isEmpty)
        let a = g.blocks[0].attention
        #expect(a.key.weight.shape == [8, 16] && a.query.bias == nil && a.slidingWindow == nil)
        #expect(a.rotary == Rotary(theta: 10000, dimensions: 4))
        let scaled = try build(with(config, "rope_scaling", .object([("rope_type", .string("linear")), ("factor", .int(4))])), store)
        #expect(scaled.blocks[1].attention.rotary?.inverseFrequencies == [0.25, 0.0025])
        var c = ConfigReader(json: with(config, "model_type", .string("qwen2")), file: "config.json")
        let typed = LlamaConfig(modelType: "qwen2", reading: &c)
        #expect(c.problems.isEmpty && typed.qkvBias && !typed.outputBias && typed.slidingWindows == [nil, nil])
        // Qwen2 has q/k/v biases, which this Llama checkpoint lacks: named, not skipped.
        #expect(throws: GraphError.self) { try build(with(config, "model_type", .string("qwen2")), store) }
    }

    /// Every key a family's typed config refuses is refused on that family, named with its reason, and its neutral
    /// values pass.
    @Test(arguments: ["gpt2", "bert", "llama"])
    func refusedKeys(_ family: String) throws {
        let (config, store, keys) = Self.family(family)
        #expect(keys.count >= 13)
        for k in keys {
            do {
                _ = try build(with(config, k.key, .string("on")), store)
                Issue.record("\(family): \(k.key) was accepted")
            } catch let e as GraphError {
                #expect(e.file == "/models/tiny/config.json" && e.description.contains("config key '\(k.key)' is \"on\": \(k.why)"), "\(e)")
            }
            for neutral in k.neutral { _ = try build(with(config, k.key, neutral), store) }
        }
    }

    /// The keys each family knows it does not compute, beyond the foreign ones: cross-attention, BERT's decoder
    /// form and relative positions.
    @Test func familySpecificRefusals() throws {
        let names = { (keys: [UnsupportedKey]) in Set(keys.map(\.key)).subtracting(UnsupportedKey.foreign.map(\.key)) }
        #expect(names(GPT2Config.refusedKeys) == ["add_cross_attention"])
        #expect(names(BERTConfig.refusedKeys) == ["add_cross_attention", "is_decoder", "position_embedding_type"])
        let (config, store) = TinyModel.llama()
        for (key, value, message) in [
            ("partial_rotary_factor", JSON.number("0.5"), "rotary embeddings over part of each head"),
            ("rope_scaling", .object([("rope_type", .string("yarn")), ("factor", .int(4))]),
             "rope_scaling type 'yarn' is not supported; supported: linear, llama3"),
        ] {
            let e = try #require(throws: GraphError.self) { try build(with(config, key, value), store) }
            #expect(e.description.contains(message), "\(e)")
        }
    }

    /// A typed config reports every problem at once, and the graph names a tensor missing from the store.
    @Test func everyProblemAtOnce() throws {
        let (config, store) = TinyModel.gpt2()
        var bad = with(config, "n_embd", .int(0))
        bad.set("activation_function", .string("quick_gelu"))
        bad.set("use_parallel_residual", .bool(true))
        let e = try #require(throws: GraphError.self) { try build(bad, store) }
        for part in ["'n_embd' is 0", "'quick_gelu'", "'use_parallel_residual' is true"] {
            #expect(e.description.contains(part), "\(e)")
        }
        store.remove("h.1.mlp.c_fc.bias")
        let missing = try #require(throws: GraphError.self) { try build(config, store) }
        #expect(missing.description.contains("tensor 'h.1.mlp.c_fc.bias' is missing") && missing.file == "in-memory.safetensors", "\(missing)")
    }
}
