/// GGML's tensor types (llama.cpp, the GGUF format): their ids and block sizes.
///
/// The one table of these facts in Recast. Every GGML type is a `DType`: the plain ones (F32, F16, BF16,
/// F64, I8…I64) are the safetensors types of the same name, blocks of one element; the block-quantised
/// ones pack `blockSize` consecutive elements of a row into `bytesPerBlock` bytes. The sizes match
/// `gguf.constants.GGML_QUANT_SIZES` of gguf-py 0.19.0, llama.cpp's own Python package, and the ids
/// its `GGMLQuantizationType` (the GGUF tests compare them).
extension DType {
    /// (id in a GGUF tensor info, type, elements per block, bytes per block), in id order.
    private static let ggmlTable: [(id: UInt32, type: DType, blockSize: Int, bytesPerBlock: Int)] = [
        (0, .f32, 1, 4), (1, .f16, 1, 2), (2, .q4_0, 32, 18), (3, .q4_1, 32, 20),
        (6, .q5_0, 32, 22), (7, .q5_1, 32, 24), (8, .q8_0, 32, 34), (9, .q8_1, 32, 40),
        (10, .q2_K, 256, 84), (11, .q3_K, 256, 110), (12, .q4_K, 256, 144), (13, .q5_K, 256, 176),
        (14, .q6_K, 256, 210), (15, .q8_K, 256, 292), (16, .iq2_XXS, 256, 66), (17, .iq2_XS, 256, 74),
        (18, .iq3_XXS, 256, 98), (19, .iq1_S, 256, 50), (20, .iq4_NL, 32, 18), (21, .iq3_S, 256, 110),
        (22, .iq2_S, 256, 82), (23, .iq4_XS, 256, 136), (24, .i8, 1, 1), (25, .i16, 1, 2),
        (26, .i32, 1, 4), (27, .i64, 1, 8), (28, .f64, 1, 8), (29, .iq1_M, 256, 56),
        (30, .bf16, 1, 2), (34, .tq1_0, 256, 54), (35, .tq2_0, 256, 66), (39, .mxfp4, 32, 17),
        (40, .nvfp4, 64, 36), (41, .q1_0, 128, 18),
    ]

    private static let ggmlByID: [UInt32: Int] =
        Dictionary(uniqueKeysWithValues: ggmlTable.enumerated().map { ($1.id, $0) })
    private static let ggmlByType: [DType: Int] =
        Dictionary(uniqueKeysWithValues: ggmlTable.enumerated().map { ($1.type, $0) })

    /// Every type a GGUF tensor can have, in GGML id order.
    public static var ggmlTypes: [DType] { ggmlTable.map(\.type) }

    /// The type GGML numbers `id`; nil for an id no current GGML defines (see `retiredGGMLTypes`).
    public init?(ggmlID id: UInt32) {
        guard let i = DType.ggmlByID[id] else { return nil }
        self = DType.ggmlTable[i].type
    }

    /// The type named `name` as GGML spells it, in either case (`q4_k`, `Q4_K`, `f32`).
    public init?(ggmlName name: String) {
        guard let t = DType.ggmlTypes.first(where: { $0.rawValue == name.uppercased() }) else { return nil }
        self = t
    }

    /// The id a GGUF tensor info stores for this type; nil for types GGUF cannot hold (U8, BOOL, F8…).
    public var ggmlID: UInt32? { DType.ggmlByType[self].map { DType.ggmlTable[$0].id } }

    /// Whether elements are packed in blocks with shared scales (GGML's quantised types).
    public var isQuantized: Bool { DType.ggmlByType[self].map { DType.ggmlTable[$0].blockSize > 1 } ?? false }

    /// Elements in one block: 1 for every element type.
    public var blockSize: Int { DType.ggmlByType[self].map { DType.ggmlTable[$0].blockSize } ?? 1 }

    /// Bytes one block occupies: for an element type, the bytes of one element (0 for sub-byte types).
    public var bytesPerBlock: Int {
        if let i = DType.ggmlByType[self] { return DType.ggmlTable[i].bytesPerBlock }
        return bitWidth / 8
    }

    /// Names of ids GGML once defined and has since removed, for a message that says so rather than
    /// "unknown" (ggml.h keeps these ids reserved).
    public static let retiredGGMLTypes: [UInt32: String] = [
        4: "Q4_2", 5: "Q4_3",
        31: "Q4_0_4_4", 32: "Q4_0_4_8", 33: "Q4_0_8_8",
        36: "IQ4_NL_4_4", 37: "IQ4_NL_4_8", 38: "IQ4_NL_8_8",
    ]
}
