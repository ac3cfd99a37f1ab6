import Foundation
import Testing
import TestSupport
import RecastCore

/// A Python script's result: the JSON on the last line of its stdout (transformers prints load reports and asks
/// about remote code there).
private func lastLineJSON(_ r: ProcessResult) throws -> JSON {
    try #require(r.status == 0, "\(r.stderr)")
    return try JSON.parse(r.stdout.split(separator: "\n").last.map(String.init) ?? "")
}

/// The finetuning hand-off (issue 14): what `recast swap` writes is a `transformers` model. PyTorch loads it
/// through the remote code beside the weights (`modeling_recast.py`, `auto_map`) and computes what `recast run`
/// computes. One Python process (tools/remote_code_check.py) checks every folder: torch and transformers
/// start once. Needs torch, transformers (tools/requirements.txt); without them the test fails.
@Suite struct ExportTests {
    let dir = TempDir()

    static let families = ["gpt2", "bert", "llama", "qwen2", "mistral"]
    static let maps = ["t2r", "performer", "elu", "hedgehog"]
    /// Long enough for the window (5) and the prefill (6) to leave both the softmax and the linear part work.
    static let tokens = [1, 5, 9, 3, 7, 2, 11, 4, 8, 6, 10, 12, 13, 14]
    static let sequences = [[1, 5, 9, 3, 7, 2], [4, 8, 6, 10, 12, 13, 14, 15, 16, 17]]

    /// Swaps `family` into a new folder and runs it with `recast run` on `tokens` and on the padded batch
    /// `sequences`; the case tools/remote_code_check.py reads.
    func swapAndRun(_ family: String, _ arguments: [String], name: String, generate: Bool = true) throws -> JSON {
        let model = dir.file(name)
        let swap = try recast(["swap", fixture(family), model] + arguments)
        #expect(swap.status == 0, "\(name): \(swap.stderr)")
        let single = dir.file(name + ".run.safetensors"), batch = dir.file(name + ".batch.safetensors")
        let tokens = Self.tokens.map(String.init).joined(separator: ",")
        let sequences = dir.write(name + ".sequences.json", JSON.array(Self.sequences.map { .array($0.map { .int($0) }) }).serialized())
        for run in [["--tokens", tokens, "--out", single], ["--tokens-file", sequences, "--out", batch]] {
            let r = try recast(["run", model] + run)
            #expect(r.status == 0, "\(name): \(r.stderr)")
        }
        return .object([
            ("model", .string(model)), ("encoder", .bool(family == "bert")),
            ("tokens", .array(Self.tokens.map { .int($0) })), ("recast", .string(single)),
            ("sequences", .array(Self.sequences.map { .array($0.map { .int($0) }) })), ("recast_batch", .string(batch)),
            ("prefill", .int(6)), ("generate", .bool(generate)),
        ])
    }

    /// Each (family, swap options) swapped into a new folder named `family` + `suffix`; the folders.
    func swapped(_ cases: [(family: String, options: [String])], suffix: String) throws -> [String] {
        try cases.map { family, options in
            let out = dir.file(family + suffix)
            let r = try recast(["swap", fixture(family), out] + options)
            try #require(r.status == 0, "\(r.stderr)")
            return out
        }
    }

    @Test func theTemplateIsEmbeddedAndWrittenAsIs() throws {
        let check = try python([repoRoot + "/tools/embed_remote_code.py", "--check"])
        #expect(check.status == 0, "\(check.stderr)")
        let model = dir.file("gpt2-elu")
        #expect(try recast(["swap", fixture("gpt2"), model, "--feature-map", "elu"]).status == 0)
        let written = try FileSystem.readAll(model + "/modeling_recast.py")
        #expect(written == (try FileSystem.readAll(repoRoot + "/python/recast_modeling/modeling_recast.py")))
        let config = try JSON.parse(try FileSystem.readAll(model + "/config.json"))
        #expect(config["auto_map"]?["AutoModelForCausalLM"]?.stringValue == "modeling_recast.RecastGPT2LMHeadModel")
        #expect(config["auto_map"]?["AutoConfig"]?.stringValue == "modeling_recast.RecastGPT2Config")
        let version = String(decoding: written, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("TEMPLATE_VERSION = ") }
        #expect(config["linear_attention"]?["template_version"]?.intValue == version.flatMap { Int($0.dropFirst(19)) })
        // HDF5 output is not a PyTorch folder: no Python file, no auto_map.
        let h5 = dir.file("gpt2-elu-h5")
        #expect(try recast(["swap", fixture("gpt2"), h5, "--feature-map", "elu", "--format", "hdf5"]).status == 0)
        #expect(!FileSystem.exists(h5 + "/modeling_recast.py"))
        #expect(try JSON.parse(try FileSystem.readAll(h5 + "/config.json"))["auto_map"] == nil)
    }

