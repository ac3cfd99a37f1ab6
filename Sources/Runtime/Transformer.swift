#if canImport(Glibc)
import Glibc
#endif
import ModelGraph
import RecastCore

struct LoadedAttention {
    var query: Linear
    var key: Linear
    var value: Linear
    var output: Linear
    var heads: Int
    var kvHeads: Int
    var headDim: Int
    var rotary: Rotary?
    var causal: Bool
    var featureMap: FeatureMap?
    var eps: Float
    /// The factor on q·k before the softmax (1/√d unless the config says otherwise).
    var scale: Float
    /// Sliding window W: query i sees keys i − W < j ≤ i. nil: all earlier keys.
    var window: Int?

    var groups: Int { heads / kvHeads }
    var qWidth: Int { heads * headDim }
    var kvWidth: Int { kvHeads * headDim }
}

struct LoadedBlock {
    var placement: NormPlacement
    var attentionNorm: LoadedNorm
    var attention: LoadedAttention
    var mlpNorm: LoadedNorm
    var up: Linear
    var gate: Linear?
    var down: Linear
    var activation: Activation
}

/// The result of a forward pass: the last layer's hidden states (after the final norm where the family
/// has one) and, for language models, the logits.
public struct ForwardOutput: Sendable {
    public var hiddenStates: Matrix
    public var logits: Matrix?
}

/// How a forward pass runs: the whole sequence at once, or one token at a time with a cache.
public enum ForwardMode: String, Sendable, CaseIterable {
    case parallel, recurrent
}

/// A transformer loaded in f32 and ready to run on the CPU.
///
/// Softmax layers attend with 1/√d scaling and, for causal models, a causal mask. Swapped layers run
/// linear attention: in parallel mode by chunked prefix sums (never a T×T matrix), in recurrent mode
/// by carrying (S, z) per head from token to token.
public final class Transformer {
    public let graph: ModelGraph
    let file: String
    let tokenEmbedding: [Float]
    let positionEmbedding: [Float]?
    let tokenTypeEmbedding: [Float]?
    let embeddingNorm: LoadedNorm?
    let blocks: [LoadedBlock]
    let finalNorm: LoadedNorm?
    let lmHead: Linear?

    /// Linear attention processes this many tokens per chunk in parallel mode.
    static let chunk = 64

    public init(graph: ModelGraph, store: TensorStore) throws {
        self.graph = graph
        file = store.files.first ?? "model"
        try RunLimits.check(RunLimits.weightsNeed(graph: graph, store: store), for: "the weights", file: file)
        try BLAS.load(file: file)
        let loader = WeightLoader(store: store)
        tokenEmbedding = try loader.values(graph.embeddings.token)
        positionEmbedding = try graph.embeddings.position.map(loader.values)
        tokenTypeEmbedding = try graph.embeddings.tokenType.map(loader.values)
        embeddingNorm = try graph.embeddings.norm.map(loader.norm)
        let la = graph.linearAttention
        blocks = try graph.blocks.map { b in
            let a = b.attention
            var featureMap: FeatureMap?
            if let la, let tensors = a.featureMap {
                featureMap = try FeatureMap.load(la, tensors: tensors, attention: a, hidden: graph.hiddenSize, loader: loader)
            }
            // A folded map reads the attention input directly; q and k are never built (nor need to exist).
            let folded = featureMap?.isFolded ?? false
            let attention = LoadedAttention(
                query: folded ? Linear.empty : try loader.linear(a.query), key: folded ? Linear.empty : try loader.linear(a.key),
                value: try loader.linear(a.value),
                output: try loader.linear(a.output), heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim,
                rotary: a.rotary, causal: a.causal, featureMap: featureMap, eps: Float(la?.eps ?? LinearAttentionConfig.defaultEps),
                scale: Float(a.scale), window: a.causal ? a.slidingWindow : nil)
            return LoadedBlock(placement: b.placement, attentionNorm: try loader.norm(b.attentionNorm), attention: attention,
                               mlpNorm: try loader.norm(b.mlpNorm), up: try loader.linear(b.mlp.up),
                               gate: try b.mlp.gate.map(loader.linear), down: try loader.linear(b.mlp.down), activation: b.mlp.activation)
        }
        finalNorm = try graph.finalNorm.map(loader.norm)
        lmHead = try graph.lmHead.map(loader.linear)
        loader.clear()
    }

    // MARK: checks

