import Foundation
import RecastCore
import TestSupport
import Testing
@testable import Tokenizer

/// Inputs that exercise the text components: contractions in both cases, white space runs and line
/// ends, accents precomposed and combining (out of canonical order too), CJK, Arabic, Hebrew, emoji with
/// skin tones and ZWJ sequences, compatibility characters, special casing, control, format, private-use and
/// unassigned characters.
let textSamples: [String] = [
    "Hello, world! It's a TEST.",
    "HOW'S IT GOING? I'LL SEE, WE'VE DONE, YOU'RE, SHE'D, I'M",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D 'ſ",
    "  leading and trailing   ",
    "tabs\tand\nnewlines\r\nand\r\rcarriage\n\n\nreturns   \n  x",
    "Café naïve résumé Ångström façade",
    "e\u{301}le\u{300}ve x\u{301}\u{323} a\u{323}\u{302} \u{1100}\u{1161}\u{11A8}",
    "中文字符测试，日本語のテキスト、한국어 텍스트",
    "العربية نص عربي مع أرقام ١٢٣",
    "עברית טקסט",
    "👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 family",
    "1234567890 3.14159 1,000,000 ２０２４ 12345678",
    "ﬁne ﬂow Ⅻ ½ ㎏ ｆｕｌｌ",
    "İstanbul ΣΑΣ ß ǅ",
    "code: for (i = 0; i < n; i++) { x += y[i]; } // done",
    "\u{00A0}nbsp\u{2003}em\u{3000}ideographic\u{200B}zwsp\u{0085}nel",
    "control\u{0001}\u{0007}chars\u{FFFD}\u{0000}end",
    // Noncharacters cannot be written in Swift literals.
    "unassigned\u{0378} nonchar" + String(String.UnicodeScalarView([0xFDD0, 0xFFFE, 0x10FFFF].compactMap(Unicode.Scalar.init)))
        + " private\u{E000}\u{F0000} format\u{AD}\u{600}",
    "",
    " ",
    "a",
    "don't   \n\n  stop 123456 abc123def!!! ?? ...",
    "▁already▁has▁metaspace and - dashes -- here-",
]

/// One text through a normalizer and/or pre-tokenizer, as `tokenizers` gives it: the normalized text,
/// and the pieces with their UTF-8 byte offsets in the input.
struct TextResult: Equatable, CustomStringConvertible {
    var normalized: String
    var pieces: [Piece]

    struct Piece: Equatable, CustomStringConvertible {
        var text: String
        var start: Int
        var end: Int
        var description: String { "\(String(reflecting: text))@\(start)..<\(end)" }
    }

    var description: String { "\(String(reflecting: normalized)) \(pieces)" }
}

/// The component JSON, parsed for the Swift factories.
func componentJSON(_ text: String) throws -> JSONView {
    try JSONDocument.parse(Array(text.utf8)).root
}

/// Python `tokenizers`' results for `texts`, through tools/text_reference.py.
func referenceResults(normalizer: String? = nil, preTokenizer: String? = nil, perScalar: Bool = false,
                      texts: [String] = textSamples) throws -> [TextResult] {
    var spec: [(String, JSON)] = [("texts", .array(texts.map { .string($0) })), ("per_scalar", .bool(perScalar))]
    if let normalizer { spec.append(("normalizer", try JSON.parse(normalizer))) }
    if let preTokenizer { spec.append(("pre_tokenizer", try JSON.parse(preTokenizer))) }
    let dir = TempDir()
    let path = dir.write("spec.json", JSON.object(spec).serialized())
    let out = try pythonJSON("text_reference.py", [path])
    return (out["results"]?.arrayValue ?? []).map { r in
        TextResult(normalized: r["normalized"]?.stringValue ?? "?",
                   pieces: (r["pieces"]?.arrayValue ?? []).map { p in
                       let a = p.arrayValue ?? []
                       return TextResult.Piece(text: a.first?.stringValue ?? "?", start: a.count > 1 ? a[1].intValue ?? -1 : -1,
                                               end: a.count > 2 ? a[2].intValue ?? -1 : -1)
                   })
    }
}

