import Runtime

/// The teacher's captures of one layer, per sequence and head, as the student reads them (`PreparedHead`).
struct TransferData: Sendable {
    let sequences: [[PreparedHead]]
    /// Values the loss averages over: rows × heads × head size, over every sequence.
    let elements: Int

    var isEmpty: Bool { sequences.isEmpty }

    /// Why `capture` cannot train `layer`: its sizes, or q and k missing where the student needs them; nil when it can.
    static func refusal(_ capture: AttentionCapture, layer: TransferLayer) -> String? {
        let layout = layer.layout, h = layout.heads, d = layout.headDim
        let name = "the capture of layer \(capture.layer), sequence \(capture.sequence)"
        guard capture.heads == h, capture.headDim == d else {
            return "\(name) has \(capture.heads) heads of \(capture.headDim), the layer \(h) of \(d)"
        }
        let t = capture.input.rows
        guard t > 0 else { return "\(name) is empty" }
        var matrices = [capture.values, capture.outputs]
        if !layout.folded || layer.window != nil {
            guard let q = capture.queries, let k = capture.keys else {
                return "\(name) has no queries and keys (a folded capture without a window), which this layer needs"
            }
            matrices += [q, k]
        }
        for heads in matrices {
            guard heads.count == h, heads.allSatisfy({ $0.rows == t && $0.cols == d }) else {
                return "\(name) holds a per-head matrix that is not \(h) × [\(t), \(d)]"
            }
        }
        if layout.folded, capture.input.cols != layout.hiddenSize {
            return "\(name) has an input of \(capture.input.cols) features, the folded map reads \(layout.hiddenSize)"
        }
        return nil
    }

    /// Prepares captures already checked by `refusal`: window terms are computed here once, in parallel.
    init(_ captures: [AttentionCapture], layer: TransferLayer) {
        let layout = layer.layout, heads = layout.heads, d = layout.headDim
        let prepared = inParallel(captures.count * heads) { task -> PreparedHead in
            let capture = captures[task / heads], h = task % heads, t = capture.input.rows
            var values = [Float](repeating: 0, count: t * (d + 1))
            let v = capture.values[h].data
            for n in 0..<t {
                values[(n * (d + 1))..<(n * (d + 1) + d)] = v[(n * d)..<(n * d + d)]
                values[n * (d + 1) + d] = 1
            }
            var window: [Float]?
            if let w = layer.window, let q = capture.queries?[h].data, let k = capture.keys?[h].data {
                window = TransferObjective.windowTerms(queries: q, keys: k, values: values, rows: t, headDim: d, window: w,
                                                       sinks: layer.sinks, causal: layer.causal, scale: layer.scale)
            }
            let queryInput = layout.folded ? capture.input.data : capture.queries?[h].data ?? []
            let keyInput = layout.folded ? capture.input.data : capture.keys?[h].data ?? []
            return PreparedHead(rows: t, queryInput: queryInput, keyInput: keyInput, values: values, window: window,
                                target: capture.outputs[h].data)
        }
        sequences = (0..<captures.count).map { Array(prepared[($0 * heads)..<(($0 + 1) * heads)]) }
        elements = captures.reduce(0) { $0 + $1.input.rows } * heads * d
    }

    /// The loss (mean squared error over `sequences` — all of them when nil — heads, positions and dimensions) and,
    /// when `gradient`, its gradient with respect to `parameters`' vector. Sequences and heads run in parallel;
    /// their results are added in a fixed order.
    func loss(_ student: Student, _ parameters: TrainedParameters, sequences chosen: [Int]? = nil, gradient: Bool)
        -> (loss: Double, gradient: [Double]) {
        let indices = chosen ?? Array(sequences.indices), heads = student.layer.layout.heads
        let sequences = self.sequences
        let elements = chosen == nil ? self.elements : indices.reduce(0) { $0 + sequences[$1][0].rows } * heads * student.layer.layout.headDim
        let scale = 1 / Double(elements)
        let results = inParallel(indices.count * heads) { task in
            TransferObjective.evaluate(student, head: task % heads, sequences[indices[task / heads]][task % heads],
                                       gradientScale: gradient ? scale : nil)
        }
        var total = 0.0, g = [Double](repeating: 0, count: gradient ? parameters.count : 0)
        for (task, result) in results.enumerated() {
            total += result.squaredError
            if gradient { parameters.accumulate(result, head: task % heads, into: &g) }
        }
        return (total * scale, g)
    }
}
