import RecastCore

/// A single `.safetensors` file, memory-mapped. Tensor bytes are views into the mapping.
public final class SafeTensorsFile: TensorStore {
    public let path: String
    public let header: SafeTensorsHeader
    let mapping: MappedFile
    private let index: [String: Int]
    /// Drop pages from the resident set after each read: set by streaming jobs such as convert.
    public var releaseAfterRead = false

    public convenience init(path: String) throws {
        try self.init(mapping: try MappedFile(path: path))
    }

    /// Reads a file already mapped (see `Checkpoint.open`, which maps each file once).
    public init(mapping: MappedFile) throws {
        let path = mapping.path
        self.path = path
        self.mapping = mapping
        header = try mapping.reading { try SafeTensorsHeader.parse(mapping.bytes, file: path) }
        var index: [String: Int] = [:]
        for (i, e) in header.entries.enumerated() { index[e.info.name] = i }
        self.index = index
    }

    public var format: CheckpointFormat { .safetensors }
    public var layout: String { "safetensors" }
    public var files: [String] { [path] }
    public var metadata: Metadata { header.metadata }
    public var tensors: [TensorInfo] { header.entries.map(\.info) }

    public func info(named name: String) -> TensorInfo? {
        index[name].map { header.entries[$0].info }
    }

    /// The file byte range of a tensor's data.
    public func fileRange(of name: String) -> Range<Int>? {
        guard let i = index[name] else { return nil }
        let r = header.entries[i].dataRange
        return (header.dataStart + r.lowerBound)..<(header.dataStart + r.upperBound)
    }

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

    /// The SHA-256 of the mapped file, without opening it again.
    public func sha256(of file: String) throws -> String {
        guard file == path else { return try SHA256.hex(file: file) }
        return try SHA256.hex(mapping: mapping)
    }
}
