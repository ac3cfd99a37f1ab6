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
        #expect(config["model_type"]?.stringValue == "recast_llama" && config["linear_attention"]?["feature_map"]?.stringValue == "hedgehog")
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

    /// `inspect` of a swapped GGUF shows the sliding-window hybrid's window, as text and in `--json`
    /// (`architecture.linear_attention.window`, null without a window), following the schema.
    @Test func inspectShowsTheSoftmaxWindow() throws {
        let file = try gguf("llama", "llama")
        for window in [nil, 5] as [Int?] {
            let out = dir.file("windowed-\(window ?? 0)")
            let s = try recast(["swap", file, out, "--feature-map", "t2r"] + (window.map { ["--window", "\($0)"] } ?? []))
            try #require(s.status == 0, "\(s.stderr)")
            let r = try recast(["inspect", out, "--json"])
            try #require(r.status == 0, "\(r.stderr)")
            let json = try JSON.parse(r.stdout)
            #expect(try schemaErrors([json], schema: repoRoot + "/schemas/inspect.schema.json") == [[]])
            let la = json["architecture"]?["linear_attention"]
            #expect(la?["feature_map"] == .string("t2r"))
            #expect(la?["window"] == (window.map { JSON.int($0) } ?? .null), "\(la?.serialized() ?? "none")")
            let text = try recast(["inspect", out])
            #expect(text.status == 0 && text.stdout.contains("linear:     t2r feature map"), "\(text.stdout)")
            #expect(text.stdout.contains("softmax window 5") == (window != nil), "\(text.stdout)")
        }
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

    /// The rope scalings translated, as config.json says them: linear by its factor; llama3 with the
    /// regimes the llama fixture's head size 8 sees at an original context of 64 (wavelengths 6.3 kept, 63
    /// blended, 628 and 6283 divided).
    static let ropeScalings: [(kind: String, json: String)] = [
        ("linear", #"{"rope_type": "linear", "factor": 4.0}"#),
        ("llama3", #"{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}"#),
    ]

    /// A GGUF with rope scaling as llama.cpp stores it (written by gguf-py: tools/gguf_fixtures.py
    /// scaled-model; llama3's rope_freqs from the published formula) becomes a folder whose config.json has
    /// the rope_scaling, without the rope_freqs tensor; that folder and the GGUF itself run as the NumPy
    /// reference runs the folder, and not as the unscaled model runs.
    @Test(arguments: ropeScalings.map(\.kind))
    func scaledGGUFRunsAsTheReference(_ kind: String) throws {
        let plain = try gguf("llama", "llama")
        let file = dir.file("\(kind).gguf"), folder = dir.file("\(kind)-folder")
        let w = try runProcess("/usr/bin/env", ["python3", repoRoot + "/tools/gguf_fixtures.py", "scaled-model", plain, kind, file])
        try #require(w.status == 0, "\(w.stderr)")
        let c = try recast(["convert", file, folder])
        try #require(c.status == 0, "\(c.stderr)")
        let config = try JSON.parse(try FileSystem.readAll(folder + "/config.json"))
        let expected = try JSON.parse(try #require(Self.ropeScalings.first { $0.kind == kind }).json)
        #expect(config["rope_scaling"] == expected, "\(config["rope_scaling"]?.serialized() ?? "none")")
        let weights = try floatTensors(folder)
        #expect(weights.count > 10 && !weights.keys.contains { $0.contains("rope") }, "\(weights.keys.sorted())")

        let tokens = ["--tokens", "1,5,9,2,33,17,4,60,8,11,40,3,25,7,50,19,2,44,6,31"]
        let ours = dir.file("\(kind)-ours.safetensors"), direct = dir.file("\(kind)-direct.safetensors")
        let unscaled = dir.file("\(kind)-plain.safetensors"), reference = dir.file("\(kind)-ref.safetensors")
        for (model, out) in [(folder, ours), (file, direct), (plain, unscaled)] {
            let r = try recast(["run", model, "--out", out] + tokens)
            try #require(r.status == 0, "\(r.stderr)")
        }
        let ref = try python([repoRoot + "/tools/reference.py", folder, "--out", reference] + tokens)
        try #require(ref.status == 0, "\(ref.stderr)")
        let a = try floatTensors(ours), b = try floatTensors(reference), d = try floatTensors(direct), p = try floatTensors(unscaled)
        for name in ["hidden_states", "logits"] {
            let mine = try #require(a[name]), theirs = try #require(b[name])
            #expect(maxRelativeError(mine, theirs) < 1e-4, "\(kind) \(name): \(maxRelativeError(mine, theirs))")
            #expect(d[name] == mine, "\(kind) \(name): the GGUF runs as its folder")
            #expect(maxRelativeError(mine, try #require(p[name])) > 1e-3, "\(kind) \(name): the scaling changes nothing")
        }
    }

    /// A folder with rope scaling written as GGUF: gguf-py reads the keys llama.cpp's converter writes
    /// (linear: rope.scaling.type and factor) or llama3's rope_freqs.weight (F32, one value per rotary pair,
    /// equal to the published formula computed by NumPy) and the original context; converted back, the
    /// folder has the same rope_scaling (an old-style "type" key comes back as "rope_type") and weights.
    @Test(arguments: ropeScalings.map(\.kind))
    func scaledFolderToGGUFAndBack(_ kind: String) throws {
        let scaling = try JSON.parse(try #require(Self.ropeScalings.first { $0.kind == kind }).json)
        let source = try dir.copyFixture("llama")
        var config = try JSON.parse(try FileSystem.readAll(source + "/config.json"))
        var written = scaling
        if kind == "linear" { written = .object([("type", .string("linear")), ("factor", .number("4.0"))]) }
        config.set("rope_scaling", written)
        try FileManager.default.removeItem(atPath: source + "/config.json")
        _ = dir.write("llama/config.json", config.serialized(pretty: true))
        let file = dir.file("\(kind)-hf.gguf"), back = dir.file("\(kind)-back")
        let there = try recast(["convert", source, file])
        try #require(there.status == 0, "\(there.stderr)")

        let dump = try pythonJSON("gguf_fixtures.py", ["dump", file])
        let keys = Dictionary(uniqueKeysWithValues: (dump["metadata"]?.arrayValue ?? []).map { ($0["key"]?.stringValue ?? "", $0) })
        let tensorNames = (dump["tensors"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        if kind == "linear" {
            #expect(keys["llama.rope.scaling.type"]?["value"] == .string("linear"))
            #expect(keys["llama.rope.scaling.factor"]?["value"] == .string("f32:40800000"))  // 4.0
            #expect(keys["llama.rope.scaling.factor"]?["types"] == .array([.string("FLOAT32")]))
            #expect(!tensorNames.contains("rope_freqs.weight"))
        } else {
            #expect(keys["llama.rope.scaling.type"] == nil)
            #expect(keys["llama.rope.scaling.original_context_length"]?["value"] == .string("64"))
            #expect(tensorNames.first == "rope_freqs.weight", "llama.cpp's converter writes it first: \(tensorNames)")
            var params = try #require(scaling.objectValue)
            params += [("theta", .number("10000.0")), ("dim", .int(8))]
            let freqs = try runProcess("/usr/bin/env", ["python3", repoRoot + "/tools/gguf_fixtures.py", "rope-freqs", file],
                                       stdin: JSON.object(params).serialized())
            try #require(freqs.status == 0, "\(freqs.stderr)")
            let r = try JSON.parse(freqs.stdout)
            #expect(r["type"] == .string("F32"))
            let mine = try #require(r["written"]?.arrayValue).compactMap { $0.doubleValue.map(Float.init) }
            let numpy = try #require(r["expected"]?.arrayValue).compactMap { $0.doubleValue.map(Float.init) }
            #expect(mine.count == 4 && numpy.count == 4 && maxRelativeError(mine, numpy) < 1e-6, "\(mine) vs \(numpy)")
        }

        let again = try recast(["convert", file, back])
        try #require(again.status == 0, "\(again.stderr)")
        let built = try JSON.parse(try FileSystem.readAll(back + "/config.json"))
        #expect(built["rope_scaling"] == scaling, "\(built["rope_scaling"]?.serialized() ?? "none")")
        let same = try pythonJSON("gguf_fixtures.py", ["same-values", source, back])
        #expect(same["differ"] == .array([]) && same["only_a"] == .array([]) && same["only_b"] == .array([]), "\(same)")
        #expect((same["compared"]?.intValue ?? 0) > 10)
    }

    /// Rope scalings Recast does not translate are refused in both directions, naming the file and the key
    /// or tensor, and leave nothing behind: yarn in a config.json and in GGUF metadata, and a rope_freqs
    /// tensor no llama3 parameters reproduce.
    @Test func untranslatableRopeScalingIsRefused() throws {
        let folder = try editedCopy("llama") { $0.set("rope_scaling", try! JSON.parse(#"{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}"#)) }
        let files = try pythonJSON("gguf_fixtures.py", ["rope", dir.path])
        let cases: [(String, String, [String])] = [
            (folder, dir.file("yarn.out.gguf"), ["config.json", "config key 'rope_scaling'", "'yarn' is not implemented"]),
            (try #require(files["yarn"]?["file"]?.stringValue), dir.file("yarn-folder"), ["yarn.gguf", "key 'llama.rope.scaling.type'", "'yarn' scaling is not implemented"]),
            (try #require(files["unmatched"]?["file"]?.stringValue), dir.file("unmatched-folder"), ["unmatched.gguf", "tensor 'rope_freqs.weight'", "no llama3 rope scaling reproduces"]),
        ]
        for (source, out, messages) in cases {
            let r = try recast(["convert", source, out])
            #expect(r.status == 1 && !r.signalled, "\(source): \(r.status)")
            for m in messages { #expect(r.stderr.contains(m), "\(source): \(r.stderr)") }
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    /// A copy of fixture `name` with its config.json edited.
    func editedCopy(_ name: String, _ edit: (inout JSON) throws -> Void) throws -> String {
        let folder = try dir.copyFixture(name)
        var config = try JSON.parse(try FileSystem.readAll(folder + "/config.json"))
        try edit(&config)
        try FileManager.default.removeItem(atPath: folder + "/config.json")
        _ = dir.write(name + "/config.json", config.serialized(pretty: true))
        return folder
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
