import Foundation
import RecastCore
import Testing
import TestSupport
@testable import Tokenizer

// MARK: - Cross-checking with Python `tokenizers` (tools/tokenizer_fixtures.py, tools/tokenizer_corpus.py)

/// A tokenizer.json trained by `tokenizers` (tools/tokenizer_fixtures.py train KIND), as editable JSON.
func trainedTokenizer(_ kind: String) throws -> JSON {
    let dir = TempDir()
    let path = dir.file("tokenizer.json")
    let r = try python([repoRoot + "/tools/tokenizer_fixtures.py", "train", kind, path])
    guard r.status == 0 else { throw TokenizerError(file: kind, "training failed: \(r.stderr)") }
    return try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
}

/// Python `tokenizers`' encodings and decodings of `texts`, `pairs` and `decode` under `tokenizerPath`
/// (tools/tokenizer_corpus.py run; padding and truncation off, as Recast encodes).
func reference(_ tokenizerPath: String, texts: [String] = [], pairs: [(String, String)] = [], decode: [[Int]] = []) throws -> JSON {
    let request = JSON.object([
        ("texts", .array(texts.map { .string($0) })),
        ("pairs", .array(pairs.map { .array([.string($0.0), .string($0.1)]) })),
        ("decode", .array(decode.map { .array($0.map { .int($0) }) })),
    ])
    let r = try runProcess("/usr/bin/env", ["python3", repoRoot + "/tools/tokenizer_corpus.py", "run", tokenizerPath],
                           stdin: request.serialized())
    guard r.status == 0 else { throw TokenizerError(file: tokenizerPath, "python tokenizers failed: \(r.stderr)") }
    return try JSON.parse(r.stdout)
}

/// An encoding as the Python side prints it.
func referenceJSON(_ e: Encoding) -> JSON {
    .object([
        ("ids", .array(e.ids.map { .int($0) })),
        ("tokens", .array(e.tokens.map { .string($0) })),
        ("offsets", .array(e.offsets.map { .array([.int($0.lowerBound), .int($0.upperBound)]) })),
        ("type_ids", .array(e.typeIds.map { .int($0) })),
        ("special_tokens_mask", .array(e.specialTokensMask.map { .int($0 ? 1 : 0) })),
    ])
}

/// Writes `json` as tokenizer.json in `dir` and checks that Recast encodes `texts` (with and without special
/// tokens) and `pairs`, and decodes `decode`, exactly as Python `tokenizers` does. Returns the tokenizer.
@discardableResult
func expectSameAsTokenizers(_ json: JSON, texts: [String], pairs: [(String, String)] = [], decode: [[Int]] = [],
                            in dir: TempDir = TempDir(), sourceLocation: SourceLocation = #_sourceLocation) throws -> Tokenizer {
    let path = dir.write("tokenizer.json", json.serialized())
    let tokenizer = try Tokenizer(file: path)
    let expected = try reference(path, texts: texts, pairs: pairs, decode: decode)
    var mismatches = 0
    for (i, text) in texts.enumerated() where mismatches < 5 {
        for (key, special) in [("encodings", true), ("plain", false)] {
            let ours = referenceJSON(try tokenizer.encode(text, addSpecialTokens: special))
            let theirs = expected[key]?.arrayValue?[i]
            if ours != theirs {
                mismatches += 1
                Issue.record("\(key) of \(text.debugDescription): \(difference(ours, theirs))", sourceLocation: sourceLocation)
            }
        }
    }
    for (i, (a, b)) in pairs.enumerated() {
        let ours = referenceJSON(try tokenizer.encode(a, pair: b))
        let theirs = expected["pairs"]?.arrayValue?[i]
        if ours != theirs {
            Issue.record("pair \(a.debugDescription) + \(b.debugDescription): \(difference(ours, theirs))", sourceLocation: sourceLocation)
        }
    }
    for (i, ids) in decode.enumerated() {
        let theirs = expected["decoded"]?.arrayValue?[i]
        #expect(try tokenizer.decode(ids, skipSpecialTokens: true) == theirs?["skip"]?.stringValue, "decode \(ids)", sourceLocation: sourceLocation)
        #expect(try tokenizer.decode(ids, skipSpecialTokens: false) == theirs?["keep"]?.stringValue, "decode \(ids) keeping special tokens", sourceLocation: sourceLocation)
    }
    return tokenizer
}

/// The fields where two encodings differ, compactly.
func difference(_ ours: JSON, _ theirs: JSON?) -> String {
    ["ids", "tokens", "offsets", "type_ids", "special_tokens_mask"].compactMap { key in
        ours[key] == theirs?[key] ? nil : "\(key):\n  recast     \(ours[key]?.serialized() ?? "nil")\n  tokenizers \(theirs?[key]?.serialized() ?? "nil")"
    }.joined(separator: "\n")
}

