import ModelGraph

/// Token-by-token inference: a KV cache for softmax layers, a constant-size (S, z) state per head for
/// linear layers.
public final class Decoder {
    let model: Transformer
    /// Softmax layers: keys and values of every past token, `[t, kvHeads·d]` each. A sliding-window layer keeps
    /// the last W tokens only, as a ring: position p lives in slot p mod W (softmax attention does not depend
    /// on the order of its key–value pairs, so the ring needs no reordering).
    var keys: [[Float]]
    var values: [[Float]]
    /// Linear layers: S `[heads, m, d]` and z `[heads, m]`.
    var s: [[Float]]
    var z: [[Float]]
    public internal(set) var position = 0

    init(model: Transformer) {
        self.model = model
        let n = model.blocks.count
        keys = Array(repeating: [], count: n)
        values = Array(repeating: [], count: n)
        s = model.blocks.map { b in
            guard let fm = b.attention.featureMap else { return [] }
            return [Float](repeating: 0, count: b.attention.heads * fm.featureCount(headDim: b.attention.headDim) * b.attention.headDim)
        }
        z = model.blocks.map { b in
            guard let fm = b.attention.featureMap else { return [] }
            return [Float](repeating: 0, count: b.attention.heads * fm.featureCount(headDim: b.attention.headDim))
        }
    }

    /// Bytes of inference state held now: KV cache plus linear-attention state.
    public var stateBytes: Int { kvCacheBytes + linearStateBytes }

    /// Bytes of the softmax layers' KV cache: grows with every token (up to the window of a sliding-window layer).
    public var kvCacheBytes: Int { 4 * (keys.reduce(0) { $0 + $1.count } + values.reduce(0) { $0 + $1.count }) }

    /// Bytes of the linear layers' (S, z) state: the same at every length.
    public var linearStateBytes: Int { 4 * (s.reduce(0) { $0 + $1.count } + z.reduce(0) { $0 + $1.count }) }

    /// Feeds one token; returns its hidden state (after the final norm) and logits.
    public func step(_ token: Int) throws -> ForwardOutput {
        try model.check(token: token, at: position)
        try RunLimits.checkLength(position + 1, graph: model.graph, file: model.file)
        var x = model.embed([token], startPosition: position)
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
        position += 1
        return try model.finish(x, firstPosition: position - 1)
    }

