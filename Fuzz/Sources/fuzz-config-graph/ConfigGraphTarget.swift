import Checkpoint
import FuzzSupport
import ModelGraph
import RecastCore

/// The model-graph builder: the input is a `config.json`, read as `Model` reads it, and mapped onto
/// fixed stores opened once (GPT-2, Llama, BERT, BERT from TensorFlow HDF5, and linear-attention
/// variants). Building must succeed or throw a `GraphError`; a graph that builds is summarised and
/// every tensor it names is loaded and sliced as the runtime does.
nonisolated(unsafe) let stores: [TensorStore] = {
    ["gpt2", "llama", "bert", "bert-tf", "gpt2-t2r-folded", "bert-t2r", "llama-hedgehog", "qwen2-performer"].map { name in
        do { return try Checkpoint.open(Fuzz.fixture(name)) } catch {
            fatalError("fuzz set-up: cannot open fixture \(name): \(error) (set RECAST_FIXTURES to the repository's fixtures folder)")
        }
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigGraph(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = stores
    let path = Fuzz.write(UnsafeRawBufferPointer(start: data, count: size), to: "config.json")
    let config: JSON
    do {
        config = try JSON.parse(try FileSystem.readAll(path))
    } catch {
        return 0
    }
    for store in stores { build(config, path, store) }
    return 0
}

func build(_ config: JSON, _ path: String, _ store: TensorStore) {
    let graph: ModelGraph
    do {
        graph = try ModelGraph.build(config: config, configFile: path, store: store)
    } catch {
        Fuzz.invariant(error is GraphError, "building threw an unexpected \(type(of: error)): \(error)")
        return
    }
    _ = graph.json.serialized()
    Fuzz.invariant(graph.blocks.count == graph.layerCount, "layer count")
    load(graph, store)
}

/// Loads what the runtime loads: embeddings, norms, every projection sliced to its outputs, feature maps.
func load(_ graph: ModelGraph, _ store: TensorStore) {
    func attempt(_ body: () throws -> Void) {
        do { try body() } catch {
            Fuzz.invariant(error is CheckpointError, "loading threw an unexpected \(type(of: error)): \(error)")
        }
    }
    func tensor(_ ref: TensorRef?) { if let ref { attempt { _ = try ref.loadCanonical(from: store) } } }
    func projection(_ p: Projection?) {
        guard let p else { return }
        attempt {
            let (w, b) = try p.load(from: store)
            Fuzz.invariant(w.count == p.inFeatures * p.outFeatures, "projection \(p.weight.name) has \(w.count) weights")
            Fuzz.invariant(b == nil || b!.count == p.outFeatures, "projection \(p.weight.name) has \(b!.count) biases")
        }
    }
    func norm(_ n: Norm?) { tensor(n?.weight); tensor(n?.bias) }
    tensor(graph.embeddings.token)
    tensor(graph.embeddings.position)
    tensor(graph.embeddings.tokenType)
    norm(graph.embeddings.norm)
    for block in graph.blocks {
        norm(block.attentionNorm)
        norm(block.mlpNorm)
        let a = block.attention
        for p in [a.query, a.key, a.value, a.output, block.mlp.up, block.mlp.down] { projection(p) }
        projection(block.mlp.gate)
        if let maps = a.featureMap {
            for ref in Array(maps.shared.values) + Array(maps.query.values) + Array(maps.key.values) { tensor(ref) }
        }
    }
    norm(graph.finalNorm)
    projection(graph.lmHead)
}

// MARK: structure-aware mutation

/// The keys the families and the linear-attention block read, and the values they recognise.
let configMutator = JSONMutator(
    keys: ["model_type", "n_embd", "n_head", "n_layer", "n_positions", "n_inner", "hidden_size", "num_attention_heads",
           "num_hidden_layers", "intermediate_size", "vocab_size", "max_position_embeddings", "type_vocab_size",
           "layer_norm_eps", "hidden_act", "pad_token_id", "layer_norm_epsilon", "activation_function",
           "tie_word_embeddings", "num_key_value_heads", "rms_norm_eps", "rope_theta", "head_dim", "attention_bias",
           "rope_scaling", "linear_attention", "feature_map", "feature_dim", "layers", "eps", "shared_qk", "folded"],
    strings: ["gpt2", "bert", "roberta", "xlm-roberta", "camembert", "minilm", "llama", "mistral", "qwen2",
              "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish",
              "t2r", "performer", "elu", "hedgehog"])

@_cdecl("LLVMFuzzerCustomMutator")
public func mutateConfig(_ data: UnsafeMutablePointer<UInt8>?, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    Fuzz.mutateJSON(data, size, maxSize, seed, configMutator)
}
