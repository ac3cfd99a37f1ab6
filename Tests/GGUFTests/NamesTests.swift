import Foundation
import Testing
import TestSupport
import RecastCore
@testable import GGUF

/// Runs tools/gguf_names.py (gguf-py's tensor map, llama.cpp's converter logic, NumPy) and parses its
/// JSON output when it prints any.
@discardableResult
func ggufNames(_ arguments: [String], stdin: String? = nil) throws -> JSON {
    let r = try runProcess("/usr/bin/env", ["python3", repoRoot + "/tools/gguf_names.py"] + arguments, stdin: stdin)
    guard r.status == 0 else { throw CheckpointError(file: "tools/gguf_names.py", "\(arguments.first ?? "") failed (\(r.status)): \(r.stderr)") }
    let out = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    return out.isEmpty ? .null : try JSON.parse(out)
}

func readFloats(_ path: String) throws -> [Float] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

/// Where two arrays first differ (floats by bit pattern), so that a failure prints one value, not a million;
/// nil when they are equal.
func firstDifference<T: Equatable>(_ a: [T], _ b: [T]) -> String? {
    guard a.count == b.count else { return "\(a.count) values against \(b.count)" }
    guard let i = a.indices.first(where: { a[$0] != b[$0] }) else { return nil }
    return "first difference at index \(i): \(a[i]) against \(b[i])"
}

func firstDifference(_ a: [Float], _ b: [Float]) -> String? { firstDifference(a.map(\.bitPattern), b.map(\.bitPattern)) }

func fixtureConfig(_ dir: String) throws -> JSON {
    try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: fixture(dir) + "/config.json"))))
}

/// The fixture models (fixtures/README.md) and the llama.cpp architecture each converts to.
let namedFixtures: [(String, String)] = [
    ("llama", "llama"), ("mistral", "llama"), ("qwen2", "qwen2"), ("gpt2", "gpt2"), ("gpt2-prefixed", "gpt2"),
    ("bert", "bert"), ("bert-mlm", "bert"),
]

@Suite struct NamesTests {
    /// Every tensor of every fixture gets the llama.cpp name gguf-py's `TensorNameMap` gives it (after the
    /// converter's own renames and drops), and its Hugging Face name back, which gguf-py maps to the same name.
    @Test(arguments: namedFixtures) func everyFixtureTensorMapsAsGGUFPy(dir: String, architecture: String) throws {
        let config = try fixtureConfig(dir)
        let rows = try #require(try ggufNames(["names", fixture(dir), architecture]).arrayValue)
        #expect(rows.count > 10)
        var back: [String] = [], expectedBack: [String] = []
        for row in rows {
            let hf = try #require(row["hf"]?.stringValue)
            let expected = row["llamacpp"]?.stringValue
            let mine = try LlamaCppNames.llamaCpp(hf, architecture: architecture, config: config, file: dir)
            #expect(mine?.name == expected, "\(dir): \(hf)")
            guard let mine else { continue }
            let reverse = try #require(LlamaCppNames.huggingFace(mine.name, architecture: architecture, config: config), "\(mine.name)")
            #expect(reverse.layout == mine.layout, "\(mine.name)")
            #expect(try LlamaCppNames.llamaCpp(reverse.huggingFace, architecture: architecture, config: config, file: dir)?.name == mine.name)
            // The canonical spelling: PyTorch's names for the class (GPT-2 under `transformer.`, BERT without `bert.`).
            let canonical = architecture == "bert" ? hf.replacingOccurrences(of: "bert.", with: "")
                : architecture == "gpt2" && !hf.hasPrefix("transformer.") && !hf.hasPrefix("lm_head") ? "transformer." + hf : hf
            #expect(reverse.huggingFace == canonical)
            back.append(reverse.huggingFace)
            expectedBack.append(mine.name)
        }
        let layers = config["num_hidden_layers"]?.intValue ?? config["n_layer"]?.intValue ?? 0
        let input = JSON.array(back.map { .string($0) }).serialized()
        let mapped = try #require(try ggufNames(["map", architecture, String(layers)], stdin: input).arrayValue)
        #expect(mapped.map(\.stringValue) == expectedBack.map { Optional($0) })
    }

