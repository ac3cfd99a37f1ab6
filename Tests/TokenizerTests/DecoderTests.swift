import Foundation
import RecastCore
import Testing
import TestSupport
@testable import Tokenizer

@Suite struct DecoderTests {
    /// A WordLevel tokenizer over `tokens` (ids in order) with `decoder`, and a special token `<s>` at the end.
    func tokenizer(_ tokens: [String], decoder: String) throws -> JSON {
        var vocab: [(String, JSON)] = tokens.enumerated().map { ($1, .int($0)) }
        vocab.append(("<s>", .int(tokens.count)))
        return .object([
            ("added_tokens", .array([.object([("id", .int(tokens.count)), ("content", .string("<s>")), ("special", .bool(true)), ("normalized", .bool(false)),
                                              ("single_word", .bool(false)), ("lstrip", .bool(false)), ("rstrip", .bool(false))])])),
            ("model", .object([("type", .string("WordLevel")), ("vocab", .object(vocab)), ("unk_token", .string(tokens[0]))])),
            ("decoder", try JSON.parse(decoder)),
        ])
    }

    static let tokens = ["[UNK]", "Ġhello", "Ġworld", "ĠcafÃ©", "Ċ", "##ing", "##s", "play", ".", "?", "'", "s", "n't", "do", "not", " ",
                         "▁Hello", "▁world", "▁", "<0xE2>", "<0x82>", "<0xAC>", "<0xFF>", "<0x41>", "▁▁x", "xx▁", "hello</w>", "world</w>",
                         "plain", "ü", ",", "'m", "'ve", "'re", " 's", "<0xZZ>", "<0x4>", "y▁▁"]

    static let decoders = [
        #"{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}"#,
        ###"{"type": "WordPiece", "prefix": "##", "cleanup": true}"###,
        ###"{"type": "WordPiece", "prefix": "##", "cleanup": false}"###,
        #"{"type": "WordPiece", "prefix": "", "cleanup": true}"#,
        #"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}"#,
        #"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": true}"#,
        #"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}"#,
        #"{"type": "ByteFallback"}"#,
        #"{"type": "Fuse"}"#,
        #"{"type": "Strip", "content": "▁", "start": 1, "stop": 2}"#,
        #"{"type": "Strip", "content": "x", "start": 3, "stop": 0}"#,
        #"{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}"#,
        #"{"type": "BPEDecoder", "suffix": "</w>"}"#,
        #"{"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}"#,
    ]

    @Test(arguments: decoders)
    func decoderMatchesTokenizers(decoder: String) throws {
        let n = DecoderTests.tokens.count
        let sequences: [[Int]] = [
            Array(0..<n), [1, 2, 4, 3], [7, 5, 6, 8, 9], [13, 14, 10, 11, 12, 8], [16, 17, 18, 19, 20, 21], [19, 20, 16, 22, 23, 22],
            [24, 25, 18, 18], [26, 27, 26], [n, 1, n, 2, n], [28, 30, 31, 32, 33, 34], [35, 36, 19], [], [n], [15, 15, 29],
            [24, 25, 37],
        ]
        try expectSameAsTokenizers(try tokenizer(DecoderTests.tokens, decoder: decoder), texts: [],
                                   decode: sequences.filter { !DecoderTests.panicsInTokenizers(decoder, $0) })
    }

    /// `tokenizers`' Strip decoder panics (an index below zero) on a token made only of its character when
    /// that token is shorter than `stop` ("▁" with stop 2): Python cannot be asked about those sequences.
    static func panicsInTokenizers(_ decoder: String, _ ids: [Int]) -> Bool {
        guard let json = try? JSON.parse(decoder), json["type"]?.stringValue == "Strip",
              let content = json["content"]?.stringValue, let stop = json["stop"]?.intValue else { return false }
        return ids.contains { id in
            guard id < tokens.count else { return false }
            let token = tokens[id]
            return !token.isEmpty && token.count < stop && token.allSatisfy { String($0) == content }
        }
    }

    @Test func noDecoderJoinsWithSpaces() throws {
        var json = try tokenizer(DecoderTests.tokens, decoder: "null")
        json.set("decoder", .null)
        try expectSameAsTokenizers(json, texts: [], decode: [[1, 2, 3], [7, 5, DecoderTests.tokens.count]])
    }

    @Test func unknownIDsAreAnError() throws {
        let dir = TempDir()
        let tokenizer = try Tokenizer(file: dir.write("tokenizer.json", try tokenizer(DecoderTests.tokens, decoder: "null").serialized()))
        let error = #expect(throws: TokenizerError.self) { try tokenizer.decode([1, 1_000_000]) }
        #expect(error?.description.contains("1000000") == true)
        #expect(throws: TokenizerError.self) { try tokenizer.decode([-1]) }
    }

    @Test func regexReplaceIsRefusedByName() throws {
        let dir = TempDir()
        let json = try tokenizer(DecoderTests.tokens, decoder: #"{"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}"#)
        let path = dir.write("tokenizer.json", json.serialized())
        let error = #expect(throws: TokenizerError.self) { try Tokenizer(file: path) }
        #expect(error?.description.contains("decoder Replace") == true)
    }
}
