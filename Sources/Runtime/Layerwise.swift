import ModelGraph
import RecastCore

/// The hidden states of packed sequences between two blocks of a model: what teacher forcing carries from
/// one layer to the next (`Transformer.embed(batch:typeIds:)`, `advance(_:probe:)`, `finish(_:logits:)`).
///
/// Running a model this way gives exactly what `forward(batch:)` gives: the same passes over the same rows.
/// The states hold one f32 row of the hidden size per token, and nothing else that grows with the layers.
public struct LayerwiseStates: Sendable {
    /// Every sequence's rows, one after the other, `[tokens, hidden]`.
    public internal(set) var hidden: Matrix
    /// Per sequence, its rows.
    public let segments: [Range<Int>]
    /// The next block to apply: 0 after embedding, the layer count once every block has run.
    public internal(set) var nextLayer: Int
    /// The sequences grouped into passes as a forward pass groups them, by sequence index.
    let passes: [Range<Int>]
    /// Whether the batch is a single sequence (messages then name positions, not sequences).
    let single: Bool

    /// Tokens over all sequences.
    public var tokens: Int { hidden.rows }

    /// The rows of the sequences `pass`.
    func rows(of pass: Range<Int>) -> Range<Int> { segments[pass.lowerBound].lowerBound..<segments[pass.upperBound - 1].upperBound }

    /// The segments of `pass`, from row 0 of the pass.
    func localSegments(of pass: Range<Int>) -> [Range<Int>] {
        let base = segments[pass.lowerBound].lowerBound
        return segments[pass].map { ($0.lowerBound - base)..<($0.upperBound - base) }
    }
}

extension Transformer {
    /// Embeds several sequences (token, position and token-type embeddings, and the embedding norm): the
    /// states before block 0. Refuses what `forward(batch:)` refuses.
    public func embed(batch sequences: [[Int]], typeIds: [[Int]]? = nil) throws -> LayerwiseStates {
        try check(batch: sequences, typeIds: typeIds, logits: .none)
        let batch = Batch(sequences: sequences, typeIds: typeIds)
        let x = embed(batch.tokens, positions: batch.positions, typeIds: batch.typeIds)
        try checkFinite(x, "the embeddings", firstPosition: 0, sequences: sequences.count == 1 ? nil : (batch.segments, 0))
        return LayerwiseStates(hidden: x, segments: batch.segments, nextLayer: 0, passes: Self.passes(lengths: sequences.map(\.count)),
                               single: sequences.count == 1)
    }

    /// Runs the next block over the states, pass after pass (in place). `probe` sees that layer's attention,
    /// one `AttentionCapture` per sequence, numbered as in the batch given to `embed`.
    public func advance(_ states: inout LayerwiseStates, probe: Probe? = nil) throws {
        let layer = states.nextLayer
        guard layer < blocks.count else {
            throw RuntimeError(file: file, "every one of the model's \(blocks.count) layers has run already: nothing to advance")
        }
        for pass in states.passes {
            let rows = states.rows(of: pass), segments = states.localSegments(of: pass)
            let first: Int? = states.single ? nil : pass.lowerBound
            var x = states.hidden.slicing(rows: rows)
            try apply(block: layer, to: &x, segments: segments, layerProbe: nil, attentionProbe: probe, firstSequence: first) { m, place in
                try checkFinite(m, place, firstPosition: 0, sequences: first.map { (segments, $0) })
            }
            states.hidden.data.withUnsafeMutableBufferPointer { out in
                x.data.withUnsafeBufferPointer { src in
                    (out.baseAddress! + rows.lowerBound * x.cols).update(from: src.baseAddress!, count: src.count)
                }
            }
        }
        states.nextLayer += 1
    }

    /// The outputs of states past the last block: the final norm and the logits asked for, per sequence, as
    /// `forward(batch:)` returns them.
    public func finish(_ states: LayerwiseStates, logits: LogitRows = .none) throws -> [ForwardOutput] {
        guard states.nextLayer == blocks.count else {
            throw RuntimeError(file: file, "the states are before layer \(states.nextLayer) of \(blocks.count): run every layer before the final norm")
        }
        var outputs: [ForwardOutput] = []
        for pass in states.passes {
            outputs += try finish(states.hidden.slicing(rows: states.rows(of: pass)), segments: states.localSegments(of: pass),
                                  logits: logits, firstSequence: states.single ? nil : pass.lowerBound)
        }
        return outputs
    }
}
