import CBLAS

/// The only file that calls the C BLAS. Row-major single-precision products.
enum BLAS {
    /// C[m×n] = alpha · A[m×k] · op(B) + beta · C, with B stored `[n×k]` when `transposeB`
    /// (PyTorch `Linear` weights) or `[k×n]` otherwise. Leading dimensions allow strided views.
    static func gemm(m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
                     c: UnsafeMutablePointer<Float>, ldc: Int,
                     alpha: Float = 1, beta: Float = 0, transposeA: Bool = false) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[m] = alpha · op(A) x + beta · y with A stored `[m×n]` row-major (or its transpose when `transpose`).
    static func gemv(rows m: Int, cols n: Int, a: UnsafePointer<Float>, lda: Int, transpose: Bool,
                     x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, alpha: Float = 1, beta: Float = 0) {
        guard m > 0, n > 0 else { return }
        cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda),
                    x, 1, beta, y, 1)
    }

    /// How many threads BLAS uses.
    static var threads: Int { Int(openblas_get_num_threads()) }
}
