import Testing
import TestSupport
import RecastCore
import Checkpoint
import SafeTensors
@testable import ModelGraph

/// Builds the graph of a fixture's weights under its config.json edited by `edit`.
func build(_ fixtureName: String, _ edit: (inout JSON) -> Void) throws -> ModelGraph {
    var config = try JSON.parse(try FileSystem.readAll(fixture(fixtureName + "/config.json")))
    edit(&config)
    return try ModelGraph.build(config: config, configFile: "/models/\(fixtureName)/config.json",
                                store: try Checkpoint.open(fixture(fixtureName)))
}

/// The problems of a config that must be refused; records an issue when it is accepted.
func refusal(_ fixtureName: String, _ edit: (inout JSON) -> Void) throws -> GraphError? {
    do {
        _ = try build(fixtureName, edit)
        return nil
    } catch let e as GraphError {
        return e
    }
}

/// A JSON number written as text, so that values such as 1e999 reach the reader as a file would give them.
func number(_ text: String) -> JSON { try! JSON.parse(text) }

/// Every number the computation uses is checked: finite and in range, with a message naming the file, the key
/// and the accepted range. These configs gave 100% NaN (or a crash) with exit 0 before.
@Suite struct ConfigNumberTests {
    static let cases: [(String, String, String, String)] = [
        // fixture, key, value, what the message must say
        ("gpt2", "layer_norm_epsilon", "-1e-05", "> 0 and < 1"),
        ("gpt2", "layer_norm_epsilon", "0", "> 0 and < 1"),
        ("bert", "layer_norm_eps", "1e999", "> 0 and < 1"),
        ("llama", "rms_norm_eps", "-1e-06", "> 0 and < 1"),
        ("llama", "rms_norm_eps", "2", "> 0 and < 1"),
        ("llama", "rope_theta", "0", "a finite number > 0"),
        ("qwen2", "rope_theta", "-10000", "a finite number > 0"),
        ("mistral", "rope_theta", "-1e999", "a finite number > 0"),
        ("llama", "initializer_range", "5", ">= 0 and <= 1"),
        ("bert", "type_vocab_size", "-1", "0..."),
        ("mistral", "sliding_window", "0", "not a positive integer"),
        ("mistral", "sliding_window", "-4096", "not a positive integer"),
        ("llama", "head_dim", "0", "not a positive integer"),
        ("llama", "num_key_value_heads", "-2", "not a positive integer"),
        ("gpt2", "vocab_size", "0", "not a positive integer"),
        ("bert", "max_position_embeddings", "0", "not a positive integer"),
        ("llama", "pretraining_tp", "0", "not a positive integer"),
    ]

    @Test(arguments: cases)
    func outOfRangeNumbersAreRefused(_ name: String, _ key: String, _ value: String, _ expected: String) throws {
        let e = try #require(try refusal(name) { $0.set(key, number(value)) }, "\(name) \(key)=\(value) was accepted")
        #expect(e.description.contains("config key '\(key)'"), "\(e)")
        #expect(e.description.contains(expected), "\(e)")
        #expect(e.description.contains("/models/\(name)/config.json"), "the message names the config file: \(e)")
    }

