#if canImport(Glibc)
import Glibc
#endif
import CBLAS
import RecastCore

/// Why BLAS cannot be used: the file the caller works on and what to do about it.
public struct LinearAlgebraError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var reason: String

    public init(file: String, _ reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { file.isEmpty ? reason : "\(file): \(reason)" }
}

/// The only place that calls the C BLAS. Row-major single-precision products.
///
/// OpenBLAS is loaded on first use (`load`), not linked: its start-up maps buffers and starts threads,
/// which commands without arithmetic (inspect, convert, swap) never need, and which hangs rather than
/// fails when the address space is too small for it.
public enum BLAS {
    /// Address space OpenBLAS takes while it starts: the library, and per thread its buffer, a stack and
    /// a malloc arena. Measured with `sh -c 'ulimit -v N; recast run …'` (Debian 12's OpenBLAS 0.3.21,
    /// pthread build): start-up hung with less than about 170 MB free for 1 thread and 313 MB for 2,
    /// so about 27 MB plus 143 MB a thread; this adds a margin of about 12%.
    public static func startupNeed(threads: Int) -> Int { (48 << 20) + threads * (160 << 20) }

    /// Loads BLAS once; refuses when the address-space limit leaves too little room for its start-up.
    /// `file` names what the caller is working on, in messages.
    public static func load(file: String) throws(LinearAlgebraError) {
        if recast_blas_loaded() != 0 { return }
        let threads = expectedThreads()
        let need = startupNeed(threads: threads)
        if let limit = MemoryLimit.addressSpace(),
           let message = limit.refusal(needing: need, for: "starting OpenBLAS with \(threads) thread\(threads == 1 ? "" : "s")") {
            throw LinearAlgebraError(file: file, message + "; raise ulimit -v, or set OPENBLAS_NUM_THREADS=1")
        }
        guard recast_blas_load() == 0 else {
            throw LinearAlgebraError(file: file, "cannot load BLAS: \(String(cString: recast_blas_error())); install libopenblas0")
        }
    }

    /// Whether `load` has succeeded in this process.
    public static var isLoaded: Bool { recast_blas_loaded() != 0 }

    /// The threads OpenBLAS will start: OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS, OMP_NUM_THREADS, or one per core.
    public static func expectedThreads() -> Int {
        for name in ["OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"] {
            if let v = getenv(name).map({ String(cString: $0) }), let n = Int(v), n > 0 { return n }
        }
        return max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1)
    }

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, with B stored `[n×k]` when `transposeB`
    /// (PyTorch `Linear` weights) or `[k×n]` otherwise, and A stored `[k×m]` when `transposeA`.
    /// Leading dimensions allow strided views.
    public static func gemm(m: Int, n: Int, k: Int,
                            a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
                            c: UnsafeMutablePointer<Float>, ldc: Int,
                            alpha: Float = 1, beta: Float = 0, transposeA: Bool = false) {
        guard m > 0, n > 0 else { return }
        precondition(recast_blas_loaded() != 0, "BLAS used before BLAS.load")
        recast_blas_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                          b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[m] = alpha · op(A) x + beta · y with A stored `[m×n]` row-major (or its transpose when `transpose`).
    public static func gemv(rows m: Int, cols n: Int, a: UnsafePointer<Float>, lda: Int, transpose: Bool,
                            x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, alpha: Float = 1, beta: Float = 0) {
        guard m > 0, n > 0 else { return }
        precondition(recast_blas_loaded() != 0, "BLAS used before BLAS.load")
        recast_blas_sgemv(transpose ? 1 : 0, Int32(m), Int32(n), alpha, a, Int32(lda), x, beta, y)
    }

    /// How many threads BLAS uses once loaded; 1 before.
    public static var threads: Int { recast_blas_loaded() != 0 ? Int(recast_blas_threads()) : 1 }

    /// Runs `body` with BLAS on one thread, for callers that run BLAS products on several threads of their
    /// own (one product per core, rather than each product spread over every core); the thread count is
    /// restored after. Not for use while other threads call BLAS. BLAS must be loaded.
    public static func singleThreaded<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let before = threads
        guard before > 1 else { return try body() }
        recast_blas_set_threads(1)
        defer { recast_blas_set_threads(Int32(before)) }
        return try body()
    }
}
