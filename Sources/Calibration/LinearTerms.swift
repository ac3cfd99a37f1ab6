import LinearAlgebra

/// Which keys' linear terms query n reads, by position.
enum LinearReach: Equatable, Sendable {
    /// The keys j ≤ n − delay: causal linear attention (delay 0), the causal hybrid beyond its window (delay W).
    case before(delay: Int)
    /// Every key: bidirectional linear attention.
    case all
    /// The keys with |j − n| ≥ delay: the bidirectional hybrid beyond its band (delay ⌊W/2⌋ + 1).
    case outside(delay: Int)
}

/// The linear terms of one head and their gradients, over rows of one sequence:
///
///   out_n = Σ_{j reached by n} (φ_q(q_n)·φ_k(k_j)) v′_j
///
/// where v′_j = [v_j, 1], so the last column of `out` is the linear part of the denominator. The causal forms run
/// by chunks of 64 rows with prefix sums S = Σ φ_k(k_j) v′_jᵀ (as the runtime does): no T×T matrix is formed.
/// Arrays are dense row-major: φ `[T, m]`, v′ and `out` `[T, e]`.
enum LinearTerms {
    static let chunk = 64

    /// The terms every row reads by `reach`, `[T, e]`.
    static func forward(_ reach: LinearReach, phiQ: [Float], phiK: [Float], values: [Float], rows t: Int, features m: Int,
                        width e: Int) -> [Float] {
        switch reach {
        case .all:
            var s = [Float](repeating: 0, count: m * e), out = [Float](repeating: 0, count: t * e)
            // S = Φkᵀ V′; out = Φq S.
            BLAS.gemm(m: m, n: e, k: t, a: phiK, lda: m, b: values, ldb: e, transposeB: false, c: &s, ldc: e, transposeA: true)
            BLAS.gemm(m: t, n: e, k: m, a: phiQ, lda: m, b: s, ldb: e, transposeB: false, c: &out, ldc: e)
            return out
        case let .before(delay):
            guard delay < t else { return [Float](repeating: 0, count: t * e) }
            return causalForward(phiQ: phiQ, phiK: shifted(phiK, rows: t, columns: m, by: delay),
                                 values: shifted(values, rows: t, columns: e, by: delay), rows: t, features: m, width: e)
        case let .outside(delay):
            var out = forward(.before(delay: delay), phiQ: phiQ, phiK: phiK, values: values, rows: t, features: m, width: e)
            let later = reversed(forward(.before(delay: delay), phiQ: reversed(phiQ, rows: t, columns: m),
                                         phiK: reversed(phiK, rows: t, columns: m), values: reversed(values, rows: t, columns: e),
                                         rows: t, features: m, width: e), rows: t, columns: e)
            for i in out.indices { out[i] += later[i] }
            return out
        }
    }