    @Test(arguments: ["0", "-1e-06", "1e999"])
    func linearAttentionEpsilonMustBePositive(_ value: String) throws {
        let e = try #require(try refusal("gpt2-t2r") { c in
            var block = c["linear_attention"]!
            block.set("eps", number(value))
            c.set("linear_attention", block)
        })
        #expect(e.description.contains("config key 'linear_attention.eps'") && e.description.contains("a finite number > 0"), "\(e)")
    }

    /// A calibration record's history (`earlier`) is read as carefully as the record: each item is a record, and the
    /// history is one list (no item holds its own).
    @Test func calibrationHistoryIsChecked() throws {
        let record = """
            {"data": {"sha256": "\(String(repeating: "ab", count: 32))", "format": "tokens-file", "tokens": 64, "windows": 4, "max_length": 16},
             "validation": 0.25, "steps": 3, "batch": 1, "learning_rate": 0.01, "seed": 0,
             "layers": [{"layer": 0, "error_before": 0.5, "error_after": 0.25}]}
            """
        func with(earlier: String) -> (inout JSON) -> Void {
            { c in
                var block = c["linear_attention"]!
                var calibration = try! JSON.parse(record)
                calibration.set("earlier", try! JSON.parse(earlier))
                block.set("calibration", calibration)
                c.set("linear_attention", block)
            }
        }
        _ = try build("gpt2-t2r", with(earlier: "[\(record), \(record)]"))
        let missing = try #require(try refusal("gpt2-t2r", with(earlier: "[\(record), {\"steps\": 3}]")))
        #expect(missing.description.contains("config key 'linear_attention.calibration.earlier[1]'"), "\(missing)")
        let nested = try #require(try refusal("gpt2-t2r", with(earlier: "[{\"earlier\": [\(record)], " + record.dropFirst() + "]")))
        #expect(nested.description.contains("earlier[0].earlier") && nested.description.contains("one list"), "\(nested)")
        let notAList = try #require(try refusal("gpt2-t2r", with(earlier: record)))
        #expect(notAList.description.contains("'linear_attention.calibration.earlier' is not a list"), "\(notAList)")
    }

    /// A swapped folder's `model_type` is `recast_` + the library's (so that transformers wants trust_remote_code):
    /// Recast reads it as the library's family, and refuses it without the block that says what was swapped.
    @Test func recastModelTypeNeedsItsBlock() throws {
        let g = try build("gpt2-t2r") { $0.set("model_type", .string("recast_gpt2")) }
        #expect(g.linearAttention != nil)
        let e = try #require(try refusal("gpt2") { $0.set("model_type", .string("recast_gpt2")) })
        #expect(e.description.contains("'recast_gpt2' names a model swapped by Recast") && e.description.contains("linear_attention"), "\(e)")
        let unknown = try #require(try refusal("gpt2") { $0.set("model_type", .string("recast_t5")) })
        #expect(unknown.description.contains("model_type 'recast_t5' is not a family Recast knows"), "\(unknown)")
    }

    /// RoBERTa counts positions from pad_token_id + 1: a negative id indexed before the table (a crash).
    @Test func robertaPadTokenMustLeaveAPosition() throws {
        for pad in ["-3", "63", "1000"] {
            let e = try #require(try refusal("bert") { $0.set("model_type", .string("roberta")); $0.set("pad_token_id", number(pad)) })
            #expect(e.description.contains("config key 'pad_token_id'") && e.description.contains("0...62"), "\(e)")
        }
        #expect(try build("bert") { $0.set("model_type", .string("roberta")); $0.set("pad_token_id", .int(1)) }.embeddings.positionOffset == 2)
    }

    @Test func validNumbersStillPass() throws {
        let g = try build("llama") { $0.set("rms_norm_eps", number("1e-5")); $0.set("rope_theta", number("500000")); $0.set("pretraining_tp", .int(2)) }
        #expect(g.blocks[0].attention.rotary?.theta == 500_000)
    }
}

