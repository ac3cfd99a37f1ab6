import Testing
import TestSupport
import RecastCore
import Checkpoint
@testable import ModelGraph

@Suite struct GraphTests {
    func graph(_ name: String) throws -> ModelGraph { try Model(path: fixture(name)).graph() }

    @Test func gpt2() throws {
        let g = try graph("gpt2")
        #expect(g.family == .gpt2 && g.layerCount == 2 && g.heads == 4 && g.headDim == 8 && g.hiddenSize == 32)
        #expect(g.causal && g.tiedEmbeddings && g.prefix == "")
        let a = g.blocks[1].attention
        #expect(a.query.weight.name == "h.1.attn.c_attn.weight" && a.query.layout == .inOut)
        #expect(a.query.outputSlice == 0..<32 && a.key.outputSlice == 32..<64 && a.value.outputSlice == 64..<96)
        #expect(a.modulePath == "h.1.attn")
        #expect(g.blocks[0].mlp.activation == .geluTanh)
        // The causal-mask buffers are recognised, so nothing is left unaccounted for.
        #expect(g.ignoredTensors.isEmpty, "\(g.ignoredTensors)")
        #expect(g.lmHead?.weight.name == "wte.weight")
    }

    @Test func gpt2WithPrefix() throws {
        let g = try graph("gpt2-prefixed")
        #expect(g.prefix == "transformer.")
        #expect(g.blocks[0].attention.modulePath == "transformer.h.0.attn")
        #expect(g.embeddings.token.name == "transformer.wte.weight")
    }

    @Test func bert() throws {
        let g = try graph("bert")
        #expect(g.family == .bert && !g.causal && g.lmHead == nil && g.prefix == "bert.")
        #expect(g.blocks[0].placement == .post && g.blocks[0].mlp.activation == .gelu)
        #expect(g.blocks[1].attention.modulePath == "bert.encoder.layer.1.attention.self")
        #expect(g.embeddings.tokenType != nil && g.embeddings.norm != nil)
        #expect(g.ignoredTensors.allSatisfy { $0.contains("pooler") }, "only the pooler is unused: \(g.ignoredTensors)")
    }

    @Test func bertFromTensorFlowMapsToTheSameGraph() throws {
        let tf = try graph("bert-tf"), pt = try graph("bert")
        #expect(tf.family == pt.family && tf.layerCount == pt.layerCount && tf.hiddenSize == pt.hiddenSize)
        let q = tf.blocks[0].attention.query
        #expect(q.weight.name == "bert/tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0")
        #expect(q.weight.storedTransposed && q.weight.shape == [32, 32])
        #expect(tf.embeddings.position?.storedTransposed == false)
        // Same numbers once loaded in canonical layout.
        let mt = try Model(path: fixture("bert-tf")), mp = try Model(path: fixture("bert"))
        for (a, b) in zip(tf.blocks, pt.blocks) {
            for (x, y) in [(a.attention.query, b.attention.query), (a.mlp.up, b.mlp.up), (a.attention.output, b.attention.output)] {
                let wx = try x.load(from: mt.store), wy = try y.load(from: mp.store)
                #expect(wx.weight == wy.weight && wx.bias == wy.bias)
            }
        }
    }

    @Test func tensorFlowNameRules() {
        let cases: [(String, String, Bool)] = [
            ("tf_bert_model/bert/encoder/layer_._11/attention/self/query/kernel:0", "bert.encoder.layer.11.attention.self.query.weight", true),
            ("tf_bert_model/bert/embeddings/LayerNorm/gamma:0", "bert.embeddings.LayerNorm.weight", false),
            ("tf_bert_model/bert/embeddings/LayerNorm/beta:0", "bert.embeddings.LayerNorm.bias", false),
            ("tf_bert_model/bert/embeddings/position_embeddings/embeddings:0", "bert.embeddings.position_embeddings.weight", false),
            ("tfgp_t2lm_head_model/transformer/h_._0/attn/c_attn/weight:0", "transformer.h.0.attn.c_attn.weight", false),
            ("tf_bert_for_masked_lm/mlm___cls/predictions/bias:0", "cls.predictions.bias", false),
        ]
        for (tf, pt, t) in cases {
            let got = NameTable.pytorchName(tfWeightName: tf)
            #expect(got?.name == pt && got?.transpose == t, "\(tf) → \(String(describing: got))")
        }
    }

