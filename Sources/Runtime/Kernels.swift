#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ModelGraph
import LinearAlgebra

/// A row-major f32 matrix.
public struct Matrix: Sendable {
    public var rows: Int
    public var cols: Int
    public var data: [Float]

    public init(rows: Int, cols: Int, data: [Float]) {
        precondition(data.count == rows * cols, "matrix data does not match its shape")
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    public init(rows: Int, cols: Int) { self.init(rows: rows, cols: cols, data: [Float](repeating: 0, count: rows * cols)) }

    public func row(_ r: Int) -> ArraySlice<Float> { data[(r * cols)..<((r + 1) * cols)] }
}

enum Kernels {
    static func add(_ x: inout Matrix, _ y: Matrix) {
        x.data.withUnsafeMutableBufferPointer { a in
            y.data.withUnsafeBufferPointer { b in for i in 0..<a.count { a[i] += b[i] } }
        }
    }

    static func addBias(_ x: inout Matrix, _ bias: [Float]) {
        let n = x.cols
        x.data.withUnsafeMutableBufferPointer { a in
            bias.withUnsafeBufferPointer { b in
                for r in 0..<x.rows { let base = r * n; for j in 0..<n { a[base + j] += b[j] } }
            }
        }
    }

    /// LayerNorm or RMSNorm over each row, in place; statistics in f64 for stability, summed in eight lanes.
    static func normalize(_ x: inout Matrix, kind: NormKind, weight: [Float], bias: [Float]?, eps: Double) {
        let n = x.cols
        x.data.withUnsafeMutableBufferPointer { a in
            weight.withUnsafeBufferPointer { w in
                (bias ?? []).withUnsafeBufferPointer { b in
                    let rows = SharedPointer(a.baseAddress!), scale = w.baseAddress!, shift = bias == nil ? nil : b.baseAddress
                    inParallel(count: x.rows, work: n * 8) { range in
                        for r in range { normalizeRow(rows.pointer + r * n, n, layerNorm: kind == .layerNorm, scale: scale, shift: shift, eps: eps) }
                    }
                }
            }
        }
    }

    /// One row of `normalize`: mean (LayerNorm) and variance in f64 over eight lanes, then (x − mean)·inv·w + b.
    static func normalizeRow(_ row: UnsafeMutablePointer<Float>, _ n: Int, layerNorm: Bool, scale w: UnsafePointer<Float>,
                             shift b: UnsafePointer<Float>?, eps: Double) {
        typealias Wide = SIMD8<Double>
        func load(_ j: Int) -> Wide { Wide(UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)) }
        let full = n & ~7
        var mean = 0.0
        if layerNorm {
            var lanes = Wide()
            for j in stride(from: 0, to: full, by: 8) { lanes += load(j) }
            mean = lanes.sum()
            for j in full..<n { mean += Double(row[j]) }
            mean /= Double(n)
        }
        var lanes = Wide()
        let centre = Wide(repeating: mean)
        for j in stride(from: 0, to: full, by: 8) { let d = load(j) - centre; lanes += d * d }
        var variance = lanes.sum()
        for j in full..<n { let d = Double(row[j]) - mean; variance += d * d }
        variance /= Double(n)
        let inv = 1 / (variance + eps).squareRoot()
        for j in 0..<n {
            var v = Float((Double(row[j]) - mean) * inv) * w[j]
            if let b { v += b[j] }
            row[j] = v
        }
    }

    static func activate(_ x: inout [Float], _ f: Activation) {
        x.withUnsafeMutableBufferPointer { buffer in
            let values = buffer.baseAddress!
            inParallel(count: buffer.count, work: 20) { range in activate(values + range.lowerBound, range.count, f) }
        }
    }

    /// A gated MLP's middle: `up` ← up ⊙ f(gate), element by element in one pass (`gate` is overwritten).
    static func gated(_ up: inout [Float], by gate: inout [Float], _ f: Activation) {
        up.withUnsafeMutableBufferPointer { u in
            gate.withUnsafeMutableBufferPointer { g in
                let ub = u.baseAddress!, gb = g.baseAddress!
                inParallel(count: u.count, work: 20) { range in
                    activate(gb + range.lowerBound, range.count, f)
                    for i in range { ub[i] *= gb[i] }
                }
            }
        }
    }

    /// f of `n` values in place.
    static func activate(_ a: UnsafeMutablePointer<Float>, _ n: Int, _ f: Activation) {
        switch f {
        case .relu: for i in 0..<n { a[i] = max(a[i], 0) }
        case .silu: for i in 0..<n { let v = a[i]; a[i] = v / (1 + Exponential.value(-v)) }
        case .gelu: gelu(a, n)
        case .geluTanh:
            let c: Float = 0.79788456080286536  // sqrt(2/pi)
            for i in 0..<n { let v = a[i]; a[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v))) }
        }
    }

    /// GELU with the exact error function, x·(1 + erf(x/√2))/2, in place. erf is
    /// the odd rational approximation of Eigen and XLA (`generic_fast_erf_float`: polynomials of degree 13
    /// over 8 on x clamped to [−4, 4], where float erf reaches ±1): within 5e-7 of erf everywhere, about
    /// twenty times faster than libm's `erff`.
    static func gelu(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let v = p[i]
            let x = Swift.min(Swift.max(v * 0.70710678118654752, -4), 4)
            let x2 = x * x
            // Horner's rule on plain floats, which the compiler vectorises.
            var num: Float = -2.72614225801306e-10
            num = num * x2 + 2.77068142495902e-08
            num = num * x2 - 2.10102402082508e-06
            num = num * x2 - 5.69250639462346e-05
            num = num * x2 - 7.34990630326855e-04
            num = num * x2 - 2.95459980854025e-03
            num = num * x2 - 1.60960333262415e-02
            var den: Float = -1.45660718464996e-05
            den = den * x2 - 2.13374055278905e-04
            den = den * x2 - 1.68282697438203e-03
            den = den * x2 - 7.37332916720468e-03
            den = den * x2 - 1.42647390514189e-02
            p[i] = 0.5 * v * (1 + x * num / den)
        }
    }

    /// Runs `body` over `0..<count` split into one contiguous range per BLAS thread, when the work
    /// (`count` × `work` operations, roughly) is large enough to pay for waking the threads.
    static func inParallel(count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        let threads = min(BLAS.threads, max(1, count * work / 200_000))
        BLAS.inParallel(tasks: threads) { t in body((t * count / threads)..<((t + 1) * count / threads)) }
    }
}
