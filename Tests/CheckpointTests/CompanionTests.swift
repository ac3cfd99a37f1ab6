import Foundation
import Testing
import TestSupport
import RecastCore
import SafeTensors
import ModelGraph
import Rewrite
@testable import Checkpoint

/// The files that travel with a model (`Companions`): copied byte for byte by `convert` to a folder and by
/// `swap`, listed in the summary line, under the folder's rule for links; left behind, with a warning, by a
/// single-file conversion.
@Suite struct CompanionTests {
    let dir = TempDir()

    /// The real all-MiniLM-L6-v2 folder (tools/models.py; RECAST_MODEL_CACHE chooses the cache).
    static func miniLM() throws -> String {
        let r = try python([repoRoot + "/tools/models.py", "minilm"])
        guard r.status == 0 else { throw CheckpointError(file: "tools/models.py", "failed: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What all-MiniLM-L6-v2 carries besides its weights and config (not data_config.json, a training
    /// record, nor .gitattributes). Its modules.json lists 2_Normalize, which has no files and no folder.
    static let miniLMCompanions = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                                   "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "README.md",
                                   "1_Pooling/config.json"]

    func expectSameBytes(_ names: [String], from source: String, in output: String) throws {
        for name in names {
            #expect(try FileSystem.readAll(output + "/" + name) == FileSystem.readAll(source + "/" + name), "\(name)")
        }
    }

    @Test func convertToAFolderCarriesTheCompanions() throws {
        let source = try CompanionTests.miniLM()
        let out = dir.file("converted")
        let summary = try Converter.convert(source: source, destination: out, options: ConvertOptions())
        #expect(summary.companions == CompanionTests.miniLMCompanions)
        #expect(summary.leftBehind.isEmpty)
        try expectSameBytes(CompanionTests.miniLMCompanions + ["config.json"], from: source, in: out)
        #expect(Set(FileSystem.list(out)) == Set(["config.json", "model-00001-of-00001.safetensors", "model.safetensors.index.json", "1_Pooling"] + CompanionTests.miniLMCompanions.filter { !$0.contains("/") }))
        // Python `tokenizers` reads the copied tokenizer.
        let r = try python(["-c", "import sys, tokenizers; print(tokenizers.Tokenizer.from_file(sys.argv[1]).encode('hello world').ids)", out + "/tokenizer.json"])
        #expect(r.status == 0 && r.stdout.contains("7592, 2088"), "\(r.stderr)")
    }

    @Test func swapCarriesTheCompanions() throws {
        let source = try CompanionTests.miniLM()
        var options = SwapOptions(featureMap: .elu)
        options.layers = try LayerSelection("0")
        let out = dir.file("swapped")
        let summary = try Swap.write(source: source, destination: out, options: options)
        #expect(summary.copiedFiles == CompanionTests.miniLMCompanions)
        #expect(summary.files == ["config.json", "model.safetensors"] + CompanionTests.miniLMCompanions + ["modeling_recast.py"])
        try expectSameBytes(CompanionTests.miniLMCompanions, from: source, in: out)
    }

    /// The summary lines of both commands name every file written.
    @Test func summaryLinesListTheFiles() throws {
        let source = try CompanionTests.miniLM()
        let converted = dir.file("c")
        let c = try recast(["convert", source, converted + "/"])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(c.stdout.contains("wrote \(converted)/: config.json, model-00001-of-00001.safetensors, model.safetensors.index.json, " + CompanionTests.miniLMCompanions.joined(separator: ", ") + " ("), "\(c.stdout)")
        let s = try recast(["swap", source, dir.file("s"), "--feature-map", "elu", "--layers", "1"])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(s.stdout.contains("wrote \(dir.file("s")): config.json, model.safetensors, " + CompanionTests.miniLMCompanions.joined(separator: ", ") + ", modeling_recast.py ("), "\(s.stdout)")
    }

    /// A companion that is a link leaving the model folder is refused, naming the link and its target, and
    /// nothing is written: Recast never copies a file from outside the folder into an output a user may
    /// publish. A link that stays inside the folder is followed and its file copied.
    @Test func linksOutOfTheFolderAreRefused() throws {
        let outside = TempDir()
        let secret = outside.write("id_rsa", "PRIVATE KEY")
        let model = try dir.copyFixture("gpt2")
        try FileSystem.makeDirectory(model + "/files")
        try FileSystem.writeAll(model + "/files/vocab.json", Array("{\"a\": 0}".utf8))
        #expect(symlink("files/vocab.json", model + "/vocab.json") == 0)
        let inside = try Converter.convert(source: model, destination: dir.file("inside"), options: ConvertOptions())
        #expect(inside.companions == ["vocab.json"])
        #expect(try FileSystem.readAll(dir.file("inside") + "/vocab.json") == Array("{\"a\": 0}".utf8))

        #expect(symlink(secret, model + "/tokenizer.json") == 0)
        for (command, out) in [("convert", dir.file("c-out")), ("swap", dir.file("s-out"))] {
            #expect(throws: (any Error).self) {
                if command == "convert" {
                    _ = try Converter.convert(source: model, destination: out, options: ConvertOptions())
                } else {
                    _ = try Swap.write(source: model, destination: out, options: SwapOptions(featureMap: .elu))
                }
            }
            let r = try recast([command, model, out] + (command == "swap" ? ["--feature-map", "elu"] : []))
            #expect(r.status == 1)
            #expect(r.stderr.contains("tokenizer.json") && r.stderr.contains(secret) && r.stderr.contains("outside the model folder"), "\(r.stderr)")
            #expect(!FileSystem.exists(out), "\(command) left an output")
            #expect(dir.entries().allSatisfy { !$0.hasPrefix(".") }, "\(command) left a temporary: \(dir.entries())")
        }
    }

    /// The module folders of modules.json follow the same rule: a module folder that is a link out of the
    /// folder, or a path that climbs out, is refused.
    @Test func moduleFoldersStayInsideTheFolder() throws {
        let outside = TempDir()
        outside.write("config.json", "{\"secret\": 1}")
        let model = try dir.copyFixture("gpt2")
        try FileSystem.writeAll(model + "/modules.json", Array(#"[{"idx": 0, "path": ""}, {"idx": 1, "path": "1_Pooling"}]"#.utf8))
        #expect(symlink(outside.path, model + "/1_Pooling") == 0)
        #expect { try Companions.find(for: model) } throws: { "\($0)".contains("1_Pooling") && "\($0)".contains("outside the model folder") }
        try FileSystem.writeAll(model + "/modules.json", Array(#"[{"idx": 1, "path": "../elsewhere"}]"#.utf8))
        #expect { try Companions.find(for: model) } throws: { "\($0)".contains("modules.json") && "\($0)".contains("../elsewhere") }
        try FileSystem.writeAll(model + "/modules.json", Array(#"{"not": "a list"}"#.utf8))
        #expect { try Companions.find(for: model) } throws: { "\($0)".contains("modules.json") && "\($0)".contains("not a list") }
    }

    /// A companion that is not a regular file (here a folder named tokenizer.json) is refused, not skipped.
    @Test func aCompanionThatIsNotAFileIsRefused() throws {
        let model = try dir.copyFixture("gpt2")
        try FileSystem.makeDirectory(model + "/tokenizer.json")
        #expect { try Converter.convert(source: model, destination: dir.file("out"), options: ConvertOptions()) } throws: {
            "\($0)".contains("tokenizer.json") && "\($0)".contains("not a regular file")
        }
    }

    /// Outputs may not land on or inside a companion the command reads.
    @Test func companionsCountAsInputs() throws {
        let source = try CompanionTests.miniLM()
        let inputs = try Checkpoint.inputs(of: source)
        for name in ["tokenizer.json", "README.md", "1_Pooling"] { #expect(inputs.contains(source + "/" + name), "\(name)") }
    }

    /// Converting a model folder to one weights file says, in one warning line, what stayed behind; `run`
    /// and `generate` on that file then fail with the way out.
    @Test func aSingleFileLeavesConfigAndCompanionsBehind() throws {
        let model = try dir.copyFixture("gpt2")
        try FileSystem.writeAll(model + "/tokenizer.json", Array("{}".utf8))
        let single = dir.file("gpt2.safetensors")
        let c = try recast(["convert", model, single])
        #expect(c.status == 0, "\(c.stderr)")
        let warnings = c.stderr.split(separator: "\n").filter { $0.hasPrefix("recast: warning:") }
        #expect(warnings.count == 1 && warnings[0].contains("config.json, tokenizer.json") && warnings[0].contains("recast convert \(model) DIR/"), "\(c.stderr)")
        let fromFile = try recast(["convert", model + "/model.safetensors", dir.file("again.safetensors")])
        #expect(fromFile.status == 0 && fromFile.stderr.isEmpty, "a weights file to a weights file loses nothing: \(fromFile.stderr)")
        let folder = try recast(["convert", model, dir.file("folder") + "/"])
        #expect(folder.status == 0 && !folder.stderr.contains("warning"), "\(folder.stderr)")
        let run = try recast(["run", single, "--tokens", "1,2", "--out", dir.file("o.safetensors")])
        #expect(run.status == 1 && run.stderr.contains("has no config.json beside it") && run.stderr.contains("recast convert MODEL_DIR OUT_DIR/"), "\(run.stderr)")
        let generate = try recast(["generate", single, "--prompt", "hello"])
        #expect(generate.status == 1 && generate.stderr.contains("has no config.json beside it"), "\(generate.stderr)")
    }
}
