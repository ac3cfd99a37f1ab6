import Foundation
import Testing
import TestSupport
import RecastCore
@testable import GGUF

/// A header holding `metadata` and tensors of the given dimensions (F32, no data: config building reads
/// only the infos).
func header(_ metadata: [(String, GGUFValue)], tensors: [(String, [Int])] = []) -> GGUFHeader {
    GGUFHeader(version: 3, metadata: metadata.map { (key: $0.0, value: $0.1) },
               tensors: tensors.map { GGUFTensorInfo(name: $0.0, type: .f32, dimensions: $0.1, offset: 0, byteCount: 0, infoOffset: 0) },
               alignment: 32, dataStart: 0)
}

/// SmolLM2-like llama metadata, to break one key at a time.
let llamaMetadata: [(String, GGUFValue)] = [
    ("general.architecture", .string("llama")),
    ("llama.block_count", .uint32(30)), ("llama.context_length", .uint32(8192)), ("llama.embedding_length", .uint32(576)),
    ("llama.feed_forward_length", .uint32(1536)), ("llama.attention.head_count", .uint32(9)),
    ("llama.attention.head_count_kv", .uint32(3)), ("llama.rope.freq_base", .float32(100000)),
    ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)), ("llama.vocab_size", .uint32(49152)),
    ("llama.rope.dimension_count", .uint32(64)),
]
let llamaTensors: [(String, [Int])] = [("token_embd.weight", [576, 49152])]

func replacing(_ key: String, with value: GGUFValue?) -> [(String, GGUFValue)] {
    var m = llamaMetadata.filter { $0.0 != key }
    if let value { m.append((key, value)) }
    return m
}

@Suite struct ConfigTests {
    static func smolLM2() throws -> (gguf: String, folder: String) {
        func path(_ name: String) throws -> String {
            let r = try python([repoRoot + "/tools/models.py", name])
            guard r.status == 0, let p = r.stdout.split(separator: "\n").last.map(String.init) else {
                throw CheckpointError(file: "tools/models.py", "\(name): \(r.stderr)")
            }
            return p
        }
        return (try path("smollm2-gguf"), try path("smollm2"))
    }

