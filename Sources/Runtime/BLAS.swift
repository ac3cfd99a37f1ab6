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

    /// How many threads BLAS uses.
    static var threads: Int { Int(openblas_get_num_threads()) }
}
