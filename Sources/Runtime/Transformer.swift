#if canImport(Glibc)
import Glibc
#endif
import ModelGraph
import RecastCore
import LinearAlgebra

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
    /// Softmax sliding window W: query i sees keys i − W < j ≤ i. nil: all earlier keys.
    var window: Int?
    /// The sliding-window hybrid's W (a swapped layer with `linear_attention.window`); nil: plain linear attention.
    var hybridWindow: Int?
    /// The hybrid's attention sinks: the first positions, always in the softmax terms (`linear_attention.sinks`).
    var hybridSinks: Int = 0
    /// The hybrid's γ_h = sigmoid(g_h) per head (empty without a window).
    var windowGates: [Float]
    /// Rotation tables, shared by the layers of a model.
    var rotaryTable: RotaryTable?

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

    /// Linear and hybrid attention process this many tokens per block in parallel mode.
    static let chunk = 64

    /// Loads the model's weights as f32. With `sharing`, weights another model already loaded from identical
    /// stored bytes are shared with it, not loaded again (see `SharedWeights`).
    public init(graph: ModelGraph, store: TensorStore, sharing: SharedWeights? = nil) throws {
        self.graph = graph
        file = store.files.first ?? "model"
        try RunLimits.check(RunLimits.weightsNeed(graph: graph, store: store), for: "the weights", file: file)
        do { try BLAS.load(file: file) } catch { throw RuntimeError(file: error.file, error.reason) }
        Allocation.keepFreedBlocks()
        let loader = WeightLoader(store: store, sharing: sharing)
        tokenEmbedding = try loader.kept(graph.embeddings.token)
        positionEmbedding = try graph.embeddings.position.map(loader.kept)
        tokenTypeEmbedding = try graph.embeddings.tokenType.map(loader.kept)
        embeddingNorm = try graph.embeddings.norm.map(loader.norm)
        let la = graph.linearAttention
        var tables: [Rotary: RotaryTable] = [:]
        let tabulated = graph.maxPositions ?? RotaryTable.maxPositions
        blocks = try graph.blocks.map { b in
            let a = b.attention
            var featureMap: FeatureMap?
            var hybridWindow: Int?, gates: [Float] = []
            if let la, let tensors = a.featureMap {
                featureMap = try FeatureMap.load(la, tensors: tensors, attention: a, hidden: graph.hiddenSize, loader: loader)
                if let w = la.window {
                    guard let factors = tensors.windowFactors else {
                        throw RuntimeError(file: store.files.first ?? "model", "linear_attention.window is \(w) but a swapped layer has no window_factors tensor")
                    }
                    let g = try loader.values(factors)
                    guard g.count == a.heads else {
                        throw RuntimeError(file: store.files.first ?? "model", "\(factors.name) holds \(g.count) values for \(a.heads) heads")
                    }
                    hybridWindow = w
                    gates = g.map { 1 / (1 + expf(-$0)) }
                }
            }
            // A folded map reads the attention input directly; q and k are never built (nor need to exist),
            // unless the hybrid's softmax window needs them.
            let skipQK = (featureMap?.isFolded ?? false) && hybridWindow == nil
            var table: RotaryTable?
            if let r = a.rotary {
                table = tables[r] ?? RotaryTable(r, positions: tabulated)
                tables[r] = table
            }
            var attention = LoadedAttention(
                query: skipQK ? Linear.empty : try loader.linear(a.query), key: skipQK ? Linear.empty : try loader.linear(a.key),
                value: try loader.linear(a.value),
                output: try loader.linear(a.output), heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim,
                rotary: a.rotary, causal: a.causal, featureMap: featureMap, eps: Float(la?.eps ?? LinearAttentionConfig.defaultEps),
                scale: Float(a.scale), window: a.causal ? a.slidingWindow : nil, hybridWindow: hybridWindow, windowGates: gates,
                rotaryTable: table)
            attention.hybridSinks = hybridWindow == nil ? 0 : la?.sinks ?? 0
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
        var u: Matrix
        if let gate = b.gate {
            let both = Linear.apply([b.up, gate], to: x)
            u = both[0]
            var g = both[1]
            Kernels.gated(&u.data, by: &g.data, b.activation)
        } else {
            u = b.up.apply(x)
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

    /// The attention of one layer over packed rows: projections and feature maps over all rows at once, the
    /// attention itself within each segment (a sequence of the batch, from position 0) by the layer's state
    /// applied block after block (causal), or over the whole segment (bidirectional). `probe` sees each segment
    /// of a layer it asks for, `sequence` naming the first segment's sequence.
    func attention(_ a: LoadedAttention, _ h: Matrix, segments: [Range<Int>], layer: Int = 0, probe: Probe? = nil,
                   sequence: Int = 0) -> Matrix {
        let projected = a.project(h, segments: segments, firstPosition: 0)
        var ctx = Matrix(rows: h.rows, cols: a.qWidth)
        projected.withBlocks(h, a) { block in
            ctx.data.withUnsafeMutableBufferPointer { c in
                for segment in segments {
                    let rows = segment.count, out = c.baseAddress! + segment.lowerBound * a.qWidth
                    guard a.causal else {
                        a.attendBidirectional(block(segment.lowerBound, rows, 0), into: out, ldo: a.qWidth)
                        continue
                    }
                    let state = a.makeState(), size = a.parallelBlock(rows: rows)
                    for start in stride(from: 0, to: rows, by: size) {
                        let n = min(size, rows - start)
                        state.attend(block(segment.lowerBound + start, n, start), into: out + start * a.qWidth, ldo: a.qWidth,
                                     updating: start + n < rows)
                    }
                }
            }
        }
        let output = a.output.apply(ctx)
        if let probe, probe.wants(layer: layer) {
            for (s, segment) in segments.enumerated() {
                probe.observe(projected.capture(layer: layer, sequence: sequence + s, rows: segment, attention: a, input: h,
                                                headOutputs: ctx, output: output))
            }
        }
        return output
    }
}
