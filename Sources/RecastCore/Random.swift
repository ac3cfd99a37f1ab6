// Recast's own seeded generators, shared by every module that draws random numbers (the initialisers of a
// swap, sampling in `generate`): integer arithmetic and IEEE basic operations only, so a seed gives the
// same numbers on every machine.

/// SplitMix64 (Steele, Lea, Flood 2014): seeds the other generators and mixes stream keys.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// The SplitMix64 output function: a bijection of 64-bit words with good avalanche.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** 1.0 (Blackman, Vigna 2018), the generator behind every random tensor of a swap.
/// Integer arithmetic only, so a seed gives the same words on every machine.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// Fills the state from SplitMix64, as the authors recommend (never all zero).
    public init(seed: UInt64) {
        var s = SplitMix64(seed: seed)
        state = (s.next(), s.next(), s.next(), s.next())
    }

    /// A generator in a given state (for checking against the reference implementation's vectors).
    init(state: (UInt64, UInt64, UInt64, UInt64)) { self.state = state }

    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// Uniform and Gaussian doubles from a `Xoshiro256StarStar`, computed with IEEE-754 basic operations
/// only (see `PortableMath`), so the same stream gives the same bits on any machine.
public struct RandomStream: Sendable {
    var generator: Xoshiro256StarStar
    private var spare: Double?

    public init(seed: UInt64) { generator = Xoshiro256StarStar(seed: seed) }

    /// The stream for one purpose, layer and head of a swap: independent of every other stream and of
    /// the order in which streams are drawn.
    public init(seed: UInt64, purpose: String, layer: Int, head: Int) {
        var key = SplitMix64.mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        key = SplitMix64.mix(key ^ RandomStream.fnv1a(purpose))
        key = SplitMix64.mix(key ^ (UInt64(truncatingIfNeeded: layer) &+ 0x6A09_E667_F3BC_C909))
        key = SplitMix64.mix(key ^ (UInt64(truncatingIfNeeded: head) &+ 0xBB67_AE85_84CA_A73B))
        self.init(seed: key)
    }

    public mutating func nextWord() -> UInt64 { generator.next() }

    /// Uniform in [0, 1): the top 53 bits of a word.
    public mutating func uniform() -> Double { Double(generator.next() >> 11) * 0x1p-53 }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * uniform() }

    /// A standard normal deviate by the Box–Muller transform; deviates come in pairs, the second is kept.
    public mutating func gaussian() -> Double {
        if let s = spare {
            spare = nil
            return s
        }
        let u1 = 1 - uniform()  // (0, 1]: the logarithm stays finite
        let u2 = uniform()
        let r = (-2 * PortableMath.log(u1)).squareRoot()
        let (s, c) = PortableMath.sinCosTwoPi(u2)
        spare = r * s
        return r * c
    }

    /// FNV-1a over UTF-8: a stable hash for purpose names (Swift's `hashValue` is seeded per process).
    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01B3
        }
        return h
    }
}

/// Logarithm, sine and cosine from +, −, ×, ÷ and exact bit operations in a fixed order.
///
/// Platform `log`, `sin` and `cos` may differ in the last bit between C libraries; these do not, which
/// is what makes seeded initialisations byte-identical across machines. Accuracy is a few ulps, far
/// below what the f32 (or narrower) tensors they feed can hold.
public enum PortableMath {
    static let ln2 = 0.693_147_180_559_945_3

    /// Natural logarithm of a positive, finite, normal `x`.
    public static func log(_ x: Double) -> Double {
        precondition(x > 0 && x.isFinite && x.isNormal, "PortableMath.log needs a positive normal number")
        var e = Double(Int(x.exponent))
        var m = x.significand  // [1, 2), exact
        if m > 1.414_213_562_373_095_1 {
            m /= 2
            e += 1
        }
        // log m = 2 atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.1716, so s² ≤ 0.0295 and 13 terms reach 1e-19.
        let s = (m - 1) / (m + 1)
        let s2 = s * s
        var p = 1.0 / 27
        for n in stride(from: 12, through: 0, by: -1) { p = p * s2 + 1.0 / Double(2 * n + 1) }
        return 2 * s * p + e * ln2
    }

    /// (sin 2πt, cos 2πt) for t in [0, 1).
    public static func sinCosTwoPi(_ t: Double) -> (sin: Double, cos: Double) {
        let scaled = t * 4  // exact
        let quadrant = Int(scaled)
        var r = scaled - Double(quadrant)  // exact, in [0, 1)
        var swap = false
        if r > 0.5 {
            r = 1 - r  // exact (Sterbenz)
            swap = true
        }
        let a = r * (Double.pi / 2)  // [0, π/4]
        let (s0, c0) = taylorSinCos(a)
        let (s, c) = swap ? (c0, s0) : (s0, c0)
        switch quadrant & 3 {
        case 0: return (s, c)
        case 1: return (c, -s)
        case 2: return (-s, -c)
        default: return (-c, s)
        }
    }

    /// Taylor series of sin and cos for |a| ≤ π/4, summed by Horner from the smallest term.
    static func taylorSinCos(_ a: Double) -> (Double, Double) {
        let a2 = a * a
        // sin a = a Σ (−a²)^n / (2n+1)!, cos a = Σ (−a²)^n / (2n)!, n ≤ 10: the last terms are below 1e-20.
        var sinSum = 0.0, cosSum = 0.0
        for n in stride(from: 10, through: 0, by: -1) {
            sinSum = sinSum * a2
            cosSum = cosSum * a2
            let sign: Double = n % 2 == 0 ? 1 : -1
            sinSum += sign / factorials[2 * n + 1]
            cosSum += sign / factorials[2 * n]
        }
        return (a * sinSum, cosSum)
    }

    /// 0! … 21!, exact in Double up to 18! and correctly rounded beyond (each product rounds once,
    /// identically everywhere).
    static let factorials: [Double] = {
        var f: [Double] = [1]
        for n in 1...21 { f.append(f[n - 1] * Double(n)) }
        return f
    }()
}
