import RecastCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The tensors of an HDF5 file: every numeric dataset, named by its path without the leading slash
/// (`layers/dense/vars/0`).
///
/// Recast reads HDF5 with its own parser of the file format (`Format/`), not the HDF5 C library: a
/// checkpoint is untrusted input, and every structure is bounds-checked, so a damaged or hostile file
/// ends in an `HDF5Error` naming the file and the object, never in a crash or a hang.
///
/// The file is mapped read-only and walked once, in name order, depth first. Only hard links are
/// followed: an object reachable by several names is listed once, soft links are not listed (their
/// targets are listed under their own names), and external links, which lead out of the file, are
/// never followed and appear in `skipped`. Datasets that are not tensors (strings, compound types
/// other than complex64, variable-length data, references, data needing a filter the reader lacks)
/// appear in `skipped` with the reason, and the rest of the file still reads.
///
/// `withBytes` hands out a view of the mapped file when the dataset is stored contiguously in
/// little-endian order, and otherwise assembles (decompresses, byte-swaps) the tensor into a buffer
/// that lives for the call.
public final class HDF5Store: TensorStore, @unchecked Sendable {
    // @unchecked: every stored property is immutable after `init`; the parsed file is only read.

    public let path: String
    public var format: CheckpointFormat { .hdf5 }
    /// `keras2`, `hf-tensorflow`, `keras-legacy`, `keras3` or `generic`; see `HDF5Layout`.
    public let layout: String
    public var files: [String] { [path] }
    /// Root attributes that are scalar strings (fixed- or variable-length), in name order.
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    public let skipped: [SkippedObject]

    private let mapping: MappedFile
    private let document: HDF5File
    private let entries: [String: Entry]

    struct Entry {
        var info: TensorInfo
        var layout: TensorLayout
        var dataset: HDF5Dataset
    }

    /// Opens `path` read-only, lists its tensors and detects its layout.
    public convenience init(path: String) throws {
        guard FileSystem.exists(path) else { throw CheckpointError(file: path, "does not exist") }
        try self.init(mapping: try MappedFile(path: path))
    }

    /// Reads a file already mapped (see `Checkpoint.open`, which maps each file once).
    public convenience init(mapping: MappedFile) throws {
        // The parser reads the mapping in place: a file cut or rewritten meanwhile is reported as such
        // (see `MappedFile.reading`), not as whatever the zeros it then read look like.
        do {
            try self.init(path: mapping.path, mapping: mapping)
        } catch {
            try mapping.checkUnchanged()
            throw error
        }
        try mapping.checkUnchanged()
    }

