/// The block-quantised tensor types of GGML (llama.cpp), named and numbered as GGML names and numbers them.
///
/// Each type packs `blockSize` consecutive elements of a row into `bytesPerBlock` bytes; a row is a whole
/// number of blocks. The table covers every block type gguf-py 0.19.0 knows, including the few Recast
/// cannot decode (`canDequantize` is false for those), so a reader can still size and name them.
public enum GGMLQuantType: String, CaseIterable, Sendable, Codable {
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
    case iq2_xxs = "IQ2_XXS"
    case iq2_xs = "IQ2_XS"
    case iq3_xxs = "IQ3_XXS"
    case iq1_s = "IQ1_S"
    case iq4_nl = "IQ4_NL"
    case iq3_s = "IQ3_S"
    case iq2_s = "IQ2_S"
    case iq4_xs = "IQ4_XS"
    case iq1_m = "IQ1_M"
    case tq1_0 = "TQ1_0"
    case tq2_0 = "TQ2_0"
    case mxfp4 = "MXFP4"
    case nvfp4 = "NVFP4"
    case q1_0 = "Q1_0"

    /// The `ggml_type` number a GGUF tensor info stores.
    public var ggmlTypeID: UInt32 {
        switch self {
        case .q4_0: 2
        case .q4_1: 3
        case .q5_0: 6
        case .q5_1: 7
        case .q8_0: 8
        case .q8_1: 9
        case .q2_K: 10
        case .q3_K: 11
        case .q4_K: 12
        case .q5_K: 13
        case .q6_K: 14
        case .q8_K: 15
        case .iq2_xxs: 16
        case .iq2_xs: 17
        case .iq3_xxs: 18
        case .iq1_s: 19
        case .iq4_nl: 20
        case .iq3_s: 21
        case .iq2_s: 22
        case .iq4_xs: 23
        case .iq1_m: 29
        case .tq1_0: 34
        case .tq2_0: 35
        case .mxfp4: 39
        case .nvfp4: 40
        case .q1_0: 41
        }
    }

    /// The type with GGML number `id`, or nil when `id` is not a block-quantised type.
    public init?(ggmlTypeID id: UInt32) {
        guard let t = Self.allCases.first(where: { $0.ggmlTypeID == id }) else { return nil }
        self = t
    }

    /// Elements in one block.
    public var blockSize: Int {
        switch self {
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: 32
        case .nvfp4: 64
        case .q1_0: 128
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_xxs, .iq2_xs, .iq3_xxs, .iq1_s, .iq3_s, .iq2_s,
             .iq4_xs, .iq1_m, .tq1_0, .tq2_0: superBlockSize
        }
    }

    /// Bytes one block occupies.
    public var bytesPerBlock: Int {
        switch self {
        case .q4_0: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q8_0: 34
        case .q8_1: 40
        case .q2_K: 84
        case .q3_K: 110
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        case .q8_K: 292
        case .iq2_xxs: 66
        case .iq2_xs: 74
        case .iq3_xxs: 98
        case .iq1_s: 50
        case .iq4_nl: 18
        case .iq3_s: 110
        case .iq2_s: 82
        case .iq4_xs: 136
        case .iq1_m: 56
        case .tq1_0: 54
        case .tq2_0: 66
        case .mxfp4: 17
        case .nvfp4: 36
        case .q1_0: 18
        }
    }

    /// Whether `Dequantize` can decode this type to f32.
    public var canDequantize: Bool { Dequantize.kernel(for: self) != nil }

    /// Whether `Quantize` can encode f32 into this type.
    public var canQuantize: Bool { Quantize.kernel(for: self) != nil }

    /// Bytes `elements` elements occupy, or nil when `elements` is not a whole number of blocks.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return overflow ? nil : bytes
    }
}

/// Elements in a super-block of the K-quants (GGML's `QK_K`), also the block of the IQ and TQ types.
let superBlockSize = 256

/// A quantised buffer or a type Recast cannot handle, said so a user can act on it.
public struct QuantizationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var type: GGMLQuantType
    public var reason: String

    public init(_ type: GGMLQuantType, _ reason: String) {
        self.type = type
        self.reason = reason
    }

    public var description: String { "\(type.rawValue): \(reason)" }
}
