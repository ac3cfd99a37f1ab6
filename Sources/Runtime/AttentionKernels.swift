#if canImport(Glibc)
import Glibc
import LinearAlgebra
#endif

/// Which keys a query sees, by position.
enum KeyVisibility {
    /// The keys at or before the query; with a window W, only the last W of them (m > n − W), and the first
    /// `sinks` positions (m < sinks) wherever they are.
    case causal(window: Int?, sinks: Int = 0)
    /// The keys within `half` positions on either side (the bidirectional hybrid's window), and the first
    /// `sinks` positions.
    case band(half: Int, sinks: Int = 0)
    /// Every key (bidirectional softmax attention).
    case all

    func sees(query n: Int, key m: Int) -> Bool {
        switch self {
        case let .causal(window, sinks): m <= n && (m < sinks || (window.map { m > n - $0 } ?? true))
        case let .band(half, sinks): abs(m - n) <= half || m < sinks
        case .all: true
        }
    }
}

/// Keys and values of one run of tokens, as one head reads them: `count` rows, row stride `stride`, already
/// offset to the head's KV group.
struct KeySource {
    var keys: UnsafePointer<Float>
    var values: UnsafePointer<Float>
    var stride: Int
    var count: Int
}

/// Which entering tokens a query sees in `AttentionKernels.linearBlock`: row i sees entering row j when
/// j ≤ i + offset (`.lower`) or j ≥ i + offset (`.upper`).
enum TriangleMask {
    case lower(offset: Int)
    case upper(offset: Int)

    func sees(row i: Int, entering j: Int) -> Bool {
        switch self {
        case let .lower(o): j <= i + o
        case let .upper(o): j >= i + o
        }
    }
}

/// The heads of a block, and its rows in parts, as tasks over threads: task t is head `head(t)` over rows
/// `rows(t)`. Heads (and parts of rows) are independent, so the results do not depend on which thread runs
/// which task.
struct HeadTasks {
    let heads: Int
    let parts: Int
    let span: Int
    let rowCount: Int

    /// Splits blocks of 64 rows or more in two, so that nine heads load two threads evenly.
    init(heads: Int, rows: Int, splittingRows: Bool = true) {
        self.heads = heads
        rowCount = rows
        parts = splittingRows && rows >= 64 ? 2 : 1
        span = (rows + parts - 1) / parts
    }

    var count: Int { heads * parts }
    func head(_ t: Int) -> Int { t / parts }
    func rows(_ t: Int) -> Range<Int> {
        let first = (t % parts) * span
        return first..<min(rowCount, first + span)
    }

    /// Threads for `count` tasks of `work` multiply–adds in all: one unless the work pays for waking them.
    static func workers(_ count: Int, work: Int) -> Int { work >= 1 << 18 ? max(1, min(BLAS.threads, count)) : 1 }

    /// Runs `body(worker, task)` for every task of `0..<count`, dealt in contiguous runs to `workers` threads;
    /// each worker owns its scratch (worker < `workers`).
    static func run(_ count: Int, workers: Int, _ body: (Int, Int) -> Void) {
        BLAS.inParallel(tasks: workers) { w in
            for task in (w * count / workers)..<((w + 1) * count / workers) { body(w, task) }
        }
    }
}

/// The arithmetic of one attention head over a block of query rows, shared by every attention kind and both
/// modes (`AttentionState`). Each returns the numerator (into `out`) and the denominator (into `den`) of its
/// terms, so that the softmax, the linear and the hybrid attention combine them.
enum AttentionKernels {
    /// The softmax terms of one head: for query row i at position p0 + i, P[i, j] = exp(scale·q_i·k_j − c_i)
    /// over the keys the query sees, c_i the largest of those logits; `out` = alpha·P V (added to `out` when
    /// `accumulate`), `den[i]` = Σ_j P[i, j]. `keyPositions` lists the position of every key of the sources
    /// in order; `scores` holds rows × keys. Runs on the calling thread: callers split heads and rows over threads.
    ///
    /// Causal attention without a window over keys in ascending positions (a prefill) lets each query see a
    /// prefix of the keys: the rows then go in runs of `causalRun`, and each run multiplies only the keys its
    /// last row sees, which halves the work of a whole-sequence block.
    static func softmaxTerms(q: UnsafePointer<Float>, ldq: Int, rows c: Int, firstPosition p0: Int, headDim d: Int,
                             sources: [KeySource], keyPositions: UnsafePointer<Int>, visibility: KeyVisibility, scale: Float,
                             scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, ldo: Int,
                             alpha: Float = 1, accumulate: Bool = false, den: UnsafeMutablePointer<Float>) {
        let total = sources.reduce(0) { $0 + $1.count }
        var prefix = false
        if case .causal(window: nil, sinks: _) = visibility {
            prefix = true
            for j in 1..<max(total, 1) where keyPositions[j] < keyPositions[j - 1] { prefix = false; break }
        }
        /// The number of keys at or before position n, when the keys are a prefix (ascending positions).
        func seen(upTo n: Int) -> Int {
            var low = 0, high = total
            while low < high {
                let mid = (low + high) / 2
                if keyPositions[mid] <= n { low = mid + 1 } else { high = mid }
            }
            return low
        }
        let run = prefix ? causalRun : max(c, 1)
        for r0 in stride(from: 0, to: c, by: run) {
            let rows = min(run, c - r0), reach = prefix ? seen(upTo: p0 + r0 + rows - 1) : total
            let block = scores + r0 * total
            /// How many keys of a source whose first score column is `column` the run reaches.
            func reached(_ s: KeySource, from column: Int) -> Int { max(0, min(s.count, reach - column)) }
            var column = 0
            for s in sources {
                product(m: rows, n: reached(s, from: column), k: d, a: q + r0 * ldq, lda: ldq, b: s.keys, ldb: s.stride,
                        transposeB: true, c: block + column, ldc: total, alpha: scale)
                column += s.count
            }
            for i in 0..<rows {
                let n = p0 + r0 + i, row = block + i * total
                var visible = reach
                if prefix {
                    visible = seen(upTo: n)
                    (row + visible).update(repeating: 0, count: reach - visible)
                } else {
                    // Hidden keys get −∞, whose exponential is 0.
                    for j in 0..<total where !visibility.sees(query: n, key: keyPositions[j]) { row[j] = -.infinity }
                }
                den[r0 + i] = Exponential.shifted(row, count: visible, shift: Exponential.largest(row, count: visible))
            }
            column = 0
            for (index, s) in sources.enumerated() {
                product(m: rows, n: d, k: reached(s, from: column), a: block + column, lda: total, b: s.values,
                        ldb: s.stride, transposeB: false, c: out + r0 * ldo, ldc: ldo, alpha: alpha,
                        beta: accumulate || index > 0 ? 1 : 0)
                column += s.count
            }
        }
    }

