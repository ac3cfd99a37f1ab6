import Foundation
import Testing
import TestSupport
import RecastCore

/// `recast tokenize`, run as a user runs it, against Hugging Face `tokenizers` (tools/tokenizer_corpus.py
/// encode/decode) on the committed trained tokenizers and the real all-MiniLM-L6-v2.
@Suite struct TokenizeTests {
    let dir = TempDir()
    static let fixtures = ["gpt2-bpe", "llama-bpe"].map { fixture("tokenizers/" + $0) }

    /// What `tokenizers` gives for these inputs (a text, or [text, pair]), in `recast tokenize --json`'s shape.
    func tokenizers(_ model: String, _ inputs: [JSON], special: Bool = true) throws -> JSON {
        let texts = dir.write("inputs-\(UUID().uuidString).json", JSON.array(inputs).serialized())
        return try pythonJSON("tokenizer_corpus.py", ["encode", model + "/tokenizer.json", texts] + (special ? [] : ["--no-special-tokens"]))
    }

    func idLine(_ sequence: JSON?) -> String {
        (sequence?["ids"]?.arrayValue ?? []).compactMap(\.intValue).map(String.init).joined(separator: ",")
    }

    static let samples = ["Hello, wörld! 12345 你好 👍🏽", "  two  spaces\tand a tab", "<|endoftext|> and <s> as text", "e\u{301} NFD café"]

    @Test(arguments: fixtures)
    func textPrintsTheIdsOfTokenizers(_ model: String) throws {
        for special in [true, false] {
            let theirs = try tokenizers(model, Self.samples.map(JSON.string), special: special)
            for (i, text) in Self.samples.enumerated() {
                let r = try recast(["tokenize", model, "--text", text] + (special ? [] : ["--no-special-tokens"]))
                #expect(r.status == 0, "\(r.stderr)")
                #expect(r.stdout == idLine(theirs["sequences"]?.arrayValue?[i]) + "\n", "\(text)")
            }
        }
    }

    @Test(arguments: fixtures)
    func linesGiveOneSequencePerNonBlankLine(_ model: String) throws {
        let file = dir.write("lines.txt", "first line\r\n\n   \nsecond, with CRLF\r\n\tthird\nlast without newline")
        let kept = ["first line", "second, with CRLF", "\tthird", "last without newline"]
        let theirs = try tokenizers(model, kept.map(JSON.string))
        let r = try recast(["tokenize", model, "--lines", file])
        #expect(r.status == 0, "\(r.stderr)")
        let expected = (theirs["sequences"]?.arrayValue ?? []).map { idLine($0) + "\n" }.joined()
        #expect(r.stdout == expected)
    }

    @Test(arguments: fixtures)
    func textFileIsOneSequence(_ model: String) throws {
        let text = "A document\nover lines,\r\nwith  spaces\n\nand a blank line.\n"
        let file = dir.write("doc.txt", text)
        let theirs = try tokenizers(model, [.string(text)])
        let r = try recast(["tokenize", model, "--text-file", file])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == idLine(theirs["sequences"]?.arrayValue?.first) + "\n")
    }

    /// --json: ids, token strings and UTF-8 byte offsets per sequence, and type ids for a pair (MiniLM).
    @Test func jsonGivesIdsTokensAndByteOffsets() throws {
        let minilm = try python([repoRoot + "/tools/models.py", "minilm"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let cases: [(String, [String], JSON)] = [
            (Self.fixtures[0], ["--text", Self.samples[0]], .string(Self.samples[0])),
            (Self.fixtures[1], ["--text", Self.samples[3]], .string(Self.samples[3])),
            (minilm, ["--text", "Héllo [SEP] wörld 你好", "--pair", "Second sentence."], .array([.string("Héllo [SEP] wörld 你好"), .string("Second sentence.")])),
        ]
        for (model, arguments, input) in cases {
            let r = try recast(["tokenize", model, "--json"] + arguments)
            #expect(r.status == 0, "\(r.stderr)")
            let ours = try JSON.parse(r.stdout)
            let theirs = try tokenizers(model, [input])
            #expect(ours["sequences"] == theirs["sequences"], "\(model): \(r.stdout)")
            #expect(ours["tokenizer"]?.stringValue?.hasSuffix("tokenizer.json") == true)
        }
    }

    @Test(arguments: fixtures)
    func decodePrintsTheTextOfTokenizers(_ model: String) throws {
        let ids = try tokenizers(model, [.string(Self.samples[0])])["sequences"]?.arrayValue?.first
        let line = idLine(ids)
        let theirs = try pythonJSON("tokenizer_corpus.py", ["decode", model + "/tokenizer.json", line])
        let r = try recast(["tokenize", model, "--decode", line])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == (theirs["text"]?.stringValue ?? "-") + "\n")
        let j = try recast(["tokenize", model, "--decode", line, "--json"])
        #expect(try JSON.parse(j.stdout)["text"] == theirs["text"])
    }

    @Test func failuresNameTheFileAndExitOne() throws {
        let empty = dir.file("no-tokenizer")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let model = Self.fixtures[0]
        let notUTF8 = dir.write("latin1.txt", [0x61, 0x62, 0xE9, 0x0A])
        let runs: [([String], [String])] = [
            (["tokenize", empty, "--text", "x"], [empty]),
            (["tokenize", model, "--text-file", dir.file("missing.txt")], ["missing.txt"]),
            (["tokenize", model, "--lines", notUTF8], ["latin1.txt", "UTF-8", "2"]),
            (["tokenize", model, "--decode", "1,2000000"], ["tokenizer.json", "2000000"]),
            (["tokenize", model, "--decode", "-1"], ["tokenizer.json", "-1"]),
        ]
        for (arguments, mentions) in runs {
            let r = try recast(arguments)
            #expect(r.status == 1, "\(arguments): \(r.stderr)")
            #expect(r.stdout.isEmpty)
            #expect(r.stderr.hasPrefix("recast: error: "), "\(r.stderr)")
            for m in mentions { #expect(r.stderr.contains(m), "\(arguments): \(r.stderr)") }
        }
    }

    @Test func usageMistakesExit64() throws {
        let model = Self.fixtures[0]
        for arguments in [["tokenize", model], ["tokenize", model, "--text", "a", "--lines", "f"],
                          ["tokenize", model, "--decode", "1,x"], ["tokenize", model, "--lines", "f", "--pair", "b"],
                          ["tokenize", model, "--decode", "1", "--no-special-tokens"], ["tokenize"]] {
            let r = try recast(arguments)
            #expect(r.status == 64, "\(arguments): \(r.stderr)")
            #expect(r.stderr.hasPrefix("recast: error: "), "\(r.stderr)")
        }
    }
}