    /// Every family and map, with and without a window (plus folded and separate-q/k t2r): transformers
    /// loads every tensor and its parallel forward, step-by-step cache and padded batches equal `recast run`
    /// within 1e-4 relative; greedy generate and left-padded generate too, with a window, folded and
    /// separate.
    @Test func transformersComputesWhatRecastRuns() throws {
        var cases: [JSON] = []
        for family in Self.families {
            // GPT-2, Llama and Mistral keep a softmax layer (KV cache beside the linear state).
            let layers = ["gpt2", "llama", "mistral"].contains(family) ? ["--layers", "0"] : []
            for map in Self.maps {
                let dim = map == "performer" ? ["--feature-dim", "24"] : map == "elu" ? [] : ["--feature-dim", "6"]
                for window in [nil, 5] {
                    let w = window.map { ["--window", String($0)] } ?? []
                    // generate's checks (the slowest) where the cache holds the most: the window ring.
                    cases.append(try swapAndRun(family, ["--feature-map", map, "--seed", "3"] + dim + layers + w,
                                                name: "\(family)-\(map)-\(window.map(String.init) ?? "linear")", generate: window != nil))
                }
            }
        }
        for family in ["gpt2", "bert"] {
            cases.append(try swapAndRun(family, ["--feature-map", "t2r", "--fold", "--feature-dim", "6"], name: "\(family)-t2r-folded"))
        }
        cases.append(try swapAndRun("qwen2", ["--feature-map", "t2r", "--separate-qk", "--window", "3"], name: "qwen2-t2r-separate"))
        // Attention sinks: the first tokens leave the ring and are parked (step by step), and left padding moves them.
        for family in Self.families {
            let layers = ["gpt2", "llama", "mistral"].contains(family) ? ["--layers", "0"] : []
            cases.append(try swapAndRun(family, ["--feature-map", "hedgehog", "--feature-dim", "6", "--seed", "3", "--window", "5", "--sinks", "2"] + layers,
                                        name: "\(family)-hedgehog-5-sinks"))
        }
        cases.append(try swapAndRun("llama", ["--feature-map", "t2r", "--feature-dim", "6", "--window", "3", "--sinks", "3"], name: "llama-t2r-3-sinks3"))
        let spec = dir.write("cases.json", JSON.array(cases).serialized())
        let r = try python([repoRoot + "/tools/remote_code_check.py", spec])
        try #require(r.status == 0, "tools/remote_code_check.py failed (torch and transformers installed? pip install -r tools/requirements.txt): \(r.stderr)")
        let results = try #require(JSON.parse(r.stdout).arrayValue)
        #expect(results.count == cases.count)
        for result in results {
            let name = result["model"]?.stringValue.map { FileSystem.split($0).base } ?? "?"
            #expect(result["missing"]?.arrayValue?.isEmpty == true, "\(name): missing \(result["missing"]?.serialized() ?? "")")
            // The GPT-2 fixture carries the legacy attention-mask buffers every GPT2LMHeadModel ignores.
            let unexpected = result["unexpected"]?.arrayValue?.compactMap(\.stringValue) ?? ["?"]
            #expect(unexpected.allSatisfy { $0.hasSuffix(".attn.masked_bias") || $0.hasSuffix(".attn.bias") }, "\(name): unexpected \(unexpected)")
            let generated = cases.first { $0["model"] == result["model"] }?["generate"]?.boolValue ?? true
            let checks = ["parallel_hidden", "batch_hidden"] + (name.hasPrefix("bert") ? [] :
                ["parallel_logits", "step_logits", "batch_logits", "left_batch_logits", "left_batch_hidden"] + (generated ? ["generate_logits", "left_padded_generate"] : []))
            for check in checks {
                let error = try #require(result[check]?.doubleValue, "\(name): no \(check)")
                #expect(error < 1e-4, "\(name): \(check) relative error \(error)")
            }
            if !name.hasPrefix("bert") && generated { #expect(result["generate_tokens"]?.doubleValue == 0, "\(name): greedy tokens") }
            // Rotary angles in float64 (the library rounds them in float32: about 1e-4 off at position 3,000).
            if ["llama", "qwen2", "mistral"].contains(where: { name.hasPrefix($0) }) {
                let rotary = try #require(result["rotary_float64"]?.doubleValue, "\(name): rotary not checked")
                let library = try #require(result["library_rotary_float64"]?.doubleValue)
                #expect(rotary < 1e-7, "\(name): rotary cos/sin \(rotary) from float64")
                #expect(library > 1e-5, "\(name): the library's float32 rotary (\(library)) no longer differs: the check proves nothing")
            }
            // With a window, the template's blocked form (14 tokens, windows of 5 and 3) against its quadratic form, in
            // float64: hidden states, and every parameter's gradient (the blocked form's own backward against autograd).
            for key in ["blocks_vs_quadratic", "blocks_vs_quadratic_padded", "blocks_vs_quadratic_gradients"] {
                if let w = result[key]?.doubleValue { #expect(w < 1e-12, "\(name): \(key) \(w) (float64)") }
            }
            if !name.hasPrefix("bert") && (name.contains("-5") || name.contains("-3-")) {
                #expect(result["blocks_vs_quadratic_gradients"] != nil, "\(name): blocked form not checked")
            }
        }
    }

    /// A swapped `BertForMaskedLM` keeps its head: `AutoModelForMaskedLM` loads every tensor (nothing missing or
    /// unexpected), its encoder computes what `recast run` does, and `save_pretrained` writes the same tensors back,
    /// head included, which Recast reads.
    @Test func maskedLanguageModelKeepsItsHead() throws {
        let swapped = dir.file("bert-mlm-hedgehog")
        let swap = try recast(["swap", fixture("bert-mlm"), swapped, "--feature-map", "hedgehog", "--feature-dim", "6", "--window", "4"])
        try #require(swap.status == 0, "\(swap.stderr)")
        let ids = "2,5,9,11,3,7,1,4,6,8"
        let run = dir.file("bert-mlm-run.safetensors")
        let r = try recast(["run", swapped, "--tokens", ids, "--out", run])
        try #require(r.status == 0, "\(r.stderr)")
        let saved = dir.file("bert-mlm-saved")
        let script = #"""
            import json, os, sys
            os.environ["HF_HUB_OFFLINE"] = "1"
            import torch
            from safetensors.torch import load_file
            from transformers import AutoModelForMaskedLM
            model, info = AutoModelForMaskedLM.from_pretrained(sys.argv[1], trust_remote_code=True, output_loading_info=True)
            ids = torch.tensor([[int(t) for t in sys.argv[2].split(",")]])
            with torch.no_grad():
                out = model(input_ids=ids, output_hidden_states=True)
            recast = load_file(sys.argv[3])["hidden_states"]
            mine = out.hidden_states[-1][0]
            model.save_pretrained(sys.argv[4])
            print("\n" + json.dumps({"class": type(model).__name__, "info": {k: sorted(map(str, v)) for k, v in info.items()},
                              "error": float((mine - recast).abs().max() / recast.abs().max()),
                              "logits": list(out.logits.shape), "finite": bool(torch.isfinite(out.logits).all())}))
            """#
        let result = try lastLineJSON(try python(["-c", script, swapped, ids, run, saved]))
        #expect(result["class"]?.stringValue == "RecastBertForMaskedLM")
        for (key, names) in result["info"]?.objectValue ?? [] { #expect(names.arrayValue?.isEmpty == true, "\(key): \(names)") }
        #expect((result["error"]?.doubleValue ?? 1) < 1e-4, "\(result)")
        #expect(result["logits"]?.arrayValue?.compactMap(\.intValue) == [1, 10, 64] && result["finite"]?.boolValue == true)
        let diff = try FinetuneRoundTripTests().changedTensors(swapped, saved)
        #expect(diff["changed"]?.arrayValue?.isEmpty == true && diff["only_a"]?.arrayValue?.isEmpty == true
                && diff["only_b"]?.arrayValue?.isEmpty == true, "\(diff.serialized())")
        let back = try recast(["run", saved, "--tokens", ids, "--out", dir.file("bert-mlm-saved.safetensors")])
        #expect(back.status == 0, "\(back.stderr)")
    }

    /// A decoder folder's `AutoModel` is the decoder without its head (hidden states, embeddings): its last hidden
    /// state equals the causal model's, whose logits the other tests hold to `recast run`, and a right-padded batch
    /// equals each sequence alone.
    @Test func decodersLoadWithoutTheirHead() throws {
        let folders = try swapped([("llama", ["--feature-map", "hedgehog", "--feature-dim", "6", "--window", "3"]),
                                   ("gpt2", ["--feature-map", "t2r", "--layers", "0"]),
                                   ("qwen2", ["--feature-map", "performer", "--feature-dim", "16", "--window", "3"])], suffix: "-base")
        let script = #"""
            import json, os, sys
            os.environ["HF_HUB_OFFLINE"] = "1"
            import torch
            from transformers import AutoModel, AutoModelForCausalLM
            results = []
            for folder in sys.argv[1:]:
                base = AutoModel.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32)
                lm = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32)
                ids = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6, 5, 3]])
                short = torch.tensor([[3, 1, 4, 1, 5, 9, 0, 0, 0, 0]])
                mask = torch.tensor([[1] * 6 + [0] * 4, [1] * 10])
                with torch.no_grad():
                    h = base(input_ids=ids).last_hidden_state
                    causal = lm(input_ids=ids, output_hidden_states=True).hidden_states[-1]
                    batch = base(input_ids=torch.cat([short, ids]), attention_mask=mask).last_hidden_state
                    alone = base(input_ids=short[:, :6]).last_hidden_state
                scale = float(h.abs().max())
                results.append({"class": type(base).__name__, "causal": float((h - causal).abs().max()) / scale,
                                "padded": max(float((batch[0, :6] - alone[0]).abs().max()), float((batch[1] - h[0]).abs().max())) / scale})
            print("\n" + json.dumps(results))
            """#
        let results = try #require(try lastLineJSON(try python(["-c", script] + folders)).arrayValue)
        #expect(results.map { $0["class"]?.stringValue } == ["RecastLlamaModel", "RecastGPT2Model", "RecastQwen2Model"])
        for result in results {
            #expect((result["causal"]?.doubleValue ?? 1) < 1e-6 && (result["padded"]?.doubleValue ?? 1) < 1e-5, "\(result)")
        }
    }

    /// Without `trust_remote_code`, `transformers` refuses a converted folder (its model_type is `recast_…`, which the
    /// library does not know) instead of loading the library's softmax model and dropping the feature maps: the elu
    /// swap, which adds no tensor, would otherwise load without a word. With the flag, the same call loads it.
    @Test func withoutTrustRemoteCodeLoadingFails() throws {
        let folders = try swapped([("qwen2", ["--feature-map", "elu"]), ("llama", ["--feature-map", "hedgehog"]),
                                   ("bert", ["--feature-map", "t2r"])], suffix: "-untrusted")
        let script = #"""
            import json, os, sys
            os.environ["HF_HUB_OFFLINE"] = "1"
            from transformers import AutoModel, AutoModelForCausalLM
            results = []
            for folder in sys.argv[1:]:
                Auto = AutoModel if "bert" in os.path.basename(folder) else AutoModelForCausalLM
                try:
                    Auto.from_pretrained(folder)
                    refused = None
                except Exception as error:  # what transformers raises is the point of the test
                    refused = str(error)
                loaded = type(Auto.from_pretrained(folder, trust_remote_code=True)).__name__
                results.append({"refused": refused, "loaded": loaded})
            print("\n" + json.dumps(results))  # after transformers' prompt "Do you wish to run the custom code? [y/N]"
            """#
        // transformers asks on stdout (and reads no answer from a closed stdin): the result is the last line.
        let results = try #require(try lastLineJSON(try python(["-c", script] + folders)).arrayValue)
        #expect(results.map { $0["loaded"]?.stringValue } == ["RecastQwen2ForCausalLM", "RecastLlamaForCausalLM", "RecastBertModel"])
        for (folder, result) in zip(folders, results) {
            let message = try #require(result["refused"]?.stringValue, "\(folder) loaded without trust_remote_code")
            #expect(message.contains("trust_remote_code"), "\(folder): \(message)")
        }
    }

    /// sentence-transformers loads a converted all-MiniLM-L6-v2 (3 of 6 layers t2r with a window, through
    /// `AutoModel` and the remote code), keeps its mean pooling and normalisation, and embeds what
    /// `recast run --outputs embeddings` embeds, a line past the 256 tokens both truncate to included. What its
    /// `save` writes (sentence-transformers 6: `"pooling_mode": "mean"`, the length in tokenizer_config.json) Recast
    /// reads back to the same embeddings.
    @Test func sentenceTransformersLoadsAConvertedMiniLM() throws {
        let models = try python([repoRoot + "/tools/models.py", "minilm"])
        try #require(models.status == 0, "\(models.stderr)")
        let source = models.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let model = dir.file("minilm-t2r")
        let swap = try recast(["swap", source, model, "--feature-map", "t2r", "--feature-dim", "16", "--window", "8", "--layers", "0-2"])
        try #require(swap.status == 0, "\(swap.stderr)")
        let long = String(repeating: "A converted model keeps its pooling when it is saved again. ", count: 40)
        let lines = dir.write("lines.txt", "The cat sat on the mat.\nLinear attention keeps a constant state.\nHello world\n\(long)\n")
        let out = dir.file("embeddings.safetensors")
        let run = try recast(["run", model, "--lines", lines, "--outputs", "embeddings", "--out", out])
        try #require(run.status == 0, "\(run.stderr)")
        let script = #"""
            import json, os, sys
            os.environ["HF_HUB_OFFLINE"] = "1"
            from safetensors.torch import load_file
            from sentence_transformers import SentenceTransformer
            model = SentenceTransformer(sys.argv[1], trust_remote_code=True, device="cpu")
            lines = open(sys.argv[2]).read().splitlines()
            mine = model.encode(lines, convert_to_tensor=True)
            recast = load_file(sys.argv[3])["embeddings"]
            model.save(sys.argv[4])
            print(json.dumps({"modules": [type(m).__name__ for m in model],
                              "pooling": model[1].get_config_dict().get("pooling_mode"),
                              "architecture": type(model[0].auto_model).__name__,
                              "error": float((mine - recast).abs().max() / recast.abs().max())}))
            """#
        let saved = dir.file("minilm-t2r-saved")
        let r = try python(["-c", script, model, lines, out, saved])
        try #require(r.status == 0, "sentence-transformers failed (pip install -r tools/requirements.txt): \(r.stderr)")
        let result = try JSON.parse(r.stdout)
        #expect(result["modules"]?.arrayValue?.compactMap(\.stringValue) == ["Transformer", "Pooling", "Normalize"])
        #expect(result["pooling"]?.stringValue == "mean")
        #expect(result["architecture"]?.stringValue == "RecastBertModel")
        let error = try #require(result["error"]?.doubleValue)
        #expect(error < 1e-4, "embeddings relative error \(error)")

        // Its save, read by Recast: the same embeddings as from the folder it loaded.
        let again = dir.file("embeddings-saved.safetensors")
        let rerun = try recast(["run", saved, "--lines", lines, "--outputs", "embeddings", "--out", again])
        try #require(rerun.status == 0, "\(rerun.stderr)")
        let compare = try python(["-c", """
            import json, sys
            from safetensors.numpy import load_file
            a, b = load_file(sys.argv[1])["embeddings"], load_file(sys.argv[2])["embeddings"]
            print(json.dumps({"shape": list(b.shape), "error": float(abs(a - b).max() / abs(a).max())}))
            """, out, again])
        try #require(compare.status == 0, "\(compare.stderr)")
        let same = try JSON.parse(compare.stdout)
        #expect(same["shape"]?.arrayValue?.compactMap(\.intValue) == [4, 384])
        #expect((same["error"]?.doubleValue ?? 1) < 1e-6, "\(same)")
        let pooling = try JSON.parse(try FileSystem.readAll(saved + "/1_Pooling/config.json"))
        #expect(pooling["pooling_mode"]?.stringValue == "mean", "the new format is what this test reads: \(pooling)")
    }
}

/// The way back: Recast → PyTorch (tools/finetune.py, a few CPU steps) → Recast. What save_pretrained writes
/// (f32 sharded after LoRA; bf16 after full training) is read by `inspect`, `run` and `verify`, `generate`
/// continues a prompt with PyTorch's greedy tokens, and only the trained tensors changed.
@Suite struct FinetuneRoundTripTests {
    let dir = TempDir()
    static let text = "/usr/share/common-licenses/GPL-3"

    /// Names of the tensors of `a` and `b` (model folders, safetensors) whose values differ, by Python's
    /// safetensors (bf16 read as raw bits); the names only one folder has, too. Names are compared without a
    /// leading `dropping` (save_pretrained writes a BertModel without the checkpoint's `bert.`).
    func changedTensors(_ a: String, _ b: String, dropping prefix: String = "") throws -> JSON {
        let script = #"""
            import glob, json, sys
            from safetensors import safe_open
            prefix = sys.argv[3]
            def tensors(folder):
                out = {}
                for path in glob.glob(folder + "/*.safetensors"):
                    with safe_open(path, "pt") as f:
                        for name in f.keys():
                            out[name[len(prefix):] if prefix and name.startswith(prefix) else name] = f.get_tensor(name)
                return out
            a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
            changed = sorted(n for n in a if n in b and not (a[n].float() == b[n].float()).all())
            print(json.dumps({"changed": changed, "only_a": sorted(set(a) - set(b)), "only_b": sorted(set(b) - set(a))}))
            """#
        let r = try python(["-c", script, a, b, prefix])
        try #require(r.status == 0, "\(r.stderr)")
        return try JSON.parse(r.stdout)
    }

    func finetune(_ model: String, _ out: String, _ arguments: [String]) throws -> [JSON] {
        let log = dir.file(FileSystem.split(out).base + ".log")
        let r = try python([repoRoot + "/tools/finetune.py", model, Self.text, out, "--byte-tokens", "--seq-len", "16",
                            "--log", log] + arguments)
        try #require(r.status == 0, "tools/finetune.py failed (torch, transformers, peft, accelerate installed? pip install -r tools/requirements.txt): \(r.stderr)")
        return try String(decoding: FileSystem.readAll(log), as: UTF8.self).split(separator: "\n").map { try JSON.parse(String($0)) }
    }

    func expectRecastReads(_ original: String, _ trained: String) throws {
        for arguments in [["inspect", trained], ["run", trained, "--tokens", "1,5,9,3,7,2,11,4", "--out", dir.file(FileSystem.split(trained).base + ".run.safetensors")],
                          ["verify", original, trained, "--tokens", "1,5,9,3,7,2,11,4"]] {
            let r = try recast(arguments)
            #expect(r.status == 0, "recast \(arguments[0]) on what save_pretrained wrote: \(r.stderr)")
        }
    }

    /// `recast generate` on what save_pretrained wrote continues each prompt greedily with the tokens PyTorch's
    /// `generate` picks on the same folder (loaded in f32 through its remote code); the texts. The fixtures have no
    /// tokenizer, so one is written beside the weights: a character-level BPE over the vocabulary's 64 ids, no
    /// merges, `Fuse` decoder (the text is the characters). Both stop at config.json's end-of-sequence id or after
    /// 16 tokens.
    @discardableResult
    func expectGeneratesWhatPyTorchGenerates(_ trained: String, prompts: [String]) throws -> [String] {
        let script = #"""
            import json, os, sys
            os.environ["HF_HUB_OFFLINE"] = "1"
            import torch
            from tokenizers import Tokenizer, decoders, models
            from transformers import AutoModelForCausalLM
            folder, prompts = sys.argv[1], sys.argv[2:]
            alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,"
            tokenizer = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
            tokenizer.decoder = decoders.Fuse()
            tokenizer.save(os.path.join(folder, "tokenizer.json"))
            model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32).eval()
            texts = []
            for prompt in prompts:
                ids = tokenizer.encode(prompt).ids
                out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                     do_sample=False, max_new_tokens=16)[0, len(ids):].tolist()
                eos = model.config.eos_token_id
                texts.append(tokenizer.decode(out[:out.index(eos)] if eos in out else out))
            print(json.dumps(texts))
            """#
        let texts = try lastLineJSON(try python(["-c", script, trained] + prompts)).arrayValue?.compactMap(\.stringValue) ?? []
        try #require(texts.count == prompts.count, "PyTorch's generate: \(texts)")
        for (prompt, expected) in zip(prompts, texts) {
            let r = try recast(["generate", trained, "--prompt", prompt, "--max-tokens", "16"])
            #expect(r.status == 0, "recast generate on what save_pretrained wrote: \(r.stderr)")
            #expect(r.stdout == expected, "\(prompt): recast generate \(r.stdout.debugDescription), PyTorch \(expected.debugDescription)")
            #expect(!expected.isEmpty, "\(prompt): PyTorch generated nothing to compare")
        }
        return texts
    }

    /// `--teacher`: training by distillation from the original lowers the held-out KL divergence to it; the
    /// original against itself has nothing to distil (KL 0, every top-1 token the same).
    @Test func distillationFromTheOriginal() throws {
        let swapped = dir.file("llama-hedgehog-distil-source")
        #expect(try recast(["swap", fixture("llama"), swapped, "--feature-map", "hedgehog", "--feature-dim", "6", "--window", "3"]).status == 0)
        let log = try finetune(swapped, dir.file("llama-hedgehog-distilled"),
                               ["--teacher", fixture("llama"), "--steps", "20", "--batch", "8", "--lr", "2e-2"])
        let held = try #require(log.last?["held_out"])
        let before = try #require(held["before"]?["distillation"]?.doubleValue)
        let after = try #require(held["after"]?["distillation"]?.doubleValue)
        #expect(after < before && before > 0, "held-out KL to the original \(before) -> \(after)")
        let agreement = try #require(held["after"]?["top1_agreement"]?.doubleValue)
        #expect(agreement > 0 && agreement <= 1, "\(agreement)")
        let itself = try finetune(fixture("llama"), dir.file("llama-itself"), ["--teacher", fixture("llama"), "--steps", "1"])
        let same = try #require(itself.last?["held_out"]?["before"])
        #expect(abs(try #require(same["distillation"]?.doubleValue)) < 1e-6 && same["top1_agreement"]?.doubleValue == 1,
                "\(same.serialized())")
    }

    /// `--feature-maps`: end-to-end distillation of what calibrate trains alone. The held-out KL falls, the
    /// feature maps and window factors change, every other tensor stays bit for bit; a model with nothing of the
    /// kind (the original, or elu without a window) is refused and nothing is written.
    @Test func featureMapDistillationKeepsTheOriginalWeights() throws {
        let swapped = dir.file("llama-hedgehog-fm-source")
        #expect(try recast(["swap", fixture("llama"), swapped, "--feature-map", "hedgehog", "--feature-dim", "6", "--window", "3"]).status == 0)
        let out = dir.file("llama-hedgehog-fm")
        let log = try finetune(swapped, out, ["--feature-maps", "--teacher", fixture("llama"), "--steps", "20", "--batch", "8", "--lr", "2e-2"])
        let held = try #require(log.last?["held_out"])
        let before = try #require(held["before"]?["distillation"]?.doubleValue)
        let after = try #require(held["after"]?["distillation"]?.doubleValue)
        #expect(after < before, "held-out KL to the original \(before) -> \(after)")
        let diff = try changedTensors(swapped, out)
        let changed = diff["changed"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let trained = (0..<2).flatMap { i in ["feature_map_q.weight", "feature_map_q.bias", "feature_map_k.weight", "feature_map_k.bias", "window_factors"].map { "model.layers.\(i).self_attn.\($0)" } }
        #expect(changed == trained.sorted(), "changed: \(changed)")
        #expect(diff["only_a"]?.arrayValue?.isEmpty == true && diff["only_b"]?.arrayValue?.isEmpty == true, "\(diff.serialized())")
        try expectRecastReads(swapped, out)

        let elu = dir.file("llama-elu")
        #expect(try recast(["swap", fixture("llama"), elu, "--feature-map", "elu"]).status == 0)
        for model in [fixture("llama"), elu] {
            let refused = dir.file("refused")
            let r = try python([repoRoot + "/tools/finetune.py", model, Self.text, refused, "--byte-tokens", "--feature-maps",
                                "--teacher", fixture("llama")])
            #expect(r.status != 0 && r.stderr.contains("no feature-map parameters"), "\(model): \(r.stderr)")
            #expect(!FileSystem.exists(refused))
        }
    }

    /// An encoder (BERT, no language-model head) trains by distillation on sentences: the held-out loss falls
    /// and the embeddings move toward the original's; LoRA changes only q, k, v and o (save_pretrained drops
    /// the checkpoint's `bert.` prefix, which Recast reads either way); the sentence-transformers files come
    /// along; Recast reads the result. Without --teacher it is refused, and nothing is written.
    @Test func encoderDistillationComesBackToRecast() throws {
        let swapped = dir.file("bert-hedgehog")
        #expect(try recast(["swap", fixture("bert"), swapped, "--feature-map", "hedgehog", "--feature-dim", "6",
                            "--window", "4", "--sinks", "1"]).status == 0)
        dir.write("bert-hedgehog/modules.json", #"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}, {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]"#)
        try FileSystem.makeDirectory(swapped + "/1_Pooling")
        dir.write("bert-hedgehog/1_Pooling/config.json", #"{"word_embedding_dimension": 32, "pooling_mode_mean_tokens": true}"#)

        let refused = dir.file("bert-no-teacher")
        let r = try python([repoRoot + "/tools/finetune.py", swapped, Self.text, refused, "--byte-tokens"])
        #expect(r.status != 0 && r.stderr.contains("encoder") && r.stderr.contains("--teacher"), "\(r.stderr)")
        #expect(!FileSystem.exists(refused))

        let out = dir.file("bert-hedgehog-distilled")
        let log = try finetune(swapped, out, ["--teacher", fixture("bert"), "--steps", "30", "--batch", "8", "--lr", "2e-2"])
        let held = try #require(log.last?["held_out"])
        let before = try #require(held["before"]?["loss"]?.doubleValue), after = try #require(held["after"]?["loss"]?.doubleValue)
        #expect(after < before && before > 0, "held-out distillation loss \(before) -> \(after)")
        let cosineBefore = try #require(held["before"]?["embedding_cosine"]?.doubleValue)
        let cosineAfter = try #require(held["after"]?["embedding_cosine"]?.doubleValue)
        #expect(cosineAfter > cosineBefore, "embedding cosine \(cosineBefore) -> \(cosineAfter)")
        #expect(held["after"]?["neighbour_agreement"]?.doubleValue != nil)
        #expect(FileSystem.exists(out + "/modules.json") && FileSystem.exists(out + "/1_Pooling/config.json"))

        let diff = try changedTensors(swapped, out, dropping: "bert.")
        let changed = diff["changed"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(diff["only_a"]?.arrayValue?.isEmpty == true && diff["only_b"]?.arrayValue?.isEmpty == true, "\(diff.serialized())")
        let projections = (0..<2).flatMap { i in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"].map { "encoder.layer.\(i).\($0).weight" } }
        #expect(changed == projections.sorted(), "changed: \(changed)")
        try expectRecastReads(fixture("bert"), out)
    }

    @Test func loraThenFullTrainingComeBackToRecast() throws {
        // LoRA (rank 8 on q, k, v, o), merged, saved f32 in shards: the loss falls, only q, k, v, o change.
        let swapped = dir.file("llama-hedgehog")
        #expect(try recast(["swap", fixture("llama"), swapped, "--feature-map", "hedgehog", "--feature-dim", "6", "--window", "3"]).status == 0)
        let lora = dir.file("llama-hedgehog-lora")
        let log = try finetune(swapped, lora, ["--steps", "20", "--batch", "8", "--lr", "2e-2", "--max-shard-size", "20KB"])
        let held = try #require(log.last)
        let before = try #require(held["held_out_before"]?.doubleValue), after = try #require(held["held_out_after"]?.doubleValue)
        #expect(after < before, "held-out loss \(before) -> \(after)")
        #expect(FileSystem.list(lora).filter { $0.hasSuffix(".safetensors") }.count > 1, "sharded")
        #expect(FileSystem.exists(lora + "/modeling_recast.py"))
        let diff = try changedTensors(swapped, lora)
        let changed = diff["changed"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let projections = (0..<2).flatMap { i in ["q", "k", "v", "o"].map { "model.layers.\(i).self_attn.\($0)_proj.weight" } }
        #expect(changed == projections.sorted(), "changed: \(changed)")
        #expect(diff["only_a"]?.arrayValue?.isEmpty == true && diff["only_b"]?.arrayValue?.isEmpty == true, "\(diff.serialized())")
        try expectRecastReads(swapped, lora)
        try expectGeneratesWhatPyTorchGenerates(lora, prompts: ["Copyright", "Thegeneral"])

        // Full training (performer, whose projection is fixed), saved bf16 in one file: the bf16 fixture
        // round-trips exactly through f32, so an unchanged tensor compares equal.
        let performer = dir.file("llama-performer")
        #expect(try recast(["swap", fixture("llama"), performer, "--feature-map", "performer", "--feature-dim", "16", "--window", "3"]).status == 0)
        let full = dir.file("llama-performer-full")
        _ = try finetune(performer, full, ["--full", "--steps", "2", "--batch", "2", "--save-dtype", "bfloat16"])
        let fullDiff = try changedTensors(performer, full)
        let fullChanged = fullDiff["changed"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(!fullChanged.isEmpty && !fullChanged.contains { $0.hasSuffix("feature_map.projection") }, "changed: \(fullChanged)")
        try expectRecastReads(performer, full)
        // Two steps leave the model far from collapsing on one token: its continuations differ, so equal texts
        // say the recurrent paths agree step by step.
        let texts = try expectGeneratesWhatPyTorchGenerates(full, prompts: ["Thegeneral", "ZQ9"])
        #expect(Set(texts.joined()).count >= 4, "the continuations \(texts) are too uniform to tell two paths apart")
    }

    /// Two processes (DistributedDataParallel on the CPU, as `accelerate launch` runs the script on several GPUs):
    /// `--full` on a model with parameters no loss reaches (Performer's fixed projection; an encoder's pooler under
    /// distillation) trains, where DDP used to stop at the first step waiting for their gradients, and what it writes
    /// comes back to Recast with those parameters unchanged.
    @Test func twoProcessesTrainEveryParameterThatLearns() throws {
        let performer = dir.file("llama-performer-ddp-source")
        #expect(try recast(["swap", fixture("llama"), performer, "--feature-map", "performer", "--feature-dim", "16", "--window", "3"]).status == 0)
        let bert = dir.file("bert-t2r-ddp-source")
        #expect(try recast(["swap", fixture("bert"), bert, "--feature-map", "t2r", "--feature-dim", "8"]).status == 0)
        for (model, teacher, fixed) in [(performer, nil, "feature_map.projection"), (bert, fixture("bert"), "pooler.dense.weight")] {
            let out = model + "-trained"
            let r = try runProcess("/usr/bin/env", ["python3", "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                                                    repoRoot + "/tools/finetune.py", model, Self.text, out, "--byte-tokens", "--seq-len", "16",
                                                    "--steps", "3", "--batch", "2", "--lr", "1e-2", "--full"] + (teacher.map { ["--teacher", $0] } ?? []),
                                   environment: ["ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"], timeout: 600)
            try #require(r.status == 0, "two processes: \(r.stderr.suffix(3000))")
            let diff = try changedTensors(model, out, dropping: teacher == nil ? "" : "bert.")
            let changed = diff["changed"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(changed.count > 4 && !changed.contains { $0.hasSuffix(fixed) }, "\(model): changed \(changed) \(diff.serialized())")
            #expect(diff["only_a"]?.arrayValue?.isEmpty == true && diff["only_b"]?.arrayValue?.isEmpty == true, "\(diff.serialized())")
            try expectRecastReads(teacher ?? performer, out)
        }
    }
}