/// Lines of real English text (the licence texts) and hard cases.
func sampleLines(_ count: Int) -> [String] {
    var lines: [String] = []
    for name in ["GPL-3", "Apache-2.0", "MPL-2.0", "Artistic"] {
        let text = (try? String(contentsOfFile: "/usr/share/common-licenses/" + name, encoding: .utf8)) ?? ""
        lines += text.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }
    var out = Array(lines.prefix(count))
    out += ["", " ", "   leading and trailing   ", "naïve café — résumé", "e\u{301}te\u{301} cafe\u{301}", "東京タワー 北京 서울",
            "👍🏽 👨‍👩‍👧 🇫🇷", "Привет, мир!", "مرحبا بالعالم שלום", "tab\tnew\nline\r\nend", "x = f(y) + 42 * 3.14159;",
            "a\u{0}b\u{7f}c", "\u{200d}\u{feff}\u{2028}", String(repeating: "ab", count: 300), "1234567890 0.5 -7e10"]
    return out
}

/// Text in GPT-2's byte alphabet, word by word (what the ByteLevel pre-tokenizer hands the model).
func byteLevel(_ text: String) -> String {
    var s = String.UnicodeScalarView()
    for b in text.utf8 { s.append(ByteLevelAlphabet.characterOfByte[Int(b)]) }
    return String(s)
}

extension JSON {
    /// Sets `value` at `path` of nested objects.
    mutating func set(_ path: [String], _ value: JSON) {
        guard let first = path.first else { self = value; return }
        var child = self[first] ?? .object([])
        child.set(Array(path.dropFirst()), value)
        set(first, child)
    }
}

// MARK: - Models

@Suite struct ModelTests {
    @Test func byteLevelBPEMatchesTokenizers() throws {
        var json = try trainedTokenizer("bytelevel-bpe")
        json.set("normalizer", .null)
        json.set("pre_tokenizer", .null)
        // Raw `Ġ` input is 2 bytes where the real text has a 1-byte space: trimming is tested in PostProcessorTests.
        json.set("post_processor", .null)
        let texts = sampleLines(150).map { line in line.split(separator: " ", omittingEmptySubsequences: false).map { byteLevel(" " + $0) }.joined() }
        let tokenizer = try expectSameAsTokenizers(json, texts: texts + ["<|endoftext|>Ġhello<|endoftext|>"],
                                                   decode: [[0, 1, 2, 3], Array(0..<300), [0, 200, 0]])
        #expect(tokenizer.vocabSize == json["model"]?["vocab"]?.objectValue?.count)
    }

    @Test func mergesStoredAsStringsGiveTheSameTokens() throws {
        var json = try trainedTokenizer("bytelevel-bpe")
        json.set("pre_tokenizer", .null)
        json.set("post_processor", .null)  // raw `Ġ` input: see byteLevelBPEMatchesTokenizers
        let pairs = json["model"]?["merges"]?.arrayValue ?? []
        #expect(pairs.count > 100)
        json.set(["model", "merges"], .array(pairs.map { p in .string((p.arrayValue ?? []).compactMap(\.stringValue).joined(separator: " ")) }))
        try expectSameAsTokenizers(json, texts: sampleLines(60).map(byteLevel))
    }

    @Test func ignoreMergesTakesWholeWordsFromTheVocabulary() throws {
        var json = try trainedTokenizer("bytelevel-bpe")
        json.set("pre_tokenizer", .null)
        json.set("post_processor", .null)  // raw `Ġ` input: see byteLevelBPEMatchesTokenizers
        json.set(["model", "ignore_merges"], .bool(true))
        // A vocabulary word that merges would not produce: it must come out whole.
        json.set(["model", "vocab", "ĠlicenseXYZ"], .int(json["model"]?["vocab"]?.objectValue?.count ?? 0))
        try expectSameAsTokenizers(json, texts: ["ĠlicenseXYZ", "ĠlicenseXY", "Ġthe", "Ġsoftware"] + sampleLines(20).map(byteLevel))
    }

    @Test func byteFallbackBPEMatchesTokenizers() throws {
        var json = try trainedTokenizer("bytefallback-bpe")
        json.set("normalizer", .null)
        let texts = sampleLines(120).map { "▁" + $0.replacingOccurrences(of: " ", with: "▁") }
        try expectSameAsTokenizers(json, texts: texts, pairs: [("▁a▁b", "▁c"), ("", "▁x")],
                                   decode: [[1, 3 + 0xE2, 3 + 0x82, 3 + 0xAC, 300], [3 + 0xFF, 400, 3 + 0xC3], [0, 1, 2]])
    }

    @Test func unknownCharactersWithAndWithoutFusing() throws {
        var json = try trainedTokenizer("bytefallback-bpe")
        json.set("normalizer", .null)
        json.set(["model", "byte_fallback"], .bool(false))
        let texts = ["▁日本語▁text▁ü", "▁👍🏽👍🏽▁end", "▁漢字漢字漢字", "▁a漢b字c"]
        try expectSameAsTokenizers(json, texts: texts)
        json.set(["model", "fuse_unk"], .bool(false))
        try expectSameAsTokenizers(json, texts: texts)
        // No unknown token: unknown characters are dropped.
        json.set(["model", "unk_token"], .null)
        try expectSameAsTokenizers(json, texts: texts)
    }

