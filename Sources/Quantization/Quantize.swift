import RecastCore

/// f32 to block-quantised GGML data, bit for bit what gguf-py's NumPy `gguf.quants.quantize` gives
/// (which itself matches llama.cpp's reference quantisers) for finite inputs.
public enum Quantize {
    /// Encodes `count` f32 elements from `values` into `out` as `type`.
    ///
    /// `count` must be a whole number of blocks and `out` exactly the bytes those blocks occupy.
    /// - Throws: `QuantizationError` when the counts do not match or the type cannot be encoded.
    public static func rows(type: DType, values: UnsafePointer<Float>, count: Int,
                            into out: UnsafeMutableRawBufferPointer) throws {
        guard let kernel = kernel(for: type) else {
            throw QuantizationError(type, "Recast cannot quantize to this type")
        }
        let blocks = try Dequantize.blockCount(type: type, bytes: out.count, elements: count)
        guard blocks > 0, let base = out.baseAddress else { return }
        for b in 0..<blocks {
            kernel(values + b * type.blockSize, base.assumingMemoryBound(to: UInt8.self) + b * type.bytesPerBlock)
        }
    }

    /// Encodes a whole array of f32, whose length must be a whole number of blocks.
    public static func bytes(type: DType, values: [Float]) throws -> [UInt8] {
        guard let size = type.byteCount(elements: values.count) else {
            throw QuantizationError(type, "\(values.count) elements is not a whole number of \(type.blockSize)-element blocks")
        }
        var out = [UInt8](repeating: 0, count: size)
        try values.withUnsafeBufferPointer { v in
            try out.withUnsafeMutableBytes { o in
                guard let base = v.baseAddress else { return }
                try rows(type: type, values: base, count: values.count, into: o)
            }
        }
        return out
    }

    /// Encodes one block from its first element into its first byte.
    typealias Kernel = (UnsafePointer<Float>, UnsafeMutablePointer<UInt8>) -> Void

    static func kernel(for type: DType) -> Kernel? {
        switch type {
        case .q8_0: quantizeQ8_0
        case .q4_0: { symmetric($0, $1, levels: 16) }
        case .q5_0: { symmetric($0, $1, levels: 32) }
        case .q4_1: { affine($0, $1, levels: 16) }
        case .q5_1: { affine($0, $1, levels: 32) }
        default: nil
        }
    }

    // MARK: kernels (the 32-element legacy types)

    @inline(__always)
    static func storeHalf(_ x: Float, _ p: UnsafeMutablePointer<UInt8>) {
        let bits = Float16(x).bitPattern
        p[0] = UInt8(truncatingIfNeeded: bits)
        p[1] = UInt8(truncatingIfNeeded: bits >> 8)
    }

    /// NumPy's cast of an f32 to a byte, as it runs on x86-64: truncation to a 32-bit integer whose low
    /// byte is kept; NaN and values outside the 32-bit range give 0. (Scales of subnormal blocks send
    /// codes to ±infinity, and gguf-py keeps what this cast makes of them.)
    @inline(__always)
    static func numpyByte(_ x: Float) -> UInt8 {
        guard x >= -2_147_483_648, x < 2_147_483_648 else { return 0 }
        return UInt8(truncatingIfNeeded: Int32(x))
    }

    /// A code: the byte NumPy's cast gives, clipped to `maximum` (gguf-py's `.astype(np.uint8).clip(0, max)`).
    @inline(__always)
    static func code(_ x: Float, maximum: Int) -> Int { min(Int(numpyByte(x)), maximum) }

    /// The nibbles (and, for 32 levels, the fifth bits as a u32) of 32 codes, stored from `p`.
    @inline(__always)
    static func pack(_ q: UnsafePointer<Int>, levels: Int, _ p: UnsafeMutablePointer<UInt8>) {
        var offset = 0
        if levels == 32 {
            var qh: UInt32 = 0
            for j in 0..<32 { qh |= UInt32(q[j] >> 4) << UInt32(j) }
            for k in 0..<4 { p[k] = UInt8(truncatingIfNeeded: qh >> UInt32(8 * k)) }
            offset = 4
        }
        for j in 0..<16 { p[offset + j] = UInt8(q[j] & 0x0F) | UInt8(truncatingIfNeeded: q[j + 16] << 4) }
    }

    /// 1/d, or 0 when d is 0 (gguf-py's `np.where(d == 0, 0, 1 / d)`).
    @inline(__always)
    static func inverse(_ d: Float) -> Float { d == 0 ? 0 : 1 / d }

    // Q4_0, Q5_0: d = (the element of largest magnitude, sign kept) / −(levels/2); q = trunc(x/d + levels/2 + 0.5).
    static func symmetric(_ x: UnsafePointer<Float>, _ p: UnsafeMutablePointer<UInt8>, levels: Int) {
        var extreme: Float = x[0], largest = abs(x[0])
        for j in 1..<32 where abs(x[j]) > largest { largest = abs(x[j]); extreme = x[j] }
        let d = extreme / -Float(levels / 2), id = inverse(d), offset = Float(levels / 2) + 0.5
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 32) { q in
            for j in 0..<32 { q[j] = code((x[j] * id + offset).rounded(.towardZero), maximum: levels - 1) }
            storeHalf(d, p)
            pack(UnsafePointer(q.baseAddress!), levels: levels, p + 2)
        }
    }

    // Q4_1, Q5_1: d = (max − min) / (levels − 1), m = min; q = trunc((x − min)/d + 0.5).
    static func affine(_ x: UnsafePointer<Float>, _ p: UnsafeMutablePointer<UInt8>, levels: Int) {
        var lo = x[0], hi = x[0]
        for j in 1..<32 { lo = min(lo, x[j]); hi = max(hi, x[j]) }
        let d = (hi - lo) / Float(levels - 1), id = inverse(d)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 32) { q in
            for j in 0..<32 { q[j] = code(((x[j] - lo) * id + 0.5).rounded(.towardZero), maximum: levels - 1) }
            storeHalf(d, p)
            storeHalf(lo, p + 2)
            pack(UnsafePointer(q.baseAddress!), levels: levels, p + 4)
        }
    }

    // Q8_0: d = max|x| / 127; q = x/d rounded half away from zero (gguf-py's `np_roundf`, step by step).
    static func quantizeQ8_0(_ x: UnsafePointer<Float>, _ p: UnsafeMutablePointer<UInt8>) {
        var largest: Float = 0
        for j in 0..<32 { largest = max(largest, abs(x[j])) }
        let d = largest / 127, id = inverse(d)
        storeHalf(d, p)
        for j in 0..<32 {
            let n = x[j] * id
            let a = abs(n), floored = a.rounded(.down)
            let rounded = floored + (2 * (a - floored)).rounded(.down)
            let signed = n > 0 ? rounded : (n < 0 ? -rounded : 0)
            p[2 + j] = numpyByte(signed)
        }
    }
}
