#if canImport(Glibc)
import Glibc
#endif
import LinearAlgebra
import RecastCore

/// Performer's FAVOR+ positive random features (Choromanski et al. 2021): with x′ = d^(−1/4) x,
/// φ(x) = m^(−1/2) exp(ωᵀx′ − ‖x′‖²/2) for m fixed orthogonal random rows ω (default 256), shared by q and k.
public struct Performer: FeatureMap {
    public init() {}
    public var name: String { "performer" }
    public var formula: String { "positive orthogonal random features, m features (default 256)" }
    public static let defaultFeatures = 256
    public func defaultDimension(headDim d: Int) -> Int { Performer.defaultFeatures }
    public func featureCount(dimension m: Int, headDim d: Int) -> Int { m }
    public var foldRefusal: String? {
        "--fold is refused for performer: φ(x) = m^(-1/2)·exp(ωᵀx′ − ‖x′‖²/2) needs ‖q‖² besides the projection ωᵀq, so q itself must still be formed and there is no linear first stage to fold"
    }
    public var qkSharing: QKSharing {
        .refused("--separate-qk does not apply to performer: its random projection is fixed and shared by q and k")
    }

    /// `feature_map.projection` `[H, m, d]`, fixed (not trained).
    public func parameters(_ layout: FeatureMapLayout) -> [FeatureMapParameter] {
        [FeatureMapParameter(role: .shared, key: "projection", shape: [layout.heads, layout.dimension, layout.headDim], trained: false)]
    }

    static let purpose = "performer/projection"

    public func initialValues(_ p: FeatureMapParameter, layout: FeatureMapLayout, seed: UInt64, layer: Int, head: Int) -> [Double] {
        var stream = RandomStream(seed: seed, purpose: Performer.purpose, layer: layer, head: head)
        return Performer.orthogonalFeatures(features: layout.dimension, headDim: layout.headDim, stream: &stream)
    }

    /// Positive orthogonal random features: `m` rows of length `d`.
    ///
    /// For each block of `d` rows a `d×d` Gaussian matrix G is drawn and orthonormalised (G = QR);
    /// the block is Qᵀ, whose rows are orthonormal. ⌈m/d⌉ blocks are stacked and the first `m` rows
    /// kept. Row i is then scaled by ‖gᵢ‖ for an independent gᵢ ~ N(0, I_d), so that row norms follow
    /// the chi distribution with d degrees of freedom, as those of unstructured Gaussian rows do.
    public static func orthogonalFeatures(features m: Int, headDim d: Int, stream: inout RandomStream) -> [Double] {
        let blocks = (m + d - 1) / d
        var rows: [Double] = []
        rows.reserveCapacity(blocks * d * d)
        for _ in 0..<blocks {
            var g = [Double](repeating: 0, count: d * d)
            for i in 0..<(d * d) { g[i] = stream.gaussian() }
            rows += orthonormalColumnsTransposed(g, n: d)
        }
        var out = Array(rows[0..<(m * d)])
        for i in 0..<m {
            var s = 0.0
            for _ in 0..<d { let z = stream.gaussian(); s += z * z }
            let scale = s.squareRoot()
            for j in 0..<d { out[i * d + j] *= scale }
        }
        return out
    }

    /// Qᵀ of the QR factorisation of a square `n×n` row-major matrix, by modified Gram–Schmidt on its
    /// columns with one re-orthogonalisation pass ("twice is enough"), so diag(R) > 0 and Q is the
    /// Haar-distributed factor for Gaussian input. Row j of the result is column j of Q.
    public static func orthonormalColumnsTransposed(_ a: [Double], n: Int) -> [Double] {
        // Work on columns as rows of the transpose.
        var q = [Double](repeating: 0, count: n * n)
        for r in 0..<n { for c in 0..<n { q[c * n + r] = a[r * n + c] } }
        for j in 0..<n {
            for _ in 0..<2 {
                for i in 0..<j {
                    var dot = 0.0
                    for t in 0..<n { dot += q[i * n + t] * q[j * n + t] }
                    for t in 0..<n { q[j * n + t] -= dot * q[i * n + t] }
                }
            }
            var norm = 0.0
            for t in 0..<n { norm += q[j * n + t] * q[j * n + t] }
            norm = norm.squareRoot()
            // A Gaussian matrix is singular with probability zero; guard anyway with a unit vector
            // orthogonal to the others (never hit in practice, but keeps the output finite).
            if !(norm > 1e-300) {
                for t in 0..<n { q[j * n + t] = t == j ? 1 : 0 }
                continue
            }
            for t in 0..<n { q[j * n + t] /= norm }
        }
        return q
    }

    /// No maximum is subtracted: with ε in the denominator it would not cancel exactly, and
    /// ωᵀx′ − ‖x′‖²/2 ≤ ‖ω‖²/2 bounds the exponent anyway.
    public func forward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int, into out: UnsafeMutablePointer<Float>) {
        let m = w.dimension, d = w.inFeatures
        let scale = Float(pow(Double(d), -0.25))
        let norm = Float(1 / Double(m).squareRoot())
        // ωᵀx′ = scale · ωᵀx.
        w.tensor("projection").withUnsafeBufferPointer { p in
            BLAS.gemm(m: rows, n: m, k: d, a: x, lda: ldx, b: p.baseAddress! + head * m * d, ldb: d, transposeB: true,
                      c: out, ldc: m, alpha: scale)
        }
        for r in 0..<rows {
            let half = Performer.halfSquaredNorm(x + r * ldx, d, scale: scale)
            for j in 0..<m { out[r * m + j] = norm * expf(out[r * m + j] - half) }
        }
    }

    /// ‖x′‖²/2 with x′ = scale · x.
    static func halfSquaredNorm(_ x: UnsafePointer<Float>, _ d: Int, scale: Float) -> Float {
        var s: Float = 0
        for j in 0..<d { let v = x[j] * scale; s += v * v }
        return s / 2
    }

    /// dφⱼ/dx′ = φⱼ (ωⱼ − x′), so dL/dx = d^(−1/4) [ (g ⊙ φ) ω − ⟨g, φ⟩ x′ ]. The projection is fixed: no
    /// parameter gradient.
    public func backward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int,
                         outputGradient g: UnsafePointer<Float>) -> FeatureMapGradient {
        let m = w.dimension, d = w.inFeatures
        let scale = Float(pow(Double(d), -0.25))
        var gphi = [Float](repeating: 0, count: rows * m)
        gphi.withUnsafeMutableBufferPointer { forward(w, head: head, x: x, rows: rows, ldx: ldx, into: $0.baseAddress!) }
        var dots = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            for j in 0..<m { gphi[r * m + j] *= g[r * m + j]; dots[r] += gphi[r * m + j] }
        }
        var dx = [Float](repeating: 0, count: rows * d)
        gphi.withUnsafeBufferPointer { a in
            w.tensor("projection").withUnsafeBufferPointer { p in
                BLAS.gemm(m: rows, n: d, k: m, a: a.baseAddress!, lda: m, b: p.baseAddress! + head * m * d, ldb: d,
                          transposeB: false, c: &dx, ldc: d, alpha: scale)
            }
        }
        for r in 0..<rows {
            for j in 0..<d { dx[r * d + j] -= scale * dots[r] * scale * x[r * ldx + j] }
        }
        return FeatureMapGradient(parameters: [:], input: dx)
    }
}

extension FeatureMapKind {
    public static let performer = FeatureMapKind(Performer())
}
