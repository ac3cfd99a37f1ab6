/// exp in single precision, written so that loops over arrays vectorise: no libm call, no branch.
///
/// Cody–Waite range reduction x = n·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split into a short head and a tail, so
/// n·ln 2 is exact enough), then Cephes' `expf` polynomial of degree 6 in r, then 2ⁿ put into the exponent
/// bits. Within about 2 ulp of the exact exponential over the whole range; below −87.33 (where exp leaves the
/// normal floats) the result is 0, above 88.72 it is the largest finite exp, and NaN stays NaN.
public enum Exponential {
    @inline(__always)
    public static func value(_ input: Float) -> Float {
        // Clamped by comparisons that keep NaN (a NaN compares false and passes through).
        var x = input > 88.72283 ? 88.72283 : input
        x = x < -87.33654 ? -87.33654 : x
        // n = round(x / ln 2) by the 1.5·2²³ trick: adding it leaves n in the low bits of the mantissa.
        let shifter: Float = 12_582_912
        let t = x * 1.44269504088896341 + shifter
        let n = t - shifter
        let r = (x - n * 0.693359375) - n * -2.12194440e-4
        var p: Float = 1.9875691500e-4
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * (r * r) + r + 1
        // 2ⁿ: n + 127 in the exponent field (n is in −126 … 128 after the clamp; 128 is split in two factors).
        let bits = Int32(bitPattern: t.bitPattern) &- Int32(bitPattern: shifter.bitPattern)
        let low = bits >> 1, high = bits &- low
        let half = Float(bitPattern: UInt32(bitPattern: (low &+ 127) &<< 23))
        let rest = Float(bitPattern: UInt32(bitPattern: (high &+ 127) &<< 23))
        let e = y * half * rest
        return input < -87.33654 ? 0 : e
    }

    /// p[i] = exp(p[i] − shift) for i in 0 ..< n; returns their sum (in a fixed order: the same on every run).
    public static func shifted(_ p: UnsafeMutablePointer<Float>, count n: Int, shift: Float) -> Float {
        for i in 0..<n { p[i] = value(p[i] - shift) }
        return sum(p, count: n)
    }

    /// The sum of p[0 ..< n] in eight interleaved partial sums (vectorised), added up in a fixed order.
    public static func sum(_ p: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 8 <= n {
            acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        var total = acc.sum()
        while i < n { total += p[i]; i += 1 }
        return total
    }

    /// The largest of p[0 ..< n] (−∞ when n is 0).
    public static func largest(_ p: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 8 <= n {
            acc = pointwiseMax(acc, raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
            i += 8
        }
        var best = acc.max()
        while i < n { best = Swift.max(best, p[i]); i += 1 }
        return best
    }
}
