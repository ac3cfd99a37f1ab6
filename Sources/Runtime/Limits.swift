import ModelGraph
import RecastCore

/// What a forward pass will hold, worked out from the graph before anything is allocated, and the
/// checks that refuse a run the model or the machine cannot take. Each entry point (loading the
/// weights, a parallel pass, a recurrent pass) checks what it is about to add against the memory
/// limit that applies now (`MemoryLimit`), so that a run is refused with both numbers rather than
/// aborted by a failed allocation or killed by the kernel.
public enum RunLimits {
    /// Refuses a sequence longer than the positions the model was trained for (learned position
    /// tables, `n_positions`, or the `max_position_embeddings` of rotary models). Call it before
    /// building `count` tokens.
    public static func checkLength(_ count: Int, graph: ModelGraph, file: String) throws(RuntimeError) {
        guard count > 0 else { throw RuntimeError(file: file, "no tokens to run") }
        guard let maxPos = graph.maxPositions else { return }
        let offset = graph.embeddings.positionOffset
        let usable = maxPos - offset
        guard count <= usable else {
            let key = graph.family == .gpt2 ? "n_positions" : "max_position_embeddings"
            throw RuntimeError(file: file, "\(count) tokens exceed the model's \(usable) positions (\(key) \(maxPos)\(offset > 0 ? ", \(offset) reserved" : "")): give at most \(usable) tokens")
        }
    }

    /// Bytes of the weights once loaded in f32, with the largest tensor counted twice (it is read
    /// whole before it is sliced).
    public static func weightsNeed(graph: ModelGraph, store: TensorStore) -> MemoryNeed {
        var need = MemoryNeed()
        let params = graph.parameterCounts().reduce(0) { MemoryNeed.sum($0, $1.1) }
        need.add("weights in f32", [params])
        if graph.tiedEmbeddings, graph.lmHead != nil { need.add("tied output projection", [graph.vocabSize, graph.hiddenSize]) }
        let largest = store.tensors.map(\.elementCount).max() ?? 0
        need.add("largest tensor while loading", [largest])
        return need
    }

    /// Bytes a pass over `tokens` tokens adds once the weights are loaded: activations, attention
    /// scratch, the KV cache and the outputs (hidden states, logits), each as f32.
    public static func passNeed(graph: ModelGraph, tokens t: Int, mode: ForwardMode) -> MemoryNeed {
        var need = MemoryNeed()
        let e = graph.hiddenSize
        // Outputs are built, then encoded for writing: two copies each.
        need.add("hidden states", [t, e, 2])
        if graph.lmHead != nil { need.add("logits", [t, graph.vocabSize, 2]) }
        switch mode {
        case .parallel:
            need.add(activationNeed(graph: graph, rows: t, longest: t))
        case .recurrent:
            // The graph's own count: a sliding-window layer keeps only its window.
            need.add("KV cache", [graph.kvCacheBytes(length: t)], bytesEach: 1)
            need.add("attention scores", [t])
            // Stacking the per-token outputs may double an array while it grows.
            need.add("stacked outputs", [t, MemoryNeed.sum(e, graph.lmHead == nil ? 0 : graph.vocabSize)])
        }
        return need
    }

    /// Bytes a batched parallel forward adds (`Transformer.forward(batch:)`): every sequence's outputs, and
    /// the activations of its largest pass (`passRows` packed rows, attention scratch for the `longest` sequence).
    public static func batchNeed(graph: ModelGraph, sequences n: Int, tokens t: Int, longest: Int, passRows: Int,
                                 logits: LogitRows) -> MemoryNeed {
        var need = MemoryNeed()
        need.add("hidden states", [t, graph.hiddenSize, 2])
        if graph.lmHead != nil {
            switch logits {
            case .all: need.add("logits", [t, graph.vocabSize, 2])
            case .last: need.add("last logits", [n, graph.vocabSize, 2])
            case .none: break
            }
        }
        need.add(activationNeed(graph: graph, rows: passRows, longest: longest))
        return need
    }

    /// The activations of one parallel pass over `rows` packed rows whose longest sequence is `longest`.
    static func activationNeed(graph: ModelGraph, rows t: Int, longest: Int) -> MemoryNeed {
        var need = MemoryNeed()
        let e = graph.hiddenSize, i = graph.intermediateSize
        let q = MemoryNeed.product([graph.heads, graph.headDim]), kv = MemoryNeed.product([graph.kvHeads, graph.headDim])
        let m = graph.linearAttention.map { max($0.featureDim, 1) * 2 } ?? 0
        let softmaxLayers = graph.blocks.filter { $0.attention.featureMap == nil }.count
        let linearLayers = graph.layerCount - softmaxLayers
        // x, two normalised copies, the residual branch and the MLP's up and gate products.
        let width = [MemoryNeed.product([e, 5]), MemoryNeed.product([q, 2]), MemoryNeed.product([kv, 2]), MemoryNeed.product([i, 3])]
            .reduce(0, MemoryNeed.sum)
        need.add("activations", [t, width])
        if softmaxLayers > 0 { need.add("attention scores", [longest, longest]) }
        if linearLayers > 0 { need.add("feature maps", [t, m, 2]) }
        return need
    }

    /// The whole run, checked before the tokens are built and the weights loaded: the token ids, the
    /// weights of every model, and the largest pass. Library callers that skip it are still checked
    /// at each entry point (loading, each pass).
    public static func checkRun(tokens count: Int, models: [(graph: ModelGraph, store: TensorStore)], modes: [ForwardMode],
                                file: String) throws(RuntimeError) {
        var need = MemoryNeed()
        need.add("token ids", [count], bytesEach: 8)
        var largestPass = MemoryNeed()
        for (graph, store) in models {
            need.add(weightsNeed(graph: graph, store: store))
            for mode in modes {
                let pass = passNeed(graph: graph, tokens: count, mode: mode)
                if pass.bytes > largestPass.bytes { largestPass = pass }
            }
        }
        need.add(largestPass)
        let what = modes.count == 1 ? "a \(modes[0].rawValue) pass over \(count) tokens"
            : modes.map(\.rawValue).joined(separator: " and ") + " passes over \(count) tokens"
        try check(need, for: what, file: file)
    }

    /// Throws when `need` does not fit under the memory limit that applies now.
    public static func check(_ need: MemoryNeed, for what: String, file: String) throws(RuntimeError) {
        if let message = need.refusal(for: what) {
            throw RuntimeError(file: file, message)
        }
    }
}