    @Test func llamaGroupedQueryAttention() throws {
        let g = try graph("llama")
        #expect(g.family == .llama && g.heads == 4 && g.kvHeads == 2 && g.headDim == 8 && !g.tiedEmbeddings)
        let a = g.blocks[0].attention
        #expect(a.rotary == Rotary(theta: 10000, dimensions: 8))
        #expect(a.key.outFeatures == 16 && a.query.outFeatures == 32 && a.query.bias == nil)
        #expect(g.lmHead?.weight.name == "lm_head.weight")
        #expect(g.blocks[0].mlp.gate != nil && g.blocks[0].attentionNorm.kind == .rmsNorm)
    }

    @Test func qwen2BiasesAndTiedHead() throws {
        let g = try graph("qwen2")
        #expect(g.modelType == "qwen2" && g.tiedEmbeddings)
        #expect(g.blocks[0].attention.query.bias != nil && g.blocks[0].attention.output.bias == nil)
        #expect(g.blocks[0].attention.rotary?.theta == 1_000_000)
    }

    @Test func swappedCheckpointsCarryTheirFeatureMaps() throws {
        let g = try graph("gpt2-t2r")
        #expect(g.linearAttention?.featureMap == .t2r && g.linearAttention?.layers == [0, 1])
        #expect(g.blocks[0].attention.featureMap?.query["weight"]?.name == "h.0.attn.feature_map_q.weight")
        let p = try graph("qwen2-performer")
        #expect(p.blocks[1].attention.featureMap?.shared["projection"]?.shape == [4, 16, 8])
    }

    /// A checkpoint that disagrees with its config is rejected with every problem listed.
    @Test func validationListsEveryProblem() throws {
        let dir = TempDir()
        let store = try Checkpoint.open(fixture("llama"))
        var config = try JSON.parse(try FileSystem.readAll(fixture("llama/config.json")))
        config.set("num_attention_heads", .int(3))     // does not divide 32, and 2 kv heads do not divide 3
        config.set("intermediate_size", .int(48))      // every MLP shape is now off
        config.set("num_hidden_layers", .int(3))       // layer 2 is missing
        config.set("rms_norm_eps", .string("small"))   // ill-typed key
        config.set("head_dim", .null)
        do {
            _ = try ModelGraph.build(config: config, configFile: dir.file("config.json"), store: store)
            Issue.record("expected a GraphError")
        } catch let e as GraphError {
            let text = e.description
            #expect(text.contains("not divisible by the 3 attention heads"))
            #expect(text.contains("key/value heads do not divide"))
            #expect(text.contains("model.layers.2.self_attn.q_proj.weight' is missing"))
            #expect(text.contains("model.layers.0.mlp.up_proj.weight' has shape [64, 32], expected [48, 32]"))
            #expect(text.contains("rms_norm_eps"))
            #expect(e.problems.count > 10, "every problem is listed, not only the first")
        }
    }

    @Test func unknownFamilyAndMissingConfig() throws {
        let store = try Checkpoint.open(fixture("gpt2"))
        #expect(throws: GraphError.self) { try ModelGraph.build(config: .object([("model_type", .string("t5"))]), configFile: "c.json", store: store) }
        #expect(throws: GraphError.self) { try ModelGraph.build(config: .object([]), configFile: "c.json", store: store) }
        // A bare tensor file without config.json is not a recognised transformer.
        let m = try Model(path: fixture("dtypes.safetensors"))
        #expect(!m.isRecognisedTransformer)
        #expect(throws: GraphError.self) { try m.graph() }
    }

    @Test func wrongFamilyForTheTensors() throws {
        let store = try Checkpoint.open(fixture("bert"))
        let config = try JSON.parse(try FileSystem.readAll(fixture("gpt2/config.json")))
        do {
            _ = try ModelGraph.build(config: config, configFile: "config.json", store: store)
            Issue.record("expected an error")
        } catch let e as GraphError {
            #expect(e.description.contains("not a GPT-2 checkpoint"))
        }
    }

    @Test func parameterCountsAddUp() throws {
        let g = try graph("gpt2")
        let store = try Checkpoint.open(fixture("gpt2"))
        let counted = g.parameterCounts().reduce(0) { $0 + $1.1 }
        let buffers = store.tensors.filter { $0.name.hasSuffix(".attn.bias") || $0.name.hasSuffix(".attn.masked_bias") }.reduce(0) { $0 + $1.elementCount }
        #expect(counted == store.parameterCount - buffers)
    }
}
