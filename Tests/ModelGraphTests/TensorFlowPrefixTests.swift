import Testing
import TestSupport
import RecastCore
import Checkpoint
@testable import ModelGraph

/// Hugging Face's TF → PyTorch rule for the base-model prefix: the base class (`BertModel`) has no `bert.`,
/// a class with a head (`BertForMaskedLM`) keeps it. `convert --names pytorch` must give the names of the
/// PyTorch checkpoint of the same class.
@Suite struct TensorFlowPrefixTests {
    func table(_ name: String) throws -> NameTable {
        try NameTable(store: try Checkpoint.open(fixture(name)), modelPath: fixture(name))
    }

    @Test func baseModelLosesThePrefix() throws {
        // bert-tf: TFBertModel (scope tf_bert_model), "architectures": ["BertModel"].
        let names = Set(try table("bert-tf").canonicalNames)
        let pytorch = Set(try Checkpoint.open(fixture("bert")).tensors.map { String($0.name.dropFirst("bert.".count)) })
        #expect(names == pytorch, "\(names.symmetricDifference(pytorch).sorted())")
        #expect(names.contains("encoder.layer.0.attention.self.query.weight") && names.contains("pooler.dense.weight"))
        #expect(!names.contains { $0.hasPrefix("bert.") })
    }

    @Test func modelWithAHeadKeepsThePrefix() throws {
        // bert-tf-mlm: TFBertForMaskedLM (scope tf_bert_for_masked_lm), "architectures": ["BertForMaskedLM"].
        let names = Set(try table("bert-tf-mlm").canonicalNames)
        let pytorch = Set(try Checkpoint.open(fixture("bert-mlm")).tensors.map(\.name))
        #expect(names == pytorch, "\(names.symmetricDifference(pytorch).sorted())")
        #expect(names.contains("bert.encoder.layer.1.output.dense.weight") && names.contains("cls.predictions.transform.dense.weight"))
    }

    /// Without a config, the TF scope names the class.
    @Test func withoutAConfigTheScopeDecides() throws {
        #expect(Set(NameTable(store: try Checkpoint.open(fixture("bert-tf"))).canonicalNames).contains("embeddings.word_embeddings.weight"))
        #expect(Set(NameTable(store: try Checkpoint.open(fixture("bert-tf-mlm"))).canonicalNames).contains("bert.embeddings.word_embeddings.weight"))
    }

    @Test func theRule() {
        let cases: [(String?, String?, Bool)] = [
            ("BertModel", "tf_bert_model", true), ("TFBertModel", nil, true), ("RobertaModel", nil, true), ("GPT2Model", nil, true),
            ("BertForMaskedLM", "tf_bert_model", false), ("BertForPreTraining", nil, false), ("BertLMHeadModel", nil, false),
            ("GPT2LMHeadModel", nil, false), ("GPT2DoubleHeadsModel", nil, false), ("LlamaForCausalLM", nil, false),
            (nil, "tf_bert_model", true), (nil, "tf_roberta_model", true), (nil, "tf_bert_for_masked_lm", false),
            (nil, "tfgp_t2lm_head_model", false), (nil, "tf_bert_for_sequence_classification", false), (nil, nil, false),
        ]
        for (architecture, scope, strips) in cases {
            #expect(NameTable.stripsBasePrefix(architecture: architecture, scope: scope) == strips, "\(String(describing: architecture)) \(String(describing: scope))")
        }
    }

    /// Both spellings map onto the same graph, so a TF base model still runs and swaps.
    @Test func graphsOfBothClasses() throws {
        let base = try Model(path: fixture("bert-tf")).graph()
        #expect(base.prefix == "" && base.blocks[1].attention.modulePath == "encoder.layer.1.attention.self")
        let head = try Model(path: fixture("bert-tf-mlm")).graph()
        #expect(head.prefix == "bert." && head.ignoredTensors.allSatisfy { $0.contains("mlm___cls") }, "\(head.ignoredTensors)")
    }
}
