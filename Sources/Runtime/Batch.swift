import ModelGraph
import RecastCore

/// Several sequences packed row after row into one matrix, with no padding. Row-wise work (embeddings,
/// norms, projections, the MLP) runs over all rows at once; attention runs within each sequence's
/// segment, where positions (learned or rotary) restart at 0.
struct Batch {
    /// The tokens of every sequence, one after the other.
    var tokens: [Int] = []
    /// Per row, its position within its own sequence.
    var positions: [Int] = []
    /// Per row, its token type (BERT family); nil: all 0.
    var typeIds: [Int]?
    /// Per sequence, its rows.
    var segments: [Range<Int>] = []

    init(sequences: some Collection<[Int]>, typeIds: (some Collection<[Int]>)?) {
        self.typeIds = typeIds.map { $0.flatMap { $0 } }
        for s in sequences {
            segments.append(tokens.count..<(tokens.count + s.count))
            tokens += s
            positions += 0..<s.count
        }
    }
}

/// Which rows of the logits a forward pass computes. The LM head is the largest product of a small
/// model: 512 tokens of a 49k vocabulary are 100 MB of logits, so it runs only where asked.
public enum LogitRows: Sendable {
    /// Every position: `logits` [T, vocab].
    case all
    /// Each sequence's last position: `logits` [1, vocab].
    case last
    /// No logits (hidden states only).
    case none
}

extension Transformer {
    /// Rows of one pass of a batched forward: sequences are grouped into passes of about this many
    /// tokens, which keeps the products large and the activations bounded (a sequence longer than
    /// this is a pass of its own).
    static let rowsPerPass = 4096

    /// Runs several sequences in parallel mode, as if each ran alone (`forward(tokens:)`): the same
    /// results, whatever the other sequences and their lengths. Returns one output per sequence.
    ///
    /// - Parameters:
    ///   - typeIds: per sequence and token, the BERT-family token type (nil: all 0).
    ///   - logits: which logits to compute, for language models.
    ///   - probe: sees each layer's attention input and output, over the packed rows of each pass.
    public func forward(batch sequences: [[Int]], typeIds: [[Int]]? = nil, logits: LogitRows = .all,
                        probe: ((Int, Matrix, Matrix) -> Void)? = nil) throws -> [ForwardOutput] {
        try forward(batch: sequences, typeIds: typeIds, logits: logits, layerProbe: probe, attentionProbe: nil)
    }

    /// As `forward(batch:typeIds:logits:probe:)`, with a `Probe` that sees, per layer and sequence, each
    /// head's q, k and v after rotary and the grouped-query repeat, and its output.
    public func forward(batch sequences: [[Int]], typeIds: [[Int]]? = nil, logits: LogitRows = .all,
                        probe: Probe) throws -> [ForwardOutput] {
        try forward(batch: sequences, typeIds: typeIds, logits: logits, layerProbe: nil, attentionProbe: probe)
    }

    func forward(batch sequences: [[Int]], typeIds: [[Int]]?, logits: LogitRows,
                 layerProbe probe: ((Int, Matrix, Matrix) -> Void)?, attentionProbe: Probe?) throws -> [ForwardOutput] {
        try check(batch: sequences, typeIds: typeIds, logits: logits)
        var outputs: [ForwardOutput] = []
        outputs.reserveCapacity(sequences.count)
        for pass in Self.passes(lengths: sequences.map(\.count)) {
            let batch = Batch(sequences: sequences[pass], typeIds: typeIds?[pass])
            outputs += try forward(batch, logits: logits, probe: probe, attentionProbe: attentionProbe,
                                   firstSequence: sequences.count == 1 ? nil : pass.lowerBound)
        }
        return outputs
    }

    /// Consecutive sequences of these lengths grouped into passes of at most `rowsPerPass` rows (a longer
    /// sequence is a pass of its own), as ranges of sequence indices.
    static func passes(lengths: [Int]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0
        while start < lengths.count {
            var end = start + 1, rows = lengths[start]
            while end < lengths.count, rows + lengths[end] <= rowsPerPass {
                rows += lengths[end]
                end += 1
            }
            out.append(start..<end)
            start = end
        }
        return out
    }

    /// Refuses a batch the model cannot take: no sequence, a sequence too long or empty, a token outside the
    /// vocabulary, token types that do not match the tokens or the model, or a pass that would not fit in memory.
    func check(batch sequences: [[Int]], typeIds: [[Int]]?, logits: LogitRows) throws {
        guard !sequences.isEmpty else { throw RuntimeError(file: file, "no sequences to run") }
        func name(_ s: Int) -> String { sequences.count == 1 ? "" : " of sequence \(s)" }
        for (s, tokens) in sequences.enumerated() {
            do {
                try RunLimits.checkLength(tokens.count, graph: graph, file: file)
            } catch {
                throw RuntimeError(file: file, (sequences.count == 1 ? "" : "sequence \(s): ") + error.message)
            }
            for (i, t) in tokens.enumerated() where t < 0 || t >= graph.vocabSize {
                throw RuntimeError(file: file, "token \(t) at position \(i)\(name(s)) is outside the vocabulary of \(graph.vocabSize)")
            }
        }
        if let typeIds {
            guard typeIds.count == sequences.count else {
                throw RuntimeError(file: file, "\(typeIds.count) sequences of token type ids for \(sequences.count) sequences of tokens")
            }
            for (s, types) in typeIds.enumerated() {
                guard types.count == sequences[s].count else {
                    throw RuntimeError(file: file, "\(types.count) token type ids for \(sequences[s].count) tokens\(name(s))")
                }
                for (i, type) in types.enumerated() where type < 0 || type >= max(tokenTypes, 1) {
                    throw RuntimeError(file: file, "token type \(type) at position \(i)\(name(s)) is outside the model's \(max(tokenTypes, 1)) token type\(tokenTypes > 1 ? "s" : "") (type_vocab_size)")
                }
            }
        }
        let total = sequences.reduce(0) { $0 + $1.count }, longest = sequences.map(\.count).max() ?? 0
        try RunLimits.check(RunLimits.batchNeed(graph: graph, sequences: sequences.count, tokens: total, longest: longest,
                                                passRows: min(total, max(longest, Self.rowsPerPass)), logits: logits),
                            for: sequences.count == 1 ? "a parallel pass over \(total) tokens" : "a batch of \(sequences.count) sequences (\(total) tokens)",
                            file: file)
    }

