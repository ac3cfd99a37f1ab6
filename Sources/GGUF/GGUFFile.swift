import RecastCore

/// A GGUF file, memory-mapped. Tensor bytes are views into the mapping, in their GGML type's own
/// encoding (whole blocks for the quantised types).
public final class GGUFFile {
    public let path: String
    public let header: GGUFHeader
    let mapping: MappedFile
    private let index: [String: Int]
    /// Drop pages from the resident set after each read: set by streaming jobs such as convert.
    public var releaseAfterRead = false

    public convenience init(path: String) throws {
        try self.init(mapping: try MappedFile(path: path))
    }

    /// Reads a file already mapped.
    public init(mapping: MappedFile) throws {
        let path = mapping.path
        self.path = path
        self.mapping = mapping
        header = try mapping.reading { try GGUFHeader.parse(mapping.bytes, file: path) }
        var index: [String: Int] = [:]
        for (i, t) in header.tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    /// `general.architecture` (`llama`, `qwen2`…), when present.
    public var architecture: String? { header.value("general.architecture")?.stringValue }

    /// Tensor infos in stored order.
    public var tensorInfos: [GGUFTensorInfo] { header.tensors }

    public func tensor(named name: String) -> GGUFTensorInfo? { index[name].map { header.tensors[$0] } }

    /// The file byte range of a tensor's data.
    public func fileRange(of name: String) -> Range<Int>? {
        guard let t = tensor(named: name) else { return nil }
        return (header.dataStart + t.offset)..<(header.dataStart + t.offset + t.byteCount)
    }

    /// Hands a view of a tensor's stored bytes to `body`; a file cut or rewritten meanwhile is an error.
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let range = fileRange(of: name), let view = mapping.view(range) else {
            throw CheckpointError.tensor(name, in: path, "not in this file")
        }
        // `reading`: a file cut or rewritten while the tensor is read is an error, not zeros or SIGBUS.
        if releaseAfterRead {
            mapping.adviseSequential(range)
            defer { mapping.release(range) }
            return try mapping.reading { try body(view) }
        }
        return try mapping.reading { try body(view) }
    }
}