/// A key that changes the computation and is not implemented is refused by name, never ignored.
@Suite struct UnimplementedKeyTests {
    static let refused: [(String, String, String, String)] = [
        // fixture, key, JSON value, what the message must say
        ("llama", "rope_scaling", #"{"rope_type": "dynamic", "factor": 8.0}"#, "rope_scaling type 'dynamic' is not supported; supported: linear, llama3"),
        ("llama", "rope_scaling", #"{"type": "longrope", "factor": 2.0}"#, "rope_type 'longrope'"),
        ("llama", "rope_scaling", #"{"rope_type": "llama3", "factor": 8.0}"#, "rope_scaling.low_freq_factor' is missing"),
        ("llama", "rope_scaling", #"{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1, "high_freq_factor": 4}"#, "rope_scaling.original_max_position_embeddings' is missing"),
        ("llama", "rope_scaling", #"{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4, "high_freq_factor": 1, "original_max_position_embeddings": 64}"#, "not greater than low_freq_factor"),
        ("llama", "rope_scaling", #"{"type": "linear"}"#, "rope_scaling.factor' is missing"),
        ("llama", "rope_parameters", #"{"rope_type": "linear", "factor": -2.0}"#, "rope_parameters.factor' is -2"),
        ("qwen2", "rope_parameters", #"{"rope_type": "yarn", "factor": 4.0, "rope_theta": 1000000.0}"#, "rope_type 'yarn'"),
        ("mistral", "rope_parameters", #"{"rope_type": "default", "rope_theta": 0}"#, "rope_parameters.rope_theta"),
        ("llama", "rope_parameters", #"{"rope_type": "default", "partial_rotary_factor": 0.5}"#, "partial_rotary_factor"),
        ("llama", "partial_rotary_factor", "0.25", "partial_rotary_factor"),
        ("gpt2", "activation_function", #""quick_gelu""#, "'quick_gelu', an activation Recast does not implement"),
        ("llama", "hidden_act", #""tanh""#, "'tanh', an activation Recast does not implement"),
        ("bert", "position_embedding_type", #""relative_key""#, "only absolute position embeddings"),
        ("bert", "position_embedding_type", #""relative_key_query""#, "only absolute position embeddings"),
        ("bert", "is_decoder", "true", "causal (decoder) form of BERT"),
        ("bert", "add_cross_attention", "true", "cross-attention"),
        ("gpt2", "add_cross_attention", "true", "cross-attention"),
        ("mistral", "layer_types", #"["full_attention", "sliding_attention"]"#, "layer_types"),
        ("qwen2", "rope_parameters", #"{"full_attention": {"rope_type": "default"}}"#, "rope_parameters"),
    ]

    @Test(arguments: refused)
    func refusedByName(_ name: String, _ key: String, _ value: String, _ expected: String) throws {
        let e = try #require(try refusal(name) { c in
            c.set(key, try! JSON.parse(value))
            if name == "qwen2" && key == "layer_types" { c.set("use_sliding_window", .bool(true)) }
        }, "\(name) \(key)=\(value) was accepted")
        #expect(e.description.contains(key) && e.description.contains(expected), "\(e)")
        #expect(e.file == "/models/\(name)/config.json", "\(e.file)")
    }

    /// Keys of other architectures (GPT-NeoX, OLMo, Gemma, Granite, …) in a config of a family that has no
    /// such computation: a mislabelled model, refused by name; their neutral values pass.
    static let foreign: [(String, String, String)] = [
        ("llama", "qk_layernorm", "true"), ("qwen2", "use_qk_norm", "true"), ("gpt2", "use_parallel_residual", "true"),
        ("llama", "parallel_attn", "true"), ("bert", "alibi", "true"), ("mistral", "rotary_pct", "0.25"),
        ("llama", "clip_qkv", "8.0"), ("llama", "attn_logit_softcapping", "50.0"), ("gpt2", "final_logit_softcapping", "30.0"),
        ("llama", "attention_multiplier", "0.0078125"), ("llama", "embedding_multiplier", "12.0"),
        ("llama", "residual_multiplier", "0.22"), ("llama", "logits_scaling", "8.0"),
    ]

    @Test(arguments: foreign)
    func foreignKeysAreRefused(_ name: String, _ key: String, _ value: String) throws {
        let e = try #require(try refusal(name) { $0.set(key, try! JSON.parse(value)) }, "\(name) \(key)=\(value) was accepted")
        #expect(e.description.contains("config key '\(key)' is \(value):"), "\(e)")
    }

    @Test func neutralValuesOfForeignKeysPass() throws {
        _ = try build("llama") {
            $0.set("qk_layernorm", .bool(false)); $0.set("use_parallel_residual", .bool(false)); $0.set("rotary_pct", try! JSON.parse("1.0"))
            $0.set("attn_logit_softcapping", .null); $0.set("logits_scaling", .int(1))
        }
    }

    /// The forms that mean plain rotary embeddings are accepted, and theta is read from where transformers 5
    /// writes it.
    @Test func plainRotaryInEveryForm() throws {
        #expect(try build("qwen2") { $0.set("rope_parameters", try! JSON.parse(#"{"rope_type": "default", "rope_theta": 5000.0}"#)) }
            .blocks[0].attention.rotary?.theta == 5000)
        #expect(try build("llama") { $0.set("rope_scaling", try! JSON.parse(#"{"type": "default"}"#)) }.blocks[0].attention.rotary?.theta == 10000)
        #expect(try build("llama") { $0.set("partial_rotary_factor", .int(1)) }.blocks[0].attention.rotary?.dimensions == 8)
    }

    /// Linear and llama3 rotary scaling are read into the graph, from either key and either spelling of the type.
    @Test func rotaryScalingIsRead() throws {
        let linear = try build("llama") { $0.set("rope_scaling", try! JSON.parse(#"{"type": "linear", "factor": 2.0}"#)) }
        #expect(linear.blocks.allSatisfy { $0.attention.rotary?.scaling == .linear(factor: 2) })
        let l3 = try build("qwen2") {
            $0.set("rope_parameters", try! JSON.parse(#"{"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192, "rope_theta": 500000}"#))
        }
        let rotary = try #require(l3.blocks[0].attention.rotary)
        #expect(rotary.theta == 500_000)
        #expect(rotary.scaling == .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 8192))
        #expect(try build("llama") { _ in }.blocks[0].attention.rotary?.scaling == nil)
    }

    /// Llama's `mlp_bias` and `attention_bias` put biases on the projections: they are read, not ignored.
    @Test func llamaBiasesAreRequiredWhenConfigured() throws {
        let mlp = try #require(try refusal("llama") { $0.set("mlp_bias", .bool(true)) })
        #expect(mlp.description.contains("model.layers.0.mlp.up_proj.bias' is missing"), "\(mlp)")
        #expect(mlp.description.contains("model.layers.0.mlp.down_proj.bias' is missing"), "\(mlp)")
        let attn = try #require(try refusal("llama") { $0.set("attention_bias", .bool(true)) })
        #expect(attn.description.contains("model.layers.0.self_attn.o_proj.bias' is missing"), "\(attn)")
        // MistralAttention has no biases whatever `attention_bias` says.
        #expect(try build("mistral") { $0.set("attention_bias", .bool(true)) }.blocks[0].attention.query.bias == nil)
    }

    /// GPT-2's attention scale options are implemented: the graph carries the factor.
    @Test func gpt2AttentionScaleOptions() throws {
        let plain = try build("gpt2") { _ in }
        #expect(abs(plain.blocks[1].attention.scale - 1 / 8.0.squareRoot()) < 1e-15)
        let unscaled = try build("gpt2") { $0.set("scale_attn_weights", .bool(false)) }
        #expect(unscaled.blocks.allSatisfy { $0.attention.scale == 1 })
        let inverse = try build("gpt2") { $0.set("scale_attn_by_inverse_layer_idx", .bool(true)) }
        #expect(abs(inverse.blocks[1].attention.scale - 1 / 8.0.squareRoot() / 2) < 1e-15)
        // reorder_and_upcast_attn computes the same product in f32, which Recast does anyway.
        #expect(try build("gpt2") { $0.set("reorder_and_upcast_attn", .bool(true)) }.blocks[0].attention.scale == plain.blocks[0].attention.scale)
    }

    /// Qwen2Config, MistralConfig and LlamaConfig default `tie_word_embeddings` to false.
    @Test func qwen2TiesOnlyWhenTold() throws {
        let e = try #require(try refusal("qwen2") { $0 = .object($0.objectValue!.filter { $0.0 != "tie_word_embeddings" }) })
        #expect(e.description.contains("lm_head.weight' is missing"), "\(e)")
    }
}

/// Tensors inside a layer that the config gives no role are refused, not skipped.
@Suite struct UnreadLayerTensorTests {
    func store(_ fixtureName: String, adding extra: [String: [Int]]) throws -> (TensorStore, TempDir) {
        let dir = TempDir()
        let base = try Checkpoint.open(fixture(fixtureName))
        var tensors = try base.tensors.map { t in OutputTensor.values(t.name, try base.loadFloat32(t.name), shape: t.shape) }
        for (name, shape) in extra.sorted(by: { $0.key < $1.key }) {
            tensors.append(.values(name, [Float](repeating: 0.5, count: shape.reduce(1, *)), shape: shape))
        }
        let path = dir.file("model.safetensors")
        try SafeTensorsWriter.write(tensors, metadata: [], to: path)
        return (try Checkpoint.open(path), dir)
    }

    @Test func llamaBiasesWithoutMlpBias() throws {
        let (s, _dir) = try store("llama", adding: ["model.layers.1.mlp.up_proj.bias": [64]])
        _ = _dir
        let config = try JSON.parse(try FileSystem.readAll(fixture("llama/config.json")))
        do {
            _ = try ModelGraph.build(config: config, configFile: "config.json", store: s)
            Issue.record("an unread bias was skipped")
        } catch let e as GraphError {
            #expect(e.description.contains("'model.layers.1.mlp.up_proj.bias' (layer 1)") && e.description.contains("mlp_bias"), "\(e)")
        }
        // With `mlp_bias` the same tensor is read (the others are still missing).
        var withBias = config
        withBias.set("mlp_bias", .bool(true))
        do {
            _ = try ModelGraph.build(config: withBias, configFile: "config.json", store: s)
        } catch let e as GraphError {
            #expect(!e.description.contains("up_proj.bias' (layer 1)") && e.description.contains("model.layers.0.mlp.up_proj.bias' is missing"), "\(e)")
        }
    }

    @Test func qkNormsOfAnotherModelType() throws {
        let (s, _dir) = try store("qwen2", adding: ["model.layers.0.self_attn.q_norm.weight": [8], "model.layers.0.self_attn.k_norm.weight": [8]])
        _ = _dir
        let config = try JSON.parse(try FileSystem.readAll(fixture("qwen2/config.json")))
        #expect(throws: GraphError.self) { try ModelGraph.build(config: config, configFile: "config.json", store: s) }
    }

    @Test func tensorsOutsideTheLayersStayAllowed() throws {
        // The pooler and the MLM head are not part of the encoder Recast runs.
        #expect(try Model(path: fixture("bert")).graph().ignoredTensors.allSatisfy { $0.hasPrefix("bert.pooler.") })
        #expect(try Model(path: fixture("bert-mlm")).graph().ignoredTensors.allSatisfy { $0.hasPrefix("cls.") })
    }
}

extension UnreadLayerTensorTests {
    /// BertEmbeddings adds token type 0's embedding whenever `type_vocab_size` > 0: without the table the model
    /// would silently lose a term.
    @Test func bertTokenTypeTableIsRequired() throws {
        let dir = TempDir()
        let base = try Checkpoint.open(fixture("bert"))
        let tensors = try base.tensors.filter { !$0.name.contains("token_type") }.map { t in
            OutputTensor.values(t.name, try base.loadFloat32(t.name), shape: t.shape)
        }
        let path = dir.file("model.safetensors")
        try SafeTensorsWriter.write(tensors, metadata: [], to: path)
        let config = try JSON.parse(try FileSystem.readAll(fixture("bert/config.json")))
        do {
            _ = try ModelGraph.build(config: config, configFile: "config.json", store: try Checkpoint.open(path))
            Issue.record("a missing token-type table was accepted")
        } catch let e as GraphError {
            #expect(e.description.contains("bert.embeddings.token_type_embeddings.weight' is missing"), "\(e)")
        }
        var none = config
        none.set("type_vocab_size", .int(0))
        #expect(try ModelGraph.build(config: none, configFile: "config.json", store: try Checkpoint.open(path)).embeddings.tokenType == nil)
    }
}
