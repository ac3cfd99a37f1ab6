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

/// The only place that calls the C BLAS and Recast's own C kernels (`kernels`). Row-major single-precision products.
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

    /// The kernels products run on where they can: "avx512f" (Recast's own, on a CPU with AVX-512, for a
    /// matrix product of at least 6 rows with A not transposed, and matrix–vector products), or
    /// "blas" (every product through the BLAS library: no AVX-512, or `RECAST_KERNELS=blas`). The BLAS library
    /// may not use a CPU's widest vectors (OpenBLAS follows OPENBLAS_CORETYPE: with Haswell's kernels on an
    /// AVX-512 machine its sgemm runs at half the core's peak).
    public static var kernels: String { String(cString: recast_kernels()) }

    /// The threads OpenBLAS will start: OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS, OMP_NUM_THREADS, or one per core.
    public static func expectedThreads() -> Int {
        for name in ["OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"] {
            if let v = getenv(name).map({ String(cString: $0) }), let n = Int(v), n > 0 { return n }
        }
        return max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1)
    }

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, with B stored `[n×k]` when `transposeB`
    /// (PyTorch `Linear` weights) or `[k×n]` otherwise, and A stored `[k×m]` when `transposeA`.
    /// Leading dimensions allow strided views. A large product is split over `threads` by columns of C (by
    /// rows when C is narrow), each part one single-threaded call of Recast's kernel or BLAS (`kernels`). The
    /// split depends only on the shape and the thread count, so a run repeats bit for bit; with another thread
    /// count the parts differ, and a part's edge rows or columns may be summed in another order (SmolLM2's
    /// logits move by about 1e-6 between one and two threads).
    public static func gemm(m: Int, n: Int, k: Int,
                            a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
                            c: UnsafeMutablePointer<Float>, ldc: Int,
                            alpha: Float = 1, beta: Float = 0, transposeA: Bool = false) {
        guard m > 0, n > 0 else { return }
        precondition(recast_blas_loaded() != 0, "BLAS used before BLAS.load")
        func call(_ m: Int, _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
            recast_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                         b, Int32(ldb), beta, c, Int32(ldc))
        }
        let parts = split(work: m * n * k, minimum: 1 << 21)
        guard parts > 1 else { return call(m, n, a, b, c) }
        let pa = SharedPointer(UnsafeMutablePointer(mutating: a)), pb = SharedPointer(UnsafeMutablePointer(mutating: b))
        let pc = SharedPointer(c)
        if n >= parts * columnQuantum {
            inParallel(tasks: parts) { t in
                let j0 = boundary(t, of: parts, count: n), j1 = boundary(t + 1, of: parts, count: n)
                call(m, j1 - j0, pa.pointer, pb.pointer + (transposeB ? j0 * ldb : j0), pc.pointer + j0)
            }
        } else {
            inParallel(tasks: parts) { t in
                let i0 = boundary(t, of: parts, count: m), i1 = boundary(t + 1, of: parts, count: m)
                call(i1 - i0, n, pa.pointer + (transposeA ? i0 : i0 * lda), pb.pointer, pc.pointer + i0 * ldc)
            }
        }
    }

    /// One of the products of `BLAS.products(sharing:)`: C `[m, n]` (row stride n) = A Bᵀ, plus C when `beta`
    /// is 1, with B `[n, k]` row-major (a weight stored `[out, in]`).
    public struct WeightProduct {
        public var b: UnsafePointer<Float>
        public var n: Int
        public var c: UnsafeMutablePointer<Float>
        public var beta: Float
        public init(b: UnsafePointer<Float>, n: Int, c: UnsafeMutablePointer<Float>, beta: Float) {
            self.b = b
            self.n = n
            self.c = c
            self.beta = beta
        }
    }

    /// Several products of one input A `[m, k]` (q, k and v of a layer; an MLP's gate and up) in one parallel
    /// region: their columns, side by side, are split over the threads as one product's would be, without
    /// copying the weights together: fewer and evener parts than product by product (k and v alone are too
    /// small to split). Each element is one kernel call's full sum over k; as with `gemm`, the parts (and so the
    /// last bits) follow the thread count.
    public static func products(sharing a: UnsafePointer<Float>, m: Int, k: Int, lda: Int, _ products: [WeightProduct]) {
        guard m > 0, k > 0, !products.isEmpty else { return }
        precondition(recast_blas_loaded() != 0, "BLAS used before BLAS.load")
        let total = products.reduce(0) { $0 + $1.n }
        /// The columns [j0, j1) of the side-by-side products, each overlapped product by its own call.
        func run(_ j0: Int, _ j1: Int) {
            var first = 0
            for p in products {
                let lo = max(j0, first) - first, hi = min(j1, first + p.n) - first
                first += p.n
                guard lo < hi else { continue }
                if m == 1 {
                    recast_sgemv(0, Int32(hi - lo), Int32(k), 1, p.b + lo * k, Int32(k), a, p.beta, p.c + lo)
                } else {
                    recast_sgemm(0, 1, Int32(m), Int32(hi - lo), Int32(k), 1, a, Int32(lda), p.b + lo * k, Int32(k),
                                 p.beta, p.c + lo, Int32(p.n))
                }
            }
        }
        let parts = total >= 2 * columnQuantum ? split(work: m * total * k, minimum: m == 1 ? 1 << 17 : 1 << 21) : 1
        guard parts > 1 else { return run(0, total) }
        inParallel(tasks: parts) { t in run(boundary(t, of: parts, count: total), boundary(t + 1, of: parts, count: total)) }
    }

    /// y = alpha · op(A) x + beta · y with A stored `[m×n]` row-major (or its transpose when `transpose`).
    /// A large product is split over `threads` by elements of y, each part one single-threaded call of
    /// Recast's kernel or BLAS (`kernels`).
    public static func gemv(rows m: Int, cols n: Int, a: UnsafePointer<Float>, lda: Int, transpose: Bool,
                            x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, alpha: Float = 1, beta: Float = 0) {
        guard m > 0, n > 0 else { return }
        precondition(recast_blas_loaded() != 0, "BLAS used before BLAS.load")
        func call(_ m: Int, _ n: Int, _ a: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
            recast_sgemv(transpose ? 1 : 0, Int32(m), Int32(n), alpha, a, Int32(lda), x, beta, y)
        }
        let outputs = transpose ? n : m
        let parts = outputs >= 2 * columnQuantum ? split(work: m * n, minimum: 1 << 17) : 1
        guard parts > 1 else { return call(m, n, a, y) }
        let pa = SharedPointer(UnsafeMutablePointer(mutating: a)), py = SharedPointer(y)
        inParallel(tasks: parts) { t in
            let i0 = boundary(t, of: parts, count: outputs), i1 = boundary(t + 1, of: parts, count: outputs)
            if transpose {
                call(m, i1 - i0, pa.pointer + i0, py.pointer + i0)
            } else {
                call(i1 - i0, n, pa.pointer + i0 * lda, py.pointer + i0)
            }
        }
    }

    /// Parts of a split product start at multiples of this many columns (whole register tiles of the kernels).
    static let columnQuantum = 32

    /// The start of part `t` of `parts` over `count`, on a multiple of `columnQuantum` (the last part ends at `count`).
    static func boundary(_ t: Int, of parts: Int, count: Int) -> Int {
        t == parts ? count : min(count, (t * count / parts + columnQuantum / 2) / columnQuantum * columnQuantum)
    }

    /// Parts to split a product of `work` multiply–adds into: one per thread when it is at least `minimum`
    /// per thread, and not inside a parallel region (whose threads are all busy already).
    static func split(work: Int, minimum: Int) -> Int {
        let threads = Self.threads
        guard threads > 1, recast_blas_in_region() == 0 else { return 1 }
        return max(1, min(threads, work / minimum))
    }

    /// Runs `body(t)` for every t of `0..<tasks`, spread over `threads` (serially with one thread, when
    /// `when` is false, or inside another parallel region). The threads are marked as in a parallel region,
    /// so products they call run on their calling thread. The one place Recast starts threads for arithmetic;
    /// `body` must touch disjoint data for different tasks.
    public static func inParallel(tasks: Int, when: Bool = true, _ body: (Int) -> Void) {
        guard tasks > 1, when, threads > 1, recast_blas_in_region() == 0 else {
            for t in 0..<max(tasks, 0) { body(t) }
            return
        }
        withoutActuallyEscaping(body) { body in
            // One worker per thread, each taking every `workers`-th task, on the team of `recast_team_run`
            // (helpers that stay awake between close regions); alone when the team is busy with another caller.
            var region = Region(body: body, tasks: tasks, workers: min(tasks, threads))
            let ran = withUnsafeMutablePointer(to: &region) { pointer in
                recast_team_run(Int32(pointer.pointee.workers), { context, worker in
                    let region = context!.assumingMemoryBound(to: Region.self).pointee
                    for t in stride(from: Int(worker), to: region.tasks, by: region.workers) { region.body(t) }
                }, pointer)
            }
            if ran != 0 { for t in 0..<tasks { body(t) } }
        }
    }

    /// One parallel region as the team's workers read it.
    private struct Region {
        let body: (Int) -> Void
        let tasks: Int
        let workers: Int
    }

    /// How many threads products run on once BLAS is loaded (OPENBLAS_NUM_THREADS or one per core); 1 before.
    public static var threads: Int { recast_blas_loaded() != 0 ? Int(recast_blas_threads()) : 1 }
}

/// A pointer handed to the threads of `BLAS.inParallel`, each of which touches its own part only.
public struct SharedPointer<Element>: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Element>
    public init(_ pointer: UnsafeMutablePointer<Element>) { self.pointer = pointer }
}
