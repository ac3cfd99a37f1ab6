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

    /// Quantised tensors leave GGUF for safetensors only on an explicit dtype, dequantised as gguf-py does.
    @Test func quantisedTensorsDequantiseToSafetensorsOnAnExplicitDType() throws {
        let src = try fixtures("model")["model"]!
        let out = dir.file("model.safetensors")
        let refused = try recast(["convert", src, out])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("tensor 'blk.0.attn_v.weight': is Q4_1, block-quantised, which only GGUF holds: pass --dtype f32, f16 or bf16"), "\(refused.stderr)")
        #expect(!FileSystem.exists(out))
        let r = try recast(["convert", src, out, "--dtype", "f32"])
        #expect(r.status == 0, "\(r.stderr)")
        let expected = try encoded(src, "F32")
        let digests = try python(["-c", """
            import hashlib, json, sys
            from safetensors.numpy import load_file
            print(json.dumps({k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in load_file(sys.argv[1]).items()}))
            """, out])
        let got = try JSON.parse(digests.stdout)
        for name in ["blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.attn_k.weight", "token_embd.weight"] {
            #expect(got[name] != nil && got[name] == expected[name], "\(name)")
        }
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
