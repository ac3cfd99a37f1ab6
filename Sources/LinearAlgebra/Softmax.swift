#if canImport(Glibc)
import Glibc
#endif

/// Softmax in place, with the row maximum subtracted before `exp`.
public enum Softmax {
    /// One row of `n` values.
    public static func row(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        guard n > 0 else { return }
        var m = -Float.infinity
        for i in 0..<n { m = max(m, p[i]) }
        var s: Float = 0
        for i in 0..<n { let e = expf(p[i] - m); p[i] = e; s += e }
        let inv = 1 / s
        for i in 0..<n { p[i] *= inv }
    }

    /// One row of `n` values with the vectorised `Exponential` instead of libm's `expf` (each exp within about
    /// 2 ulp, the sum in a fixed order): for hot loops such as feature maps applied to every position.
    public static func fastRow(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        guard n > 0 else { return }
        let total = Exponential.shifted(p, count: n, shift: Exponential.largest(p, count: n))
        let inv = 1 / total
        for i in 0..<n { p[i] *= inv }
    }

    /// Each of `rows` rows of `columns` values, rows `stride` apart.
    public static func rows(_ p: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int) {
        for r in 0..<rows { row(p + r * stride, columns) }
    }
}