    /// Rows per run of a causal prefill in `softmaxTerms`.
    static let causalRun = 64

    /// The linear terms of one head through its state: `out` = φ(q) S, `den` = φ(q)·z (added to both when
    /// `accumulate`). φ(q) is `[rows, m]`, S `[m, d]`, z `[m]`.
    static func linearQuery(phiQ: UnsafePointer<Float>, rows c: Int, features m: Int, headDim d: Int,
                            s: UnsafePointer<Float>, z: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, ldo: Int,
                            den: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        product(m: c, n: d, k: m, a: phiQ, lda: m, b: s, ldb: d, transposeB: false, c: out, ldc: ldo, beta: accumulate ? 1 : 0)
        for i in 0..<c {
            var sum: Float = 0
            for j in 0..<m { sum += phiQ[i * m + j] * z[j] }
            den[i] = accumulate ? den[i] + sum : sum
        }
    }

    /// Adds the linear terms of tokens not yet in the state (`entering` rows of φ(k) and v) that each query
    /// sees by `mask`: A = φ(q) φ(k)ᵀ masked, `out` += A V, `den` += Σ_j A[i, j]. `scratch` holds rows × entering.
    static func linearBlock(phiQ: UnsafePointer<Float>, rows c: Int, features m: Int, headDim d: Int,
                            phiK: UnsafePointer<Float>, ldPhiK: Int, values: UnsafePointer<Float>, ldv: Int, entering e: Int,
                            mask: TriangleMask, scratch a: UnsafeMutablePointer<Float>,
                            out: UnsafeMutablePointer<Float>, ldo: Int, den: UnsafeMutablePointer<Float>) {
        guard e > 0 else { return }
        product(m: c, n: e, k: m, a: phiQ, lda: m, b: phiK, ldb: ldPhiK, transposeB: true, c: a, ldc: e)
        for i in 0..<c {
            var sum: Float = 0
            for j in 0..<e {
                if mask.sees(row: i, entering: j) { sum += a[i * e + j] } else { a[i * e + j] = 0 }
            }
            den[i] += sum
        }
        product(m: c, n: d, k: e, a: a, lda: e, b: values, ldb: ldv, transposeB: false, c: out, ldc: ldo, beta: 1)
    }

    /// Folds tokens into the linear state: S += φ(k)ᵀ V, z += Σ φ(k).
    static func fold(phiK: UnsafePointer<Float>, ldPhiK: Int, values: UnsafePointer<Float>, ldv: Int, entering e: Int,
                     features m: Int, headDim d: Int, s: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>) {
        guard e > 0 else { return }
        if e == 1 {
            // One token (decoding): a rank-one update, skipping zero features (ReLU maps).
            for j in 0..<m {
                let kj = phiK[j]
                z[j] += kj
                if kj != 0 { let row = s + j * d; for col in 0..<d { row[col] += kj * values[col] } }
            }
            return
        }
        BLAS.gemm(m: m, n: d, k: e, a: phiK, lda: ldPhiK, b: values, ldb: ldv, transposeB: false, c: s, ldc: d, beta: 1, transposeA: true)
        for r in 0..<e { for j in 0..<m { z[j] += phiK[r * ldPhiK + j] } }
    }

    /// Divides each row of `out` by its denominator plus `eps`.
    static func normalize(_ out: UnsafeMutablePointer<Float>, ldo: Int, rows c: Int, headDim d: Int,
                          den: UnsafePointer<Float>, eps: Float) {
        for i in 0..<c {
            let inv = 1 / (den[i] + eps)
            for col in 0..<d { out[i * ldo + col] *= inv }
        }
    }

    /// C = alpha·A op(B) + beta·C; a single row runs as a matrix–vector product.
    static func product(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                        transposeB: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float = 1, beta: Float = 0) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        if m == 1 {
            // y = op(B) a: B is [n, k] when transposed (y_j = b_j·a), else [k, n].
            BLAS.gemv(rows: transposeB ? n : k, cols: transposeB ? k : n, a: b, lda: ldb, transpose: !transposeB,
                      x: a, y: c, alpha: alpha, beta: beta)
        } else {
            BLAS.gemm(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, transposeB: transposeB, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }
    }
}
