#if canImport(Glibc)
import Glibc
#endif
import ModelGraph

/// Per-head affine maps `[H, k, in]` and biases `[H, k]`.
struct HeadAffine {
    var weight: [Float]
    var bias: [Float]
    var features: Int
    var inFeatures: Int

    /// out[T×k] = x[T×in (row stride ldx)] · W_hᵀ + b_h
    func apply(head h: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * features)
        weight.withUnsafeBufferPointer { w in
            out.withUnsafeMutableBufferPointer { o in
                BLAS.gemm(m: rows, n: features, k: inFeatures, a: x, lda: ldx,
                          b: w.baseAddress! + h * features * inFeatures, ldb: inFeatures, transposeB: true,
                          c: o.baseAddress!, ldc: features)
            }
        }
        for r in 0..<rows { for j in 0..<features { out[r * features + j] += bias[h * features + j] } }
        return out
    }
}

/// A swapped layer's φ, evaluated per head.
enum FeatureMap {
    case t2r(query: HeadAffine, key: HeadAffine)
    /// T2R folded into the projections: the affine maps read the attention input, not q and k.
    case folded(query: HeadAffine, key: HeadAffine)
    case performer(projection: [Float], features: Int, headDim: Int)
    case elu
    case hedgehog(query: HeadAffine, key: HeadAffine)

    /// Number of features φ produces for a head of size `d`.
    func featureCount(headDim d: Int) -> Int {
        switch self {
        case let .t2r(q, _), let .folded(q, _): q.features
        case let .performer(_, m, _): m
        case .elu: d
        case let .hedgehog(q, _): 2 * q.features
        }
    }

    var isFolded: Bool { if case .folded = self { return true }; return false }

    /// φ of `rows` vectors of one head. `x` is q or k of that head (row stride `ldx`), or for a folded map
    /// the attention input.
    func apply(head h: Int, isQuery: Bool, x: UnsafePointer<Float>, rows: Int, ldx: Int, headDim d: Int) -> [Float] {
        switch self {
        case let .t2r(q, k), let .folded(q, k):
            var u = (isQuery ? q : k).apply(head: h, x: x, rows: rows, ldx: ldx)
            for i in 0..<u.count { u[i] = max(u[i], 0) }
            return u
        case let .hedgehog(q, k):
            let a = isQuery ? q : k
            let u = a.apply(head: h, x: x, rows: rows, ldx: ldx)
            let f = a.features
            var out = [Float](repeating: 0, count: rows * 2 * f)
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<rows {
                    let dst = o.baseAddress! + r * 2 * f
                    for j in 0..<f { dst[j] = u[r * f + j]; dst[f + j] = -u[r * f + j] }
                    Kernels.softmax(dst, f)
                    Kernels.softmax(dst + f, f)
                }
            }
            return out
        case .elu:
            var out = [Float](repeating: 0, count: rows * d)
            for r in 0..<rows {
                for j in 0..<d {
                    let v = x[r * ldx + j]
                    out[r * d + j] = v > 0 ? v + 1 : expf(v)
                }
            }
            return out
        case let .performer(projection, m, hd):
            // x' = d^(-1/4) x; φ = m^(-1/2) exp(ωᵀx' − ‖x'‖²/2). No maximum is subtracted: with ε in the
            // denominator it would not cancel exactly, and ωᵀx' − ‖x'‖²/2 ≤ ‖ω‖²/2 bounds the exponent anyway.
            let scale = Float(pow(Double(hd), -0.25))
            var xs = [Float](repeating: 0, count: rows * hd)
            var sq = [Float](repeating: 0, count: rows)
            for r in 0..<rows {
                var s: Float = 0
                for j in 0..<hd { let v = x[r * ldx + j] * scale; xs[r * hd + j] = v; s += v * v }
                sq[r] = s / 2
            }
            var u = [Float](repeating: 0, count: rows * m)
            xs.withUnsafeBufferPointer { a in
                projection.withUnsafeBufferPointer { w in
                    u.withUnsafeMutableBufferPointer { o in
                        BLAS.gemm(m: rows, n: m, k: hd, a: a.baseAddress!, lda: hd,
                                  b: w.baseAddress! + h * m * hd, ldb: hd, transposeB: true, c: o.baseAddress!, ldc: m)
                    }
                }
            }
            let norm = Float(1 / Double(m).squareRoot())
            for r in 0..<rows {
                for j in 0..<m { u[r * m + j] = norm * expf(u[r * m + j] - sq[r]) }
            }
            return u
        }
    }
}

extension FeatureMap {
    /// Builds the runtime map of a swapped layer from its tensors.
    static func load(_ la: LinearAttentionConfig, tensors: FeatureMapTensors, attention: Attention, hidden: Int,
                     loader: WeightLoader) throws -> FeatureMap {
        func affine(_ role: [String: TensorRef], inFeatures: Int) throws -> HeadAffine {
            guard let w = role["weight"], let b = role["bias"] else {
                throw RuntimeError(file: loader.store.files.first ?? "", "feature-map tensors are missing")
            }
            return HeadAffine(weight: try loader.values(w), bias: try loader.values(b), features: la.featureDim, inFeatures: inFeatures)
        }
        let d = attention.headDim
        switch FeatureMapKind(rawValue: la.featureMap) {
        case .elu: return .elu
        case .performer:
            guard let p = tensors.shared["projection"] else { throw RuntimeError(file: loader.store.files.first ?? "", "performer projection is missing") }
            return .performer(projection: try loader.values(p), features: la.featureDim, headDim: d)
        case .hedgehog:
            return .hedgehog(query: try affine(tensors.query, inFeatures: d), key: try affine(tensors.key, inFeatures: d))
        case .t2r:
            if la.folded { return .folded(query: try affine(tensors.query, inFeatures: hidden), key: try affine(tensors.key, inFeatures: hidden)) }
            if !tensors.shared.isEmpty {
                let a = try affine(tensors.shared, inFeatures: d)
                return .t2r(query: a, key: a)
            }
            return .t2r(query: try affine(tensors.query, inFeatures: d), key: try affine(tensors.key, inFeatures: d))
        case nil:
            throw RuntimeError(file: loader.store.files.first ?? "", "unknown feature map '\(la.featureMap)'")
        }
    }
}