    /// Refuses tokens outside the vocabulary, a sequence longer than the model's positions, and a pass
    /// whose memory would not fit; before anything is allocated.
    func check(tokens: [Int], mode: ForwardMode) throws {
        try RunLimits.checkLength(tokens.count, graph: graph, file: file)
        for (i, t) in tokens.enumerated() { try check(token: t, at: i) }
        try RunLimits.check(RunLimits.passNeed(graph: graph, tokens: tokens.count, mode: mode),
                            for: "a \(mode.rawValue) pass over \(tokens.count) tokens", file: file)
    }

    func check(token t: Int, at position: Int) throws {
        guard t >= 0, t < graph.vocabSize else {
            throw RuntimeError(file: file, "token \(t) at position \(position) is outside the vocabulary of \(graph.vocabSize)")
        }
    }

    // MARK: embeddings

    func embed(_ tokens: [Int], startPosition: Int) -> Matrix {
        embed(tokens, positions: Array(startPosition..<(startPosition + tokens.count)), typeIds: nil)
    }

    /// Token, position and token-type embeddings of packed rows: row r holds `tokens[r]` at `positions[r]`
    /// of its own sequence, with token type `typeIds[r]` (0 when nil).
    func embed(_ tokens: [Int], positions: [Int], typeIds: [Int]?) -> Matrix {
        let e = graph.hiddenSize
        var x = Matrix(rows: tokens.count, cols: e)
        x.data.withUnsafeMutableBufferPointer { xp in
            for (r, t) in tokens.enumerated() {
                let row = xp.baseAddress! + r * e
                tokenEmbedding.withUnsafeBufferPointer { w in for j in 0..<e { row[j] = w[t * e + j] } }
                if let pos = positionEmbedding {
                    let p = positions[r] + graph.embeddings.positionOffset
                    pos.withUnsafeBufferPointer { w in for j in 0..<e { row[j] += w[p * e + j] } }
                }
                if let tt = tokenTypeEmbedding {
                    let type = typeIds?[r] ?? 0
                    tt.withUnsafeBufferPointer { w in for j in 0..<e { row[j] += w[type * e + j] } }
                }
            }
        }
        embeddingNorm?.apply(&x)
        return x
    }

    /// How many token types the model embeds (BERT's `type_vocab_size`); 0 without a token-type table.
    var tokenTypes: Int { (tokenTypeEmbedding?.count ?? 0) / max(graph.hiddenSize, 1) }

    func mlp(_ b: LoadedBlock, _ x: Matrix) -> Matrix {
        var u = b.up.apply(x)
        if let gate = b.gate {
            var g = gate.apply(x)
            Kernels.activate(&g.data, b.activation)
            for i in 0..<u.data.count { u.data[i] *= g.data[i] }
        } else {
            Kernels.activate(&u.data, b.activation)
        }
        return b.down.apply(u)
    }

    func finish(_ x: Matrix, firstPosition: Int) throws -> ForwardOutput {
        var h = x
        finalNorm?.apply(&h)
        try checkFinite(h, "the final norm", firstPosition: firstPosition)
        let logits = lmHead?.apply(h)
        if let logits { try checkFinite(logits, "the LM head (logits)", firstPosition: firstPosition) }
        return ForwardOutput(hiddenStates: h, logits: logits)
    }

    // MARK: parallel

    /// Runs the whole sequence at once. `probe` sees each layer's attention input and output.
    public func forward(tokens: [Int], probe: ((Int, Matrix, Matrix) -> Void)? = nil) throws -> ForwardOutput {
        try check(tokens: tokens, mode: .parallel)
        let outputs = try forward(Batch(sequences: [tokens], typeIds: [[Int]]?.none), logits: .all, probe: probe, firstSequence: nil)
        return outputs[0]
    }

    /// Throws when `m` holds NaN or an infinity, naming where it first appeared: the outputs would be
    /// meaningless, and a run must not pass them off as results.
    /// With `sequences` (the rows of each sequence of a batch, and the index of the first), the row is named
    /// by its sequence and its position there.
    func checkFinite(_ m: Matrix, _ place: @autoclosure () -> String, firstPosition: Int,
                     sequences: (segments: [Range<Int>], first: Int)? = nil) throws {
        let bad: Int? = m.data.withUnsafeBufferPointer { p in
            for i in 0..<p.count where !p[i].isFinite { return i }
            return nil
        }
        guard let bad else { return }
        let row = bad / max(m.cols, 1)
        var location = "token position \(firstPosition + row)"
        if let sequences, let s = sequences.segments.firstIndex(where: { $0.contains(row) }) {
            location = "token position \(row - sequences.segments[s].lowerBound) of sequence \(sequences.first + s)"
        }
        throw RuntimeError(file: file, "the forward pass produced NaN or infinity, first in the output of \(place()) at \(location): the weights or config.json hold values this computation cannot represent")
    }

