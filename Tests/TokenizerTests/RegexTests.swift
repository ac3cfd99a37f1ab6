import Foundation
import RecastCore
import TestSupport
import Testing
@testable import Tokenizer

/// Regex constructs beyond the real tokenizer patterns, each checked against Oniguruma (through
/// `tokenizers`' Split, which isolates every match).
let regexCases: [String] = [
    #"\\w+"#, #"\\W+"#, #"\\d+|\\D"#, #"\\S+"#, #"\\s"#, #"[a-z]+"#, #"[^a-zA-Z0-9 ]+"#, #"[\\p{Lu}\\p{Lt}]+[\\p{Ll}]*"#,
    #"\\P{L}+"#, #"\\p{^N}+"#, #"[\\p{P}\\p{S}]"#, #"\\p{M}+"#, #"(?i:hello|world)"#, #"(?i)it's"#, #"(?i:[a-c]+)"#,
    #"\\d{2,3}"#, #"\\d{2}"#, #"\\d{2,}"#, #"\\p{L}{,2}"#, #"\\p{L}+?e"#, #"(?:ab|a)(?:c|bc)"#, #"(a|ab)(c|bcd)(d*)"#,
    #"\\s+(?=\\S)"#, #"\\w+(?!\\w)"#, #"(?!\\s)\\p{L}"#, #"^\\w+"#, #"\\w+$"#, #"\\A\\S+"#, #"\\S+\\z"#, #"\\b\\w"#, #"\\B\\w"#,
    #"\\x41|\\x{1F44D}|\\u00e9"#, #"[\\t\\n\\r]+"#, #"."#, #"a?"#, #"x*"#, #"[-a]"#, #"[a-]"#, #"[]a]"#, #"\\.\\.\\."#,
    #"(?:\\p{L}\\p{M}*)+"#, #"[\\u4e00-\\u9fff]+"#, #"[^\\x00-\\x7f]+"#, #"'(?:s|t)"#, #"\\p{N}{1,3}(?=(?:\\p{N}{3})*\\b)"#,
]

@Test(arguments: regexCases)
func regexMatchesOniguruma(pattern: String) throws {
    try expectSameAsTokenizers(preTokenizer: split(pattern))
}

@Test func unsupportedRegexSyntaxIsAnErrorNamingThePosition() {
    let bad: [(String, Int, String)] = [
        (#"ab(?<=c)"#, 2, "lookbehind"),
        (#"a++"#, 2, "possessive"),
        (#"(a"#, 0, "missing ')'"),
        (#"a)"#, 1, "unbalanced ')'"),
        (#"[z-a]"#, 1, "out of order"),
        (#"\p{Greek}"#, 0, "\\p{Greek}"),
        (#"(?x:a)"#, 2, "inline flag 'x'"),
        (#"(?:a?)*"#, 6, "can match nothing"),
        (#"*a"#, 0, "needs something to repeat"),
        (#"a{3,1}"#, 1, "is empty"),
        (#"\k<a>"#, 0, "'\\k'"),
        (#"[[:alpha:]]"#, 1, "POSIX"),
        (#"\"#, 0, "cannot end with"),
    ]
    for (pattern, position, message) in bad {
        do {
            _ = try TokenizerRegex(pattern)
            Issue.record("no error for \(pattern)")
        } catch {
            #expect(error.position == position, "\(error)")
            #expect(error.description.contains(message), "\(error) should say \(message)")
            #expect(error.description.contains(String(reflecting: pattern)), "\(error)")
        }
    }
}

/// A pattern that backtracks exponentially stops with an error instead of hanging.
@Test func catastrophicBacktrackingIsAnErrorNotAHang() throws {
    let regex = try TokenizerRegex("(a|aa)*c")
    let text = String(repeating: "a", count: 200)
    let start = Date()
    #expect(throws: RegexError.self) { _ = try regex.matches(in: text) }
    #expect(Date().timeIntervalSince(start) < 30)
    // Through Split, the error reaches the caller.
    let splitter = try PreTokenizers.make(try componentJSON(split("(a|aa)*c")), file: "t.json")
    #expect(throws: RegexError.self) { _ = try splitter.split(NormalizedString(text)) }
}

/// Long runs stay linear: 200,000 spaces then a letter, and 200,000 letters, through the GPT-2 pattern.
@Test func longRunsAreFast() throws {
    let regex = try TokenizerRegex(#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#)
    let start = Date()
    let spaces = try regex.matches(in: String(repeating: " ", count: 200_000) + "x")
    #expect(spaces == [0..<199_999, 199_999..<200_001])
    let letters = try regex.matches(in: String(repeating: "é", count: 200_000))
    #expect(letters == [0..<200_000])
    #expect(Date().timeIntervalSince(start) < 10)
}

/// A pattern nested deeper than any tokenizer's is an error naming the depth, not a stack overflow:
/// 5,000 nested groups or classes used to crash `recast tokenize`.
@Test func deeplyNestedPatternsAreErrorsNotCrashes() throws {
    for (open, close) in [("(", ")"), ("(?:", ")"), ("[", "]")] {
        let pattern = String(repeating: open, count: 5000) + "a" + String(repeating: close, count: 5000)
        do {
            _ = try TokenizerRegex(pattern)
            Issue.record("no error for \(open)… nested 5000 deep")
        } catch {
            #expect(error.description.contains("nest more than 64 deep"), "\(error)")
        }
    }
    // Real patterns nest far less: 64 levels still parse and match.
    let deep = try TokenizerRegex(String(repeating: "(", count: 64) + "a" + String(repeating: ")", count: 64))
    #expect(try deep.matches(in: "xa") == [1..<2])
}
