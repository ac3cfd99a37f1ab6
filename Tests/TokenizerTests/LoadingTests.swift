import Foundation
import RecastCore
import Testing
import TestSupport
@testable import Tokenizer

/// The folder of a real model, fetched (once) by tools/models.py into its cache.
func realModel(_ name: String) throws -> String {
    let r = try python([repoRoot + "/tools/models.py", name])
    guard r.status == 0 else { throw TokenizerError(file: name, "tools/models.py failed: \(r.stderr)") }
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite struct LoadingTests {
    let lines = sampleLines(200) + ["[CLS] literal [SEP] tokens [MASK] and [PAD]", "HELLO World ÀÉÎ", "don't stop, won't stop!"]

    /// Ids of `lines` from Python `tokenizers` with the tokenizer.json at `path`.
    func referenceIDs(_ path: String) throws -> [JSON] { try reference(path, texts: lines)["encodings"]?.arrayValue ?? [] }

    @Test func realMiniLMMatchesTokenizers() throws {
        let folder = try realModel("minilm")
        let dir = TempDir()
        let json = try String(contentsOfFile: folder + "/tokenizer.json", encoding: .utf8)
        try expectSameAsTokenizers(try JSON.parse(json), texts: lines, pairs: [("first sentence", "second one")],
                                   decode: [[101, 7592, 2088, 102], [101, 2123, 1005, 1056, 2644, 1012, 102]], in: dir)
        let tokenizer = try Tokenizer.load(model: folder)
        #expect(tokenizer.file == folder + "/tokenizer.json")
        // MiniLM's file pads to 128 and truncates at 128: reported, never applied.
        #expect(tokenizer.storedPadding?.strategy == "Fixed")
        #expect(tokenizer.storedPadding?.length == 128)
        #expect(tokenizer.storedTruncation == 128)
        #expect(try tokenizer.encode("hello").count == 3)
        #expect(try tokenizer.encode(String(repeating: "word ", count: 300)).count == 302)
        #expect(tokenizer.paddingID == 0)
        #expect(tokenizer.vocabSize == 30522)
        // A file inside the folder names the folder.
        #expect(try Tokenizer.load(model: folder + "/config.json").file == folder + "/tokenizer.json")
    }

    @Test func vocabTxtAloneBuildsBertAsTransformersDoes() throws {
        let folder = try realModel("minilm")
        let dir = TempDir()
        try FileManager.default.copyItem(atPath: folder + "/vocab.txt", toPath: dir.file("vocab.txt"))
        try FileManager.default.copyItem(atPath: folder + "/tokenizer_config.json", toPath: dir.file("tokenizer_config.json"))
        let tokenizer = try Tokenizer.load(model: dir.path)
        #expect(tokenizer.file == dir.file("vocab.txt"))
        let expected = try referenceIDs(folder + "/tokenizer.json")
        for (i, line) in lines.enumerated() {
            #expect(JSON.array(try tokenizer.encode(line).ids.map { .int($0) }) == expected[i]["ids"], "\(line.debugDescription)")
        }
        // Decoding as the tokenizer.json decodes (its WordPiece cleanup leaves "don ' t" apart, unlike `transformers`).
        let ids = try tokenizer.encode("hello, world! don't").ids
        let decoded = try reference(folder + "/tokenizer.json", decode: [ids])["decoded"]?.arrayValue?.first?["skip"]?.stringValue
        #expect(decoded != nil)
        #expect(try tokenizer.decode(ids) == decoded)
        #expect(tokenizer.storedPadding == nil)
        #expect(tokenizer.storedTruncation == nil)

        // do_lower_case false keeps case: "Hello" is not in the uncased vocabulary as such.
        dir.write("tokenizer_config.json", #"{"do_lower_case": false}"#)
        let cased = try Tokenizer.load(model: dir.path)
        #expect(try cased.encode("Hello").ids != tokenizer.encode("Hello").ids)
    }

    @Test func vocabJSONAndMergesBuildGPT2AsTransformersDoes() throws {
        let trained = try trainedTokenizer("bytelevel-bpe")
        let dir = TempDir()
        dir.write("vocab.json", trained["model"]?["vocab"]?.serialized() ?? "{}")
        let merges = (trained["model"]?["merges"]?.arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.stringValue).joined(separator: " ") }
        dir.write("merges.txt", "#version: 0.2\n" + merges.joined(separator: "\n") + "\n")
        dir.write("tokenizer_config.json", #"{"eos_token": "<|endoftext|>", "bos_token": {"content": "<|endoftext|>"}}"#)
        let tokenizer = try Tokenizer.load(model: dir.path)
        // The reference: the same model with GPT-2's components, through Python tokenizers.
        var json = trained
        json.set("post_processor", try JSON.parse(#"{"type": "ByteLevel", "trim_offsets": false, "add_prefix_space": false}"#))
        let refDir = TempDir()
        let expected = try reference(refDir.write("tokenizer.json", json.serialized()), texts: lines + ["a<|endoftext|>b"])
        for (i, line) in (lines + ["a<|endoftext|>b"]).enumerated() {
            #expect(referenceJSON(try tokenizer.encode(line)) == expected["encodings"]?.arrayValue?[i], "\(line.debugDescription)")
        }
        #expect(tokenizer.endOfSequence == [0])
    }

    @Test func noTokenizerIsAnErrorNamingTheFolder() throws {
        let dir = TempDir()
        dir.write("config.json", "{}")
        dir.write("vocab.json", "{}") // without merges.txt it is not a tokenizer
        let error = #expect(throws: TokenizerError.self) { try Tokenizer.load(model: dir.path) }
        #expect(error?.description.contains("no tokenizer.json, vocab.txt or vocab.json+merges.txt in \(dir.path)") == true)
        #expect(throws: TokenizerError.self) { try Tokenizer.load(model: dir.file("missing-folder/x")) }
    }

    @Test func linksLeavingTheModelFolderAreRefused() throws {
        let outside = TempDir()
        let secret = outside.write("secret.json", #"{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}}"#)
        let dir = TempDir()
        try FileManager.default.createSymbolicLink(atPath: dir.file("tokenizer.json"), withDestinationPath: secret)
        let error = #expect(throws: TokenizerError.self) { try Tokenizer.load(model: dir.path) }
        #expect(error?.description.contains("symbolic link") == true)
        // A link inside the folder is fine.
        let inside = TempDir()
        inside.write("real.json", #"{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}}"#)
        try FileManager.default.createSymbolicLink(atPath: inside.file("tokenizer.json"), withDestinationPath: inside.file("real.json"))
        #expect(try Tokenizer.load(model: inside.path).encode("a").ids == [0])
    }

    @Test func malformedFilesAreErrorsNamingThem() throws {
        let dir = TempDir()
        for text in ["", "{", "{\"model\": ", "\u{0}\u{1}binary", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a", String(repeating: "[", count: 10_000)] {
            let path = dir.write("tokenizer.json", text)
            let error = #expect(throws: TokenizerError.self) { try Tokenizer(file: path) }
            #expect(error?.file == path)
        }
        // Over the size limit: refused before reading (a sparse file).
        let big = dir.file("big/tokenizer.json")
        try FileManager.default.createDirectory(atPath: dir.file("big"), withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: big, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: big))
        try handle.truncate(atOffset: UInt64(JSONFileLimit.tokenizer + 1))
        try handle.close()
        let error = #expect(throws: TokenizerError.self) { try Tokenizer.load(model: dir.file("big")) }
        #expect(error?.description.contains("limit") == true)
        // A malformed companion is named too.
        let companion = TempDir()
        companion.write("tokenizer.json", #"{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}}"#)
        companion.write("generation_config.json", #"{"eos_token_id": "two"}"#)
        let e2 = #expect(throws: TokenizerError.self) { try Tokenizer.load(model: companion.path) }
        #expect(e2?.file == companion.file("generation_config.json"))
        #expect(e2?.description.contains("eos_token_id") == true)
        companion.write("generation_config.json", "{oops")
        let e3 = #expect(throws: TokenizerError.self) { try Tokenizer.load(model: companion.path) }
        #expect(e3?.file == companion.file("generation_config.json"))
    }

    @Test func endOfSequenceComesFromTheConfigsThenKnownTokens() throws {
        let dir = TempDir()
        dir.write("tokenizer.json", #"{"model": {"type": "WordLevel", "vocab": {"<unk>": 0, "</s>": 1, "<|im_end|>": 2, "<eot>": 3}, "unk_token": "<unk>"}, "added_tokens": [{"id": 4, "content": "<|endoftext|>", "special": true}]}"#)
        #expect(try Tokenizer.load(model: dir.path).endOfSequence == [1, 2, 4])
        dir.write("tokenizer_config.json", #"{"eos_token": {"content": "<eot>", "lstrip": false}}"#)
        #expect(try Tokenizer.load(model: dir.path).endOfSequence == [3])
        dir.write("tokenizer_config.json", #"{"eos_token": "<|endoftext|>"}"#)
        #expect(try Tokenizer.load(model: dir.path).endOfSequence == [4])
        dir.write("generation_config.json", #"{"eos_token_id": 2}"#)
        #expect(try Tokenizer.load(model: dir.path).endOfSequence == [2])
        dir.write("generation_config.json", #"{"eos_token_id": [1, 3]}"#)
        #expect(try Tokenizer.load(model: dir.path).endOfSequence == [1, 3])
    }

    @Test func paddingAndTruncationAreReadButNotApplied() throws {
        let dir = TempDir()
        dir.write("tokenizer.json", ###"{"truncation": {"max_length": 2, "strategy": "LongestFirst", "stride": 0}, "padding": {"strategy": "BatchLongest", "pad_id": 7, "pad_token": "<pad>"}, "model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1, "##a": 2, "<pad>": 3}}}"###)
        let tokenizer = try Tokenizer.load(model: dir.path)
        #expect(tokenizer.storedPadding?.strategy == "BatchLongest")
        #expect(tokenizer.storedPadding?.length == nil)
        #expect(tokenizer.storedTruncation == 2)
        #expect(tokenizer.paddingID == 7)
        #expect(try tokenizer.encode("aaaaa").ids == [1, 2, 2, 2, 2])
    }
}