    /// Layouts as convert_hf_to_gguf.py changes them: LlamaModel permutes q by the heads and k by the
    /// key/value heads, Qwen2Model permutes nothing, GPT2Model transposes its Conv1D weights (not biases).
    @Test func layoutsFollowTheConverter() throws {
        let llama = try fixtureConfig("llama"), qwen = try fixtureConfig("qwen2"), gpt2 = try fixtureConfig("gpt2")
        func layout(_ name: String, _ arch: String, _ config: JSON) -> LlamaCppLayout? {
            LlamaCppNames.huggingFace(name, architecture: arch, config: config)?.layout
        }
        #expect(layout("blk.1.attn_q.weight", "llama", llama) == .rotaryRows(heads: 4))
        #expect(layout("blk.1.attn_k.weight", "llama", llama) == .rotaryRows(heads: 2))
        #expect(layout("blk.1.attn_q.bias", "llama", llama) == .rotaryRows(heads: 4))
        #expect(layout("blk.1.attn_v.weight", "llama", llama) == .same)
        #expect(layout("blk.0.attn_q.weight", "qwen2", qwen) == .same)
        #expect(layout("blk.0.attn_k.bias", "qwen2", qwen) == .same)
        for stem in ["attn_qkv", "attn_output", "ffn_up", "ffn_down"] {
            #expect(layout("blk.0.\(stem).weight", "gpt2", gpt2) == .transposed)
            #expect(layout("blk.0.\(stem).bias", "gpt2", gpt2) == .same)
        }
        #expect(layout("blk.0.attn_norm.weight", "gpt2", gpt2) == .same)
        // Without num_key_value_heads, k has as many heads as q (transformers' default).
        let noKV = try JSON.parse(#"{"num_attention_heads": 6, "num_hidden_layers": 1}"#)
        #expect(layout("blk.0.attn_k.weight", "llama", noKV) == .rotaryRows(heads: 6))
    }

    @Test func namesOutsideTheMappingAreRefused() throws {
        let llama = try fixtureConfig("llama")
        for name in ["blk.0.attn_qkv.weight", "blk.2.attn_q.weight", "blk.01.attn_q.weight", "blk.-1.attn_q.weight",
                     "rope_freqs.weight", "blk.0.attn_q.scale", "token_embd", "blk.0.attn_q", "position_embd.weight"] {
            #expect(LlamaCppNames.huggingFace(name, architecture: "llama", config: llama) == nil, "\(name)")
        }
        #expect(LlamaCppNames.huggingFace("token_embd.weight", architecture: "phi3", config: llama) == nil)
        // Dropped as the converter drops them.
        #expect(try LlamaCppNames.llamaCpp("model.layers.0.self_attn.rotary_emb.inv_freq", architecture: "llama", config: llama, file: "f") == nil)
        #expect(try LlamaCppNames.llamaCpp("h.1.attn.masked_bias", architecture: "gpt2", config: llama, file: "f") == nil)
        #expect(try LlamaCppNames.llamaCpp("bert.pooler.dense.weight", architecture: "bert", config: llama, file: "f") == nil)
        #expect(try LlamaCppNames.llamaCpp("cls.seq_relationship.weight", architecture: "bert", config: llama, file: "f") == nil)
        // Unknown names throw, naming the file and the tensor.
        for (name, arch) in [("model.layers.0.self_attn.q_norm.weight", "llama"), ("model.layers.2.mlp.up_proj.weight", "llama"),
                             ("h.0.attn.c_attn.scale", "gpt2"), ("classifier.weight", "bert"), ("model.norm.weight", "phi3")] {
            let error = #expect(throws: CheckpointError.self) {
                try LlamaCppNames.llamaCpp(name, architecture: arch, config: llama, file: "model.safetensors")
            }
            #expect(error?.file == "model.safetensors")
            #expect(error?.object == "tensor '\(name)'")
        }
        // A rotary projection without head counts cannot be permuted.
        let error = #expect(throws: CheckpointError.self) {
            try LlamaCppNames.llamaCpp("model.layers.0.self_attn.q_proj.weight", architecture: "llama", config: .object([]), file: "x")
        }
        #expect(error?.description.contains("num_attention_heads") == true)
        #expect(LlamaCppNames.supports(architecture: "qwen2") && !LlamaCppNames.supports(architecture: "mistral"))
        #expect(LlamaCppNames.architecture(modelType: "mistral") == "llama")
        #expect(LlamaCppNames.architecture(modelType: "roberta") == nil)
    }

    /// Each fixture converted by tools/gguf_names.py the way convert_hf_to_gguf.py does (gguf-py names, q/k
    /// permuted, Conv1D transposed, its metadata keys), then read back with Recast's names, layouts and
    /// config: every tensor comes back bit for bit, the config agrees with the fixture's, and the metadata
    /// Recast would write for the fixture's config is the metadata the converter wrote.
    @Test(arguments: [("llama", "llama"), ("mistral", "llama"), ("qwen2", "qwen2"), ("gpt2", "gpt2"), ("bert", "bert")])
    func fixtureConvertedByLlamaCppLogicComesBack(dir: String, architecture: String) throws {
        let tmp = TempDir()
        let written = try #require(try ggufNames(["convert", fixture(dir), architecture, tmp.path]).objectValue)
        let file = try GGUFFile(path: tmp.file("model.gguf"))
        let config = try GGUFConfig.huggingFaceConfig(from: file.header, file: "model.gguf")
        let source = try fixtureConfig(dir)

        // The config: every key both have agrees, except where the GGUF cannot know (dtype) or says otherwise
        // on purpose (Mistral becomes a llama).
        let differ: Set<String> = dir == "mistral" ? ["torch_dtype", "model_type", "architectures"] : ["torch_dtype"]
        var compared = 0
        for (key, value) in try #require(config.objectValue) where !differ.contains(key) {
            guard let expected = source[key] else { continue }
            #expect(value == expected, "\(dir): \(key) is \(value.serialized()), config.json has \(expected.serialized())")
            compared += 1
        }
        #expect(compared >= 9)

        // The tensors.
        let cppToHF = Dictionary(uniqueKeysWithValues: written.compactMap { k, v in v.stringValue.map { ($0, k) } })
        #expect(file.tensors.count == cppToHF.count)
        for t in file.tensors {
            let name = try #require(LlamaCppNames.huggingFace(t.name, architecture: architecture, config: config), "\(t.name)")
            let original = try readFloats(tmp.file(try #require(cppToHF[t.name]) + ".f32"))
            let stored = try file.withBytes(of: t.name) { Array($0.bindMemory(to: Float.self)) }
            let restored: [Float]
            switch name.layout {
            case .same: restored = stored
            case .transposed:
                let (rows, cols) = (t.shape[0], t.shape[1])
                restored = (0..<(rows * cols)).map { k in stored[(k % rows) * cols + k / rows] }
            case let .rotaryRows(heads):
                restored = try RotaryPermutation.permuteRows(stored, rows: t.shape[0], heads: heads, toLlamaCpp: false, tensor: t.name, file: "model.gguf")
            }
            #expect(firstDifference(restored, original) == nil, "\(dir): \(t.name) -> \(name.huggingFace)")
        }

        // The metadata, written back from the fixture's own config.
        if dir == "mistral" {
            #expect(throws: CheckpointError.self) { try GGUFConfig.metadata(fromConfig: source, file: "config.json") }
            return
        }
        let mine = try GGUFConfig.metadata(fromConfig: source, file: "config.json")
        let stored = file.header.metadata.filter { !$0.key.hasPrefix("GGUF.") }
        #expect(mine.map(\.key) == stored.map(\.key))
        for (a, b) in zip(mine, stored) { #expect(a.value == b.value, "\(a.key): \(a.value) vs \(b.value)") }
        // And from the config read back: the same keys again.
        #expect(try GGUFConfig.metadata(fromConfig: config, file: "config.json").map(\.key) == stored.map(\.key))
    }
}
