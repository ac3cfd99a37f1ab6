/// A GGML tensor type as a GGUF tensor info names it: its numeric id, its name, and the block its
/// elements are packed in.
///
/// Every type here packs `blockSize` consecutive elements of a row into `bytesPerBlock` bytes; the plain
/// types (F32, F16, BF16, F64, I8…I64) are blocks of one element. The table is the one place Recast
/// knows these sizes: it matches `gguf.constants.GGML_QUANT_SIZES` of gguf-py 0.19.0, llama.cpp's
/// own Python package (the tests compare the two).
public struct GGMLType: Sendable, Hashable, CustomStringConvertible {
    /// The id stored in a tensor info (`GGML_TYPE_*` in ggml.h).
    public let id: UInt32
    /// The name as GGML spells it (`Q4_K`, `IQ4_XS`, `F32`).
    public let name: String
    /// Elements in one block.
    public let blockSize: Int
    /// Bytes one block occupies.
    public let bytesPerBlock: Int

    public var description: String { name }

    /// Whether the type packs elements in blocks with shared scales (everything but the plain
    /// floating-point and integer types).
    public var isQuantized: Bool { blockSize > 1 }

    /// Bytes taken by `count` elements: nil when they are not a whole number of blocks, or overflow.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return overflow ? nil : bytes
    }

    /// The type with GGML id `id`; nil for an id no current GGML defines.
    public init?(id: UInt32) {
        guard let type = GGMLType.byID[id] else { return nil }
        self = type
    }

    /// The type named `name` as GGML spells it (`q4_k` is accepted too).
    public init?(name: String) {
        guard let type = GGMLType.all.first(where: { $0.name == name.uppercased() }) else { return nil }
        self = type
    }

    private init(_ id: UInt32, _ name: String, _ blockSize: Int, _ bytesPerBlock: Int) {
        self.id = id
        self.name = name
        self.blockSize = blockSize
        self.bytesPerBlock = bytesPerBlock
    }

    public static let f32 = GGMLType(0, "F32", 1, 4)
    public static let f16 = GGMLType(1, "F16", 1, 2)
    public static let q4_0 = GGMLType(2, "Q4_0", 32, 18)
    public static let q4_1 = GGMLType(3, "Q4_1", 32, 20)
    public static let q5_0 = GGMLType(6, "Q5_0", 32, 22)
    public static let q5_1 = GGMLType(7, "Q5_1", 32, 24)
    public static let q8_0 = GGMLType(8, "Q8_0", 32, 34)
    public static let q8_1 = GGMLType(9, "Q8_1", 32, 40)
    public static let q2_K = GGMLType(10, "Q2_K", 256, 84)
    public static let q3_K = GGMLType(11, "Q3_K", 256, 110)
    public static let q4_K = GGMLType(12, "Q4_K", 256, 144)
    public static let q5_K = GGMLType(13, "Q5_K", 256, 176)
    public static let q6_K = GGMLType(14, "Q6_K", 256, 210)
    public static let q8_K = GGMLType(15, "Q8_K", 256, 292)
    public static let iq2_XXS = GGMLType(16, "IQ2_XXS", 256, 66)
    public static let iq2_XS = GGMLType(17, "IQ2_XS", 256, 74)
    public static let iq3_XXS = GGMLType(18, "IQ3_XXS", 256, 98)
    public static let iq1_S = GGMLType(19, "IQ1_S", 256, 50)
    public static let iq4_NL = GGMLType(20, "IQ4_NL", 32, 18)
    public static let iq3_S = GGMLType(21, "IQ3_S", 256, 110)
    public static let iq2_S = GGMLType(22, "IQ2_S", 256, 82)
    public static let iq4_XS = GGMLType(23, "IQ4_XS", 256, 136)
    public static let i8 = GGMLType(24, "I8", 1, 1)
    public static let i16 = GGMLType(25, "I16", 1, 2)
    public static let i32 = GGMLType(26, "I32", 1, 4)
    public static let i64 = GGMLType(27, "I64", 1, 8)
    public static let f64 = GGMLType(28, "F64", 1, 8)
    public static let iq1_M = GGMLType(29, "IQ1_M", 256, 56)
    public static let bf16 = GGMLType(30, "BF16", 1, 2)
    public static let tq1_0 = GGMLType(34, "TQ1_0", 256, 54)
    public static let tq2_0 = GGMLType(35, "TQ2_0", 256, 66)
    public static let mxfp4 = GGMLType(39, "MXFP4", 32, 17)
    public static let nvfp4 = GGMLType(40, "NVFP4", 64, 36)
    public static let q1_0 = GGMLType(41, "Q1_0", 128, 18)

    /// Every type, in id order.
    public static let all: [GGMLType] = [
        f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q2_K, q3_K, q4_K, q5_K, q6_K, q8_K,
        iq2_XXS, iq2_XS, iq3_XXS, iq1_S, iq4_NL, iq3_S, iq2_S, iq4_XS, i8, i16, i32, i64, f64,
        iq1_M, bf16, tq1_0, tq2_0, mxfp4, nvfp4, q1_0,
    ]

    private static let byID: [UInt32: GGMLType] = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })

    /// Names of ids that GGML once defined and has since removed, for a message that says so rather
    /// than "unknown" (ggml.h keeps the ids reserved).
    public static let retired: [UInt32: String] = [
        4: "Q4_2", 5: "Q4_3",
        31: "Q4_0_4_4", 32: "Q4_0_4_8", 33: "Q4_0_8_8",
        36: "IQ4_NL_4_4", 37: "IQ4_NL_4_8", 38: "IQ4_NL_8_8",
    ]
}
