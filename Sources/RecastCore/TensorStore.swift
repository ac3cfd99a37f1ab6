/// A dataset or entry that a store saw but cannot hand out as a tensor, with the reason.
public struct SkippedObject: Sendable, Hashable {
    public var name: String
    public var reason: String
    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }
}

/// Named tensors that can be listed cheaply and read one at a time.
///
/// Bytes handed out by `withBytes` are little-endian, packed as in safetensors (sub-byte types
/// packed low bits first), and valid only inside the closure. A memory-mapped store hands out a
/// view of the mapping; other stores read into a buffer that lives for the call, so memory stays
/// bounded by the largest tensor.
public protocol TensorStore: AnyObject {
    var format: CheckpointFormat { get }
    /// The recognised layout: `safetensors`, `safetensors-sharded`, `keras2`, `keras3`, `keras-legacy`,
    /// `hf-tensorflow`, `generic`, `gguf`, `pytorch-zip`, `pytorch-legacy` or `pytorch-sharded`.
    var layout: String { get }
    /// The files that make up the checkpoint (a sharded checkpoint lists its index first).
    var files: [String] { get }
    var metadata: Metadata { get }
    /// Tensors in stored order.
    var tensors: [TensorInfo] { get }
    /// Objects that are not tensors (strings, compound types, unavailable filters, …).
    var skipped: [SkippedObject] { get }
    /// Groups of tensor names whose bytes overlap in the source (tied weights and views of one PyTorch
    /// storage), each in stored order. Writers copy each tensor separately; commands report the groups.
    var tiedTensors: [[String]] { get }
    func info(named name: String) -> TensorInfo?
    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
    /// The lowercase hex SHA-256 of one of `files`. Stores hash the bytes they already hold (their
    /// mapping, the index they parsed) rather than opening the file again: one descriptor per file, and
    /// the hash is of what was read. Throws when the file changed meanwhile.
    func sha256(of file: String) throws -> String
    /// Hands the same bytes to `consume` in consecutive pieces, each a whole number of elements for
    /// byte-aligned dtypes, that add up to the tensor's byte count: a store whose tensor need not exist
    /// whole in memory (an HDF5 dataset that is mostly fill value) streams it. The default hands over
    /// one piece from `withBytes`.
    func streamBytes(of name: String, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws
    /// Reads a floating-point tensor widened to `Float`. The default decodes the element types (f16,
    /// bf16, f8 and f64 converted as they load); a store of block-quantised tensors dequantises them.
    func loadFloat32(_ name: String) throws -> [Float]
}

extension TensorStore {
    public var skipped: [SkippedObject] { [] }

    public var tiedTensors: [[String]] { [] }

    public func sha256(of file: String) throws -> String { try SHA256.hex(file: file) }

    public func streamBytes(of name: String, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        try withBytes(of: name) { try consume($0) }
    }

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }
    public var byteCount: Int { tensors.reduce(0) { $0 + $1.byteCount } }

    public func loadFloat32(_ name: String) throws -> [Float] { try decodeFloat32(name) }

    /// Reads a tensor of a floating-point element type widened to `Float` (f16, bf16, f8 and f64
    /// converted as they load): what `loadFloat32` does unless a store knows more types.
    public func decodeFloat32(_ name: String) throws -> [Float] {
        guard let info = info(named: name) else {
            throw CheckpointError(file: files.first ?? "checkpoint", object: "tensor '\(name)'", "not in the checkpoint")
        }
        guard info.dtype.isFloatingPoint else {
            throw CheckpointError.tensor(name, in: files.first ?? "checkpoint", "has dtype \(info.dtype.rawValue); a floating-point tensor was expected")
        }
        let n = info.elementCount
        var values = [Float](repeating: 0, count: n)
        try withBytes(of: name) { raw in
            guard raw.count >= info.byteCount else {
                throw CheckpointError.tensor(name, in: files.first ?? "checkpoint", "holds \(raw.count) bytes; \(info.byteCount) expected")
            }
            _ = values.withUnsafeMutableBytes { out in
                Cast.convert(raw, from: info.dtype, to: .f32, count: n, into: out)
            }
        }
        return values
    }
}