    func attend(layer: Int, _ a: LoadedAttention, _ h: Matrix) -> Matrix {
        let d = a.headDim
        var ctx = Matrix(rows: 1, cols: a.qWidth)
        let v = a.value.apply(h)
        if let fm = a.featureMap {
            let m = fm.featureCount(headDim: d)
            var q = Matrix(rows: 1, cols: a.qWidth), k = Matrix(rows: 1, cols: a.kvWidth)
            if !fm.isFolded {
                q = a.query.apply(h)
                k = a.key.apply(h)
                if let r = a.rotary { rotate(&q, &k, a, r) }
            }
            for head in 0..<a.heads {
                let g = head / a.groups
                let (pq, pk): ([Float], [Float]) = h.data.withUnsafeBufferPointer { x in
                    q.data.withUnsafeBufferPointer { qp in
                        k.data.withUnsafeBufferPointer { kp in
                            if fm.isFolded {
                                return (fm.apply(head: head, isQuery: true, x: x.baseAddress!, rows: 1, ldx: h.cols, headDim: d),
                                        fm.apply(head: head, isQuery: false, x: x.baseAddress!, rows: 1, ldx: h.cols, headDim: d))
                            }
                            return (fm.apply(head: head, isQuery: true, x: qp.baseAddress! + head * d, rows: 1, ldx: a.qWidth, headDim: d),
                                    fm.apply(head: head, isQuery: false, x: kp.baseAddress! + g * d, rows: 1, ldx: a.kvWidth, headDim: d))
                        }
                    }
                }
                // S_h += φ(k) vᵀ, z_h += φ(k); ctx_h = S_hᵀ φ(q) / (φ(q)·z_h + ε). S_h is [m, d], row j for feature j.
                let sBase = head * m * d, zBase = head * m
                s[layer].withUnsafeMutableBufferPointer { sp in
                    z[layer].withUnsafeMutableBufferPointer { zp in
                        v.data.withUnsafeBufferPointer { vp in
                            ctx.data.withUnsafeMutableBufferPointer { cp in
                                let state = sp.baseAddress! + sBase, norm = zp.baseAddress! + zBase, value = vp.baseAddress! + g * d
                                var den: Float = 0
                                for j in 0..<m {
                                    let kj = pk[j]
                                    norm[j] += kj
                                    den += pq[j] * norm[j]
                                    if kj != 0 {
                                        let row = state + j * d
                                        for c in 0..<d { row[c] += kj * value[c] }
                                    }
                                }
                                BLAS.gemv(rows: m, cols: d, a: state, lda: d, transpose: true, x: pq, y: cp.baseAddress! + head * d,
                                          alpha: 1 / (den + a.eps))
                            }
                        }
                    }
                }
            }
            return a.output.apply(ctx)
        }
        var q = a.query.apply(h), k = a.key.apply(h)
        if let r = a.rotary { rotate(&q, &k, a, r) }
        let width = a.kvWidth
        if let w = a.window, keys[layer].count >= w * width {
            // The cache is full: this token replaces the one that just left the window, position − W.
            let slot = (position % w) * width
            keys[layer].replaceSubrange(slot..<(slot + width), with: k.data)
            values[layer].replaceSubrange(slot..<(slot + width), with: v.data)
        } else {
            keys[layer].append(contentsOf: k.data)
            values[layer].append(contentsOf: v.data)
        }
        let t = keys[layer].count / width
        let scale = a.scale
        var scores = [Float](repeating: 0, count: t)
        keys[layer].withUnsafeBufferPointer { kp in
            values[layer].withUnsafeBufferPointer { vp in
                q.data.withUnsafeBufferPointer { qp in
                    ctx.data.withUnsafeMutableBufferPointer { cp in
                        scores.withUnsafeMutableBufferPointer { sp in
                            for head in 0..<a.heads {
                                let g = head / a.groups
                                // scores = K_g q_h / √d over the cache, then the softmax-weighted sum of V_g.
                                BLAS.gemv(rows: t, cols: d, a: kp.baseAddress! + g * d, lda: a.kvWidth, transpose: false,
                                          x: qp.baseAddress! + head * d, y: sp.baseAddress!, alpha: scale)
                                Kernels.softmax(sp.baseAddress!, t)
                                BLAS.gemv(rows: t, cols: d, a: vp.baseAddress! + g * d, lda: a.kvWidth, transpose: true,
                                          x: sp.baseAddress!, y: cp.baseAddress! + head * d)
                            }
                        }
                    }
                }
            }
        }
        return a.output.apply(ctx)
    }

    func rotate(_ q: inout Matrix, _ k: inout Matrix, _ a: LoadedAttention, _ r: Rotary) {
        q.data.withUnsafeMutableBufferPointer { Kernels.rotate($0.baseAddress!, heads: a.heads, headDim: a.headDim, rotary: r, position: position) }
        k.data.withUnsafeMutableBufferPointer { Kernels.rotate($0.baseAddress!, heads: a.kvHeads, headDim: a.headDim, rotary: r, position: position) }
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
        for (i, b) in model.blocks.enumerated() {
            if b.attention.featureMap != nil {
                for j in 0..<s[i].count { s[i][j] = next() }
                for j in 0..<z[i].count { z[i][j] = Float(length) * (1 + abs(next())) }
            } else {
                let n = min(length, b.attention.window ?? length) * b.attention.kvWidth
                keys[i] = (0..<n).map { _ in next() }
                values[i] = (0..<n).map { _ in next() }
            }
        }
        position = length
    }
}
