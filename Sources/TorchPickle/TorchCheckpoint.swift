import RecastCore

/// A checkpoint written by `torch.save`, read without PyTorch and without running any of its pickle:
/// the zip format (the default since PyTorch 1.6) or the legacy format, told apart by content.
///
/// Tensors in nested dicts (and lists) are named by joining keys with dots; plain scalars and strings
/// become metadata; anything else is listed in `skipped` with the reason. A contiguous tensor of a stored
/// zip entry or a legacy storage is handed out as a view of the bytes; a strided or deflated one is
/// materialised into a buffer that lives for the call, so memory is bounded by the largest storage.
public final class TorchCheckpoint: TensorStore {
    public let path: String
    /// `pytorch-zip` or `pytorch-legacy`.
    public let layout: String
    public let tensors: [TensorInfo]
    public let metadata: Metadata
    public let skipped: [SkippedObject]
    /// Groups of tensor names whose bytes overlap in one storage (tied weights, views), each in stored order.
    public let tiedTensors: [[String]]
    /// Drop pages from the resident set after each read: set by streaming jobs such as convert.
    public var releaseAfterRead = false

    private let mapping: MappedFile?
    private let bytes: UnsafeRawBufferPointer
    private let storages: StorageSource
    private let views: [String: TensorView]

    public var format: CheckpointFormat { .pytorch }
    public var files: [String] { [path] }

    public convenience init(path: String) throws {
        try self.init(mapping: try MappedFile(path: path))
    }

    /// Reads a file already mapped.
    public init(mapping: MappedFile) throws {
        self.mapping = mapping
        path = mapping.path
        bytes = mapping.bytes
        let parsed = try mapping.reading { try Parsed(mapping.bytes, file: mapping.path) }
        (layout, storages, views, tensors, metadata, skipped, tiedTensors) =
            (parsed.layout, parsed.storages, parsed.views, parsed.tensors, parsed.metadata, parsed.skipped, parsed.tied)
    }

    /// Reads bytes the caller keeps alive for the life of the checkpoint (they are not copied): for fuzzing.
    public init(bytes: UnsafeRawBufferPointer, file: String) throws {
        mapping = nil
        path = file
        self.bytes = bytes
        let parsed = try Parsed(bytes, file: file)
        (layout, storages, views, tensors, metadata, skipped, tiedTensors) =
            (parsed.layout, parsed.storages, parsed.views, parsed.tensors, parsed.metadata, parsed.skipped, parsed.tied)
    }

    /// Whether `head` (a file's first bytes) starts like a `torch.save` file: a zip's local header, or
    /// the legacy format's first pickle.
    public static func hasSignature(_ head: [UInt8]) -> Bool {
        head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: LegacyTorchFile.signature)
    }

    public func info(named name: String) -> TensorInfo? { views[name]?.info }

    /// The SHA-256 of the mapped file, without opening it again.
    public func sha256(of file: String) throws -> String {
        guard file == path, let mapping else { return try SHA256.hex(file: file) }
        return try SHA256.hex(mapping: mapping)
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let view = views[name] else { throw CheckpointError.tensor(name, in: path, "not in this checkpoint") }
        guard let mapping else { return try read(view, body) }
        let range = storages.fileRange(of: view.reference.storage.key)
        if releaseAfterRead, let range {
            mapping.adviseSequential(range)
            defer { mapping.release(range) }
            return try mapping.reading { try read(view, body) }
        }
        return try mapping.reading { try read(view, body) }
    }

    private func read<R>(_ view: TensorView, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try storages.withStorage(view.reference.storage.key, in: bytes) { storage in
            guard storage.count >= view.storageBytes else {
                throw CheckpointError.tensor(view.info.name, in: path, "needs \(view.storageBytes) bytes of storage '\(view.reference.storage.key)', which holds \(storage.count)")
            }
            if view.isContiguous {
                return try body(UnsafeRawBufferPointer(rebasing: storage[view.firstByte..<(view.firstByte + view.info.byteCount)]))
            }
            if let refusal = MemoryLimit.current().refusal(needing: view.info.byteCount, for: "a contiguous copy of its strided view") {
                throw CheckpointError.tensor(view.info.name, in: path, refusal)
            }
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(view.info.byteCount, 1), alignment: 64)
            defer { out.deallocate() }
            StridedCopy.gather(view.reference, elementSize: view.reference.dtype.elementSize, from: storage, into: out)
            return try body(UnsafeRawBufferPointer(rebasing: out[0..<view.info.byteCount]))
        }
    }
}

/// Where a checkpoint's storages are: entries of a zip, or ranges of a legacy file.
enum StorageSource {
    case zip(ZipArchive, prefix: String)
    case legacy([String: Range<Int>], file: String)

    func fileRange(of key: String) -> Range<Int>? {
        switch self {
        case .zip(let archive, let prefix):
            return archive.entry(named: prefix + "data/" + key).map { $0.dataOffset..<($0.dataOffset + $0.compressedSize) }
        case .legacy(let ranges, _): return ranges[key]
        }
    }

    /// The bytes of storage `key`, declared `size` bytes (nil when no such storage exists).
    func size(of key: String) -> Int? {
        switch self {
        case .zip(let archive, let prefix): archive.entry(named: prefix + "data/" + key)?.uncompressedSize
        case .legacy(let ranges, _): ranges[key]?.count
        }
    }

    func withStorage<R>(_ key: String, in bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        switch self {
        case .zip(let archive, let prefix):
            guard let entry = archive.entry(named: prefix + "data/" + key) else {
                throw CheckpointError(file: archive.file, object: "storage '\(key)'", "is missing from the archive")
            }
            return try archive.withContents(of: entry, body)
        case .legacy(let ranges, let file):
            guard let r = ranges[key], r.lowerBound >= 0, r.upperBound <= bytes.count else {
                throw CheckpointError(file: file, object: "storage '\(key)'", "is missing from the file")
            }
            return try body(UnsafeRawBufferPointer(rebasing: bytes[r]))
        }
    }
}

/// One tensor: its reference in the pickle, what it looks like as a Recast tensor, and where its
/// bytes lie in its storage.
struct TensorView {
    var reference: TorchTensorReference
    var info: TensorInfo
    /// The first and one past the last byte of the storage the view touches (equal when it is empty).
    var firstByte: Int
    var storageBytes: Int
    var isContiguous: Bool
}

/// Copying a strided view into a contiguous buffer, row-major.
enum StridedCopy {
    static func gather(_ t: TorchTensorReference, elementSize es: Int, from storage: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        guard let total = elementCount(of: t.shape), total > 0, let src = storage.baseAddress, let dst = out.baseAddress else { return }
        let rank = t.shape.count
        var index = [Int](repeating: 0, count: rank)
        var element = t.offset
        for n in 0..<total {
            (dst + n * es).copyMemory(from: src + element * es, byteCount: es)
            // Advance the multi-index, innermost first, keeping `element` in step.
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                element += t.strides[d]
                if index[d] < t.shape[d] { break }
                element -= t.strides[d] * t.shape[d]
                index[d] = 0
                d -= 1
            }
        }
    }
}
