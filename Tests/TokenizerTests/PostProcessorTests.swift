import Foundation
import RecastCore
import Testing
import TestSupport
@testable import Tokenizer

@Suite struct PostProcessorTests {
    /// The trained byte-level BPE (fed byte-level text, no pre-tokenizer) with `processor`.
    func byteLevel(with processor: String) throws -> JSON {
        var json = try trainedTokenizer("bytelevel-bpe")
        json.set("pre_tokenizer", .null)
        json.set("post_processor", try JSON.parse(processor))
        return json
    }

    let texts = ["ĠHelloĠworld", "ĠĠĠspacesĠĠ", "Ġthe", "", "the<|endoftext|>Ġend", "ĠaĠĠ"]
    let pairs = [("ĠHello", "Ġworld"), ("", "Ġx"), ("ĠaĠ", ""), ("ĠĠtwo", "Ġpieces ĠĠ")]

    @Test(arguments: [
        #"{"type": "BertProcessing", "sep": ["<|endoftext|>", 0], "cls": ["Ġthe", 200]}"#,
        #"{"type": "RobertaProcessing", "sep": ["<|endoftext|>", 0], "cls": ["Ġthe", 200], "trim_offsets": true, "add_prefix_space": true}"#,
        #"{"type": "RobertaProcessing", "sep": ["<|endoftext|>", 0], "cls": ["Ġthe", 200], "trim_offsets": false, "add_prefix_space": false}"#,
        #"{"type": "RobertaProcessing", "sep": ["<|endoftext|>", 0], "cls": ["Ġthe", 200], "trim_offsets": true, "add_prefix_space": false}"#,
        #"{"type": "ByteLevel", "trim_offsets": true, "add_prefix_space": true}"#,
        #"{"type": "ByteLevel", "trim_offsets": true, "add_prefix_space": false}"#,
        #"{"type": "ByteLevel", "trim_offsets": false}"#,
        #"{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<eos>", "type_id": 2}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<eos>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "<eos>", "type_id": 1}}], "special_tokens": {"<bos>": {"id": "<bos>", "ids": [0, 201], "tokens": ["<|endoftext|>", "x"]}, "<eos>": {"id": "<eos>", "ids": [0], "tokens": ["<|endoftext|>"]}}}"#,
        #"{"type": "Sequence", "processors": [{"type": "ByteLevel", "trim_offsets": true, "add_prefix_space": false}, {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]}}}]}"#,
    ])
    func processorMatchesTokenizers(processor: String) throws {
        try expectSameAsTokenizers(try byteLevel(with: processor), texts: texts, pairs: pairs)
    }

    @Test func pairsWithoutAPostProcessorGetTypeIDOne() throws {
        var json = try byteLevel(with: "null")
        json.set("post_processor", .null)
        let tokenizer = try expectSameAsTokenizers(json, texts: texts, pairs: pairs)
        #expect(try tokenizer.encode("Ġa", pair: "Ġb").typeIds == [0, 1])
    }

    @Test func templateNamingAnUnknownSpecialTokenIsAnError() throws {
        let dir = TempDir()
        let path = dir.write("tokenizer.json", #"{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}], "pair": [], "special_tokens": {}}}"#)
        let error = #expect(throws: TokenizerError.self) { try Tokenizer(file: path) }
        #expect(error?.description.contains("TemplateProcessing") == true)
        #expect(error?.description.contains("'<x>'") == true)
    }
}