    /// The attention output of one layer for a given input (the normalised hidden states it sees).
    public func attentionOutput(layer: Int, input: Matrix) -> Matrix {
        attention(blocks[layer].attention, input, segments: [0..<input.rows])
    }

    /// Whether layer `i` runs linear attention.
    public func isLinear(layer i: Int) -> Bool { blocks[i].attention.featureMap != nil }

    /// The attention of one layer over packed rows: projections and feature maps over all rows at once,
    /// the attention itself within each segment (a sequence of the batch), which starts at position 0.
    func attention(_ a: LoadedAttention, _ h: Matrix, segments: [Range<Int>]) -> Matrix {
        let t = h.rows, d = a.headDim
        var ctx = Matrix(rows: t, cols: a.qWidth)
        let v = a.value.apply(h)
        if let fm = a.featureMap, fm.isFolded {
            h.data.withUnsafeBufferPointer { x in
                v.data.withUnsafeBufferPointer { vp in
                    ctx.data.withUnsafeMutableBufferPointer { c in
                        for head in 0..<a.heads {
                            let g = head / a.groups
                            let pq = fm.apply(head: head, isQuery: true, x: x.baseAddress!, rows: t, ldx: h.cols, headDim: d)
                            let pk = fm.apply(head: head, isQuery: false, x: x.baseAddress!, rows: t, ldx: h.cols, headDim: d)
                            linearAttention(phiQ: pq, phiK: pk, m: fm.featureCount(headDim: d), v: vp.baseAddress! + g * d, ldv: a.kvWidth,
                                            segments: segments, d: d, causal: a.causal, eps: a.eps, out: c.baseAddress! + head * d, ldo: a.qWidth)
                        }
                    }
                }
            }
            return a.output.apply(ctx)
        }
        var q = a.query.apply(h)
        var k = a.key.apply(h)
        if let rotary = a.rotary {
            q.data.withUnsafeMutableBufferPointer { qp in
                k.data.withUnsafeMutableBufferPointer { kp in
                    for segment in segments {
                        for r in segment {
                            let position = r - segment.lowerBound
                            Kernels.rotate(qp.baseAddress! + r * a.qWidth, heads: a.heads, headDim: d, rotary: rotary, position: position)
                            Kernels.rotate(kp.baseAddress! + r * a.kvWidth, heads: a.kvHeads, headDim: d, rotary: rotary, position: position)
                        }
                    }
                }
            }
        }
        q.data.withUnsafeBufferPointer { qp in
            k.data.withUnsafeBufferPointer { kp in
                v.data.withUnsafeBufferPointer { vp in
                    ctx.data.withUnsafeMutableBufferPointer { c in
                        for head in 0..<a.heads {
                            let g = head / a.groups
                            let qh = qp.baseAddress! + head * d, kh = kp.baseAddress! + g * d, vh = vp.baseAddress! + g * d
                            let out = c.baseAddress! + head * d
                            if let fm = a.featureMap {
                                let pq = fm.apply(head: head, isQuery: true, x: qh, rows: t, ldx: a.qWidth, headDim: d)
                                let pk = fm.apply(head: head, isQuery: false, x: kh, rows: t, ldx: a.kvWidth, headDim: d)
                                linearAttention(phiQ: pq, phiK: pk, m: fm.featureCount(headDim: d), v: vh, ldv: a.kvWidth,
                                                segments: segments, d: d, causal: a.causal, eps: a.eps, out: out, ldo: a.qWidth)
                            } else {
                                for segment in segments {
                                    let r0 = segment.lowerBound
                                    softmaxAttention(q: qh + r0 * a.qWidth, ldq: a.qWidth, k: kh + r0 * a.kvWidth, v: vh + r0 * a.kvWidth,
                                                     ldkv: a.kvWidth, rows: segment.count, d: d, causal: a.causal, window: a.window,
                                                     scale: a.scale, out: out + r0 * a.qWidth, ldo: a.qWidth)
                                }
                            }
                        }
                    }
                }
            }
        }
        return a.output.apply(ctx)
    }

    /// Softmax attention of one head. Causal rows see keys 0...r, or with a sliding window W only the keys
    /// r − W < j ≤ r (transformers' `sliding_window_overlay`); the weights of unseen keys are zero.
    func softmaxAttention(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ldkv: Int,
                          rows t: Int, d: Int, causal: Bool, window: Int?, scale: Float, out: UnsafeMutablePointer<Float>, ldo: Int) {
        var scores = [Float](repeating: 0, count: t * t)
        scores.withUnsafeMutableBufferPointer { s in
            let sp = s.baseAddress!
            BLAS.gemm(m: t, n: t, k: d, a: q, lda: ldq, b: k, ldb: ldkv, transposeB: true, c: sp, ldc: t, alpha: scale)
            for r in 0..<t {
                let row = sp + r * t
                let end = causal ? r + 1 : t
                let start = causal ? max(0, end - (window ?? end)) : 0
                Kernels.softmax(row + start, end - start)
                for j in 0..<start { row[j] = 0 }
                for j in end..<t { row[j] = 0 }
            }
            BLAS.gemm(m: t, n: d, k: t, a: sp, lda: t, b: v, ldb: ldkv, transposeB: false, c: out, ldc: ldo)
        }
    }

