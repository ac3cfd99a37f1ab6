/// Element conversions between dtypes.
///
/// Narrowing to f16 and bf16 rounds to nearest, ties to even (the bits numpy's `astype` and
/// `ml_dtypes` give); NaN stays NaN; widening is exact. f64 → bf16 goes through a round-to-odd f32,
/// which makes the double rounding exact.
public enum Cast {
    /// Whether `convert` can map `from` to `to`: the same dtype, or two real floating-point dtypes
    /// with a target of f16, bf16, f32 or f64.
    public static func canConvert(from: DType, to: DType) -> Bool {
        if from == to { return true }
        guard from.isFloatingPoint else { return false }
        return [.f16, .bf16, .f32, .f64].contains(to)
    }

    /// Converts `count` elements of `src` into `dst`, which must hold `to.byteCount(elements: count)` bytes.
    /// Returns false (writing nothing) when the pair is not convertible.
    @discardableResult
    public static func convert(_ src: UnsafeRawBufferPointer, from: DType, to: DType, count: Int,
                               into dst: UnsafeMutableRawBufferPointer) -> Bool {
        guard canConvert(from: from, to: to),
              let inBytes = from.byteCount(elements: count), let outBytes = to.byteCount(elements: count),
              src.count >= inBytes, dst.count >= outBytes else { return false }
        if count == 0 { return true }
        if from == to {
            dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: inBytes)
            return true
        }
        let s = src.baseAddress!
        let d = dst.baseAddress!
        switch (from, to) {
        case (.f32, .bf16):
            let i = s.assumingMemoryBound(to: UInt32.self), o = d.assumingMemoryBound(to: UInt16.self)
            for k in 0..<count { o[k] = bf16Bits(fromF32Bits: i[k]) }
        case (.f32, .f16):
            let i = s.assumingMemoryBound(to: Float.self), o = d.assumingMemoryBound(to: UInt16.self)
            for k in 0..<count { o[k] = f16Bits(i[k]) }
        case (.f32, .f64):
            let i = s.assumingMemoryBound(to: Float.self), o = d.assumingMemoryBound(to: Double.self)
            for k in 0..<count { o[k] = Double(i[k]) }
        case (.f64, .f32):
            let i = s.assumingMemoryBound(to: Double.self), o = d.assumingMemoryBound(to: Float.self)
            for k in 0..<count { o[k] = Float(i[k]) }
        case (.f64, .f16):
            let i = s.assumingMemoryBound(to: Double.self), o = d.assumingMemoryBound(to: UInt16.self)
            for k in 0..<count { o[k] = f16Bits(i[k]) }
        case (.f64, .bf16):
            let i = s.assumingMemoryBound(to: Double.self), o = d.assumingMemoryBound(to: UInt16.self)
            for k in 0..<count { o[k] = bf16Bits(fromF32Bits: roundToOddFloat(i[k]).bitPattern) }
        case (.bf16, .f32):
            let i = s.assumingMemoryBound(to: UInt16.self), o = d.assumingMemoryBound(to: UInt32.self)
            for k in 0..<count { o[k] = UInt32(i[k]) << 16 }
        case (.f16, .f32):
            let i = s.assumingMemoryBound(to: UInt16.self), o = d.assumingMemoryBound(to: Float.self)
            for k in 0..<count { o[k] = f32(fromF16Bits: i[k]) }
        default:
            // Any other float pair: decode to f32 (exact for every dtype narrower than f64), then encode.
            let o = d
            for k in 0..<count {
                let x = decode(from, s, k)
                switch to {
                case .f32: o.storeBytes(of: x, toByteOffset: 4 * k, as: Float.self)
                case .f64: o.storeBytes(of: Double(x), toByteOffset: 8 * k, as: Double.self)
                case .f16: o.storeBytes(of: f16Bits(x), toByteOffset: 2 * k, as: UInt16.self)
                case .bf16: o.storeBytes(of: bf16Bits(fromF32Bits: x.bitPattern), toByteOffset: 2 * k, as: UInt16.self)
                default: return false
                }
            }
        }
        return true
    }

    // MARK: scalar codecs

    /// f32 bits → bf16 bits, round to nearest even; NaN kept NaN (quieted).
    @inline(__always)
    public static func bf16Bits(fromF32Bits b: UInt32) -> UInt16 {
        if b & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: b >> 16) | 0x0040 }
        let bias: UInt32 = 0x7FFF &+ ((b >> 16) & 1)
        return UInt16(truncatingIfNeeded: (b &+ bias) >> 16)
    }

    @inline(__always)
    public static func f32(fromBF16Bits b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    @inline(__always)
    public static func f16Bits(_ x: Float) -> UInt16 {
        #if arch(x86_64) || arch(arm64)
        return Float16(x).bitPattern
        #else
        return softF16Bits(Double(x))
        #endif
    }

    @inline(__always)
    public static func f16Bits(_ x: Double) -> UInt16 {
        #if arch(x86_64) || arch(arm64)
        return Float16(x).bitPattern
        #else
        return softF16Bits(x)
        #endif
    }

    @inline(__always)
    public static func f32(fromF16Bits b: UInt16) -> Float {
        #if arch(x86_64) || arch(arm64)
        return Float(Float16(bitPattern: b))
        #else
        return decodeMinifloat(UInt32(b), exponentBits: 5, mantissaBits: 10, bias: 15, ieee: true)
        #endif
    }

    /// Rounds a double to the nearest f32 by round-to-odd: exact on the way to any narrower format.
    static func roundToOddFloat(_ d: Double) -> Float {
        var f = Float(d)
        if d.isNaN || f.isInfinite && d.isInfinite { return f }
        if Double(f) != d {
            if abs(Double(f)) > abs(d) { f = Float(bitPattern: f.bitPattern &- 1) }
            f = Float(bitPattern: f.bitPattern | 1)
        }
        return f
    }

    #if !(arch(x86_64) || arch(arm64))
    static func softF16Bits(_ x: Double) -> UInt16 {
        // Rare platforms only; round half to even through scaled arithmetic.
        let sign: UInt16 = x.sign == .minus ? 0x8000 : 0
        let a = abs(x)
        if a.isNaN { return 0x7E00 }
        if a >= 65520 { return sign | 0x7C00 }
        if a < 0x1p-14 {
            let m = (a * 0x1p24).rounded(.toNearestOrEven)
            return sign | UInt16(m)
        }
        let e = Int(a.exponent)
        let m = ((a / Double(sign: .plus, exponent: e, significand: 1)) - 1) * 1024
        var mi = Int(m.rounded(.toNearestOrEven)), ei = e + 15
        if mi == 1024 { mi = 0; ei += 1 }
        if ei >= 31 { return sign | 0x7C00 }
        return sign | UInt16(ei << 10) | UInt16(mi)
    }
    #endif

    /// Decodes element `k` of a packed buffer of a floating-point dtype to f32 (exact).
    public static func decode(_ dtype: DType, _ base: UnsafeRawPointer, _ k: Int) -> Float {
        switch dtype {
        case .f32: return base.loadUnaligned(fromByteOffset: 4 * k, as: Float.self)
        case .f64: return Float(base.loadUnaligned(fromByteOffset: 8 * k, as: Double.self))
        case .f16: return f32(fromF16Bits: base.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))
        case .bf16: return f32(fromBF16Bits: base.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))
        case .f8e5m2:
            return decodeMinifloat(UInt32(byte(base, k)), exponentBits: 5, mantissaBits: 2, bias: 15, ieee: true)
        case .f8e4m3:
            let b = byte(base, k)
            if b & 0x7F == 0x7F { return .nan }
            return decodeMinifloat(UInt32(b), exponentBits: 4, mantissaBits: 3, bias: 7, ieee: false)
        case .f8e4m3fnuz:
            let b = byte(base, k)
            if b == 0x80 { return .nan }
            return decodeMinifloat(UInt32(b), exponentBits: 4, mantissaBits: 3, bias: 8, ieee: false)
        case .f8e5m2fnuz:
            let b = byte(base, k)
            if b == 0x80 { return .nan }
            return decodeMinifloat(UInt32(b), exponentBits: 5, mantissaBits: 2, bias: 16, ieee: false)
        case .f8e8m0:
            let b = byte(base, k)
            if b == 0xFF { return .nan }
            return Float(sign: .plus, exponent: Int(b) - 127, significand: 1)
        case .f4:
            let b = byte(base, k / 2)
            let nibble = k % 2 == 0 ? b & 0x0F : b >> 4
            return decodeMinifloat(UInt32(nibble), exponentBits: 2, mantissaBits: 1, bias: 1, ieee: false)
        case .f6e2m3:
            return decodeMinifloat(sixBits(base, k), exponentBits: 2, mantissaBits: 3, bias: 1, ieee: false)
        case .f6e3m2:
            return decodeMinifloat(sixBits(base, k), exponentBits: 3, mantissaBits: 2, bias: 3, ieee: false)
        default:
            return .nan
        }
    }

    @inline(__always)
    static func byte(_ base: UnsafeRawPointer, _ k: Int) -> UInt8 { base.load(fromByteOffset: k, as: UInt8.self) }

    /// Element `k` of a little-endian bit stream of 6-bit fields.
    static func sixBits(_ base: UnsafeRawPointer, _ k: Int) -> UInt32 {
        let bit = 6 * k
        let lo = UInt32(byte(base, bit / 8))
        let hi = (bit % 8) > 2 ? UInt32(byte(base, bit / 8 + 1)) : 0
        return ((lo | hi << 8) >> UInt32(bit % 8)) & 0x3F
    }

    /// A sign–exponent–mantissa minifloat. With `ieee`, an all-ones exponent means infinity or NaN;
    /// without it, the caller has already handled the NaN codes and all-ones is an ordinary exponent.
    static func decodeMinifloat(_ bits: UInt32, exponentBits: Int, mantissaBits: Int, bias: Int, ieee: Bool) -> Float {
        let m = bits & ((1 << UInt32(mantissaBits)) - 1)
        let e = Int((bits >> UInt32(mantissaBits)) & ((1 << UInt32(exponentBits)) - 1))
        let negative = (bits >> UInt32(mantissaBits + exponentBits)) & 1 == 1
        var v: Float
        if ieee && e == (1 << exponentBits) - 1 {
            v = m == 0 ? .infinity : .nan
        } else if e == 0 {
            v = Float(m) * Float(sign: .plus, exponent: 1 - bias - mantissaBits, significand: 1)
        } else {
            v = (1 + Float(m) / Float(1 << mantissaBits)) * Float(sign: .plus, exponent: e - bias, significand: 1)
        }
        if negative { v = -v }
        return v
    }
}

