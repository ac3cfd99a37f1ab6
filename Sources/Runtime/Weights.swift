import ModelGraph
import RecastCore

/// y = x Wᵀ + b with W stored `[out, in]` in f32.
struct Linear {
    var weight: [Float]
    var bias: [Float]?
    var inFeatures: Int
    var outFeatures: Int

    static let empty = Linear(weight: [], bias: nil, inFeatures: 0, outFeatures: 0)

    func apply(_ x: Matrix) -> Matrix {
        let rows = x.rows, n = outFeatures
        // Start from the bias in every row (or zeros) and accumulate the product onto it (beta 1): no
        // separate pass to add the bias.
        let start = [Float](unsafeUninitializedCapacity: rows * n) { buffer, count in
            if let bias {
                bias.withUnsafeBufferPointer { b in
                    for r in 0..<rows { (buffer.baseAddress! + r * n).initialize(from: b.baseAddress!, count: n) }
                }
            } else {
                buffer.initialize(repeating: 0)
            }
            count = rows * n
        }
        var y = Matrix(rows: rows, cols: n, data: start)
        x.data.withUnsafeBufferPointer { a in
            weight.withUnsafeBufferPointer { w in
                y.data.withUnsafeMutableBufferPointer { c in
                    if rows == 1 {
                        // One token (recurrent decoding): a matrix–vector product streams the weight once.
                        BLAS.gemv(rows: n, cols: inFeatures, a: w.baseAddress!, lda: inFeatures, transpose: false,
                                  x: a.baseAddress!, y: c.baseAddress!, beta: 1)
                    } else {
                        BLAS.gemm(m: rows, n: n, k: inFeatures, a: a.baseAddress!, lda: inFeatures,
                                  b: w.baseAddress!, ldb: inFeatures, transposeB: true, c: c.baseAddress!, ldc: n, beta: 1)
                    }
                }
            }
        }
        return y
    }
}

/// Loads graph tensors from the store as f32 in their canonical layout; each store tensor is read once.
final class WeightLoader {
    let store: TensorStore
    private var cache: [String: [Float]] = [:]

    init(store: TensorStore) { self.store = store }

    /// The tensor in canonical layout, cached so fused weights are read once.
    func values(_ ref: TensorRef) throws -> [Float] {
        if let v = cache[ref.name] { return v }
        let v = try ref.loadCanonical(from: store)
        cache[ref.name] = v
        return v
    }

    /// Drops cached tensors used only while building (fused weights are sliced into projections).
    func clear() { cache.removeAll() }

    func linear(_ p: Projection) throws -> Linear {
        let (w, bias) = p.matrix(fullWeight: try values(p.weight), fullBias: try p.bias.map(values))
        return Linear(weight: w, bias: bias, inFeatures: p.inFeatures, outFeatures: p.outFeatures)
    }

    func norm(_ n: Norm) throws -> LoadedNorm {
        LoadedNorm(kind: n.kind, weight: try values(n.weight), bias: try n.bias.map(values), eps: n.eps)
    }
}

struct LoadedNorm {
    var kind: NormKind
    var weight: [Float]
    var bias: [Float]?
    var eps: Double

    func apply(_ x: inout Matrix) { Kernels.normalize(&x, kind: kind, weight: weight, bias: bias, eps: eps) }
}