    /// config.json from the real SmolLM2 GGUF agrees with the folder tools/models.py converted in Python on
    /// every key that folder has, but `head_dim`, which Recast writes only when it is not hidden / heads.
    @Test func smolLM2ConfigMatchesThePythonConversion() throws {
        let (gguf, folder) = try Self.smolLM2()
        let file = try GGUFFile(path: gguf)
        let config = try GGUFConfig.huggingFaceConfig(from: file.header, file: gguf)
        let python = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))))
        var missing: [String] = []
        for (key, expected) in try #require(python.objectValue) {
            guard let mine = config[key] else { missing.append(key); continue }
            #expect(mine == expected, "\(key): \(mine.serialized()) vs \(expected.serialized())")
        }
        #expect(missing == ["head_dim"])
        #expect(python["head_dim"]?.intValue == 576 / 9)
        // Nothing beyond the Python conversion's keys either.
        #expect(Set(try #require(config.objectValue).map(\.0)).isSubset(of: Set(try #require(python.objectValue).map(\.0))))
        #expect(config.serialized().contains(#""rms_norm_eps":1e-05"#))
    }

    /// The metadata Recast writes for that config is the real GGUF's, key for key, type for type, value for
    /// value (gguf-py's reading of it): general.architecture, then every llama.* key in the same order.
    /// The GGUF's other general.* keys (name, file type, licence…) and tokenizer.* are not config.json's.
    @Test func smolLM2MetadataMatchesTheRealGGUF() throws {
        let (gguf, folder) = try Self.smolLM2()
        let config = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))))
        let mine = try GGUFConfig.metadata(fromConfig: config, file: "config.json")
        let real = try #require(try ggufPyDump(gguf)["metadata"]?.arrayValue)
            .filter { $0["key"]?.stringValue == "general.architecture" || $0["key"]?.stringValue?.hasPrefix("llama.") == true }
        #expect(mine.map(\.key) == real.compactMap { $0["key"]?.stringValue })
        for (entry, expected) in zip(mine, real) {
            #expect(typeNames(entry.value) == (expected["types"]?.arrayValue ?? []).compactMap(\.stringValue), "\(entry.key)")
            #expect(canonical(entry.value) == expected["value"], "\(entry.key)")
        }
    }

    /// f32 epsilons back to the decimal they came from, checked against NumPy's shortest repr of the f32.
    @Test func epsilonsRoundToTheShortestDecimal() throws {
        #expect(GGUFConfig.shortestDecimal(Float(bitPattern: 0x3727_C5AC)) == "1e-05")  // 9.9999997e-06
        #expect(GGUFConfig.shortestDecimal(Float(1e-6)) == "1e-06")
        #expect(GGUFConfig.shortestDecimal(Float(1e-12)) == "1e-12")
        let values: [Float] = [1e-5, 1e-6, 1e-12, Float(1e-5).nextUp, Float(1e-5).nextDown, 1e-8, 3e-7, 0.1, 100_000, 1_000_000, 500_000, 10_000, 1e-3, 2.5e-6]
        let script = "import numpy as np, struct, sys\nfor b in sys.argv[1:]: print(str(np.float32(struct.unpack('<f', struct.pack('<I', int(b)))[0])))"
        let r = try runProcess("/usr/bin/env", ["python3", "-c", script] + values.map { String($0.bitPattern) })
        #expect(r.status == 0, "\(r.stderr)")
        let numpy = r.stdout.split(separator: "\n").map(String.init)
        #expect(numpy.count == values.count)
        for (v, n) in zip(values, numpy) {
            let mine = GGUFConfig.shortestDecimal(v)
            #expect(Float(mine) == v, "\(mine) does not read back as \(v)")
            #expect(Double(mine) == Double(n), "\(v): \(mine) vs NumPy \(n)")
        }
        // Through a whole header: the JSON text is the short one.
        let config = try GGUFConfig.huggingFaceConfig(from: header(llamaMetadata, tensors: llamaTensors), file: "m.gguf")
        #expect(config["rms_norm_eps"] == .number("1e-05"))
        #expect(config["rope_theta"] == .number("100000.0"))
    }

    /// Each malformed or unsupported metadata refused with the file and the key (or tensor) named.
    @Test func malformedMetadataNamesTheKey() throws {
        let cases: [([(String, GGUFValue)], [(String, [Int])], String, String)] = [
            (replacing("llama.block_count", with: nil), llamaTensors, "key 'llama.block_count'", "missing"),
            (replacing("llama.attention.head_count", with: .uint32(7)), llamaTensors, "key 'llama.attention.head_count'", "does not divide"),
            (replacing("llama.attention.head_count_kv", with: .uint32(4)), llamaTensors, "key 'llama.attention.head_count_kv'", "does not divide"),
            (replacing("llama.block_count", with: .string("30")), llamaTensors, "key 'llama.block_count'", "STRING"),
            (replacing("llama.attention.head_count", with: .array(GGUFArray(elementType: .uint32, elements: [.uint32(9), .uint32(9)]))),
             llamaTensors, "key 'llama.attention.head_count'", "per layer"),
            (replacing("llama.embedding_length", with: .uint32(0)), llamaTensors, "key 'llama.embedding_length'", "positive"),
            (replacing("llama.attention.layer_norm_rms_epsilon", with: nil), llamaTensors, "key 'llama.attention.layer_norm_rms_epsilon'", "missing"),
            (replacing("llama.attention.layer_norm_rms_epsilon", with: .uint32(1)), llamaTensors, "key 'llama.attention.layer_norm_rms_epsilon'", "FLOAT32"),
            (replacing("llama.rope.freq_base", with: .float32(.nan)), llamaTensors, "key 'llama.rope.freq_base'", "finite"),
            (replacing("llama.rope.scaling.type", with: .string("yarn")), llamaTensors, "key 'llama.rope.scaling.type'", "'yarn' scaling is not implemented"),
            (replacing("llama.rope.scaling.factor", with: .float32(4)) + [("llama.rope.scaling.type", .string("none"))], llamaTensors,
             "key 'llama.rope.scaling.factor'", "'none'"),
            (replacing("llama.rope.scaling.factor", with: .float32(-2)), llamaTensors, "key 'llama.rope.scaling.factor'", "positive"),
            (replacing("llama.rope.scaling.factor", with: .float32(4)), llamaTensors + [("rope_freqs.weight", [32])], "tensor 'rope_freqs.weight'", "together with linear"),
            (replacing("llama.rope.dimension_count", with: .uint32(32)), llamaTensors, "key 'llama.rope.dimension_count'", "part of each head"),
            (replacing("llama.vocab_size", with: .uint32(100)), llamaTensors, "key 'llama.vocab_size'", "49152 rows"),
            (replacing("llama.expert_count", with: .uint32(8)), llamaTensors, "key 'llama.expert_count'", "mixture-of-experts"),
            (replacing("general.architecture", with: .string("phi3")), llamaTensors, "key 'general.architecture'", "phi3"),
            (replacing("general.architecture", with: nil), llamaTensors, "key 'general.architecture'", "missing"),
            (llamaMetadata, llamaTensors + [("rope_freqs.weight", [16])], "tensor 'rope_freqs.weight'", "one factor per rotary pair: [32]"),
            (replacing("general.architecture", with: .string("qwen2")).map { ($0.0.replacingOccurrences(of: "llama.", with: "qwen2."), $0.1) },
             llamaTensors + [("rope_freqs.weight", [32])], "tensor 'rope_freqs.weight'", "qwen2 architecture does not read"),
            (llamaMetadata, [("token_embd.weight", [577, 49152])], "tensor 'token_embd.weight'", "[576, vocabulary]"),
            (llamaMetadata, llamaTensors + [("blk.0.attn_q.bias", [576])], "tensor 'blk.0.attn_output.bias'", "missing"),
            ([("general.architecture", .string("bert")), ("bert.block_count", .uint32(2)), ("bert.embedding_length", .uint32(32)),
              ("bert.attention.head_count", .uint32(4)), ("bert.feed_forward_length", .uint32(64)), ("bert.attention.causal", .bool(true))],
             [("token_embd.weight", [32, 64])], "key 'bert.attention.causal'", "causal"),
            ([("general.architecture", .string("gpt2")), ("gpt2.block_count", .uint32(2)), ("gpt2.embedding_length", .uint32(32)),
              ("gpt2.attention.head_count", .uint32(4)), ("gpt2.feed_forward_length", .uint32(64)),
              ("gpt2.attention.layer_norm_epsilon", .float32(1e-5))],
             [("token_embd.weight", [32, 64])], "key 'gpt2.context_length'", "position_embd.weight"),
        ]
        for (metadata, tensors, object, reason) in cases {
            let error = #expect(throws: CheckpointError.self, "\(object)") {
                try GGUFConfig.huggingFaceConfig(from: header(metadata, tensors: tensors), file: "broken.gguf")
            }
            #expect(error?.file == "broken.gguf")
            #expect(error?.object == object, "\(String(describing: error))")
            #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
        }
        // The baseline these break is accepted, with "none" scaling too.
        #expect(throws: Never.self) { try GGUFConfig.huggingFaceConfig(from: header(llamaMetadata, tensors: llamaTensors), file: "m.gguf") }
        let none = replacing("llama.rope.scaling.type", with: .string("none")) + [("llama.rope.scaling.factor", .float32(0))]
        #expect(throws: Never.self) { try GGUFConfig.huggingFaceConfig(from: header(none, tensors: llamaTensors), file: "m.gguf") }
    }

    /// config.json that llama.cpp's architectures cannot express, or that is malformed, is refused naming the key.
    @Test func unconvertibleConfigsNameTheKey() throws {
        let llama = try fixtureConfig("llama")
        func edited(_ base: JSON, _ key: String, _ value: JSON?) -> JSON {
            guard case var .object(pairs) = base else { return base }
            pairs.removeAll { $0.0 == key }
            if let value { pairs.append((key, value)) }
            return .object(pairs)
        }
        let cases: [(JSON, String, String)] = [
            (edited(llama, "model_type", .string("phi3")), "model_type", "phi3"),
            (edited(llama, "model_type", nil), "model_type", "missing"),
            (edited(llama, "num_hidden_layers", nil), "num_hidden_layers", "missing"),
            (edited(llama, "num_attention_heads", .int(3)), "num_key_value_heads", "does not divide"),
            (edited(edited(llama, "head_dim", nil), "num_attention_heads", .int(5)), "num_attention_heads", "does not divide"),
            (edited(llama, "hidden_size", .string("32")), "hidden_size", "not an integer"),
            (edited(llama, "rope_scaling", try JSON.parse(#"{"rope_type": "yarn", "factor": 2.0}"#)), "rope_scaling", "'yarn' is not implemented"),
            (edited(llama, "rope_scaling", try JSON.parse(#"{"type": "dynamic", "factor": 2.0}"#)), "rope_scaling", "'dynamic' is not implemented"),
            (edited(llama, "rope_scaling", try JSON.parse(#"{"rope_type": "linear"}"#)), "rope_scaling.factor", "missing"),
            (edited(llama, "rope_scaling", try JSON.parse(#"{"rope_type": "llama3", "factor": 8.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}"#)),
             "rope_scaling.low_freq_factor", "missing"),
            (edited(llama, "rope_scaling", try JSON.parse(#"{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}"#)),
             "rope_scaling.high_freq_factor", "not greater"),
            (edited(try fixtureConfig("qwen2"), "rope_scaling", try JSON.parse(#"{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}"#)),
             "rope_scaling", "qwen2 architecture cannot hold"),
            (edited(llama, "partial_rotary_factor", .number("0.5")), "partial_rotary_factor", "part of each head"),
            (edited(llama, "vocab_size", .int(-1)), "vocab_size", "positive"),
            (try fixtureConfig("mistral"), "sliding_window", "no sliding window"),
            (edited(try fixtureConfig("gpt2"), "activation_function", .string("relu")), "activation_function", "relu"),
            (edited(try fixtureConfig("bert"), "position_embedding_type", .string("relative_key")), "position_embedding_type", "absolute"),
            (edited(edited(edited(try fixtureConfig("qwen2"), "use_sliding_window", .bool(true)), "max_window_layers", .int(1)), "sliding_window", .int(16)),
             "sliding_window", "no sliding window"),
        ]
        for (config, key, reason) in cases {
            let error = #expect(throws: CheckpointError.self, "\(key)") { try GGUFConfig.metadata(fromConfig: config, file: "config.json") }
            #expect(error?.file == "config.json")
            #expect(error?.object == "config key '\(key)'", "\(String(describing: error))")
            #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
        }
        // Mistral without a window (null) converts to llama, as llama.cpp's converter does.
        let unwindowed = try GGUFConfig.metadata(fromConfig: edited(try fixtureConfig("mistral"), "sliding_window", .null), file: "c")
        #expect(unwindowed.first?.value == .string("llama"))
        // transformers 5's rope_parameters carry rope_theta; _name_or_path gives general.name.
        let v5 = edited(edited(edited(llama, "rope_theta", nil), "rope_parameters", try JSON.parse(#"{"rope_type": "default", "rope_theta": 500000.0}"#)),
                        "_name_or_path", .string("HuggingFaceTB/SmolLM2-135M"))
        let written = try GGUFConfig.metadata(fromConfig: v5, file: "c")
        #expect(written.first { $0.key == "llama.rope.freq_base" }?.value == .float32(500_000))
        #expect(written.first { $0.key == "general.name" }?.value == .string("SmolLM2-135M"))
        // A head size that is not hidden / heads is written as key and value lengths, and read back.
        let wide = edited(llama, "head_dim", .int(16))
        let keys = try GGUFConfig.metadata(fromConfig: wide, file: "c")
        #expect(keys.first { $0.key == "llama.attention.key_length" }?.value == .uint32(16))
        #expect(keys.first { $0.key == "llama.rope.dimension_count" }?.value == .uint32(16))
        let back = try GGUFConfig.huggingFaceConfig(from: header(keys.map { ($0.key, $0.value) }, tensors: [("token_embd.weight", [32, 64])]), file: "m")
        #expect(back["head_dim"]?.intValue == 16)
    }

    /// Rope scaling as llama.cpp stores it, in files gguf-py writes (tools/gguf_fixtures.py rope): linear
    /// keys, the older rope.scale_linear, and Llama 3's rope_freqs tensor computed by the published formula
    /// (Llama 3.1 and 3.2 shapes, other low/high factors, an original context from the metadata) become the
    /// rope_scaling the fixture was written from; yarn, longrope and divisors no llama3 parameters give are
    /// refused naming the key or the tensor. The rope_freqs tensor is not part of the Hugging Face view.
    @Test func ropeScalingFromGGUFPyFiles() throws {
        let dir = TempDir()
        let cases = try #require(try pythonJSON("gguf_fixtures.py", ["rope", dir.path]).objectValue)
        #expect(cases.count == 12)
        for (name, c) in cases {
            let path = try #require(c["file"]?.stringValue)
            let file = try GGUFFile(path: path)
            if let refused = c["refused"]?.stringValue {
                let error = #expect(throws: CheckpointError.self, "\(name)") { try GGUFConfig.huggingFaceConfig(of: file) }
                #expect(error?.file == path && error?.object == refused, "\(name): \(String(describing: error))")
                #expect(error?.reason.contains("implemented") == true || error?.reason.contains("no llama3 rope scaling reproduces") == true,
                        "\(name): \(String(describing: error))")
                continue
            }
            let config = try GGUFConfig.huggingFaceConfig(of: file)
            let expected = c["rope_scaling"].flatMap { $0.isNull ? nil : $0 }
            #expect(config["rope_scaling"] == expected, "\(name): \(config["rope_scaling"]?.serialized() ?? "none")")
            #expect(try GGUFHuggingFaceStore(file: file).tensors.allSatisfy { !$0.name.contains("rope") }, "\(name)")
        }
    }

    /// config.json's rope scaling through GGUF metadata and back: linear as rope.scaling.type and factor (a
    /// STRING and a FLOAT32, as gguf-py's writer types them); llama3 as llama.cpp's rope_freqs values, which
    /// equal those of the published formula computed by NumPy (tools/gguf_fixtures.py llama3_factors), and
    /// rope.scaling.original_context_length, from which the same parameters are recovered.
    @Test func ropeScalingThroughMetadataAndBack() throws {
        let llama = try fixtureConfig("llama")
        // The fixture's head size 8 (wavelengths 6.3 to 6283) with context 64 sees all three regimes; head
        // size 64 blends enough frequencies under 8192 to pin low and high 2 and 8.
        let scalings = [
            (#"{"rope_type": "linear", "factor": 4.0}"#, 8),
            (#"{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}"#, 8),
            (#"{"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 2.0, "high_freq_factor": 8.0, "original_max_position_embeddings": 8192}"#, 64),
        ]
        for (text, headDim) in scalings {
            let scaling = try JSON.parse(text)
            var config = llama
            config.set("rope_scaling", scaling)
            config.set("head_dim", .int(headDim))
            let keys = try GGUFConfig.metadata(fromConfig: config, file: "config.json")
            let factors = try GGUFConfig.ropeFrequencyFactors(fromConfig: config, file: "config.json")
            if scaling["rope_type"]?.stringValue == "linear" {
                #expect(keys.first { $0.key == "llama.rope.scaling.type" }?.value == .string("linear"))
                #expect(keys.first { $0.key == "llama.rope.scaling.factor" }?.value == .float32(4))
                #expect(factors == nil)
            } else {
                #expect(!keys.contains { $0.key == "llama.rope.scaling.type" })
                let context = try #require(scaling["original_max_position_embeddings"]?.intValue)
                #expect(keys.first { $0.key == "llama.rope.scaling.original_context_length" }?.value == .uint32(UInt32(context)))
                let mine = try #require(factors)
                let script = """
                    import json, sys
                    sys.path.insert(0, sys.argv[1])
                    from gguf_fixtures import llama3_factors
                    p = json.loads(sys.argv[2])
                    print(json.dumps([float(x) for x in llama3_factors(10000.0, int(sys.argv[3]), p["factor"], p["low_freq_factor"], p["high_freq_factor"], p["original_max_position_embeddings"])]))
                    """
                let r = try runProcess("/usr/bin/env", ["python3", "-c", script, repoRoot + "/tools", text, "\(headDim)"])
                try #require(r.status == 0, "\(r.stderr)")
                let numpy = try #require(try JSON.parse(r.stdout).arrayValue).compactMap { $0.doubleValue.map(Float.init) }
                #expect(mine.count == headDim / 2 && numpy.count == headDim / 2)
                #expect(maxRelativeError(mine, numpy) < 1e-6, "\(mine) vs \(numpy)")
                #expect(Set(mine).count > 1, "the fixture's head size must see the scaling: \(mine)")
            }
            let tensors = [("token_embd.weight", [32, 64])] + (factors.map { [(GGUFRopeScaling.frequencyTensor, [$0.count])] } ?? [])
            let back = try GGUFConfig.huggingFaceConfig(from: header(keys.map { ($0.key, $0.value) }, tensors: tensors), file: "m",
                                                        tensorValues: { _ in factors ?? [] })
            #expect(back["rope_scaling"] == scaling, "\(back["rope_scaling"]?.serialized() ?? "none")")
        }
    }
}
