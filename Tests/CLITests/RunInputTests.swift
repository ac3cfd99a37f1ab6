import Foundation
import Testing
import TestSupport
import RecastCore

/// `recast run` on every input a model-running command takes (--text, --lines, --text-file, --tokens-file),
/// through the binary, on fixture models given a tokenizer. Shapes and ids are checked against Python
/// `tokenizers`, numbers against the NumPy reference (tools/reference.py), padding against each sequence
/// run alone.
@Suite struct RunInputTests {
    let dir = TempDir()

    /// A WordPiece tokenizer.json in BERT's shape whose ids fit the fixtures' vocabulary of 64: BertNormalizer,
    /// BertPreTokenizer, and `[CLS] $A [SEP] $B:1 [SEP]:1` (token type 1 for the pair).
    static let wordPieceScript = #"""
        import sys
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, decoders
        words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "a", "cat", "dog", "sat", "on", "mat", "ran", "is", "big",
                 "small", "and", "to", "hello", "world", ".", ",", "!", "?", "##s", "##ed", "##ing", "h", "##e", "##l", "##o"]
        vocab = {w: i for i, w in enumerate(words)}
        tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                           special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
        tok.decoder = decoders.WordPiece()
        tok.save(sys.argv[1])
        """#

    /// A copy of fixture model `name` with a tokenizer whose ids fit its vocabulary: byte-level BPE for
    /// language models (GenerateTests' tokenizer), WordPiece for BERT.
    func model(_ name: String) throws -> String {
        let folder = try dir.copyFixture(name)
        let script = name.hasPrefix("bert") ? RunInputTests.wordPieceScript : GenerateTests.tokenizerScript
        let r = try python(["-c", script, folder + "/tokenizer.json"])
        try #require(r.status == 0, "\(r.stderr)")
        return folder
    }

    /// Runs Python with numpy, tokenizers, tools/reference.py and `load(path)` → (tensors, metadata) in
    /// scope; `spec` arrives as `spec` (JSON), and the script prints one JSON object.
    func check(_ body: String, _ spec: KeyValuePairs<String, JSON>) throws -> JSON {
        let script = """
            import json, sys
            import numpy as np
            from safetensors import safe_open
            from tokenizers import Tokenizer
            sys.path.insert(0, sys.argv[1] + "/tools")
            import reference
            spec = json.loads(sys.argv[2])
            def load(path):
                with safe_open(path, "numpy") as f:
                    return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
            def tokenizer(folder):
                t = Tokenizer.from_file(folder + "/tokenizer.json")
                t.no_padding(); t.no_truncation()
                return t
            def rel(a, b):
                a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
                return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
            out = {}

            """ + body + "\nprint(json.dumps(out))\n"
        let r = try python(["-c", script, repoRoot, JSON.object(spec.map { ($0.key, $0.value) }).serialized()])
        try #require(r.status == 0, "\(r.stderr)")
        return try JSON.parse(r.stdout)
    }

    func recastOK(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try recast(args)
        try #require(r.status == 0, "recast \(args.joined(separator: " ")): \(r.stderr)", sourceLocation: sourceLocation)
    }

    static let sentences = ["hello world", "", "the cat sat on the mat, and the dog ran.", "  ", "hi!", "well, hello there world"]

    /// --lines: a leading batch dimension, an attention mask from the lines' lengths under `tokenizers`,
    /// every real row equal to the reference's, padded rows zero, and each line equal to itself run alone (--text).
    @Test(arguments: ["gpt2", "llama"])
    func linesAreOneBatchWithAMask(_ name: String) throws {
        let folder = try model(name)
        let lines = dir.write("\(name)-lines.txt", RunInputTests.sentences.joined(separator: "\n") + "\n")
        let batch = dir.file("\(name)-batch.safetensors")
        try recastOK(["run", folder, "--lines", lines, "--out", batch])
        let real = RunInputTests.sentences.filter { !$0.allSatisfy(\.isWhitespace) }
        var alone: [JSON] = []
        for (i, line) in real.enumerated() {
            let out = dir.file("\(name)-alone-\(i).safetensors")
            try recastOK(["run", folder, "--text", line, "--out", out])
            alone.append(.string(out))
        }
        let r = try check("""
            t, meta = load(spec["batch"])
            ids = [tokenizer(spec["model"]).encode(s).ids for s in spec["lines"]]
            T = max(map(len, ids))
            mask = np.array([[1] * len(s) + [0] * (T - len(s)) for s in ids], np.uint8)
            out["shapes"] = {k: list(v.shape) for k, v in t.items()}
            out["expected"] = [len(ids), T]
            out["mask"] = bool(t["attention_mask"].dtype == np.uint8 and (t["attention_mask"] == mask).all())
            out["padding_zero"] = bool(all((t[k][n, len(s):] == 0).all() for k in ("hidden_states", "logits") for n, s in enumerate(ids)))
            m = reference.Model(spec["model"], weights=reference.load_weights(spec["model"]))
            hs, lg, _ = m.run_batch(ids)
            out["reference"] = max(rel(t["hidden_states"][n, :len(s)], hs[n, :len(s)]) for n, s in enumerate(ids))
            out["reference_logits"] = max(rel(t["logits"][n, :len(s)], lg[n, :len(s)]) for n, s in enumerate(ids))
            errors = []
            for n, (s, path) in enumerate(zip(ids, spec["alone"])):
                a, ameta = load(path)
                assert ameta["tokens"] == ",".join(map(str, s)), (ameta["tokens"], s)
                errors += [rel(t["hidden_states"][n, :len(s)], a["hidden_states"]), rel(t["logits"][n, :len(s)], a["logits"])]
            out["alone"] = max(errors)
            """, ["batch": .string(batch), "model": .string(folder), "lines": .array(real.map { .string($0) }), "alone": .array(alone)])
        let n = try #require(r["expected"]?.arrayValue).compactMap(\.intValue)
        #expect(n[0] == 4)
        #expect(r["shapes"]?["hidden_states"]?.arrayValue?.compactMap(\.intValue) == n + [32])
        #expect(r["shapes"]?["logits"]?.arrayValue?.compactMap(\.intValue) == n + [64])
        #expect(r["shapes"]?["attention_mask"]?.arrayValue?.compactMap(\.intValue) == n)
        #expect(r["mask"]?.boolValue == true && r["padding_zero"]?.boolValue == true)
        #expect(try #require(r["reference"]?.doubleValue) < 1e-4, "\(r)")
        #expect(try #require(r["reference_logits"]?.doubleValue) < 1e-4, "\(r)")
        #expect(try #require(r["alone"]?.doubleValue) < 1e-5, "padding changed a result: \(r)")
    }

    /// --tokens-file as a JSON array of arrays and as JSON lines gives the same outputs; --outputs picks
    /// embeddings (mean pooling, as reference.pool computes it) and last_logits (each sequence's last real row).
    @Test func tokensFileInBothFormsAndOutputSelection() throws {
        let folder = fixture("gpt2")
        let sequences = [[5, 9, 13, 2, 60], [7], [1, 2, 3, 4, 5, 6, 7, 8]]
        let array = dir.write("ids.json", JSON.array(sequences.map { .array($0.map { .int($0) }) }).serialized())
        let jsonl = dir.write("ids.jsonl", sequences.map { JSON.array($0.map { .int($0) }).serialized() }.joined(separator: "\n\n") + "\n")
        let full = dir.file("full.safetensors"), lines = dir.file("lines.safetensors"), picked = dir.file("picked.safetensors")
        try recastOK(["run", folder, "--tokens-file", array, "--out", full])
        try recastOK(["run", folder, "--tokens-file", jsonl, "--out", lines])
        try recastOK(["run", folder, "--tokens-file", array, "--out", picked, "--outputs", "embeddings,last_logits", "--pooling", "mean"])
        let r = try check("""
            a, _ = load(spec["full"]); b, _ = load(spec["lines"]); p, _ = load(spec["picked"])
            ids = spec["ids"]
            out["same"] = all(np.array_equal(a[k], b[k]) for k in a) and sorted(a) == sorted(b)
            out["picked"] = sorted(p)
            out["shapes"] = {k: list(v.shape) for k, v in p.items()}
            last = np.stack([a["logits"][n, len(s) - 1] for n, s in enumerate(ids)])
            out["last_logits"] = rel(p["last_logits"], last)
            m = reference.Model(spec["model"], weights=reference.load_weights(spec["model"]))
            hs, lg, mask = m.run_batch(ids)
            out["embeddings"] = rel(p["embeddings"], reference.pool(hs, mask, "mean", False))
            out["reference_last"] = rel(p["last_logits"], np.stack([lg[n, len(s) - 1] for n, s in enumerate(ids)]))
            """, ["full": .string(full), "lines": .string(lines), "picked": .string(picked), "model": .string(folder),
                  "ids": .array(sequences.map { .array($0.map { .int($0) }) })])
        #expect(r["same"]?.boolValue == true, "the two forms differ: \(r)")
        #expect(r["picked"]?.arrayValue?.compactMap(\.stringValue) == ["attention_mask", "embeddings", "last_logits"])
        #expect(r["shapes"]?["embeddings"]?.arrayValue?.compactMap(\.intValue) == [3, 32])
        #expect(r["shapes"]?["last_logits"]?.arrayValue?.compactMap(\.intValue) == [3, 64])
        #expect(try #require(r["last_logits"]?.doubleValue) < 1e-6, "\(r)")
        #expect(try #require(r["embeddings"]?.doubleValue) < 1e-4, "\(r)")
        #expect(try #require(r["reference_last"]?.doubleValue) < 1e-4, "\(r)")
    }

    /// Embeddings pool as the model's sentence-transformers files say (CLS, then Normalize), matching
    /// `reference.py embed`; without the files, --pooling and --normalize decide, and neither is an error.
    @Test func poolingFromSentenceTransformersFilesOrOptions() throws {
        let folder = try model("bert")
        let lines = dir.write("bert-lines.txt", "the cat sat on the mat.\nhello world!\n\nthe big dog ran to the small cat, and sat.\n")
        let plain = dir.file("plain.safetensors"), plainRef = dir.file("plain-ref.safetensors")
        try recastOK(["run", folder, "--lines", lines, "--outputs", "embeddings", "--pooling", "max", "--normalize", "--out", plain])
        let none = try recast(["run", folder, "--lines", lines, "--outputs", "embeddings", "--out", dir.file("none.safetensors")])
        #expect(none.status == 1 && none.stderr.contains(folder) && none.stderr.contains("--pooling mean|cls|max"), "\(none.stderr)")
        let r0 = try python([repoRoot + "/tools/reference.py", "embed", folder, "--lines", lines, "--pooling", "max", "--normalize", "--out", plainRef])
        try #require(r0.status == 0, "\(r0.stderr)")

        dir.write("bert/modules.json", #"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}, {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}, {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]"#)
        try FileSystem.makeDirectory(folder + "/1_Pooling")
        dir.write("bert/1_Pooling/config.json", #"{"word_embedding_dimension": 32, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false, "pooling_mode_max_tokens": false}"#)
        let st = dir.file("st.safetensors"), stRef = dir.file("st-ref.safetensors")
        try recastOK(["run", folder, "--lines", lines, "--outputs", "embeddings", "--out", st])
        let r1 = try python([repoRoot + "/tools/reference.py", "embed", folder, "--lines", lines, "--out", stRef])
        try #require(r1.status == 0, "\(r1.stderr)")
        let r = try check("""
            for key in ("plain", "st"):
                a, meta = load(spec[key]); b, _ = load(spec[key + "_ref"])
                out[key] = rel(a["embeddings"], b["embeddings"])
                out[key + "_mask"] = bool(np.array_equal(a["attention_mask"], b["attention_mask"]))
                out[key + "_norms"] = np.linalg.norm(a["embeddings"], axis=-1).tolist()
                out[key + "_pooling"] = meta["pooling"]
            """, ["plain": .string(plain), "plain_ref": .string(plainRef), "st": .string(st), "st_ref": .string(stRef)])
        for key in ["plain", "st"] {
            #expect(try #require(r[key]?.doubleValue) < 1e-4, "\(key): \(r)")
            #expect(r[key + "_mask"]?.boolValue == true)
            #expect(r[key + "_norms"]?.arrayValue?.compactMap(\.doubleValue).allSatisfy { abs($0 - 1) < 1e-5 } == true, "\(r)")
        }
        #expect(r["plain_pooling"]?.stringValue == "max,normalize" && r["st_pooling"]?.stringValue == "cls,normalize", "\(r)")

        // A module Recast does not run (a Dense projection after pooling) is refused by name, not skipped.
        dir.write("bert/modules.json", #"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}, {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]"#)
        let dense = try recast(["run", folder, "--lines", lines, "--outputs", "embeddings", "--out", dir.file("dense.safetensors")])
        #expect(dense.status == 1 && dense.stderr.contains("modules.json") && dense.stderr.contains("sentence_transformers.models.Dense"), "\(dense.stderr)")
        #expect(!FileSystem.exists(dir.file("dense.safetensors")))
    }

    /// An encoder's lines are cut at sentence_bert_config.json's max_seq_length (as sentence-transformers
    /// cuts them) unless --max-length says otherwise; [SEP] stays last.
    @Test func encoderLinesFollowSentenceTransformersMaxLength() throws {
        let folder = try model("bert")
        dir.write("bert/sentence_bert_config.json", #"{"max_seq_length": 6, "do_lower_case": false}"#)
        let lines = dir.write("long-lines.txt", "the cat sat on the mat and the dog ran to the small cat.\nhi\n")
        let cut = dir.file("cut6.safetensors"), wide = dir.file("cut9.safetensors")
        try recastOK(["run", folder, "--lines", lines, "--out", cut])
        try recastOK(["run", folder, "--lines", lines, "--max-length", "9", "--out", wide])
        let r = try check("""
            for key in ("cut", "wide"):
                a, _ = load(spec[key])
                out[key] = a["attention_mask"].sum(axis=1).tolist()
            """, ["cut": .string(cut), "wide": .string(wide)])
        #expect(r["cut"]?.arrayValue?.compactMap(\.intValue) == [6, 3], "\(r)")
        #expect(r["wide"]?.arrayValue?.compactMap(\.intValue) == [9, 3], "\(r)")
        dir.write("bert/sentence_bert_config.json", #"{"max_seq_length": "long"}"#)
        let bad = try recast(["run", folder, "--lines", lines, "--out", dir.file("bad.safetensors")])
        #expect(bad.status == 1 && bad.stderr.contains("sentence_bert_config.json") && bad.stderr.contains("max_seq_length"), "\(bad.stderr)")
    }

    /// --text with --pair on BERT: the ids and token type ids `tokenizers` gives, and hidden states equal
    /// to BERT's published embedding (word + position + token type, then LayerNorm) through the reference.
    @Test func pairsGetTokenTypeIds() throws {
        let folder = try model("bert")
        let out = dir.file("pair.safetensors"), single = dir.file("single.safetensors")
        try recastOK(["run", folder, "--text", "the cat sat.", "--pair", "a dog ran!", "--out", out])
        try recastOK(["run", folder, "--text", "the cat sat.", "--out", single])
        let r = try check("""
            t, meta = load(spec["out"])
            e = tokenizer(spec["model"]).encode("the cat sat.", "a dog ran!")
            out["ids"] = meta["tokens"] == ",".join(map(str, e.ids))
            out["types"] = e.type_ids
            m = reference.Model(spec["model"], weights=reference.load_weights(spec["model"]))
            def typed(types):
                def embed(tokens, positions):
                    x = (m.W("embeddings.word_embeddings.weight")[np.asarray(tokens)] + m.W("embeddings.position_embeddings.weight")[np.asarray(positions)]
                         + m.W("embeddings.token_type_embeddings.weight")[np.asarray(types)])
                    return reference.layer_norm(x, m.W("embeddings.LayerNorm.weight"), m.W("embeddings.LayerNorm.bias"), m.cfg.get("layer_norm_eps", 1e-12))
                return embed
            m.embed = typed(e.type_ids)
            hs, _ = m.run(e.ids)
            out["typed"] = rel(t["hidden_states"], hs)
            m.embed = typed([0] * len(e.ids))
            untyped, _ = m.run(e.ids)
            out["untyped"] = rel(t["hidden_states"], untyped)
            s, smeta = load(spec["single"])
            out["single"] = smeta["tokens"] == ",".join(map(str, tokenizer(spec["model"]).encode("the cat sat.").ids))
            """, ["out": .string(out), "single": .string(single), "model": .string(folder)])
        #expect(r["ids"]?.boolValue == true && r["single"]?.boolValue == true, "\(r)")
        #expect(r["types"]?.arrayValue?.compactMap(\.intValue).contains(1) == true)
        #expect(try #require(r["typed"]?.doubleValue) < 1e-4, "\(r)")
        #expect(try #require(r["untyped"]?.doubleValue) > 1e-3, "the pair's type ids made no difference: \(r)")
    }

    /// --text-file windows of --max-length tokens every --stride tokens, as reference.windows cuts them;
    /// --text truncated by --max-length as `tokenizers` truncates, refused beyond the positions without it.
    @Test func windowsAndTruncation() throws {
        let folder = try model("gpt2")
        let text = String(repeating: "hello world, this is a test. ", count: 12)
        let file = dir.write("doc.txt", text)
        let out = dir.file("windows.safetensors"), cut = dir.file("cut.safetensors")
        try recastOK(["run", folder, "--text-file", file, "--max-length", "16", "--stride", "12", "--out", out])
        try recastOK(["run", folder, "--text", "hello world, this is a test", "--max-length", "5", "--out", cut])
        let r = try check("""
            t, _ = load(spec["out"])
            ids = tokenizer(spec["model"]).encode(open(spec["file"]).read()).ids
            wins = reference.windows(ids, 16, 12)
            out["windows"] = len(wins)
            out["mask"] = t["attention_mask"].sum(1).tolist() == [len(w) for w, _ in wins]
            out["shape"] = list(t["hidden_states"].shape)
            _, meta = load(spec["cut"])
            tok = Tokenizer.from_file(spec["model"] + "/tokenizer.json")
            tok.enable_truncation(5)
            out["cut"] = meta["tokens"] == ",".join(map(str, tok.encode("hello world, this is a test").ids))
            out["total"] = len(ids)
            """, ["out": .string(out), "cut": .string(cut), "file": .string(file), "model": .string(folder)])
        let windows = try #require(r["windows"]?.intValue)
        #expect(windows > 2 && r["total"]!.intValue! > 64, "\(r)")
        #expect(r["shape"]?.arrayValue?.compactMap(\.intValue) == [windows, 16, 32])
        #expect(r["mask"]?.boolValue == true && r["cut"]?.boolValue == true, "\(r)")
        let long = try recast(["run", folder, "--text", text, "--out", dir.file("long.safetensors")])
        #expect(long.status == 1 && long.stderr.contains("64 positions") && long.stderr.contains("--max-length 64"), "\(long.stderr)")
    }

    /// Mistakes: a usage error (64) for the option combinations, an error naming the file (1) for its contents.
    @Test func errorsNameTheProblemAndTheFile() throws {
        let folder = try model("gpt2")
        let out = dir.file("e.safetensors")
        let text = dir.write("t.txt", "hello\n")
        let two = try recast(["run", folder, "--text", "hi", "--lines", text, "--out", out])
        #expect(two.status == 64 && two.stderr.contains("give one input, not --text and --lines"), "\(two.stderr)")
        let stride = try recast(["run", folder, "--text-file", text, "--max-length", "8", "--stride", "9", "--out", out])
        #expect(stride.status == 64 && stride.stderr.contains("--stride 9 is longer than --max-length 8"), "\(stride.stderr)")
        let encoder = try recast(["run", try model("bert"), "--text-file", text, "--out", out])
        #expect(encoder.status == 1 && encoder.stderr.contains("bidirectional encoder") && encoder.stderr.contains("--lines"), "\(encoder.stderr)")
        let badLines = dir.write("bad.jsonl", "[1, 2]\n[3, \"x\"]\n")
        let bad = try recast(["run", folder, "--tokens-file", badLines, "--out", out])
        #expect(bad.status == 1 && bad.stderr.contains(badLines) && bad.stderr.contains("line 2, element 1"), "\(bad.stderr)")
        let outside = dir.write("outside.json", "[[1, 2], [3, 64]]")
        let o = try recast(["run", folder, "--tokens-file", outside, "--out", out])
        #expect(o.status == 1 && o.stderr.contains(outside) && o.stderr.contains("token 64 is outside the model's vocabulary of 64"), "\(o.stderr)")
        let latin1 = dir.write("latin1.txt", Array("fine\n".utf8) + [0x63, 0x61, 0x66, 0xE9, 0x0A])
        let nonUTF8 = try recast(["run", folder, "--lines", latin1, "--out", out])
        #expect(nonUTF8.status == 1 && nonUTF8.stderr.contains(latin1) && nonUTF8.stderr.contains("line 2 is not valid UTF-8 (byte 8 of the file)"), "\(nonUTF8.stderr)")
        let noTokenizer = try recast(["run", fixture("gpt2"), "--text", "hi", "--out", out])
        #expect(noTokenizer.status == 1 && noTokenizer.stderr.contains("tokenizer"), "\(noTokenizer.stderr)")
        #expect(!FileSystem.exists(out))
    }
}
