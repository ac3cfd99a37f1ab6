import ModelGraph

/// Token-by-token inference over per-layer state (`AttentionState`): a KV cache for softmax layers (a ring of
/// W tokens with a sliding window), a constant-size (S, z) per head for linear layers, both for the hybrid.
public final class Decoder {
    let model: Transformer
    let states: [any AttentionState]
    public internal(set) var position = 0

    init(model: Transformer) {
        self.model = model
        states = model.blocks.map { $0.attention.makeState() }
    }

    /// Bytes of inference state held now: KV cache plus linear-attention state.
    public var stateBytes: Int { kvCacheBytes + linearStateBytes }

    /// Bytes of the keys and values held: they grow with every token (up to the window of a sliding-window or
    /// hybrid layer).
    public var kvCacheBytes: Int { states.reduce(0) { $0 + $1.kvCacheBytes } }

    /// Bytes of the linear layers' (S, z) state: the same at every length.
    public var linearStateBytes: Int { states.reduce(0) { $0 + $1.linearStateBytes } }

    /// Feeds one token; returns its hidden state (after the final norm) and logits.
    public func step(_ token: Int) throws -> ForwardOutput { try feed([token]) }

    /// Feeds several tokens at once (a prompt): each layer's state takes them block by block, as in parallel
    /// mode, so a prompt costs a parallel pass rather than one step per token. Returns the last token's hidden
    /// state (after the final norm) and logits.
    public func feed(_ tokens: [Int]) throws -> ForwardOutput {
        guard !tokens.isEmpty else { throw RuntimeError(file: model.file, "no tokens to feed") }
        for (i, t) in tokens.enumerated() { try model.check(token: t, at: position + i) }
        try RunLimits.checkLength(position + tokens.count, graph: model.graph, file: model.file)
        var x = model.embed(tokens, startPosition: position)
        try model.checkFinite(x, "the embeddings", firstPosition: position)
        for (i, b) in model.blocks.enumerated() {
            var h = x
            b.attentionNorm.apply(&h)
            Kernels.add(&x, attend(layer: i, b.attention, h))
            try model.checkFinite(x, "layer \(i) (attention)", firstPosition: position)
            var h2 = x
            b.mlpNorm.apply(&h2)
            Kernels.add(&x, model.mlp(b, h2))
            try model.checkFinite(x, "layer \(i) (MLP)", firstPosition: position)
        }
        position += tokens.count
        return try model.finish(x.rows == 1 ? x : x.slicing(rows: (x.rows - 1)..<x.rows), firstPosition: position - 1)
    }

    /// Rows at the next positions through one layer's attention: its state attends and takes them in.
    func attend(layer: Int, _ a: LoadedAttention, _ h: Matrix) -> Matrix {
        let rows = h.rows
        let projected = a.project(h, segments: [0..<rows], firstPosition: position)
        var ctx = Matrix(rows: rows, cols: a.qWidth)
        projected.withBlocks(h, a) { block in
            ctx.data.withUnsafeMutableBufferPointer { c in
                let size = a.parallelBlock(rows: rows)
                for start in stride(from: 0, to: rows, by: size) {
                    let n = min(size, rows - start)
                    states[layer].attend(block(start, n, position + start), into: c.baseAddress! + start * a.qWidth,
                                         ldo: a.qWidth, updating: true)
                }
            }
        }
        return a.output.apply(ctx)
    }
}

extension Transformer {
    /// A fresh recurrent decoder. Bidirectional models cannot run token by token.
    public func makeDecoder() throws -> Decoder {
        guard graph.causal else {
            throw RuntimeError(file: file, "\(graph.modelType) attends in both directions, so it cannot run token by token: use --mode parallel")
        }
        guard blocks.allSatisfy({ $0.placement == .pre }) else {
            throw RuntimeError(file: file, "recurrent mode supports pre-norm decoders only")
        }
        return Decoder(model: self)
    }

    /// Runs the sequence one token at a time and stacks the results.
    public func forwardRecurrent(tokens: [Int]) throws -> ForwardOutput {
        try check(tokens: tokens, mode: .recurrent)
        let decoder = try makeDecoder()
        var hidden: [Float] = [], logits: [Float] = []
        for t in tokens {
            let o = try decoder.step(t)
            hidden += o.hiddenStates.data
            if let l = o.logits { logits += l.data }
        }
        return ForwardOutput(hiddenStates: Matrix(rows: tokens.count, cols: graph.hiddenSize, data: hidden),
                             logits: lmHead == nil ? nil : Matrix(rows: tokens.count, cols: graph.vocabSize, data: logits))
    }

    public func run(tokens: [Int], mode: ForwardMode) throws -> ForwardOutput {
        switch mode {
        case .parallel: try forward(tokens: tokens)
        case .recurrent: try forwardRecurrent(tokens: tokens)
        }
    }
}

/// The tokens `--length N --seed S` stands for, the same formula as `tools/reference.py`: SplitMix64 of
/// S + (i+1)·0x9E3779B97F4A7C15, mod vocab.
public func syntheticTokens(length: Int, seed: UInt64, vocab: Int) -> [Int] {
    (0..<length).map { i in
        var z = seed &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int(z % UInt64(max(vocab, 1)))
    }
}

extension Decoder {
    /// Fills the state as if `length` tokens had already been decoded, with deterministic synthetic keys,
    /// values and feature sums. The cost of the next step depends only on the length, so benchmarks can
    /// measure decoding at long contexts without paying for a quadratic prefill.
    public func simulateHistory(length: Int) {
        var state: UInt32 = 0x1234_5678
        func next() -> Float {
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24) - 0.5
        }
        for s in states { s.simulate(length: length, next: next) }
        position = length
    }
}