    /// One pass over packed sequences, already checked. `firstSequence`: the index of the pass's first
    /// sequence in the whole batch, for messages (nil: a single sequence, not named).
    func forward(_ batch: Batch, logits: LogitRows, probe: ((Int, Matrix, Matrix) -> Void)?, attentionProbe: Probe? = nil,
                 firstSequence: Int?) throws -> [ForwardOutput] {
        let segments = batch.segments
        func checkFinite(_ m: Matrix, _ place: @autoclosure () -> String) throws {
            try self.checkFinite(m, place(), firstPosition: 0, sequences: firstSequence.map { (segments, $0) })
        }
        var x = embed(batch.tokens, positions: batch.positions, typeIds: batch.typeIds)
        try checkFinite(x, "the embeddings")
        for i in blocks.indices {
            try apply(block: i, to: &x, segments: segments, layerProbe: probe, attentionProbe: attentionProbe,
                      firstSequence: firstSequence) { try checkFinite($0, $1) }
        }
        return try finish(x, segments: segments, logits: logits, firstSequence: firstSequence)
    }

    /// The final norm of packed rows and, for language models, the logits asked for; one output per segment.
    func finish(_ x: Matrix, segments: [Range<Int>], logits: LogitRows, firstSequence: Int?) throws -> [ForwardOutput] {
        var x = x
        finalNorm?.apply(&x)
        try checkFinite(x, "the final norm", firstPosition: 0, sequences: firstSequence.map { (segments, $0) })
        var logitMatrix: Matrix?
        var logitSegments = segments
        if let lmHead {
            switch logits {
            case .all:
                logitMatrix = lmHead.apply(x)
            case .last:
                logitMatrix = lmHead.apply(x.gathering(rows: segments.map { $0.upperBound - 1 }))
                logitSegments = segments.indices.map { $0..<($0 + 1) }
            case .none:
                break
            }
        }
        if let logitMatrix {
            try self.checkFinite(logitMatrix, "the LM head (logits)", firstPosition: 0, sequences: firstSequence.map { (logitSegments, $0) })
        }
        return segments.indices.map { s in
            ForwardOutput(hiddenStates: x.slicing(rows: segments[s]), logits: logitMatrix.map { $0.slicing(rows: logitSegments[s]) })
        }
    }
}

extension Transformer {
    /// Block `i` over packed rows `x` (in place): attention within each segment, then the MLP, in the block's
    /// norm placement. `layerProbe` sees the attention input and output, `attentionProbe` each segment's
    /// attention (the first segment being sequence `firstSequence`, 0 when nil); `checkFinite` is given each
    /// result and where it comes from.
    func apply(block i: Int, to x: inout Matrix, segments: [Range<Int>], layerProbe probe: ((Int, Matrix, Matrix) -> Void)?,
               attentionProbe: Probe?, firstSequence: Int?, checkFinite: (Matrix, String) throws -> Void) throws {
        let b = blocks[i]
        switch b.placement {
        case .pre:
            var h = x
            b.attentionNorm.apply(&h)
            let a = attention(b.attention, h, segments: segments, layer: i, probe: attentionProbe, sequence: firstSequence ?? 0)
            probe?(i, h, a)
            Kernels.add(&x, a)
            try checkFinite(x, "layer \(i) (attention)")
            var h2 = x
            b.mlpNorm.apply(&h2)
            Kernels.add(&x, mlp(b, h2))
            try checkFinite(x, "layer \(i) (MLP)")
        case .post:
            let a = attention(b.attention, x, segments: segments, layer: i, probe: attentionProbe, sequence: firstSequence ?? 0)
            probe?(i, x, a)
            Kernels.add(&x, a)
            b.attentionNorm.apply(&x)
            try checkFinite(x, "layer \(i) (attention)")
            Kernels.add(&x, mlp(b, x))
            b.mlpNorm.apply(&x)
            try checkFinite(x, "layer \(i) (MLP)")
        }
    }
}

extension Matrix {
    /// Rows `rows` as a matrix of their own.
    func slicing(rows: Range<Int>) -> Matrix {
        Matrix(rows: rows.count, cols: cols, data: Array(data[(rows.lowerBound * cols)..<(rows.upperBound * cols)]))
    }

    /// The given rows, in order, as a matrix.
    func gathering(rows: [Int]) -> Matrix {
        var out = [Float]()
        out.reserveCapacity(rows.count * cols)
        for r in rows { out += data[(r * cols)..<((r + 1) * cols)] }
        return Matrix(rows: rows.count, cols: cols, data: out)
    }
}