    @Test func subwordPrefixAndWordSuffixMatchTokenizers() throws {
        var json = try trainedTokenizer("suffix-bpe")
        json.set("pre_tokenizer", .null)
        let words = sampleLines(80).flatMap { $0.split(separator: " ").map(String.init) }
        try expectSameAsTokenizers(json, texts: Array(words.prefix(400)) + ["x", "ü", "日本"])
    }

    @Test func wordPieceMatchesTokenizers() throws {
        var json = try trainedTokenizer("wordpiece")
        json.set("normalizer", .null)
        json.set("pre_tokenizer", .null)
        json.set("post_processor", .null)
        let words = sampleLines(80).flatMap { $0.lowercased().split(separator: " ").map(String.init) }
        try expectSameAsTokenizers(json, texts: Array(words.prefix(400)) + ["unbelievablyextraordinarilylongwordhere", "ünïcödé", "日本", "[UNK]"],
                                   decode: [[5, 6, 7, 8], [2, 100, 200, 3]])
    }

    @Test func longWordsAreNotQuadratic() throws {
        var json = try trainedTokenizer("bytelevel-bpe")
        json.set("pre_tokenizer", .null)
        let dir = TempDir()
        let tokenizer = try Tokenizer(file: dir.write("tokenizer.json", json.serialized()))
        let short = String(repeating: "Ġthe", count: 5_000)
        let long = String(repeating: "Ġthe", count: 40_000)
        var clock = ContinuousClock.now
        let a = try tokenizer.encode(short)
        let tShort = ContinuousClock.now - clock
        clock = .now
        let b = try tokenizer.encode(long)
        let tLong = ContinuousClock.now - clock
        #expect(b.count == 8 * a.count)
        // 8× the text must cost well under 64× the time (a quadratic merge would).
        #expect(tLong < tShort * 24 + .milliseconds(50), "short \(tShort), long \(tLong)")
    }

    @Test func dropoutIsRefused() throws {
        var json = try trainedTokenizer("bytelevel-bpe")
        json.set(["model", "dropout"], .double(0.1))
        let dir = TempDir()
        let path = dir.write("tokenizer.json", json.serialized())
        let error = #expect(throws: TokenizerError.self) { try Tokenizer(file: path) }
        #expect(error?.description.contains("dropout") == true)
        #expect(error?.file == path)
    }

    @Test(arguments: [
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}"#, "'b'"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}"#, "'ab'"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}}"#, "merges[0]"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]}}"#, "merges[0]"),
        (#"{"model": {"type": "BPE", "vocab": [1, 2], "merges": []}}"#, "'vocab'"),
        (#"{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}"#, "-1"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 99999999999}, "merges": []}}"#, "99999999999"),
        (#"{"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}}"#, "'a'"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}}}"#, "'merges'"),
        (#"{"model": {"type": "WordPiece", "vocab": {"a": 0}, "max_input_chars_per_word": "many"}}"#, "max_input_chars_per_word"),
        (#"{"model": {"type": "Unigram", "vocab": [["a", -1.0]]}}"#, "Unigram"),
        (#"{"model": {"type": "Mystery"}}"#, "'Mystery'"),
        (#"{"model": 3}"#, "'model'"),
        (#"{"version": "1.0"}"#, "'model'"),
        (#"[1, 2]"#, "top level"),
        (#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}, "post_processor": {"type": "BertProcessing", "sep": ["[SEP]"], "cls": ["[CLS]", 1]}}"#, "'sep'"),
        (#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}, "decoder": {"type": "CTC"}}"#, "'CTC'"),
        (#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}, "padding": {"strategy": {"Fixed": -3}}}"#, "padding"),
        (#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}, "added_tokens": [{"content": "x"}]}"#, "added_tokens[0]"),
    ])
    func malformedModelsAreErrors(json: String, mentions: String) throws {
        let dir = TempDir()
        let path = dir.write("tokenizer.json", json)
        let error = #expect(throws: TokenizerError.self) { try Tokenizer(file: path) }
        #expect(error?.description.contains(mentions) == true, "\(error?.description ?? "no error")")
        #expect(error?.file == path)
    }

    @Test func missingUnknownTokenIsAnErrorWhenNeeded() throws {
        let dir = TempDir()
        let path = dir.write("tokenizer.json", ###"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"a": 0, "##b": 1}}}"###)
        let tokenizer = try Tokenizer(file: path)
        #expect(try tokenizer.encode("ab").ids == [0, 1])
        let error = #expect(throws: TokenizerError.self) { try tokenizer.encode("ax") }
        #expect(error?.description.contains("'[UNK]'") == true)
    }
}
