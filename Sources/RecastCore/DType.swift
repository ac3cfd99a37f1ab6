/// An element type, named by its safetensors code (`F32`, `BF16`, …), or a GGML block-quantised type,
/// named as GGML names it (`Q4_0`, `Q6_K`, `IQ4_XS`, …; see GGMLTypes.swift).
///
/// The raw value is the code as it appears in a safetensors header or a GGUF tensor table and in
/// Recast's JSON output.
public enum DType: String, Sendable, CaseIterable, Codable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case f8e5m2 = "F8_E5M2"
    case f8e4m3 = "F8_E4M3"
    case f8e8m0 = "F8_E8M0"
    case f8e4m3fnuz = "F8_E4M3FNUZ"
    case f8e5m2fnuz = "F8_E5M2FNUZ"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case c64 = "C64"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"
    case f4 = "F4"
    case f6e2m3 = "F6_E2M3"
    case f6e3m2 = "F6_E3M2"
    // GGML's block-quantised types: `blockSize` elements of a row packed in `bytesPerBlock` bytes.
    case q4_0 = "Q4_0"
    case q4_1 = "Q4_1"
    case q5_0 = "Q5_0"
    case q5_1 = "Q5_1"
    case q8_0 = "Q8_0"
    case q8_1 = "Q8_1"
    case q2_K = "Q2_K"
    case q3_K = "Q3_K"
    case q4_K = "Q4_K"
    case q5_K = "Q5_K"
    case q6_K = "Q6_K"
    case q8_K = "Q8_K"
    case iq2_XXS = "IQ2_XXS"
    case iq2_XS = "IQ2_XS"
    case iq3_XXS = "IQ3_XXS"
    case iq1_S = "IQ1_S"
    case iq4_NL = "IQ4_NL"
    case iq3_S = "IQ3_S"
    case iq2_S = "IQ2_S"
    case iq4_XS = "IQ4_XS"
    case iq1_M = "IQ1_M"
    case tq1_0 = "TQ1_0"
    case tq2_0 = "TQ2_0"
    case mxfp4 = "MXFP4"
    case nvfp4 = "NVFP4"
    case q1_0 = "Q1_0"

    /// Bits one element occupies. Sub-byte types (F4, F6_*) are packed. For a block-quantised type, the
    /// bits of a whole block (`bytesPerBlock * 8`): its elements have no width of their own, and code
    /// that works element by element must check `isQuantized` first.
    public var bitWidth: Int {
        if isQuantized { return bytesPerBlock * 8 }
        return switch self {
        case .f4: 4
        case .f6e2m3, .f6e3m2: 6
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0, .f8e4m3fnuz, .f8e5m2fnuz: 8
        case .i16, .u16, .f16, .bf16: 16
        case .i32, .u32, .f32: 32
        case .c64, .f64, .i64, .u64: 64
        default: 0
        }
    }

    /// Whether the element is a real floating-point number, the only kind `convert --dtype` casts.
    public var isFloatingPoint: Bool {
        switch self {
        case .f8e5m2, .f8e4m3, .f8e8m0, .f8e4m3fnuz, .f8e5m2fnuz, .f16, .bf16, .f32, .f64, .f4, .f6e2m3, .f6e3m2: true
        default: false
        }
    }

    public var isInteger: Bool {
        switch self {
        case .u8, .i8, .i16, .u16, .i32, .u32, .i64, .u64: true
        default: false
        }
    }

    public var isSignedInteger: Bool {
        switch self {
        case .i8, .i16, .i32, .i64: true
        default: false
        }
    }

    /// Byte size of `count` elements, or nil when it is not a whole number of bytes (of blocks, for a
    /// block-quantised type) or overflows.
    public func byteCount(elements count: Int) -> Int? {
        if isQuantized {
            guard count >= 0, count % blockSize == 0 else { return nil }
            let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
            return overflow ? nil : bytes
        }
        let (bits, overflow) = count.multipliedReportingOverflow(by: bitWidth)
        guard !overflow, bits % 8 == 0 else { return nil }
        return bits / 8
    }

    /// The element types: every dtype but GGML's block-quantised ones (the dtypes safetensors and HDF5 hold).
    public static var elementTypes: [DType] { allCases.filter { !$0.isQuantized } }

    /// Parses a safetensors code; nil for a code Recast does not know, and for the GGML block types,
    /// which safetensors cannot hold.
    public init?(code: String) {
        guard let t = DType(rawValue: code), !t.isQuantized else { return nil }
        self = t
    }
}

/// The element count of a shape, or nil if it overflows `Int` or a dimension is negative.
public func elementCount(of shape: [Int]) -> Int? {
    var n = 1
    for d in shape {
        guard d >= 0 else { return nil }
        let (m, o) = n.multipliedReportingOverflow(by: d)
        if o { return nil }
        n = m
    }
    return n
}