/// Recast's results for `texts`.
func recastResults(normalizer: String? = nil, preTokenizer: String? = nil, perScalar: Bool = false,
                   texts: [String] = textSamples) throws -> [TextResult] {
    let n = try normalizer.map { try Normalizers.make(try componentJSON($0), file: "test.json") }
    let p = try preTokenizer.map { try PreTokenizers.make(try componentJSON($0), file: "test.json") }
    return try texts.map { text in
        var s = NormalizedString(text)
        try n?.normalize(&s)
        let normalized = s.string
        let pieces: [NormalizedString]
        if perScalar {
            pieces = s.scalars.indices.map { s.slice($0..<($0 + 1)) }
        } else if let p {
            pieces = try p.split(s)
        } else {
            pieces = s.isEmpty ? [] : [s]
        }
        return TextResult(normalized: normalized, pieces: pieces.map { piece in
            let r = piece.originalRange(0..<piece.scalars.count)
            return TextResult.Piece(text: piece.string, start: r.lowerBound, end: r.upperBound)
        })
    }
}

/// Checks Recast against `tokenizers` on every sample, naming the first sample that differs.
func expectSameAsTokenizers(normalizer: String? = nil, preTokenizer: String? = nil, perScalar: Bool = false,
                            texts: [String] = textSamples, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let expected = try referenceResults(normalizer: normalizer, preTokenizer: preTokenizer, perScalar: perScalar, texts: texts)
    let actual = try recastResults(normalizer: normalizer, preTokenizer: preTokenizer, perScalar: perScalar, texts: texts)
    #expect(expected.count == texts.count, sourceLocation: sourceLocation)
    for (i, (e, a)) in zip(expected, actual).enumerated() where e != a {
        Issue.record("\(normalizer ?? "") \(preTokenizer ?? "") on \(String(reflecting: texts[i])):\n  tokenizers: \(e)\n  recast:     \(a)",
                     sourceLocation: sourceLocation)
    }
}

/// Normalizer configurations as real tokenizer.json files write them.
let normalizerConfigs: [String] = [
    #"{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true}"#,
    #"{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":false}"#,
    #"{"type":"BertNormalizer","clean_text":false,"handle_chinese_chars":false,"strip_accents":true,"lowercase":false}"#,
    #"{"type":"NFC"}"#, #"{"type":"NFD"}"#, #"{"type":"NFKC"}"#, #"{"type":"NFKD"}"#,
    #"{"type":"Lowercase"}"#,
    #"{"type":"Strip","strip_left":true,"strip_right":true}"#,
    #"{"type":"Strip","strip_left":false,"strip_right":true}"#,
    #"{"type":"StripAccents"}"#,
    #"{"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"StripAccents"},{"type":"Lowercase"}]}"#,
    #"{"type":"Prepend","prepend":"▁"}"#,
    #"{"type":"Replace","pattern":{"String":" "},"content":"▁"}"#,
    #"{"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "}"#,
    #"{"type":"Replace","pattern":{"Regex":"\\s+"},"content":""}"#,
    #"{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}"#,
    #"{"type":"Nmt"}"#,
]

@Test(arguments: normalizerConfigs)
func normalizerMatchesTokenizersPerScalar(config: String) throws {
    try expectSameAsTokenizers(normalizer: config, perScalar: true)
}

@Test func unknownOrBadNormalizerIsAnError() throws {
    let bad: [(String, String)] = [
        (#"{"type":"Precompiled","precompiled_charsmap":"AAAA"}"#, "normalizer 'Precompiled' is not supported"),
        (#"{"type":"Lowercas"}"#, "normalizer 'Lowercas' is not supported"),
        (#"{"type":"BertNormalizer","lowercase":"yes"}"#, "\"lowercase\" must be true or false"),
        (#"{"type":"Replace","pattern":{"Regex":"(?<=a)b"},"content":""}"#, "lookbehind is not supported"),
        (#"{"type":"Replace","pattern":{"Regex":"[a-"},"content":""}"#, "missing ']'"),
        (#"{"type":"Sequence","normalizers":[{"type":"NFC"},{"kind":"NFD"}]}"#, "has no string \"type\""),
        (#"{"type":"Prepend"}"#, "missing \"prepend\""),
    ]
    try expectComponentErrors(bad, Normalizers.make)
}

/// Each (component JSON, message) must fail to build with a `TokenizerError` naming the file and saying the message.
func expectComponentErrors<T>(_ cases: [(String, String)], _ make: (JSONView, String) throws -> T,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
    for (json, message) in cases {
        do {
            _ = try make(try componentJSON(json), "bad/tokenizer.json")
            Issue.record("no error for \(json)", sourceLocation: sourceLocation)
        } catch let e as TokenizerError {
            #expect(e.description.hasPrefix("bad/tokenizer.json: "), "\(e)", sourceLocation: sourceLocation)
            #expect(e.description.contains(message), "\(e) should say \(message)", sourceLocation: sourceLocation)
        }
    }
}
