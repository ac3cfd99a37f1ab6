import Foundation
import RecastCore
import TestSupport
import Testing
@testable import Tokenizer

let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"#
let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"#
let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"#
let llama3CasedPattern = #"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"#

func split(_ pattern: String, _ behavior: String = "Isolated", invert: Bool = false, string: Bool = false) -> String {
    #"{"type":"Split","pattern":{"\#(string ? "String" : "Regex")":"\#(pattern)"},"behavior":"\#(behavior)","invert":\#(invert)}"#
}

/// Pre-tokenizer configurations as real tokenizer.json files write them.
let preTokenizerConfigs: [String] = [
    #"{"type":"BertPreTokenizer"}"#,
    #"{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}"#,
    #"{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}"#,
    #"{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}"#,
    split(gpt2Pattern), split(llama3Pattern), split(qwen2Pattern), split(llama3CasedPattern),
    split(gpt2Pattern, "Removed", invert: true),
    #"{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\#(llama3Pattern)"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}"#,
    #"{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}]}"#,
    split("-", "Removed", string: true), split("-", "Isolated", string: true), split("-", "MergedWithPrevious", string: true),
    split("-", "MergedWithNext", string: true), split("-", "Contiguous", string: true), split("-", "Contiguous", invert: true, string: true),
    split(#"\\s"#, "MergedWithPrevious"), split(#"[,.!?]+"#, "MergedWithNext"), split(#"\\d"#, "Contiguous"),
    #"{"type":"Digits","individual_digits":true}"#, #"{"type":"Digits","individual_digits":false}"#,
    #"{"type":"Whitespace"}"#, #"{"type":"WhitespaceSplit"}"#,
    #"{"type":"Punctuation","behavior":"Isolated"}"#, #"{"type":"Punctuation","behavior":"Contiguous"}"#,
    #"{"type":"Punctuation","behavior":"MergedWithPrevious"}"#,
    #"{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}"#,
    #"{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true}"#,
    #"{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":false}"#,
    #"{"type":"Metaspace","replacement":"▁","add_prefix_space":true}"#,
]

@Test(arguments: preTokenizerConfigs)
func preTokenizerMatchesTokenizers(config: String) throws {
    try expectSameAsTokenizers(preTokenizer: config)
}

/// Whole text pipelines of real models: BERT (MiniLM) and SentencePiece-style Llama 2 normalisation.
@Test func normalizerAndPreTokenizerPipelinesMatchTokenizers() throws {
    try expectSameAsTokenizers(normalizer: normalizerConfigs[0], preTokenizer: #"{"type":"BertPreTokenizer"}"#)
    try expectSameAsTokenizers(normalizer: #"{"type":"NFKC"}"#, preTokenizer: split(llama3Pattern))
    try expectSameAsTokenizers(normalizer: #"{"type":"NFD"}"#, preTokenizer: #"{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}"#)
    try expectSameAsTokenizers(normalizer: #"{"type":"Lowercase"}"#, preTokenizer: #"{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true}"#)
}

/// A longer text: the licenses shipped with the system, pre-tokenized with the GPT-2 and Llama 3 patterns.
@Test func preTokenizersMatchTokenizersOnLicenses() throws {
    let files = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/share/common-licenses").sorted()) ?? []
    let texts = files.prefix(4).compactMap { try? String(contentsOfFile: "/usr/share/common-licenses/" + $0, encoding: .utf8) }
    #expect(!texts.isEmpty)
    try expectSameAsTokenizers(preTokenizer: #"{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}"#, texts: texts)
    try expectSameAsTokenizers(preTokenizer: split(llama3Pattern), texts: texts)
}

@Test func unknownOrBadPreTokenizerIsAnError() throws {
    let bad: [(String, String)] = [
        (#"{"type":"UnicodeScripts"}"#, "pre-tokenizer 'UnicodeScripts' is not supported"),
        (#"{"type":"Split","pattern":{"Regex":"\\p{Han}+"},"behavior":"Isolated","invert":false}"#, "\\p{Han} is not supported"),
        (#"{"type":"Split","pattern":{"Regex":"a"},"behavior":"Sideways","invert":false}"#, "\"behavior\" is \"Sideways\""),
        (#"{"type":"Split","pattern":"a","behavior":"Isolated","invert":false}"#, "\"pattern\" must be"),
        (#"{"type":"Metaspace","replacement":"ab","prepend_scheme":"always","split":true}"#, "\"replacement\" must be one character"),
        (#"{"type":"Metaspace","replacement":"▁","prepend_scheme":"sometimes","split":true}"#, "\"prepend_scheme\" must be"),
        (#"{"type":"Sequence","pretokenizers":{}}"#, "\"pretokenizers\" must be an array"),
        (#"["ByteLevel"]"#, "pre-tokenizer is not a JSON object"),
    ]
    for (json, message) in bad {
        do {
            _ = try PreTokenizers.make(try componentJSON(json), file: "bad/tokenizer.json")
            Issue.record("no error for \(json)")
        } catch let e as TokenizerError {
            #expect(e.description.hasPrefix("bad/tokenizer.json: "), "\(e)")
            #expect(e.description.contains(message), "\(e) should say \(message)")
        }
    }
}
