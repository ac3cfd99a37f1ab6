import Foundation
import Testing
import TestSupport
import RecastCore

/// `run`, `swap`, `inspect` and `generate` on GGUF files, as users run them: each fixture family converted
/// to GGUF (f32) the way llama.cpp's converter does (tools/gguf_names.py, written from convert_hf_to_gguf.py
/// with gguf-py: q/k rows permuted for llama, GPT-2's Conv1D weights transposed, BERT renamed) must run
/// exactly as the Hugging Face folder it came from, and swap into the same converted model.
@Suite struct GGUFModelTests {
    let dir = TempDir()

    /// The fixture `name` written as llama.cpp would, at DIR/NAME/model.gguf.
    func gguf(_ name: String, _ architecture: String) throws -> String {
        let out = dir.file(name)
        let r = try runProcess("/usr/bin/env", ["python3", repoRoot + "/tools/gguf_names.py", "convert", fixture(name), architecture, out])
        try #require(r.status == 0, "\(r.stderr)")
        return out + "/model.gguf"
    }

    @Test(arguments: [("llama", "llama"), ("qwen2", "qwen2"), ("gpt2", "gpt2"), ("bert", "bert")])
    func runsAsTheFolderItCameFrom(name: String, architecture: String) throws {
        let file = try gguf(name, architecture)
        let tokens = ["--tokens", "1,5,9,2,33,17,4,60,8"]
        let a = dir.file("\(name)-gguf.safetensors"), b = dir.file("\(name)-hf.safetensors")
        let r1 = try recast(["run", file, "--out", a] + tokens)
        try #require(r1.status == 0, "\(r1.stderr)")
        let r2 = try recast(["run", fixture(name), "--out", b] + tokens)
        try #require(r2.status == 0, "\(r2.stderr)")
        let mine = try floatTensors(a), theirs = try floatTensors(b)
        #expect(mine.keys.sorted() == theirs.keys.sorted() && !mine.isEmpty)
        for (k, v) in theirs { #expect(mine[k] == v, "\(name): \(k) differs") }
    }

    /// Swapping the GGUF writes a Hugging Face folder whose tensors equal the swap of the original folder
    /// (same seed), with the config built from the metadata.
    @Test func swapOfAGGUFIsTheSwapOfItsFolder() throws {
        let file = try gguf("llama", "llama")
        let fromGGUF = dir.file("swapped-gguf"), fromHF = dir.file("swapped-hf")
        let s1 = try recast(["swap", file, fromGGUF, "--feature-map", "hedgehog", "--seed", "3"])
        try #require(s1.status == 0, "\(s1.stderr)")
        let s2 = try recast(["swap", fixture("llama"), fromHF, "--feature-map", "hedgehog", "--seed", "3"])
        try #require(s2.status == 0, "\(s2.stderr)")
        let mine = try floatTensors(fromGGUF), theirs = try floatTensors(fromHF)
        #expect(mine.count > 20)
        #expect(mine.keys.sorted() == theirs.keys.sorted())
        for (k, v) in theirs { #expect(mine[k] == v, "\(k) differs") }
        let config = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: fromGGUF + "/config.json"))))
        #expect(config["model_type"]?.stringValue == "llama" && config["linear_attention"]?["feature_map"]?.stringValue == "hedgehog")
        let tokens = ["--tokens", "3,1,4,1,5,9,2,6"]
        let a = dir.file("a.safetensors"), b = dir.file("b.safetensors")
        #expect(try recast(["run", fromGGUF, "--out", a] + tokens).status == 0)
        #expect(try recast(["run", fromHF, "--out", b] + tokens).status == 0)
        #expect(try floatTensors(a) == floatTensors(b))
        // verify takes the GGUF as the original
        let v = try recast(["verify", file, fromGGUF, "--length", "12", "--json"])
        #expect(v.status == 0, "\(v.stderr)")
        let report = try JSON.parse(v.stdout)
        #expect(report["original"]?.stringValue == file && report["end_to_end"] != nil)
    }

    /// `inspect --json` on a GGUF follows the schema; its tensors keep llama.cpp's names and the
    /// architecture comes from the metadata.
    @Test func inspectFollowsTheSchema() throws {
        let file = try gguf("gpt2", "gpt2")
        let r = try recast(["inspect", file, "--json"])
        try #require(r.status == 0, "\(r.stderr)")
        let json = try JSON.parse(r.stdout)
        #expect(try schemaErrors([json], schema: repoRoot + "/schemas/inspect.schema.json") == [[]])
        #expect(json["format"]?.stringValue == "gguf")
        let names = json["tensors"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names.contains("token_embd.weight") && names.contains("blk.0.attn_qkv.weight"))
        #expect(json["architecture"]?["family"]?.stringValue == "gpt2")
        #expect(json["metadata"]?["general.architecture"]?.stringValue == "gpt2")
        let text = try recast(["inspect", file])
        #expect(text.status == 0 && text.stdout.contains("format:     gguf (gguf)") && text.stdout.contains("gpt2 (gpt2 family)"))
    }

    /// A GGUF file of an architecture Recast does not map still inspects (the reason on stderr), and
    /// `run` refuses it naming the key.
    @Test func unmappedArchitectureInspectsButDoesNotRun() throws {
        let file = try gguf("llama", "llama")
        let script = """
            import sys, gguf
            r = gguf.GGUFReader(sys.argv[1])
            w = gguf.GGUFWriter(sys.argv[2], "mamba")
            for t in r.tensors:
                w.add_tensor(t.name, t.data.reshape([int(d) for d in reversed(t.shape)]))
            w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
            """
        let other = dir.file("mamba.gguf")
        let p = try runProcess("/usr/bin/env", ["python3", "-c", script, file, other])
        try #require(p.status == 0, "\(p.stderr)")
        let i = try recast(["inspect", other])
        #expect(i.status == 0 && i.stdout.contains("attn_q.weight") && i.stdout.contains("format:     gguf"))
        #expect(i.stderr.contains("'mamba'"), "\(i.stderr)")
        let r = try recast(["run", other, "--tokens", "1,2", "--out", dir.file("x.safetensors")])
        #expect(r.status != 0 && r.stderr.contains("general.architecture") && r.stderr.contains("mamba"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.safetensors")))
    }

    /// Head counts whose product with head_dim overflows are refused with a message, not a trap.
    @Test func oversizedHeadsAreRefusedForGGUFOutput() throws {
        let folder = try dir.copyFixture("llama")
        let path = folder + "/config.json"
        var config = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        config.set("num_attention_heads", .int(1 << 30))
        config.set("head_dim", .int(1 << 40))
        try Data(config.serialized().utf8).write(to: URL(fileURLWithPath: path))
        let out = dir.file("big.gguf")
        let r = try recast(["convert", folder, out])
        #expect(r.status == 1 && !r.signalled && r.stderr.hasPrefix("recast: error: "), "\(r.status) \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

/// Every floating-point tensor of a safetensors file, or of every safetensors file in a folder, as f32
/// values by name, read by a few lines of Python and NumPy from the format's definition (NumPy has no
/// bfloat16: its bits are widened by hand), independently of Recast.
func floatTensors(_ path: String) throws -> [String: [Float]] {
    let script = """
        import sys, json, glob, os, struct
        import numpy as np
        p = sys.argv[1]
        files = sorted(glob.glob(os.path.join(p, "*.safetensors"))) if os.path.isdir(p) else [p]
        out = {}
        for f in files:
            data = open(f, "rb").read()
            n = struct.unpack("<Q", data[:8])[0]
            header = json.loads(data[8:8 + n])
            base = 8 + n
            for k, v in header.items():
                if k == "__metadata__":
                    continue
                a, b = v["data_offsets"]
                raw = data[base + a:base + b]
                if v["dtype"] == "BF16":
                    x = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
                elif v["dtype"] in ("F32", "F16", "F64"):
                    x = np.frombuffer(raw, {"F32": "<f4", "F16": "<f2", "F64": "<f8"}[v["dtype"]])
                else:
                    continue
                out[k] = x.astype("float64").tolist()
        print(json.dumps(out))
        """
    let r = try runProcess("/usr/bin/env", ["python3", "-c", script, path])
    guard r.status == 0 else { throw CheckpointError(file: path, r.stderr) }
    var out: [String: [Float]] = [:]
    for (k, v) in try JSON.parse(r.stdout).objectValue ?? [] { out[k] = (v.arrayValue ?? []).map { Float($0.doubleValue ?? .nan) } }
    return out
}
