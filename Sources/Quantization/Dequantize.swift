import RecastCore

/// Block-quantised GGML data to f32, bit for bit what gguf-py's NumPy `gguf.quants.dequantize` gives.
///
/// Every kernel does the float operations gguf-py does, in its order and in f32 (NumPy keeps these
/// expressions in f32: the scales are f16 widened to f32 and the codes are cast to f32 before any
/// arithmetic), so the results match to the bit, NaN and infinity included.
public enum Dequantize {
    /// Decodes `count` elements of `type` from `bytes` into `out`.
    ///
    /// `count` must be a whole number of blocks and `bytes` exactly the bytes those blocks occupy.
    /// - Throws: `QuantizationError` when the counts do not match or the type cannot be decoded.
    public static func rows(type: DType, bytes: UnsafeRawBufferPointer, count: Int,
                            into out: UnsafeMutablePointer<Float>) throws {
        guard let kernel = kernel(for: type) else {
            throw QuantizationError(type, "Recast cannot dequantize this type")
        }
        let blocks = try blockCount(type: type, bytes: bytes.count, elements: count)
        guard blocks > 0, let base = bytes.baseAddress else { return }
        kernel(base.assumingMemoryBound(to: UInt8.self), blocks, out)
    }

    /// Decodes a whole buffer of `type`, whose size must be a whole number of blocks.
    public static func floats(type: DType, bytes: UnsafeRawBufferPointer) throws -> [Float] {
        guard bytes.count % type.bytesPerBlock == 0 else {
            throw QuantizationError(type, "\(bytes.count) bytes is not a whole number of \(type.bytesPerBlock)-byte blocks")
        }
        let count = bytes.count / type.bytesPerBlock * type.blockSize
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let out = buffer.baseAddress { try rows(type: type, bytes: bytes, count: count, into: out) }
            initialized = count
        }
    }

    /// Blocks in `elements` elements stored in `bytes` bytes, or an error naming what does not fit.
    static func blockCount(type: DType, bytes: Int, elements: Int) throws -> Int {
        guard elements >= 0, elements % type.blockSize == 0 else {
            throw QuantizationError(type, "\(elements) elements is not a whole number of \(type.blockSize)-element blocks")
        }
        let blocks = elements / type.blockSize
        guard let expected = type.byteCount(elements: elements), expected == bytes else {
            throw QuantizationError(type, "\(blocks) blocks of \(type.bytesPerBlock) bytes need \(blocks * type.bytesPerBlock) bytes, got \(bytes)")
        }
        return blocks
    }

    /// Decodes `blocks` consecutive blocks from a pointer to their first byte.
    typealias Kernel = (UnsafePointer<UInt8>, Int, UnsafeMutablePointer<Float>) -> Void

    static func kernel(for type: DType) -> Kernel? {
        switch type {
        case .q4_0: LegacyQuants.dequantizeQ4_0
        case .q4_1: LegacyQuants.dequantizeQ4_1
        case .q5_0: LegacyQuants.dequantizeQ5_0
        case .q5_1: LegacyQuants.dequantizeQ5_1
        case .q8_0: LegacyQuants.dequantizeQ8_0
        case .q2_K: KQuants.dequantizeQ2_K
        case .q3_K: KQuants.dequantizeQ3_K
        case .q4_K: KQuants.dequantizeQ4_K
        case .q5_K: KQuants.dequantizeQ5_K
        case .q6_K: KQuants.dequantizeQ6_K
        case .iq4_NL: IQuants.dequantizeIQ4_NL
        case .iq4_XS: IQuants.dequantizeIQ4_XS
        case .tq1_0: TernaryQuants.dequantizeTQ1_0
        case .tq2_0: TernaryQuants.dequantizeTQ2_0
        case .mxfp4: MicroscaledFloats.dequantizeMXFP4
        case .nvfp4: MicroscaledFloats.dequantizeNVFP4
        case .iq2_XXS: IQuants.dequantizeIQ2_XXS
        case .iq2_XS: IQuants.dequantizeIQ2_XS
        case .iq2_S: IQuants.dequantizeIQ2_S
        case .iq3_XXS: IQuants.dequantizeIQ3_XXS
        case .iq3_S: IQuants.dequantizeIQ3_S
        case .iq1_S: IQuants.dequantizeIQ1_S
        case .iq1_M: IQuants.dequantizeIQ1_M
        default: nil
        }
    }
}

// MARK: reading block fields

extension UnsafePointer<UInt8> {
    /// The little-endian f16 at byte `offset`, widened to f32.
    @inline(__always)
    func half(at offset: Int) -> Float { halfToFloat(UInt16(self[offset]) | UInt16(self[offset + 1]) << 8) }

    /// The little-endian u16 at byte `offset`.
    @inline(__always)
    func u16(at offset: Int) -> UInt16 { UInt16(self[offset]) | UInt16(self[offset + 1]) << 8 }

    /// The little-endian u32 at byte `offset`.
    @inline(__always)
    func u32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2]) << 16 | UInt32(self[offset + 3]) << 24
    }
}

/// f16 bits → f32, NumPy's `npy_halfbits_to_floatbits`: exact, and a NaN keeps its payload and its
/// signalling bit (a hardware conversion would quiet it), so NaN scales decode as NumPy decodes them.
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h & 0x7C00)
    let mantissa = UInt32(h & 0x03FF)
    if exponent == 0x7C00 { return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) }
    if exponent != 0 { return Float(bitPattern: sign | ((exponent >> 10) + 112) << 23 | mantissa << 13) }
    if mantissa == 0 { return Float(bitPattern: sign) }
    // Subnormal: normalise the mantissa.
    var m = mantissa, e: UInt32 = 113
    while m & 0x0400 == 0 { m <<= 1; e -= 1 }
    return Float(bitPattern: sign | e << 23 | (m & 0x03FF) << 13)
}
