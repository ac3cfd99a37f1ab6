import ModelGraph
import RecastCore

/// y = x Wᵀ + b with W stored `[out, in]` in f32.
struct Linear {
    var weight: [Float]
    var bias: [Float]?
    var inFeatures: Int
    var outFeatures: Int

    func apply(_ x: Matrix) -> Matrix {
        var y = Matrix(rows: x.rows, cols: outFeatures)
        x.data.withUnsafeBufferPointer { a in
            weight.withUnsafeBufferPointer { w in
                y.data.withUnsafeMutableBufferPointer { c in
                    BLAS.gemm(m: x.rows, n: outFeatures, k: inFeatures, a: a.baseAddress!, lda: inFeatures,
                              b: w.baseAddress!, ldb: inFeatures, transposeB: true, c: c.baseAddress!, ldc: outFeatures)
                }
            }
        }
        if let bias { Kernels.addBias(&y, bias) }
        return y
    }
}

/// Loads graph tensors from the store as f32 in their canonical layout; each store tensor is read once.
final class WeightLoader {
    let store: TensorStore
    private var cache: [String: [Float]] = [:]

    init(store: TensorStore) { self.store = store }

    /// The tensor in canonical layout (transposed back when the store holds it transposed).
    func values(_ ref: TensorRef) throws -> [Float] {
        if let v = cache[ref.name] { return v }
        var v = try store.loadFloat32(ref.name)
        if ref.storedTransposed, ref.shape.count == 2 {
            v = transpose(v, rows: ref.shape[1], cols: ref.shape[0])
        }
        cache[ref.name] = v
        return v
    }

    /// Drops cached tensors used only while building (fused weights are sliced into projections).
    func clear() { cache.removeAll() }

    func linear(_ p: Projection) throws -> Linear {
        let full = try values(p.weight)
        let fullOut = p.weight.shape.count == 2 ? (p.layout == .outIn ? p.weight.shape[0] : p.weight.shape[1]) : p.outFeatures
        let slice = p.outputSlice ?? 0..<fullOut
        var w = [Float](repeating: 0, count: p.outFeatures * p.inFeatures)
        switch p.layout {
        case .outIn:
            for (o, src) in slice.enumerated() {
                for i in 0..<p.inFeatures { w[o * p.inFeatures + i] = full[src * p.inFeatures + i] }
            }
        case .inOut:
            for i in 0..<p.inFeatures {
                for (o, src) in slice.enumerated() { w[o * p.inFeatures + i] = full[i * fullOut + src] }
            }
        }
        var bias: [Float]?
        if let b = p.bias {
            let all = try values(b)
            bias = Array(all[slice])
        }
        return Linear(weight: w, bias: bias, inFeatures: p.inFeatures, outFeatures: p.outFeatures)
    }

    func norm(_ n: Norm) throws -> LoadedNorm {
        LoadedNorm(kind: n.kind, weight: try values(n.weight), bias: try n.bias.map(values), eps: n.eps)
    }
}

func transpose(_ v: [Float], rows: Int, cols: Int) -> [Float] {
    var out = [Float](repeating: 0, count: v.count)
    for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = v[r * cols + c] } }
    return out
}

struct LoadedNorm {
    var kind: NormKind
    var weight: [Float]
    var bias: [Float]?
    var eps: Double

    func apply(_ x: inout Matrix) { Kernels.normalize(&x, kind: kind, weight: weight, bias: bias, eps: eps) }
}