    /// dL/dφ_q and dL/dφ_k (`[T, m]` each) given dL/dout (`gradient`, `[T, e]`):
    /// dφ_q(n) = Σ_j (g_n·v′_j) φ_k(j) and dφ_k(j) = Σ_n (g_n·v′_j) φ_q(n), over the pairs `reach` joins.
    static func backward(_ reach: LinearReach, phiQ: [Float], phiK: [Float], values: [Float], gradient: [Float], rows t: Int,
                         features m: Int, width e: Int) -> (query: [Float], key: [Float]) {
        switch reach {
        case .all:
            var s = [Float](repeating: 0, count: m * e), r = [Float](repeating: 0, count: m * e)
            var dq = [Float](repeating: 0, count: t * m), dk = [Float](repeating: 0, count: t * m)
            // dΦq = G Sᵀ with S = Φkᵀ V′; dΦk = V′ Rᵀ with R = Φqᵀ G.
            BLAS.gemm(m: m, n: e, k: t, a: phiK, lda: m, b: values, ldb: e, transposeB: false, c: &s, ldc: e, transposeA: true)
            BLAS.gemm(m: m, n: e, k: t, a: phiQ, lda: m, b: gradient, ldb: e, transposeB: false, c: &r, ldc: e, transposeA: true)
            BLAS.gemm(m: t, n: m, k: e, a: gradient, lda: e, b: s, ldb: e, transposeB: true, c: &dq, ldc: m)
            BLAS.gemm(m: t, n: m, k: e, a: values, lda: e, b: r, ldb: e, transposeB: true, c: &dk, ldc: m)
            return (dq, dk)
        case let .before(delay):
            guard delay < t else { return ([Float](repeating: 0, count: t * m), [Float](repeating: 0, count: t * m)) }
            let (dq, dkShifted) = causalBackward(phiQ: phiQ, phiK: shifted(phiK, rows: t, columns: m, by: delay),
                                                 values: shifted(values, rows: t, columns: e, by: delay), gradient: gradient,
                                                 rows: t, features: m, width: e)
            return (dq, shifted(dkShifted, rows: t, columns: m, by: -delay))
        case let .outside(delay):
            var (dq, dk) = backward(.before(delay: delay), phiQ: phiQ, phiK: phiK, values: values, gradient: gradient,
                                    rows: t, features: m, width: e)
            let (dqLater, dkLater) = backward(.before(delay: delay), phiQ: reversed(phiQ, rows: t, columns: m),
                                              phiK: reversed(phiK, rows: t, columns: m), values: reversed(values, rows: t, columns: e),
                                              gradient: reversed(gradient, rows: t, columns: e), rows: t, features: m, width: e)
            let q = reversed(dqLater, rows: t, columns: m), k = reversed(dkLater, rows: t, columns: m)
            for i in dq.indices { dq[i] += q[i]; dk[i] += k[i] }
            return (dq, dk)
        }
    }