    /// y_t = φ(q_t)ᵀ S_t / (φ(q_t)ᵀ z_t + ε), with S and z summed up to t (causal) or over the whole
    /// sequence (bidirectional). Causal sums run chunk by chunk: within a chunk a small masked product,
    /// across chunks the carried state.
    /// Linear attention within each segment of packed rows; φ(q) and φ(k) are `[rows, m]`.
    func linearAttention(phiQ: [Float], phiK: [Float], m: Int, v: UnsafePointer<Float>, ldv: Int, segments: [Range<Int>], d: Int,
                         causal: Bool, eps: Float, out: UnsafeMutablePointer<Float>, ldo: Int) {
        phiQ.withUnsafeBufferPointer { pq in
            phiK.withUnsafeBufferPointer { pk in
                for segment in segments {
                    let r0 = segment.lowerBound
                    linearAttention(phiQ: pq.baseAddress! + r0 * m, phiK: pk.baseAddress! + r0 * m, m: m, v: v + r0 * ldv, ldv: ldv,
                                    rows: segment.count, d: d, causal: causal, eps: eps, out: out + r0 * ldo, ldo: ldo)
                }
            }
        }
    }

    func linearAttention(phiQ q0: UnsafePointer<Float>, phiK k0: UnsafePointer<Float>, m: Int, v: UnsafePointer<Float>, ldv: Int,
                         rows t: Int, d: Int, causal: Bool, eps: Float, out: UnsafeMutablePointer<Float>, ldo: Int) {
        var s = [Float](repeating: 0, count: m * d)
        var z = [Float](repeating: 0, count: m)
        s.withUnsafeMutableBufferPointer { sp in
            let S = sp.baseAddress!
            if !causal {
                BLAS.gemm(m: m, n: d, k: t, a: k0, lda: m, b: v, ldb: ldv, transposeB: false, c: S, ldc: d, transposeA: true)
                for r in 0..<t { for j in 0..<m { z[j] += k0[r * m + j] } }
                BLAS.gemm(m: t, n: d, k: m, a: q0, lda: m, b: S, ldb: d, transposeB: false, c: out, ldc: ldo)
                for r in 0..<t {
                    var den: Float = 0
                    for j in 0..<m { den += q0[r * m + j] * z[j] }
                    let inv = 1 / (den + eps)
                    for c in 0..<d { out[r * ldo + c] *= inv }
                }
                return
            }
            var a = [Float](repeating: 0, count: Transformer.chunk * Transformer.chunk)
            var r0 = 0
            while r0 < t {
                let c = min(Transformer.chunk, t - r0)
                let qc = q0 + r0 * m, kc = k0 + r0 * m, vc = v + r0 * ldv, oc = out + r0 * ldo
                // Past chunks through the state.
                BLAS.gemm(m: c, n: d, k: m, a: qc, lda: m, b: S, ldb: d, transposeB: false, c: oc, ldc: ldo)
                a.withUnsafeMutableBufferPointer { ap in
                    let A = ap.baseAddress!
                    BLAS.gemm(m: c, n: c, k: m, a: qc, lda: m, b: kc, ldb: m, transposeB: true, c: A, ldc: c)
                    for i in 0..<c { for j in (i + 1)..<max(i + 1, c) { A[i * c + j] = 0 } }
                    // This chunk, causally masked.
                    BLAS.gemm(m: c, n: d, k: c, a: A, lda: c, b: vc, ldb: ldv, transposeB: false, c: oc, ldc: ldo, beta: 1)
                    for i in 0..<c {
                        var den: Float = 0
                        for j in 0..<m { den += qc[i * m + j] * z[j] }
                        for j in 0...i { den += A[i * c + j] }
                        let inv = 1 / (den + eps)
                        for col in 0..<d { oc[i * ldo + col] *= inv }
                    }
                }
                BLAS.gemm(m: m, n: d, k: c, a: kc, lda: m, b: vc, ldb: ldv, transposeB: false, c: S, ldc: d, beta: 1, transposeA: true)
                for i in 0..<c { for j in 0..<m { z[j] += kc[i * m + j] } }
                r0 += c
            }
        }
    }
}
