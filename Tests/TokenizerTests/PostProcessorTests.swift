import Foundation
import RecastCore
import Testing
import TestSupport
@testable import Tokenizer

@Suite struct PostProcessorTests {
    /// A BPE trained without a pre-tokenizer (its tokens hold real spaces, which post-processors trim from
    /// offsets as they trim `Ġ`), with `processor`.
    func spaceBPE(with processor: String) throws -> JSON {
        var json = try trainedTokenizer("space-bpe")
        json.set("post_processor", try JSON.parse(processor))
        return json
    }

    let texts = sampleLines(30) + ["Hello world", "   spaces  ", " the", "", "the<|endoftext|> end", " a  ", "  ", " ü ", "\t the\n"]
    let pairs = [("Hello", " world"), ("", " x"), (" a ", ""), ("  two", " pieces  ")]

    @Test(arguments: [
        #"{"type": "BertProcessing", "sep": ["<|endoftext|>", 0], "cls": ["<cls>", 200]}"#,
        #"{"type": "RobertaProcessing", "sep": ["<|endoftext|>", 0], "cls": ["<cls>", 200], "trim_offsets": true, "add_prefix_space": true}"#,
        #"{"type": "RobertaProcessing", "sep": ["<|endoftext|>", 0], "cls": ["<cls>", 200], "trim_offsets": false, "add_prefix_space": false}"#,
        #"{"type": "RobertaProcessing", "sep": ["<|endoftext|>", 0], "cls": ["<cls>", 200], "trim_offsets": true, "add_prefix_space": false}"#,
        #"{"type": "ByteLevel", "trim_offsets": true, "add_prefix_space": true}"#,
        #"{"type": "ByteLevel", "trim_offsets": true, "add_prefix_space": false}"#,
        #"{"type": "ByteLevel", "trim_offsets": false, "add_prefix_space": false}"#,
        #"{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<eos>", "type_id": 2}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<eos>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "<eos>", "type_id": 1}}], "special_tokens": {"<bos>": {"id": "<bos>", "ids": [0, 201], "tokens": ["<|endoftext|>", "x"]}, "<eos>": {"id": "<eos>", "ids": [0], "tokens": ["<|endoftext|>"]}}}"#,
        #"{"type": "Sequence", "processors": [{"type": "ByteLevel", "trim_offsets": true, "add_prefix_space": false}, {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]}}}]}"#,
    ])
    func processorMatchesTokenizers(processor: String) throws {
        try expectSameAsTokenizers(try spaceBPE(with: processor), texts: texts, pairs: pairs)
    }

    @Test func pairsWithoutAPostProcessorGetTypeIDOne() throws {
        var json = try spaceBPE(with: "null")
        json.set("post_processor", .null)
        let tokenizer = try expectSameAsTokenizers(json, texts: texts, pairs: pairs)
        #expect(try tokenizer.encode("a", pair: "b").typeIds == [0, 1])
    }

    @Test func templateNamingAnUnknownSpecialTokenIsAnError() throws {
        let dir = TempDir()
        let path = dir.write("tokenizer.json", #"{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}], "pair": [], "special_tokens": {}}}"#)
        let error = #expect(throws: TokenizerError.self) { try Tokenizer(file: path) }
        #expect(error?.description.contains("TemplateProcessing") == true)
        #expect(error?.description.contains("'<x>'") == true)
    }
}
