import LinearAlgebra

/// The per-head affine stage u = W_h x + b_h that T2R and Hedgehog start with: `weight` `[H, k, in]`, `bias` `[H, k]`.
enum Affine {
    /// The `weight` and `bias` parameters of every role the layout has.
    static func parameters(_ layout: FeatureMapLayout, roles: [FeatureMapRole]) -> [FeatureMapParameter] {
        let h = layout.heads, k = layout.dimension
        return roles.flatMap { role in
            [FeatureMapParameter(role: role, key: "weight", shape: [h, k, layout.inFeatures]),
             FeatureMapParameter(role: role, key: "bias", shape: [h, k])]
        }
    }

    /// out[r, j] = Σ_c x[r, c] W_h[j, c] + b_h[j], for `rows` rows; `out` has row stride `ldo`.
    static func forward(_ w: FeatureMapWeights, head h: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int,
                        into out: UnsafeMutablePointer<Float>, ldo: Int) {
        let k = w.dimension, n = w.inFeatures
        w.tensor("weight").withUnsafeBufferPointer { weight in
            BLAS.gemm(m: rows, n: k, k: n, a: x, lda: ldx, b: weight.baseAddress! + h * k * n, ldb: n, transposeB: true,
                      c: out, ldc: ldo)
        }
        w.tensor("bias").withUnsafeBufferPointer { bias in
            let b = bias.baseAddress! + h * k
            for r in 0..<rows { for j in 0..<k { out[r * ldo + j] += b[j] } }
        }
    }

    /// Given dL/du (`[rows, k]` dense), dL/dW_h `[k, in]`, dL/db_h `[k]` and dL/dx `[rows, in]`.
    static func backward(_ w: FeatureMapWeights, head h: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int,
                         affineGradient du: [Float]) -> FeatureMapGradient {
        let k = w.dimension, n = w.inFeatures
        var dw = [Float](repeating: 0, count: k * n)
        var db = [Float](repeating: 0, count: k)
        var dx = [Float](repeating: 0, count: rows * n)
        for r in 0..<rows { for j in 0..<k { db[j] += du[r * k + j] } }
        du.withUnsafeBufferPointer { g in
            w.tensor("weight").withUnsafeBufferPointer { weight in
                // dW = duᵀ x; dx = du W.
                BLAS.gemm(m: k, n: n, k: rows, a: g.baseAddress!, lda: k, b: x, ldb: ldx, transposeB: false,
                          c: &dw, ldc: n, transposeA: true)
                BLAS.gemm(m: rows, n: n, k: k, a: g.baseAddress!, lda: k, b: weight.baseAddress! + h * k * n, ldb: n,
                          transposeB: false, c: &dx, ldc: n)
            }
        }
        return FeatureMapGradient(parameters: ["weight": dw, "bias": db], input: dx)
    }
}
