#if canImport(Glibc)
import Glibc
#endif
import ModelGraph

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

    /// LayerNorm or RMSNorm over each row, in place; statistics in f64 for stability.
    static func normalize(_ x: inout Matrix, kind: NormKind, weight: [Float], bias: [Float]?, eps: Double) {
        let n = x.cols
        x.data.withUnsafeMutableBufferPointer { a in
            for r in 0..<x.rows {
                let base = r * n
                var mean = 0.0
                if kind == .layerNorm {
                    for j in 0..<n { mean += Double(a[base + j]) }
                    mean /= Double(n)
                }
                var variance = 0.0
                for j in 0..<n { let d = Double(a[base + j]) - mean; variance += d * d }
                variance /= Double(n)
                let inv = 1 / (variance + eps).squareRoot()
                for j in 0..<n {
                    var v = Float((Double(a[base + j]) - mean) * inv) * weight[j]
                    if let bias { v += bias[j] }
                    a[base + j] = v
                }
            }
        }
    }

    static func activate(_ x: inout [Float], _ f: Activation) {
        x.withUnsafeMutableBufferPointer { a in
            switch f {
            case .relu: for i in 0..<a.count { a[i] = max(a[i], 0) }
            case .silu: for i in 0..<a.count { let v = a[i]; a[i] = v / (1 + expf(-v)) }
            case .gelu: for i in 0..<a.count { let v = a[i]; a[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
            case .geluTanh:
                let c: Float = 0.79788456080286536  // sqrt(2/pi)
                for i in 0..<a.count { let v = a[i]; a[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v))) }
            }
        }
    }

    /// Softmax of `n` values at `p`, in place.
    static func softmax(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        guard n > 0 else { return }
        var m = -Float.infinity
        for i in 0..<n { m = max(m, p[i]) }
        var s: Float = 0
        for i in 0..<n { let e = expf(p[i] - m); p[i] = e; s += e }
        let inv = 1 / s
        for i in 0..<n { p[i] *= inv }
    }

    /// Rotary embedding (Hugging Face `rotate_half`) applied to `heads` vectors of size `d` starting at `p`,
    /// at sequence position `position`.
    static func rotate(_ p: UnsafeMutablePointer<Float>, heads: Int, headDim d: Int, rotary: Rotary, position: Int) {
        let half = rotary.dimensions / 2
        for i in 0..<half {
            let invFreq = 1 / pow(rotary.theta, Double(2 * i) / Double(rotary.dimensions))
            let angle = Double(position) * invFreq
            let c = Float(cos(angle)), s = Float(sin(angle))
            for h in 0..<heads {
                let base = p + h * d
                let x1 = base[i], x2 = base[i + half]
                base[i] = x1 * c - x2 * s
                base[i + half] = x2 * c + x1 * s
            }
        }
    }
}
