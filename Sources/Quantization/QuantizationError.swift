import RecastCore

extension DType {
    /// Whether `Dequantize` can decode this block-quantised type to f32.
    public var canDequantize: Bool { Dequantize.kernel(for: self) != nil }

    /// Whether `Quantize` can encode f32 into this block-quantised type.
    public var canQuantize: Bool { Quantize.kernel(for: self) != nil }
}

/// Elements in a super-block of the K-quants (GGML's `QK_K`), also the block of the IQ and TQ types.
let superBlockSize = 256

/// A quantised buffer or a type Recast cannot handle, said so a user can act on it.
public struct QuantizationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var type: DType
    public var reason: String

    public init(_ type: DType, _ reason: String) {
        self.type = type
        self.reason = reason
    }

    public var description: String { "\(type.rawValue): \(reason)" }
}
