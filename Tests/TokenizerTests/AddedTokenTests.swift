import Foundation
import RecastCore
import Testing
import TestSupport
@testable import Tokenizer

@Suite struct AddedTokenTests {
    /// The trained byte-level BPE without a pre-tokenizer, plus added tokens with every option.
    func withAddedTokens() throws -> JSON {
        var json = try trainedTokenizer("bytelevel-bpe")
        json.set("pre_tokenizer", .null)
        json.set("post_processor", .null)
        var next = json["model"]?["vocab"]?.objectValue?.count ?? 0
        var added = json["added_tokens"]?.arrayValue ?? []
        // `tokenizers` numbers added tokens itself: the vocabulary's id when the token is in it, else the next id.
        func token(_ content: String, special: Bool, lstrip: Bool = false, rstrip: Bool = false, singleWord: Bool = false) {
            let known = json["model"]?["vocab"]?[content]?.intValue
            added.append(.object([("id", .int(known ?? next)), ("content", .string(content)), ("single_word", .bool(singleWord)),
                                  ("lstrip", .bool(lstrip)), ("rstrip", .bool(rstrip)), ("normalized", .bool(false)), ("special", .bool(special))]))
            if known == nil { next += 1 }
        }
        token("<mask>", special: true, lstrip: true)
        token("<sep>", special: true, rstrip: true)
        token("<both>", special: true, lstrip: true, rstrip: true)
        token("word", special: false, singleWord: true)
        token("<s>", special: true)
        token("<s><s>", special: true) // longest match first
        token("ĠĠ", special: false)  // also a vocabulary token: it keeps its id there
        #expect(json["model"]?["vocab"]?["ĠĠ"]?.intValue != nil)
        json.set("added_tokens", .array(added))
        return json
    }

    @Test func addedTokensMatchTokenizers() throws {
        let texts = [
            "Ġhello<mask>Ġworld", "Ġhello <mask> world", "Ġhello   <mask>", "<mask>Ġstart", " <mask>", "Ġa<sep>  Ġb", "Ġa <sep>\t\nĠb",
            "Ġx  <both>  Ġy", "<both><both>", "word", "Ġa word Ġb", "Ġswordfish", "wordy", "_word", "word_", "éword", "word1", "(word)",
            "<s><s><s>", "<s><s>", "<s>x<s>", "ĠĠĠĠĠ", "<|endoftext|>Ġthe<|endoftext|>", "Ġno Ġadded Ġtokens", "",
            "<mask><sep><both>word<s>", "Ġa  <mask>  <mask>  Ġb", "Ġtab\t<both>\tĠend",
        ]
        let json = try withAddedTokens()
        let base = json["model"]?["vocab"]?.objectValue?.count ?? 0
        let tokenizer = try expectSameAsTokenizers(json, texts: texts, decode: [[base, 10, base + 1, base + 3, 0], [base + 4, base + 5, 200]])
        #expect(tokenizer.id(of: "<mask>") == base)
        #expect(tokenizer.token(of: base + 3) == "word")
        #expect(tokenizer.addedTokens.count == 8)
    }

    @Test func normalizedAddedTokensAreMatchedAfterNormalization() throws {
        // A non-special added token defaults to normalized: true; with no normalizer it still matches.
        var json = try withAddedTokens()
        var added = json["added_tokens"]?.arrayValue ?? []
        let next = (added.compactMap { $0["id"]?.intValue }.max() ?? 0) + 1
        added.append(.object([("id", .int(next)), ("content", .string("Ġzz")), ("single_word", .bool(false)),
                              ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(true)), ("special", .bool(false))]))
        json.set("added_tokens", .array(added))
        try expectSameAsTokenizers(json, texts: ["ĠaĠzzĠb", "Ġzz<mask>Ġzz", "ĠzzzĠzz"])
    }

    @Test func conflictingAddedTokensAreErrors() throws {
        let vocab = #""model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1, "b": 2}}"#
        let cases: [(String, [String])] = [
            (#"[{"id": 3, "content": "<x>"}, {"id": 4, "content": "<x>"}]"#, ["'<x>'", "3", "4"]),
            (#"[{"id": 3, "content": "<x>"}, {"id": 3, "content": "<y>"}]"#, ["'<x>'", "'<y>'", "3"]),
            (#"[{"id": 1, "content": "<x>"}]"#, ["'<x>'", "'a'", "1"]),
            (#"[{"id": -1, "content": "<x>"}]"#, ["-1"]),
            (#"[{"id": 1, "content": 5}]"#, ["added_tokens[0]", "'content'"]),
            // `tokenizers` would number these differently (3: the next id; 1: the vocabulary's).
            (#"[{"id": 5, "content": "<x>"}]"#, ["'<x>'", "5", "gives it 3"]),
            (#"[{"id": 3, "content": "<x>"}, {"id": 5, "content": "<y>"}]"#, ["'<y>'", "5", "gives it 4"]),
            (#"[{"id": 7, "content": "a"}]"#, ["'a'", "7", "gives it 1"]),
        ]
        for (added, mentions) in cases {
            let dir = TempDir()
            let path = dir.write("tokenizer.json", "{\(vocab), \"added_tokens\": \(added)}")
            let error = #expect(throws: TokenizerError.self) { try Tokenizer(file: path) }
            for m in mentions { #expect(error?.description.contains(m) == true, "\(error?.description ?? "") should name \(m)") }
        }
        // The same token listed twice with the same id, or an added token that is the vocabulary's own, is fine.
        let dir = TempDir()
        let path = dir.write("tokenizer.json", #"{\#(vocab), "added_tokens": [{"id": 1, "content": "a", "special": true}, {"id": 1, "content": "a"}]}"#)
        #expect(try Tokenizer(file: path).encode("a").ids == [1])
    }

    @Test func canonicallyEquivalentTokensStayDistinct() throws {
        // "é" and "e\u{301}" are equal Swift strings but different tokens.
        let dir = TempDir()
        let path = dir.write("tokenizer.json", #"{"model": {"type": "WordLevel", "unk_token": "?", "vocab": {"?": 0, "\u00e9": 1, "e\u0301": 2}}, "added_tokens": [{"id": 3, "content": "\u00fc!", "special": true, "normalized": false, "single_word": false, "lstrip": false, "rstrip": false}]}"#)
        let tokenizer = try expectSameAsTokenizers(try JSON.parse(Array(try String(contentsOfFile: path, encoding: .utf8).utf8)),
                                                   texts: ["\u{e9}", "e\u{301}", "u\u{308}!", "\u{fc}!"])
        #expect(tokenizer.id(of: "e\u{301}") == 2)
        #expect(tokenizer.id(of: "\u{e9}") == 1)
    }
}
