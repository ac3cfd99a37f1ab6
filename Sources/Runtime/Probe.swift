/// One attention layer over one sequence, as a `Probe` sees it during a parallel forward pass: per head, the
/// inputs of the attention itself and its output.
///
/// Keys and values are given per query head: with grouped-query attention, head h reads KV head
/// h / (heads / kvHeads), and its keys and values are repeated accordingly.
public struct AttentionCapture: Sendable {
    /// The layer, from 0.
    public let layer: Int
    /// The sequence of the batch, from 0.
    public let sequence: Int
    public let heads: Int
    public let headDim: Int
    /// Per head, q `[rows, headDim]` after rotary; nil for a folded feature map without a window, whose φ
    /// reads the layer input and never forms q.
    public let queries: [Matrix]?
    /// Per head, k `[rows, headDim]` after rotary and the grouped-query repeat; nil as `queries`.
    public let keys: [Matrix]?
    /// Per head, v `[rows, headDim]` after the grouped-query repeat.
    public let values: [Matrix]
    /// Per head, the attention output `[rows, headDim]`, before the output projection.
    public let outputs: [Matrix]
    /// The layer's attention input `[rows, hidden]` (after the attention norm of a pre-norm block).
    public let input: Matrix
    /// The layer's attention output `[rows, hidden]`, after the output projection.
    public let output: Matrix
}

/// Sees the attention of chosen layers during a parallel forward pass (`Transformer.forward(batch:typeIds:logits:probe:)`):
/// one `AttentionCapture` per layer and sequence, in order.
///
/// ```swift
/// let probe = Probe(layers: [3]) { capture in print(capture.queries?[0].rows ?? 0) }
/// _ = try model.forward(batch: [ids], probe: probe)
/// ```
public struct Probe {
    /// The layers observed; nil: every layer.
    public var layers: Set<Int>?
    public var observe: (AttentionCapture) -> Void

    public init(layers: Set<Int>? = nil, observe: @escaping (AttentionCapture) -> Void) {
        self.layers = layers
        self.observe = observe
    }

    func wants(layer: Int) -> Bool { layers?.contains(layer) ?? true }
}

extension ProjectedAttention {
    /// The capture of one segment's rows.
    func capture(layer: Int, sequence: Int, rows: Range<Int>, attention a: LoadedAttention, input: Matrix,
                 headOutputs: Matrix, output: Matrix) -> AttentionCapture {
        let d = a.headDim
        func split(_ m: Matrix, kvGroups: Bool) -> [Matrix] {
            (0..<a.heads).map { head in
                let column = (kvGroups ? head / a.groups : head) * d
                var data = [Float]()
                data.reserveCapacity(rows.count * d)
                for r in rows { data += m.data[(r * m.cols + column)..<(r * m.cols + column + d)] }
                return Matrix(rows: rows.count, cols: d, data: data)
            }
        }
        return AttentionCapture(layer: layer, sequence: sequence, heads: a.heads, headDim: d,
                                queries: queries.map { split($0, kvGroups: false) }, keys: keys.map { split($0, kvGroups: true) },
                                values: split(values, kvGroups: true), outputs: split(headOutputs, kvGroups: false),
                                input: input.slicing(rows: rows), output: output.slicing(rows: rows))
    }
}
