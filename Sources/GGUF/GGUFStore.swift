import Quantization
import RecastCore

/// A GGUF file as a `TensorStore`: llama.cpp's tensor names, GGML types as `DType`s (the quantised
/// ones handed out as their raw blocks, like any tensor's bytes), shapes outermost first, and the
/// metadata as text with long arrays summarised. `loadFloat32` dequantises.
extension GGUFFile: TensorStore {
    public var format: CheckpointFormat { .gguf }
    public var layout: String { "gguf" }
    public var files: [String] { [path] }

    /// Every metadata entry as text: a value, or for an array of more than eight elements its count
    /// and type (`tokenizer.ggml.tokens: 49,152 strings`).
    public var metadata: Metadata { header.metadata.map { ($0.key, $0.value.description) } }

    public var tensors: [TensorInfo] { header.tensors.map(\.tensorInfo) }

    public func info(named name: String) -> TensorInfo? { tensor(named: name)?.tensorInfo }

    /// The SHA-256 of the mapped file, without opening it again.
    public func sha256(of file: String) throws -> String {
        guard file == path else { return try SHA256.hex(file: file) }
        return try SHA256.hex(mapping: mapping)
    }

    /// The tensor as f32: element types widened, block-quantised types dequantised bit for bit as
    /// gguf-py does; a type Recast cannot decode is an error naming it.
    public func loadFloat32(_ name: String) throws -> [Float] {
        guard let t = tensor(named: name) else { throw CheckpointError.tensor(name, in: path, "not in this file") }
        guard t.type.isQuantized else { return try decodeFloat32(name) }
        guard t.type.canDequantize else {
            throw CheckpointError.tensor(name, in: path, "is \(t.type.rawValue), a GGML type Recast cannot dequantize")
        }
        let count = t.elementCount
        return try withBytes(of: name) { raw in
            try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                if let out = buffer.baseAddress {
                    do { try Dequantize.rows(type: t.type, bytes: raw, count: count, into: out) } catch let e as QuantizationError {
                        throw CheckpointError.tensor(name, in: path, e.description)
                    }
                }
                initialized = count
            }
        }
    }
}

extension GGUFTensorInfo {
    /// The tensor as every store describes one: shape outermost first.
    public var tensorInfo: TensorInfo { TensorInfo(name: name, dtype: type, shape: shape, byteCount: byteCount) }
}