/// f32 or f64 values as they would be stored, and back: the rounding a writer applies.
public protocol StorableFloat: BinaryFloatingPoint {
    /// The dtype of the values in memory (`f32` for Float, `f64` for Double).
    static var dtype: DType { get }
}

extension Float: StorableFloat { public static var dtype: DType { .f32 } }
extension Double: StorableFloat { public static var dtype: DType { .f64 } }

extension Cast {
    /// `values` as `dtype` stores them (round to nearest even), little-endian.
    public static func encode<T: StorableFloat>(_ values: [T], as dtype: DType) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: dtype.byteCount(elements: values.count) ?? 0)
        values.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in _ = convert(src, from: T.dtype, to: dtype, count: values.count, into: dst) }
        }
        return out
    }

    /// `values` rounded to `dtype` and widened back: what a reader of the stored tensor sees.
    public static func roundTrip<T: StorableFloat>(_ values: [T], through dtype: DType) -> [T] {
        if dtype == T.dtype || dtype == .f64 { return values }
        let bytes = encode(values, as: dtype)
        var back = [T](repeating: 0, count: values.count)
        bytes.withUnsafeBytes { src in
            back.withUnsafeMutableBytes { dst in _ = convert(src, from: dtype, to: T.dtype, count: values.count, into: dst) }
        }
        return back
    }
}
