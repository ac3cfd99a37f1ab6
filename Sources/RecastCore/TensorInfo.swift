/// What a store knows about one tensor without reading its data.
public struct TensorInfo: Sendable, Hashable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Bytes the tensor occupies in its source.
    public var byteCount: Int

    public init(name: String, dtype: DType, shape: [Int], byteCount: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteCount = byteCount
    }

    /// Creates an info whose byte count follows from dtype and shape; nil when that overflows or is fractional.
    public init?(name: String, dtype: DType, shape: [Int]) {
        guard let n = RecastCore.elementCount(of: shape), let bytes = dtype.byteCount(elements: n) else { return nil }
        self.init(name: name, dtype: dtype, shape: shape, byteCount: bytes)
    }

    public var elementCount: Int { RecastCore.elementCount(of: shape) ?? 0 }
}

/// The on-disk family of a checkpoint.
public enum CheckpointFormat: String, Sendable, Codable {
    case safetensors
    case hdf5
    case gguf
    /// A `torch.save` file (zip or legacy) or a sharded `pytorch_model.bin.index.json`.
    case pytorch
}
