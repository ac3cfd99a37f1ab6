import RecastCore

extension TensorRef {
    /// The tensor as f32 in its canonical layout (transposed back when the store holds it transposed).
    public func loadCanonical(from store: TensorStore) throws -> [Float] {
        var v = try store.loadFloat32(name)
        if storedTransposed, shape.count == 2 {
            v = transposed(v, rows: shape[1], cols: shape[0])
        }
        return v
    }
}

extension Projection {
    /// The weight as f32 `[outFeatures, inFeatures]` (PyTorch layout) and the bias, sliced to this
    /// projection's outputs, from a canonical weight already loaded (`full`) and its bias.
    public func matrix(fullWeight full: [Float], fullBias: [Float]?) -> (weight: [Float], bias: [Float]?) {
        let fullOut = weight.shape.count == 2 ? (layout == .outIn ? weight.shape[0] : weight.shape[1]) : outFeatures
        let slice = outputSlice ?? 0..<fullOut
        // The whole tensor in PyTorch layout is the matrix itself: hand the array on (copy-on-write) rather
        // than copying it, so a model holds each weight once (and a tied LM head shares the embedding).
        if layout == .outIn, slice == 0..<fullOut, full.count == outFeatures * inFeatures {
            return (full, fullBias.map { $0.count == slice.count ? $0 : Array($0[slice]) })
        }
        var w = [Float](repeating: 0, count: outFeatures * inFeatures)
        switch layout {
        case .outIn:
            for (o, src) in slice.enumerated() {
                for i in 0..<inFeatures { w[o * inFeatures + i] = full[src * inFeatures + i] }
            }
        case .inOut:
            for i in 0..<inFeatures {
                for (o, src) in slice.enumerated() { w[o * inFeatures + i] = full[i * fullOut + src] }
            }
        }
        return (w, fullBias.map { Array($0[slice]) })
    }

    /// Loads the weight `[out, in]` and bias of this projection from the store.
    public func load(from store: TensorStore) throws -> (weight: [Float], bias: [Float]?) {
        matrix(fullWeight: try weight.loadCanonical(from: store), fullBias: try bias?.loadCanonical(from: store))
    }
}

/// A row-major transpose of a `rows × cols` matrix.
public func transposed(_ v: [Float], rows: Int, cols: Int) -> [Float] {
    var out = [Float](repeating: 0, count: v.count)
    for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = v[r * cols + c] } }
    return out
}
