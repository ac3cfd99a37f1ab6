import Foundation
import Testing
import TestSupport
import RecastCore

/// Whole commands, run as a user runs them: exit codes, stdout, stderr, and the files left behind.
@Suite struct CLITests {
    let dir = TempDir()

    func validate(_ json: String, schema: String) throws -> ProcessResult {
        let path = dir.write("doc.json", json)
        return try python(["-c", """
            import json, jsonschema, sys
            jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))
            """, path, repoRoot + "/schemas/" + schema])
    }

    @Test func helpListsTheCommands() throws {
        let r = try recast(["--help"])
        #expect(r.status == 0)
        for c in ["inspect", "convert", "run"] { #expect(r.stdout.contains(c)) }
        let convert = try recast(["convert", "--help"])
        for flag in ["--dtype", "--max-shard-size", "--force", "--names"] { #expect(convert.stdout.contains(flag)) }
    }

    @Test(arguments: ["gpt2", "bert-tf", "llama", "qwen2-performer", "keras2-cnn.h5", "keras3.weights.h5", "keras-legacy.h5",
                      "hdf5-types.h5", "dtypes.safetensors", "llama/model.safetensors.index.json"])
    func inspectJSONFollowsTheSchema(_ name: String) throws {
        let r = try recast(["inspect", fixture(name), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let v = try validate(r.stdout, schema: "inspect.schema.json")
        #expect(v.status == 0, "\(v.stderr)")
        let json = try JSON.parse(r.stdout)
        let recognised = ["gpt2", "bert-tf", "llama", "qwen2-performer", "llama/model.safetensors.index.json"].contains(name)
        #expect(json["architecture"]?.isNull == !recognised, "\(name)")
    }

    @Test func inspectJSONAgreesWithPython() throws {
        let r = try recast(["inspect", fixture("hdf5-types.h5"), "--json"])
        let ours = try JSON.parse(r.stdout)
        let theirs = try pythonJSON("crosscheck.py", ["dump", fixture("hdf5-types.h5")])
        let a = Set(ours["tensors"]!.arrayValue!.map { $0["name"]!.stringValue! })
        let b = Set(theirs["tensors"]!.arrayValue!.map { $0["name"]!.stringValue! })
        #expect(a == b)
        #expect(ours["layout"]?.stringValue == "generic")
        #expect(ours["skipped"]?.arrayValue?.isEmpty == false)
    }

    @Test func inspectArchitecture() throws {
        let r = try recast(["inspect", fixture("llama"), "--json"])
        let a = try #require(try JSON.parse(r.stdout)["architecture"])
        #expect(a["family"]?.stringValue == "llama" && a["layers"]?.intValue == 2 && a["heads"]?.intValue == 4)
        #expect(a["kv_heads"]?.intValue == 2 && a["head_dim"]?.intValue == 8 && a["hidden_size"]?.intValue == 32)
        #expect(a["vocab_size"]?.intValue == 64 && a["causal"]?.boolValue == true)
        let text = try recast(["inspect", fixture("gpt2")]).stdout
        #expect(text.contains("gpt2 (gpt2 family), causal decoder") && text.contains("h.{0-1}.attn.c_attn.weight  ×2"))
        #expect(text.contains("total: 32 tensors, 29,442 parameters"))
        let all = try recast(["inspect", fixture("gpt2"), "--all"]).stdout
        #expect(all.contains("h.1.attn.c_attn.weight") && !all.contains("×2"))
    }

    @Test func convertIsQuietOffATerminalAndWritesTheFile() throws {
        let out = dir.file("m.safetensors")
        // From the weights file: no config.json left behind to warn about.
        let r = try recast(["convert", fixture("gpt2") + "/model.safetensors", out, "--dtype", "bf16"])
        #expect(r.status == 0)
        #expect(r.stderr.isEmpty, "no progress bar when stderr is not a terminal: \(r.stderr)")
        #expect(r.stdout.contains("wrote \(out)"))
        let again = try recast(["convert", fixture("gpt2"), out])
        #expect(again.status != 0 && again.stderr.contains("already exists"))
    }

    @Test func errorsNameTheFileAndExitNonZero() throws {
        let bad = dir.write("bad.safetensors", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2])
        for args in [["inspect", bad], ["convert", bad, dir.file("o.safetensors")], ["inspect", dir.file("nope.h5")]] {
            let r = try recast(args)
            #expect(r.status == 1, "\(args)")
            #expect(r.stderr.hasPrefix("recast: error: ") && r.stderr.contains(args[1]), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
        }
        #expect(!FileSystem.exists(dir.file("o.safetensors")))
        let usage = try recast(["convert", fixture("gpt2"), dir.file("x.safetensors"), "--dtype", "f8"])
        #expect(usage.status != 0 && usage.stderr.contains("--dtype"))
        let shard = try recast(["convert", fixture("gpt2"), dir.file("x"), "--max-shard-size", "lots"])
        #expect(shard.status != 0 && shard.stderr.contains("--max-shard-size"))
    }

    @Test func runWritesOutputsAndRefusesBadTokens() throws {
        let out = dir.file("run.safetensors")
        let r = try recast(["run", fixture("llama"), "--tokens", "1,2,3", "--out", out, "--mode", "recurrent"])
        #expect(r.status == 0, "\(r.stderr)")
        let dump = try pythonJSON("crosscheck.py", ["dump", out])
        let shapes = dump["tensors"]!.arrayValue!.map { ($0["name"]!.stringValue!, $0["shape"]!.arrayValue!.map { $0.intValue! }) }
        #expect(shapes.contains { $0.0 == "hidden_states" && $0.1 == [3, 32] })
        #expect(shapes.contains { $0.0 == "logits" && $0.1 == [3, 64] })
        let bad = dir.file("bad-run.safetensors")
        let e = try recast(["run", fixture("gpt2"), "--tokens", "1,99", "--out", bad])
        #expect(e.status == 1 && e.stderr.contains("token 99 at position 1 is outside the vocabulary of 64"))
        #expect(!FileSystem.exists(bad))
        let bi = try recast(["run", fixture("bert"), "--length", "4", "--out", bad, "--mode", "recurrent"])
        #expect(bi.status == 1 && bi.stderr.contains("cannot run token by token"))
        let both = try recast(["run", fixture("gpt2"), "--length", "4", "--tokens", "1", "--out", bad])
        #expect(both.status != 0 && both.stderr.contains("give one input, not --tokens and --length"))
    }

    /// TFBertModel ("architectures": ["BertModel"]) becomes PyTorch's BertModel, whose names have no `bert.`
    /// (the `bert` fixture stores the same tensors hub-style, under `bert.`); TFBertForMaskedLM becomes
    /// BertForMaskedLM, which keeps it (`bert-mlm`). Hugging Face's base-model prefix rule, tensor for tensor.
    @Test(arguments: [("bert-tf", "bert/model.safetensors", "bert."), ("bert-tf-mlm", "bert-mlm/model.safetensors", "")])
    func convertNamesPytorchIsBitIdenticalToThePyTorchCheckpoint(_ source: String, _ pytorch: String, _ dropped: String) throws {
        let out = dir.file("\(source).safetensors")
        let r = try recast(["convert", fixture(source), out, "--names", "pytorch"])
        #expect(r.status == 0, "\(r.stderr)")
        let ours = try pythonJSON("crosscheck.py", ["dump", out])
        let reference = try pythonJSON("crosscheck.py", ["dump", fixture(pytorch)])
        func table(_ j: JSON, dropping prefix: String) -> [String: String] {
            Dictionary(uniqueKeysWithValues: j["tensors"]!.arrayValue!.map {
                let name = $0["name"]!.stringValue!
                return (name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name,
                        $0["dtype"]!.stringValue! + "\($0["shape"]!.serialized())" + $0["sha256"]!.stringValue!)
            })
        }
        #expect(table(ours, dropping: "") == table(reference, dropping: dropped))
        let nothing = try recast(["convert", fixture("gpt2"), dir.file("x.safetensors"), "--names", "pytorch"])
        #expect(nothing.status == 1 && nothing.stderr.contains("does not use TensorFlow names"))
    }
}

@Suite struct SwapAndVerifyCLITests {
    let dir = TempDir()

    @Test func swapWritesAModelAndSaysWhat() throws {
        let out = dir.file("t2r")
        let r = try recast(["swap", fixture("gpt2"), out, "--feature-map", "t2r", "--layers", "1", "--seed", "5"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("swapped layer 1 (1 of 2) to linear attention: t2r, feature dim 32, shared q/k, seed 5"))
        #expect(r.stdout.contains("new parameters: 1,152 in 2 tensors; 32 tensors copied unchanged"))
        let config = try JSON.parse(try FileSystem.readAll(out + "/config.json"))
        #expect(config["linear_attention"]?["layers"]?.arrayValue?.compactMap(\.intValue) == [1])
        // The same command and seed give byte-identical files.
        let again = dir.file("t2r-again")
        _ = try recast(["swap", fixture("gpt2"), again, "--feature-map", "t2r", "--layers", "1", "--seed", "5"])
        #expect(try FileSystem.readAll(out + "/model.safetensors") == FileSystem.readAll(again + "/model.safetensors"))
        let exists = try recast(["swap", fixture("gpt2"), out, "--feature-map", "t2r"])
        #expect(exists.status == 1 && exists.stderr.contains("already exists"))
    }

    @Test func swapRefusesBadArguments() throws {
        let out = dir.file("never")
        for (args, phrase) in [
            (["--feature-map", "t2r", "--layers", "1-"], "not a range of layer indices"),
            (["--feature-map", "t2r", "--layers", "7"], "out of range"),
            (["--feature-map", "softmax"], "--feature-map must be one of"),
            (["--feature-map", "t2r", "--feature-dim", "0"], "--feature-dim"),
            (["--feature-map", "performer", "--fold"], "--fold"),
        ] {
            let r = try recast(["swap", fixture("gpt2"), out] + args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(phrase), "\(args): \(r.stderr)")
            #expect(!FileSystem.exists(out))
        }
        let llama = try recast(["swap", fixture("llama"), out, "--feature-map", "t2r", "--fold"])
        #expect(llama.status == 1 && llama.stderr.contains("rotary"))
    }

    @Test func verifyReportsAndPlots() throws {
        let svg = dir.file("v.svg")
        let r = try recast(["verify", fixture("gpt2"), fixture("gpt2-t2r"), "--length", "24", "--plot", svg])
        #expect(r.status == 0, "\(r.stderr)")
        for phrase in ["attention output, linear vs softmax", "top-1 next-token agreement", "parallel vs recurrent", "original KV cache"] {
            #expect(r.stdout.contains(phrase))
        }
        #expect(try String(decoding: FileSystem.readAll(svg), as: UTF8.self).hasPrefix("<svg"))
        let j = try recast(["verify", fixture("bert"), fixture("bert-elu"), "--tokens", "1,2,3", "--json"])
        #expect(try JSON.parse(j.stdout)["tokens"]?.intValue == 3)
        let bad = try recast(["verify", fixture("gpt2"), fixture("gpt2")])
        #expect(bad.status != 0)
    }

    /// On a terminal, convert draws a progress bar on stderr (run under `script`, which gives it a pty).
    @Test func progressBarOnATerminal() throws {
        let out = dir.file("tty.h5")
        let r = try runProcess("/usr/bin/script", ["-qec", "\(recastBinary) convert \(fixture("gpt2")) \(out)", "/dev/null"])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(r.stdout.contains("converting") && r.stdout.contains("█") && r.stdout.contains("/s") && r.stdout.contains("left"))
        #expect(FileSystem.exists(out))
    }
}
