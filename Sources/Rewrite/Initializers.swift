import RecastCore

/// The initial values of each feature map's parameters, one head at a time, in Double.
///
/// Each function draws from the stream it is given and nothing else, so a tensor is a pure function
/// of (seed, purpose, layer, head): see `RandomStream(seed:purpose:layer:head:)`.
public enum Initializers {
    /// PyTorch's default for `nn.Linear(d, k)`: weight `[k, d]` and bias `[k]` uniform in ±1/√d
    /// (`kaiming_uniform_(a=√5)` reduces to this bound). Weight and bias come from separate streams.
    public static func t2r(features k: Int, headDim d: Int, weightStream: inout RandomStream, biasStream: inout RandomStream)
        -> (weight: [Double], bias: [Double]) {
        let bound = 1 / Double(d).squareRoot()
        let w = (0..<(k * d)).map { _ in weightStream.uniform(-bound, bound) }
        let b = (0..<k).map { _ in biasStream.uniform(-bound, bound) }
        return (w, b)
    }

    /// Positive orthogonal random features (Performer, FAVOR+): `m` rows of length `d`.
    ///
    /// For each block of `d` rows a `d×d` Gaussian matrix G is drawn and orthonormalised (G = QR);
    /// the block is Qᵀ, whose rows are orthonormal. ⌈m/d⌉ blocks are stacked and the first `m` rows
    /// kept. Row i is then scaled by ‖gᵢ‖ for an independent gᵢ ~ N(0, I_d), so that row norms follow
    /// the chi distribution with d degrees of freedom, as those of unstructured Gaussian rows do.
    public static func performer(features m: Int, headDim d: Int, stream: inout RandomStream) -> [Double] {
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

    /// Hedgehog's initialisation: weight `[k, d]` the rectangular identity (1 where row == column), bias zero.
    public static func hedgehog(features k: Int, headDim d: Int) -> (weight: [Double], bias: [Double]) {
        var w = [Double](repeating: 0, count: k * d)
        for i in 0..<min(k, d) { w[i * d + i] = 1 }
        return (w, [Double](repeating: 0, count: k))
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

    /// The folded T2R map of one head: Ŵ = W_φ W_{q,h} `[k, in]` and b̂ = W_φ b_{q,h} + b_φ `[k]`, where
    /// `projection` is the head's `d` rows of the q (or k) projection, `[d, in]`, and `projectionBias` its
    /// `d` biases (nil when the projection has none).
    public static func fold(mapWeight w: [Double], mapBias b: [Double], features k: Int, headDim d: Int,
                            projection p: [Double], projectionBias pb: [Double]?, inFeatures n: Int) -> (weight: [Double], bias: [Double]) {
        var weight = [Double](repeating: 0, count: k * n)
        var bias = b
        for r in 0..<k {
            for t in 0..<d {
                let coefficient = w[r * d + t]
                for c in 0..<n { weight[r * n + c] += coefficient * p[t * n + c] }
            }
            if let pb {
                var s = 0.0
                for t in 0..<d { s += w[r * d + t] * pb[t] }
                bias[r] = s + b[r]
            }
        }
        return (weight, bias)
    }
}
