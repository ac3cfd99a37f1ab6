import Foundation
import Testing
import TestSupport
import RecastCore

/// `recast convert … OUT.gguf`, checked with gguf-py (llama.cpp's own Python package): its reader for what
/// Recast wrote, its `quantize` and `dequantize` for the bytes expected.
@Suite struct GGUFConvertTests {
    let dir = TempDir()

    /// tools/gguf_fixtures.py's files, written by gguf-py into this test's folder.
    func fixtures(_ command: String) throws -> [String: String] {
        let folder = dir.file(command)
        try FileSystem.makeDirectory(folder)
        let files = try pythonJSON("gguf_fixtures.py", [command, folder])["files"]?.objectValue ?? []
        return Dictionary(uniqueKeysWithValues: files.map { ($0.0, folder + "/" + ($0.1.stringValue ?? "")) })
    }

    func dump(_ path: String) throws -> JSON { try pythonJSON("gguf_fixtures.py", ["dump", path]) }

    /// gguf-py's bytes for every tensor of `path` as `type` (tools/gguf_fixtures.py encode).
    func encoded(_ path: String, _ type: String) throws -> JSON { try pythonJSON("gguf_fixtures.py", ["encode", path, type]) }

    func tensorsByName(_ dump: JSON) -> [String: JSON] {
        Dictionary(uniqueKeysWithValues: (dump["tensors"]?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", $0) })
    }

    func metadataValue(_ dump: JSON, _ key: String) -> JSON? {
        dump["metadata"]?.arrayValue?.first { $0["key"]?.stringValue == key }?["value"]
    }

    /// llama.cpp's `general.file_type` number for a file type name (gguf-py's `LlamaFileType`).
    func llamaFileType(_ name: String) throws -> Int? {
        let r = try python(["-c", "import gguf, sys; print(int(gguf.LlamaFileType[sys.argv[1]]))", name])
        return Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func smolLM2() throws -> String {
        let r = try python([repoRoot + "/tools/models.py", "smollm2-gguf"])
        #expect(r.status == 0, "tools/models.py failed: \(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What gguf-py reads from `out` equals what it reads from `src`: metadata (keys, types, values, offsets),
    /// and every tensor's type, dimensions, offset and bytes.
    func expectSameAsSource(_ src: String, _ out: String) throws {
        let a = try dump(src), b = try dump(out)
        #expect(a["metadata"] == b["metadata"])
        #expect(a["data_offset"] == b["data_offset"] && a["alignment"] == b["alignment"])
        let ta = a["tensors"]?.arrayValue ?? [], tb = b["tensors"]?.arrayValue ?? []
        #expect(ta.count == tb.count && !ta.isEmpty)
        for (x, y) in zip(ta, tb) { #expect(x == y, "\(x["name"]?.stringValue ?? "")") }
    }

    /// `keep` copies every tensor bit for bit and keeps the metadata: the real SmolLM2 (Q4_1, Q8_0, F32)
    /// and gguf-py's fixtures with every tensor type and a 64-byte alignment. Since Recast lays a file out
    /// as gguf-py does, the whole file comes out the same.
    @Test func ggufToGGUFWithKeepIsBitIdentical() throws {
        let gguf = try fixtures("write")
        for src in [try smolLM2(), gguf["all_types"]!, gguf["aligned"]!] {
            let out = dir.file("keep-\(FileSystem.split(src).base)")
            let r = try recast(["convert", src, out])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.hasPrefix("wrote \(out): "), "\(r.stdout)")
            try expectSameAsSource(src, out)
            #expect(try SHA256.hex(file: src) == SHA256.hex(file: out), "\(src)")
        }
    }

    /// Every target type: each tensor's bytes are gguf-py's `quantize` of the source's values (dequantised by
    /// gguf-py where the source is quantised), in the type llama.cpp's rules give it: norms, biases and 1-D
    /// tensors F32; the tied embedding Q8_0 for a quantised target; a tensor already in the target type
    /// copied as it is. `general.file_type` is llama.cpp's number for the target.
    @Test(arguments: ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "f16", "bf16", "f32"])
    func reencodingMatchesGGUFPy(_ target: String) throws {
        let src = try fixtures("model")["model"]!
        let out = dir.file("model-\(target).gguf")
        let r = try recast(["convert", src, out, "--dtype", target])
        #expect(r.status == 0, "\(r.stderr)")
        let written = try dump(out), source = tensorsByName(try dump(src))
        let quantised = target.hasPrefix("q")
        let expectedTypes: [String: String] = [
            "token_embd.weight": quantised ? "Q8_0" : target.uppercased(),
            "blk.0.attn_norm.weight": "F32", "blk.0.attn_q.bias": "F32", "blk.0.ffn_norm.weight": "F32", "output_norm.weight": "F32",
            "blk.0.attn_q.weight": target.uppercased(), "blk.0.attn_k.weight": target.uppercased(),
            "blk.0.ffn_down.weight": target.uppercased(), "blk.0.attn_v.weight": target.uppercased(),
            "blk.0.attn_output.weight": target.uppercased(),
        ]
        var gguf: [String: JSON] = [:]
        for t in Set(expectedTypes.values) { gguf[t] = try encoded(src, t) }
        let tensors = written["tensors"]?.arrayValue ?? []
        #expect(tensors.map { $0["name"]?.stringValue ?? "" } == (try dump(src))["tensors"]?.arrayValue?.map { $0["name"]?.stringValue ?? "" })
        for t in tensors {
            let name = t["name"]?.stringValue ?? "", type = t["type_name"]?.stringValue ?? ""
            #expect(type == expectedTypes[name], "\(name): \(type)")
            #expect(t["dims"] == source[name]?["dims"], "\(name)")
            let expected = source[name]?["type_name"]?.stringValue == type ? source[name]?["sha256"] : gguf[type]?[name]
            #expect(t["sha256"] == expected, "\(name) as \(type)")
        }
        let fileType = try llamaFileType(target == "f32" ? "ALL_F32" : "MOSTLY_" + target.uppercased())
        #expect(metadataValue(written, "general.file_type") == .string(String(fileType ?? -1)))
        #expect(metadataValue(written, "llama.block_count") == .string("1"))
        if quantised { #expect(metadataValue(written, "general.quantization_version") == .string("2")) }
    }

    /// Hugging Face → GGUF as llama.cpp's converter relates them, checked with gguf-py
    /// (tools/gguf_fixtures.py from-hf): every tensor under the name gguf-py's `TensorNameMap` gives it, the
    /// llama q/k rows permuted as `LlamaModel.permute` does and GPT-2's Conv1D weights transposed, its bytes
    /// gguf-py's `quantize` of those values in the type written; the types by llama.cpp's rules (norms,
    /// biases, 1-D tensors, position and token-type embeddings F32; the output, or the embedding tied to it,
    /// Q8_0 for a quantised target; `keep` keeps the source's dtype); `{arch}.*` metadata from config.json.
    @Test(arguments: ["llama", "gpt2", "bert"])
    func huggingFaceToGGUFMatchesLlamaCppsConversion(_ model: String) throws {
        let config = try JSON.parse(String(contentsOfFile: fixture(model) + "/config.json", encoding: .utf8))
        let layers = config["num_hidden_layers"]?.intValue ?? config["n_layer"]?.intValue
        let sourceType = model == "llama" ? "BF16" : "F32"  // the fixtures' dtypes
        for target in ["keep", "f32", "f16", "q8_0", "q4_1"] {
            let out = dir.file("\(model)-\(target).gguf")
            let r = try recast(["convert", fixture(model), out, "--dtype", target])
            #expect(r.status == 0, "\(model) \(target): \(r.stderr)")
            let check = try pythonJSON("gguf_fixtures.py", ["from-hf", fixture(model), out])
            #expect(check["unwritten"] == .array([]), "\(model) \(target)")
            let expected = check["expected"]?.objectValue ?? [], written = check["written"]?.objectValue ?? []
            #expect(!expected.isEmpty && expected.count == written.count, "\(model) \(target)")
            for (name, digest) in expected { #expect(check["written"]?[name] == digest, "\(model) \(target): \(name)") }

            let dumped = try dump(out)
            let tensors = dumped["tensors"]?.arrayValue ?? []
            let tied = !tensors.contains { $0["name"]?.stringValue == "output.weight" }
            for t in tensors {
                let name = t["name"]?.stringValue ?? "", dims = t["dims"]?.arrayValue?.count ?? 0
                let f32 = dims <= 1 || name.hasSuffix("_norm.weight") || !name.hasSuffix(".weight")
                    || ["position_embd.weight", "token_types.weight"].contains(name)
                let type = f32 ? "F32"
                    : target.hasPrefix("q") && (name == "output.weight" || (tied && name == "token_embd.weight")) ? "Q8_0"
                    : target == "keep" ? sourceType : target.uppercased()
                #expect(t["type_name"]?.stringValue == type, "\(model) \(target): \(name)")
            }
            #expect(metadataValue(dumped, "general.architecture") == .string(model))
            #expect(metadataValue(dumped, "\(model).block_count") == .string(String(layers ?? -1)))
            let fileType = target == "keep" ? (sourceType == "BF16" ? "MOSTLY_BF16" : "ALL_F32")
                : target == "f32" ? "ALL_F32" : "MOSTLY_" + target.uppercased()
            #expect(metadataValue(dumped, "general.file_type") == .string(String(try llamaFileType(fileType) ?? -1)), "\(model) \(target)")
        }
    }

    /// Hugging Face → GGUF f32 equals tools/gguf_names.py's conversion (llama.cpp's converter written in
    /// Python from convert_hf_to_gguf.py, on gguf-py's writer): the same metadata, key for key, and the
    /// same tensors in the same order, type, dimensions and bytes; Recast adds `general.file_type` and
    /// `general.quantization_version`, which llama.cpp's converter writes too.
    @Test(arguments: ["llama", "qwen2", "gpt2", "bert"])
    func huggingFaceToGGUFEqualsThePythonConversion(_ model: String) throws {
        let folder = dir.file("py-\(model)")
        try FileSystem.makeDirectory(folder)
        let py = try python([repoRoot + "/tools/gguf_names.py", "convert", fixture(model), model, folder])
        #expect(py.status == 0, "\(py.stderr)")
        let out = dir.file("\(model).gguf")
        let r = try recast(["convert", fixture(model), out, "--dtype", "f32"])
        #expect(r.status == 0, "\(r.stderr)")
        let theirs = try dump(folder + "/model.gguf"), ours = try dump(out)
        let keys = { (d: JSON) in (d["metadata"]?.arrayValue ?? []).map { JSON.array([$0["key"] ?? .null, $0["types"] ?? .null, $0["value"] ?? .null]) } }
        let extra = keys(ours).filter { ["general.file_type", "general.quantization_version"].contains($0.arrayValue?.first?.stringValue ?? "") }
        #expect(keys(ours).filter { !extra.contains($0) } == keys(theirs))
        #expect(extra.count == 2)
        let tensors = { (d: JSON) in (d["tensors"]?.arrayValue ?? []).map { JSON.array([$0["name"] ?? .null, $0["type_name"] ?? .null, $0["dims"] ?? .null, $0["sha256"] ?? .null]) } }
        #expect(!tensors(theirs).isEmpty && tensors(ours) == tensors(theirs))
    }

    /// Hugging Face → GGUF f32 → Hugging Face gives every tensor back bit for bit (compared as f32 values
    /// by gguf-py-free NumPy code), less what llama.cpp's converter drops (GPT-2's mask buffers, BERT's
    /// pooler and position ids); config.json comes back with the model's sizes. A real model with a
    /// tokenizer (all-MiniLM-L6-v2) also gets its tokenizer back: it encodes real text as the original does.
    @Test(arguments: ["llama", "gpt2", "bert", "minilm"])
    func huggingFaceToGGUFAndBackIsBitIdentical(_ model: String) throws {
        let source: String
        if model == "minilm" {
            let r = try python([repoRoot + "/tools/models.py", "minilm"])
            source = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            source = fixture(model)
        }
        let gguf = dir.file("\(model).gguf"), back = dir.file("\(model)-back")
        let there = try recast(["convert", source, gguf, "--dtype", "f32"])
        #expect(there.status == 0, "\(there.stderr)")
        let again = try recast(["convert", gguf, back])
        #expect(again.status == 0, "\(again.stderr)")
        let same = try pythonJSON("gguf_fixtures.py", ["same-values", source, back])
        #expect(same["differ"] == .array([]), "\(model)")
        #expect(same["only_b"] == .array([]), "\(model)")
        #expect((same["compared"]?.intValue ?? 0) > 10, "\(model)")
        let dropped = (same["only_a"]?.arrayValue ?? []).compactMap(\.stringValue)
        for name in dropped {
            #expect(name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") || name.hasPrefix("pooler.")
                    || name == "embeddings.position_ids", "\(model): \(name) was lost")
        }
        let original = try JSON.parse(String(contentsOfFile: source + "/config.json", encoding: .utf8))
        let built = try JSON.parse(String(contentsOfFile: back + "/config.json", encoding: .utf8))
        for key in ["model_type", "vocab_size", "hidden_size", "n_embd", "num_hidden_layers", "n_layer", "num_attention_heads", "n_head"] {
            #expect(built[key] == original[key], "\(model): \(key)")
        }
        if model == "minilm" {
            let encode = try python(["-c", """
                import sys, pydoc_data.topics as topics
                from tokenizers import Tokenizer
                text = topics.topics["assignment"][:4000]
                a, b = Tokenizer.from_file(sys.argv[1]), Tokenizer.from_file(sys.argv[2])
                a.no_truncation(); a.no_padding()
                ids = a.encode(text).ids
                print(len(ids), ids == b.encode(text).ids)
                """, source + "/tokenizer.json", back + "/tokenizer.json"])
            #expect(encode.stdout.hasSuffix("True\n") && encode.stdout.count > 8, "\(encode.stdout) \(encode.stderr)")
        }
    }

    /// The real SmolLM2 GGUF (Q4_1, Q8_0, F32) becomes a Hugging Face folder whose tensors and tokenizer.json
    /// are those of tools/models.py's folder, built from the same GGUF by gguf-py and NumPy; `--dtype bf16`
    /// writes bf16 and says so in config.json.
    @Test func smolLM2BecomesTheFolderGGUFPyBuilds() throws {
        let reference = try python([repoRoot + "/tools/models.py", "smollm2"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let out = dir.file("smol")
        let r = try recast(["convert", try smolLM2(), out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("config.json, tokenizer.json, tokenizer_config.json"), "\(r.stdout)")
        let same = try pythonJSON("gguf_fixtures.py", ["same-values", reference, out])
        #expect(same["compared"]?.intValue == 272 && same["differ"] == .array([]), "\(same["differ"] ?? .null)")
        #expect(same["only_a"] == .array([]) && same["only_b"] == .array([]))
        #expect(Set((same["dtypes_b"]?.objectValue ?? []).compactMap(\.1.stringValue)) == ["float32"])
        let tokenizer = { (folder: String) in try JSON.parse(String(contentsOfFile: folder + "/tokenizer.json", encoding: .utf8)) }
        #expect(try tokenizer(out) == tokenizer(reference))

        let bf16 = dir.file("smol-bf16")
        #expect(try recast(["convert", try smolLM2(), bf16, "--dtype", "bf16"]).status == 0)
        let dtypes = try pythonJSON("gguf_fixtures.py", ["same-values", reference, bf16])["dtypes_b"]?.objectValue ?? []
        #expect(Set(dtypes.compactMap(\.1.stringValue)) == ["bfloat16"])
        let config = try JSON.parse(String(contentsOfFile: bf16 + "/config.json", encoding: .utf8))
        #expect(config["torch_dtype"] == .string("bfloat16"))
    }

    /// A GGUF file converted to one safetensors file goes through the Hugging Face view too: Hugging Face
    /// names, quantised tensors dequantised to f32 as gguf-py does (the tensors of tools/models.py's folder),
    /// and a warning that config.json and the tokenizer files stay behind in the GGUF metadata.
    @Test func ggufToOneSafetensorsFileIsTheHuggingFaceCheckpoint() throws {
        let reference = try python([repoRoot + "/tools/models.py", "smollm2"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let folder = dir.file("single")
        try FileSystem.makeDirectory(folder)
        let r = try recast(["convert", try smolLM2(), folder + "/model.safetensors"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("config.json, tokenizer.json, tokenizer_config.json stayed behind"), "\(r.stderr)")
        let same = try pythonJSON("gguf_fixtures.py", ["same-values", reference, folder])
        #expect(same["compared"]?.intValue == 272 && same["differ"] == .array([]), "\(same["differ"] ?? .null)")
        #expect(same["only_a"] == .array([]) && same["only_b"] == .array([]))
    }

    /// Refusals, each with its reason, leaving the folder as it was.
    @Test func refusalsLeaveNothingBehind() throws {
        let model = try fixtures("model")
        let folder = dir.file("model")
        let before = FileSystem.list(folder)
        let cases: [([String], String)] = [
            (["convert", model["odd_rows"]!, folder + "/o.gguf", "--dtype", "q4_0"],
             "tensor 'blk.0.attn_v.weight': cannot be quantised to Q4_0: its rows of 48 elements are not a whole number of 32-element blocks"),
            (["convert", model["model"]!, folder + "/o.safetensors", "--dtype", "q8_0"], "--dtype q8_0 is for GGUF output (NAME.gguf)"),
            (["convert", model["model"]!, folder + "/o.gguf", "--dtype", "q4_k"], "--dtype must be one of"),
            (["convert", model["model"]!, model["odd_rows"]!], "already exists; pass --force to replace it"),
            (["convert", model["model"]!, model["model"]!, "--force"], "model.gguf"),
        ]
        for (args, message) in cases {
            let r = try recast(args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(FileSystem.list(folder) == before, "\(args) left \(FileSystem.list(folder))")
        }
        // Hugging Face weights without the config.json the GGUF metadata is built from.
        let lone = dir.file("lone")
        try FileSystem.makeDirectory(lone)
        try InputFile.copy(fixture("gpt2") + "/model.safetensors", to: lone + "/model.safetensors")
        let noConfig = try recast(["convert", lone + "/model.safetensors", lone + "/x.gguf"])
        #expect(noConfig.status != 0)
        #expect(noConfig.stderr.contains("model.safetensors: has no config.json beside it"), "\(noConfig.stderr)")
        #expect(FileSystem.list(lone) == ["model.safetensors"])

        // An output inside the folder it reads from (a folder holding one GGUF file).
        let single = dir.file("single")
        try FileSystem.makeDirectory(single)
        try InputFile.copy(model["model"]!, to: single + "/model.gguf")
        let inside = try recast(["convert", single, single + "/out.gguf"])
        #expect(inside.status != 0)
        #expect(inside.stderr.contains("inside"), "\(inside.stderr)")
        #expect(FileSystem.list(single) == ["model.gguf"])
    }
}