    private init(path: String, mapping: MappedFile) throws {
        self.path = path
        guard mapping.size > 0 else { throw CheckpointError(file: path, "not an HDF5 file: the file is empty") }
        guard Superblock.signaturePosition(in: mapping.bytes) != nil else {
            throw CheckpointError(file: path, "not an HDF5 file: no HDF5 signature at the start of the file or at any offset where a user block could end")
        }
        let site = Site(file: path, object: nil)
        let document = try site.parsing("reading the file's superblock") { try HDF5File(bytes: mapping.bytes) }
        let root = try site.at("/").parsing("reading the root group") { try document.object(at: document.rootAddress) }
        self.mapping = mapping
        self.document = document

        var walker = Walker(document: document)
        try site.at("/").parsing("listing the root group") { try walker.walk(root: root) }
        tensors = walker.entries.map(\.info)
        skipped = walker.skipped
        var index: [String: Entry] = [:]
        for entry in walker.entries { index[entry.info.name] = entry }
        entries = index

        // Metadata and layout are best effort: an attribute that cannot be read costs that entry, not the file.
        let attributes = (try? root.attributes()) ?? []
        var pairs: Metadata = []
        for attribute in attributes.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            guard attribute.shape == [], let value = (try? attribute.strings(in: document))?.first else { continue }
            pairs.append((key: attribute.name, value: value))
        }
        metadata = pairs
        let detected = try? HDF5Layout.detect(
            document: document, root: attributes, rootGroups: walker.rootGroups, tensorNames: walker.entries.map(\.info.name))
        layout = (detected ?? .generic).rawValue
        // Best effort stops at the work budget: a file that exhausted it is refused as a whole.
        if document.file.budget.exhausted {
            try site.parsing("reading the root group's attributes") { try document.file.budget.charge(0, "the root group's attributes") }
        }
    }

    /// Whether `path` is an HDF5 file: the signature at its start, or where a user block of 512, 1024,
    /// 2048, … bytes ends.
    public static func hasSignature(_ path: String) -> Bool {
        guard let mapping = try? MappedFile(path: path) else { return false }
        return hasSignature(in: mapping)
    }

    /// Whether a mapped file is an HDF5 file (see `hasSignature(_:)`); false when it changed meanwhile.
    public static func hasSignature(in mapping: MappedFile) -> Bool {
        (try? mapping.reading { Superblock.signaturePosition(in: mapping.bytes) != nil }) ?? false
    }

    public func info(named name: String) -> TensorInfo? { entries[name]?.info }

    /// The SHA-256 of the mapped file, without opening it again.
    public func sha256(of file: String) throws -> String {
        guard file == path else { return try SHA256.hex(file: file) }
        return try SHA256.hex(mapping: mapping)
    }

    /// Reads a tensor inside `MappedFile.reading`: a file cut or rewritten meanwhile is an error.
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try mapping.reading { try tensorBytes(of: name, body) }
    }

    /// The dataset of tensor `name`, the site errors name, and its byte count, checked against what the
    /// dataset's storage holds.
    private func checkedEntry(_ name: String) throws -> (Entry, Site, Int) {
        guard let entry = entries[name] else {
            throw CheckpointError(file: path, object: "tensor '\(name)'", "not in the checkpoint")
        }
        let site = Site(file: path, object: "/" + name)
        let count = entry.info.byteCount
        let stored = try site.parsing("reading the dataset") { try entry.dataset.byteCount() }
        guard stored == count else {
            throw site.failure("reading the dataset", "it holds \(stored) bytes, not the \(count) bytes listed")
        }
        return (entry, site, count)
    }

    private func tensorBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let (entry, site, count) = try checkedEntry(name)
        // Contiguous little-endian data is handed out in place, and its pages are given back afterwards.
        if entry.layout.conversion == .none,
           let view = try site.parsing("reading the dataset", { try document.contiguousBytes(entry.dataset) }), view.count == count {
            guard let base = view.baseAddress, let start = mapping.bytes.baseAddress else { return try body(view) }
            let range = (base - start)..<(base - start + view.count)
            mapping.adviseSequential(range)
            defer { mapping.release(range) }
            return try body(view)
        }
        // A damaged header can claim any size, and missing chunks read as fill values, so a claim beyond
        // the memory this process may use (address-space limit, cgroup, machine) would end in the
        // out-of-memory killer rather than in an error.
        if let message = MemoryLimit.current().refusal(needing: count, for: "its data (\(count) bytes)") {
            throw CheckpointError.tensor(entry.info.name, in: path, message + "; if the shape \(entry.info.shape) is not what the model has, the file is damaged")
        }
        // posix_memalign rather than `allocate`, which traps when memory runs out.
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, 64, max(count, 1)) == 0, let base = memory else {
            throw CheckpointError.tensor(entry.info.name, in: path, "needs \(count) bytes of memory, which could not be allocated")
        }
        defer { free(base) }
        let buffer = UnsafeMutableRawBufferPointer(start: base, count: count)
        if count > 0 {
            try site.parsing("reading the dataset") { try document.read(entry.dataset, into: buffer) }
            entry.layout.conversion.apply(to: buffer)
        }
        return try body(UnsafeRawBufferPointer(buffer))
    }
}

extension HDF5Store {
    /// The size of the pieces `streamBytes` hands out (rounded down to whole elements).
    static let pieceBytes = 8 << 20

    /// Hands the tensor's bytes to `consume` in consecutive non-empty pieces of whole elements (none for an
    /// empty tensor), without holding the
    /// whole tensor when it is not stored whole: unwritten storage and chunks are streamed as the fill
    /// value, chunked data slab by slab. Contiguous little-endian data goes through `withBytes` (a view
    /// of the file).
    public func streamBytes(of name: String, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        try streamBytes(of: name, pieceBytes: Self.pieceBytes, consume)
    }

    /// The same with pieces of at most `pieceBytes` bytes (at least one element): for tests and fuzzing,
    /// which make the slabs small.
    public func streamBytes(of name: String, pieceBytes: Int, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        let (entry, site, count) = try checkedEntry(name)
        // Nothing to hand out: no piece at all (every piece holds at least one element).
        if count == 0 { return }
        if entry.layout.conversion == .none, case .contiguous(.some, _) = entry.dataset.storage {
            return try withBytes(of: name) { try consume($0) }
        }
        let conversion = entry.layout.conversion
        var scratch: UnsafeMutableRawBufferPointer?
        defer { scratch?.deallocate() }
        // Inside `MappedFile.reading`, as `withBytes`: a file cut or rewritten meanwhile is an error, and
        // the pieces already handed out are discarded with the output they went to.
        try mapping.reading { try site.parsing("reading the dataset") {
            try document.stream(entry.dataset, pieceBytes: pieceBytes) { piece in
                guard conversion != .none else { return try consume(piece) }
                if scratch == nil || scratch!.count < piece.count {
                    scratch?.deallocate()
                    scratch = .allocate(byteCount: max(piece.count, 1), alignment: 64)
                }
                let buffer = UnsafeMutableRawBufferPointer(rebasing: scratch![0..<piece.count])
                buffer.copyMemory(from: piece)
                conversion.apply(to: buffer)
                try consume(UnsafeRawBufferPointer(buffer))
            }
        } }
    }
}

extension Site {
    /// Runs a step of the reader, turning a structural problem of the file into an `HDF5Error` that
    /// names the file, the object and the step.
    func parsing<R>(_ operation: @autoclosure () -> String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as FormatError {
            throw failure(operation(), error.description)
        }
    }
}
