import Foundation
import Testing
import LinearAlgebra

/// Recast's own AVX-512 kernels behind `BLAS.gemm` and `BLAS.gemv` (packed 12 × 32 tiles; four-row dot
/// products; rows scaled into 128 columns held in registers), against sums in Double: every edge of the blocking (rows past a whole tile, columns past a whole
/// panel or the packed block, k past a block), both layouts of B, alpha, beta 0 (NaN in C is overwritten, never
/// read), 1 and other, and leading dimensions wider than the data, whose padding must stay as it was. On a CPU
/// with AVX-512 these must be Recast's kernels, not BLAS (unless RECAST_KERNELS=blas asks for BLAS).
@Suite struct ProductKernelTests {
    init() throws { try BLAS.load(file: "ProductKernelTests") }

    /// Deterministic values in [-1, 1).
    static func values(_ count: Int, seed: Int) -> [Float] {
        var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
        }
    }

    @Test func ownKernelsRunWhereTheCPUHasAVX512() throws {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = cpu.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let forced = ProcessInfo.processInfo.environment["RECAST_KERNELS"] == "blas"
        let expected = flags.split(separator: " ").contains("avx512f") && !forced ? "avx512f" : "blas"
        #expect(BLAS.kernels == expected)
    }

    @Test(arguments: [true, false])
    func matrixProductsEqualSumsInDouble(transposeB: Bool) {
        var worst = 0.0
        for m in [1, 5, 6, 11, 12, 13, 25, 40] {
            for n in [1, 7, 32, 33, 300] {
                for k in [1, 17, 384, 385, 800] where m * n * k <= 4_000_000 {
                    for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (0.5, 0.25)] {
                        worst = max(worst, Self.gemmError(m: m, n: n, k: k, transposeB: transposeB, alpha: alpha, beta: beta))
                    }
                }
            }
        }
        #expect(worst <= 1e-5, "largest error \(worst) of the absolute sum")
    }

    /// A product large enough to be split over the threads, each part its own kernel call.
    @Test func aSplitProductEqualsSumsInDouble() {
        #expect(Self.gemmError(m: 64, n: 576, k: 576, transposeB: true, alpha: 1, beta: 0) <= 1e-5)
        #expect(Self.gemmError(m: 100, n: 70, k: 600, transposeB: false, alpha: 1, beta: 1) <= 1e-5)
    }

    /// The largest |C − C_double| over Σ|alpha·a·b| + |beta·c| of any element; checks the padding of C.
    static func gemmError(m: Int, n: Int, k: Int, transposeB: Bool, alpha: Float, beta: Float) -> Double {
        let lda = k + 3, ldb = (transposeB ? k : n) + 5, ldc = n + 2
        let a = values(m * lda, seed: m * 7 + k), b = values((transposeB ? n : k) * ldb, seed: n * 11 + k)
        let start = beta == 0 ? [Float](repeating: .nan, count: m * ldc) : values(m * ldc, seed: m + n)
        var c = start
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.gemm(m: m, n: n, k: k, a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb, transposeB: transposeB,
                              c: pc.baseAddress!, ldc: ldc, alpha: alpha, beta: beta)
                }
            }
        }
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<ldc {
                let got = c[i * ldc + j]
                guard j < n else {
                    // Past the row's end: untouched (NaN stays NaN).
                    if !(got == start[i * ldc + j] || (got.isNaN && start[i * ldc + j].isNaN)) { return .infinity }
                    continue
                }
                var sum = 0.0, size = 0.0
                for p in 0..<k {
                    let term = Double(alpha) * Double(a[i * lda + p]) * Double(transposeB ? b[j * ldb + p] : b[p * ldb + j])
                    sum += term
                    size += abs(term)
                }
                if beta != 0 {
                    sum += Double(beta) * Double(start[i * ldc + j])
                    size += abs(Double(beta) * Double(start[i * ldc + j]))
                }
                guard got.isFinite else { return .infinity }
                worst = max(worst, abs(Double(got) - sum) / max(size, 1e-30))
            }
        }
        return worst
    }

    /// y = alpha·op(A) x + beta·y, A [m, n] (op(A) = Aᵀ when `transpose`: y has n elements, 128 at a time).
    @Test(arguments: [false, true])
    func matrixVectorProductsEqualSumsInDouble(transpose: Bool) {
        var worst = 0.0
        for m in [1, 3, 4, 5, 9, 64, 577] {
            for n in [1, 15, 16, 17, 31, 32, 33, 129, 576, 1537] {
                for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (2, 0.5)] {
                    let lda = n + 4
                    let inputs = transpose ? m : n, outputs = transpose ? n : m
                    let a = Self.values(m * lda, seed: m * 13 + n), x = Self.values(inputs, seed: n)
                    // One element past y's end must stay as it was.
                    let start = (beta == 0 ? [Float](repeating: .nan, count: outputs) : Self.values(outputs, seed: m)) + [42]
                    var y = start
                    a.withUnsafeBufferPointer { pa in
                        x.withUnsafeBufferPointer { px in
                            y.withUnsafeMutableBufferPointer { py in
                                BLAS.gemv(rows: m, cols: n, a: pa.baseAddress!, lda: lda, transpose: transpose, x: px.baseAddress!,
                                          y: py.baseAddress!, alpha: alpha, beta: beta)
                            }
                        }
                    }
                    if y[outputs] != 42 { worst = .infinity }
                    for i in 0..<outputs {
                        var sum = beta == 0 ? 0 : Double(beta) * Double(start[i])
                        var size = abs(sum)
                        for p in 0..<inputs {
                            let term = Double(alpha) * Double(transpose ? a[p * lda + i] : a[i * lda + p]) * Double(x[p])
                            sum += term
                            size += abs(term)
                        }
                        worst = max(worst, y[i].isFinite ? abs(Double(y[i]) - sum) / max(size, 1e-30) : .infinity)
                    }
                }
            }
        }
        #expect(worst <= 1e-5, "largest error \(worst) of the absolute sum")
    }
}