    /// out_n = Σ_{j ≤ n} (φq_n·φk_j) v′_j, by chunks: the prefix state S for earlier chunks, a masked product within.
    static func causalForward(phiQ: [Float], phiK: [Float], values: [Float], rows t: Int, features m: Int, width e: Int) -> [Float] {
        var out = [Float](repeating: 0, count: t * e), s = [Float](repeating: 0, count: m * e)
        var a = [Float](repeating: 0, count: chunk * chunk)
        phiQ.withUnsafeBufferPointer { qb in
            phiK.withUnsafeBufferPointer { kb in
                values.withUnsafeBufferPointer { vb in
                    out.withUnsafeMutableBufferPointer { ob in
                        s.withUnsafeMutableBufferPointer { sb in
                            a.withUnsafeMutableBufferPointer { ab in
                                let q = qb.baseAddress!, k = kb.baseAddress!, v = vb.baseAddress!, o = ob.baseAddress!
                                let sp = sb.baseAddress!, ap = ab.baseAddress!
                                for r0 in stride(from: 0, to: t, by: chunk) {
                                    let c = min(chunk, t - r0)
                                    BLAS.gemm(m: c, n: e, k: m, a: q + r0 * m, lda: m, b: sp, ldb: e, transposeB: false, c: o + r0 * e, ldc: e)
                                    BLAS.gemm(m: c, n: c, k: m, a: q + r0 * m, lda: m, b: k + r0 * m, ldb: m, transposeB: true, c: ap, ldc: c)
                                    maskAboveDiagonal(ap, c)
                                    BLAS.gemm(m: c, n: e, k: c, a: ap, lda: c, b: v + r0 * e, ldb: e, transposeB: false,
                                              c: o + r0 * e, ldc: e, beta: 1)
                                    BLAS.gemm(m: m, n: e, k: c, a: k + r0 * m, lda: m, b: v + r0 * e, ldb: e, transposeB: false,
                                              c: sp, ldc: e, beta: 1, transposeA: true)
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The gradients of `causalForward`: a forward sweep for dφq (prefix state S, masked M = G V′ᵀ within the chunk),
    /// a backward sweep for dφk (suffix state R = Σ φq_n g_nᵀ of later chunks, Mᵀ within).
    static func causalBackward(phiQ: [Float], phiK: [Float], values: [Float], gradient: [Float], rows t: Int, features m: Int,
                               width e: Int) -> (query: [Float], key: [Float]) {
        var dq = [Float](repeating: 0, count: t * m), dk = [Float](repeating: 0, count: t * m)
        var s = [Float](repeating: 0, count: m * e), r = [Float](repeating: 0, count: m * e)
        // The masked M of every chunk, kept from the first sweep for the second: `[c, c]` at row r0 · chunk.
        var masks = [Float](repeating: 0, count: t * chunk)
        phiQ.withUnsafeBufferPointer { qb in
            phiK.withUnsafeBufferPointer { kb in
                values.withUnsafeBufferPointer { vb in
                    gradient.withUnsafeBufferPointer { gb in
                        dq.withUnsafeMutableBufferPointer { dqb in
                            dk.withUnsafeMutableBufferPointer { dkb in
                                s.withUnsafeMutableBufferPointer { sb in
                                    r.withUnsafeMutableBufferPointer { rb in
                                        masks.withUnsafeMutableBufferPointer { mb in
                                            let q = qb.baseAddress!, k = kb.baseAddress!, v = vb.baseAddress!, g = gb.baseAddress!
                                            let dqp = dqb.baseAddress!, dkp = dkb.baseAddress!, sp = sb.baseAddress!, rp = rb.baseAddress!
                                            for r0 in stride(from: 0, to: t, by: chunk) {
                                                let c = min(chunk, t - r0), mp = mb.baseAddress! + r0 * chunk
                                                BLAS.gemm(m: c, n: c, k: e, a: g + r0 * e, lda: e, b: v + r0 * e, ldb: e, transposeB: true, c: mp, ldc: c)
                                                maskAboveDiagonal(mp, c)
                                                BLAS.gemm(m: c, n: m, k: e, a: g + r0 * e, lda: e, b: sp, ldb: e, transposeB: true, c: dqp + r0 * m, ldc: m)
                                                BLAS.gemm(m: c, n: m, k: c, a: mp, lda: c, b: k + r0 * m, ldb: m, transposeB: false,
                                                          c: dqp + r0 * m, ldc: m, beta: 1)
                                                BLAS.gemm(m: m, n: e, k: c, a: k + r0 * m, lda: m, b: v + r0 * e, ldb: e, transposeB: false,
                                                          c: sp, ldc: e, beta: 1, transposeA: true)
                                            }
                                            for r0 in stride(from: 0, to: t, by: chunk).reversed() {
                                                let c = min(chunk, t - r0), mp = mb.baseAddress! + r0 * chunk
                                                BLAS.gemm(m: c, n: m, k: e, a: v + r0 * e, lda: e, b: rp, ldb: e, transposeB: true, c: dkp + r0 * m, ldc: m)
                                                BLAS.gemm(m: c, n: m, k: c, a: mp, lda: c, b: q + r0 * m, ldb: m, transposeB: false,
                                                          c: dkp + r0 * m, ldc: m, beta: 1, transposeA: true)
                                                BLAS.gemm(m: m, n: e, k: c, a: q + r0 * m, lda: m, b: g + r0 * e, ldb: e, transposeB: false,
                                                          c: rp, ldc: e, beta: 1, transposeA: true)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dq, dk)
    }

    /// Zeroes the entries above the diagonal of a `[c, c]` matrix (a row n sees columns j ≤ n).
    static func maskAboveDiagonal(_ a: UnsafeMutablePointer<Float>, _ c: Int) {
        for i in 0..<c where i + 1 < c { (a + i * c + i + 1).update(repeating: 0, count: c - i - 1) }
    }

    /// The rows moved down by `delay` (row n holds row n − delay; zero rows enter at the top), or up when negative.
    static func shifted(_ x: [Float], rows t: Int, columns n: Int, by delay: Int) -> [Float] {
        guard delay != 0 else { return x }
        var out = [Float](repeating: 0, count: t * n)
        let moved = t - abs(delay)
        guard moved > 0 else { return out }
        let from = delay > 0 ? 0 : -delay, to = delay > 0 ? delay : 0
        out[(to * n)..<((to + moved) * n)] = x[(from * n)..<((from + moved) * n)]
        return out
    }

    /// The rows in reverse order.
    static func reversed(_ x: [Float], rows t: Int, columns n: Int) -> [Float] {
        var out = [Float](repeating: 0, count: t * n)
        for i in 0..<t { out[(i * n)..<((i + 1) * n)] = x[((t - 1 - i) * n)..<((t - i) * n)] }
        return out
    }
}
