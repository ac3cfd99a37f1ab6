// Bounded, read-only access to the bytes of an HDF5 file, for Recast's own HDF5 reader.
//
// Every read goes through `Cursor`, which checks bounds and throws `FormatError` instead of trapping:
// the file is untrusted input, and a damaged or hostile file must end in an error, never a crash.
// Addresses inside the file are relative to the superblock's base address, as the format defines them.

/// A structural problem in an HDF5 file: where (a byte offset, when known) and what is wrong.
/// The store turns it into an `HDF5Error` that names the file and the HDF5 object.
struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Absolute byte offset in the file where the problem was found, when known.
    var offset: Int?
    var reason: String

    init(_ reason: String, at offset: Int? = nil) {
        self.reason = reason
        self.offset = offset
    }

    var description: String { offset.map { "\(reason) (at byte \($0))" } ?? reason }
}

/// The bytes of a whole file plus the sizes its superblock fixes.
struct FileBytes: @unchecked Sendable {
    // @unchecked: `bytes` views a read-only mapping that outlives every reader.
    let bytes: UnsafeRawBufferPointer
    /// Bytes per address ("size of offsets"): 2, 4 or 8.
    var offsetSize: Int = 8
    /// Bytes per length ("size of lengths"): 2, 4 or 8.
    var lengthSize: Int = 8
    /// Absolute position of address 0 (the superblock's base address, after any user block).
    var base: Int = 0
    /// Shared messages already found, for every copy of this value (see `SharedMessages`).
    let sharedMessages = SharedMessages()
    /// Which object header each continuation chunk belongs to (see `ContinuationOwners`).
    let continuationOwners = ContinuationOwners()

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var count: Int { bytes.count }

    /// The absolute position of `address`, checked to lie in the file.
    func position(of address: UInt64) throws -> Int {
        guard address <= UInt64(Int.max - base), base + Int(address) <= bytes.count else {
            throw FormatError("address \(address) lies beyond the end of the file (\(bytes.count) bytes)")
        }
        return base + Int(address)
    }

    /// A cursor at `address` that may read up to the end of the file (or `count` bytes when given).
    func cursor(at address: UInt64, count: Int? = nil) throws -> Cursor {
        let start = try position(of: address)
        var end = bytes.count
        if let count {
            guard count >= 0, count <= bytes.count - start else {
                throw FormatError("a block of \(count) bytes at address \(address) runs past the end of the file", at: start)
            }
            end = start + count
        }
        return Cursor(file: self, position: start, end: end)
    }

    /// `count` bytes at `address`, as a view into the file.
    func view(at address: UInt64, count: Int) throws -> UnsafeRawBufferPointer {
        var cursor = try cursor(at: address, count: count)
        return try cursor.bytes(count)
    }

    /// The all-ones address the format uses for "not allocated".
    var undefinedAddress: UInt64 { offsetSize == 8 ? .max : (UInt64(1) << UInt64(offsetSize * 8)) - 1 }
}

/// The messages that shared-message references have led to, by object header address and type, so
/// that a header many objects refer to is parsed once. Locked: a store may be read from several threads.
final class SharedMessages: @unchecked Sendable {
    private let lock = RecursiveLock()
    private var found: [UInt64: [UInt16: RawMessage]] = [:]
    private var count = 0

    func message(at address: UInt64, type: UInt16) -> RawMessage? {
        lock.lock()
        defer { lock.unlock() }
        return found[address]?[type]
    }

    /// Keeps `message` (a view into the file, so cheap), up to a bound on the number kept.
    func remember(_ message: RawMessage, at address: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        guard count < 1 << 16 else { return }
        found[address, default: [:]][message.type] = message
        count += 1
    }
}

/// The object header each continuation chunk was first reached from. In a valid file a chunk belongs
/// to exactly one header; a damaged one could make many headers share one large chunk. Locked like
/// `SharedMessages`.
final class ContinuationOwners: @unchecked Sendable {
    private let lock = RecursiveLock()
    private var owners: [UInt64: UInt64] = [:]

    /// Records `header` as the owner of the chunk at `chunk`; returns the other header that already
    /// owns it, if one does (nil when it is free or already `header`'s).
    func claim(_ chunk: UInt64, for header: UInt64) -> UInt64? {
        lock.lock()
        defer { lock.unlock() }
        if let owner = owners[chunk], owner != header { return owner }
        owners[chunk] = header
        return nil
    }
}

/// A position in the file with a limit; reads advance it and throw at the limit.
struct Cursor {
    let file: FileBytes
    /// Absolute position of the next read.
    var position: Int
    /// Absolute position reads may not pass.
    let end: Int

    var remaining: Int { end - position }

    private func need(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count >= 0, count <= end - position else {
            throw FormatError("\(what()) needs \(count) bytes but only \(max(end - position, 0)) remain", at: position)
        }
    }

    mutating func skip(_ count: Int) throws {
        try need(count, "skipping")
        position += count
    }

    mutating func u8() throws -> UInt8 {
        try need(1, "a 1-byte field")
        defer { position += 1 }
        return file.bytes[position]
    }

    /// An unsigned little-endian integer of `size` bytes (1...8).
    mutating func uint(_ size: Int) throws -> UInt64 {
        guard (1...8).contains(size) else { throw FormatError("an integer field of \(size) bytes", at: position) }
        try need(size, "a \(size)-byte field")
        var value: UInt64 = 0
        for k in 0..<size { value |= UInt64(file.bytes[position + k]) << UInt64(8 * k) }
        position += size
        return value
    }

    mutating func u16() throws -> UInt16 { UInt16(try uint(2)) }
    mutating func u32() throws -> UInt32 { UInt32(try uint(4)) }
    mutating func u64() throws -> UInt64 { try uint(8) }

    /// An address ("offset") field; nil when it is the undefined address.
    mutating func address() throws -> UInt64? {
        let value = try uint(file.offsetSize)
        return value == file.undefinedAddress ? nil : value
    }

    /// A length field.
    mutating func length() throws -> UInt64 { try uint(file.lengthSize) }

    /// A length field that must fit in memory-sized arithmetic (`Int`), checked against `limit`.
    mutating func length(atMost limit: Int, _ what: @autoclosure () -> String) throws -> Int {
        let start = position
        let value = try length()
        guard value <= UInt64(limit) else { throw FormatError("\(what()) of \(value) is larger than \(limit)", at: start) }
        return Int(value)
    }

    /// `count` bytes as a view into the file.
    mutating func bytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        try need(count, "a field of \(count) bytes")
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: file.bytes[position..<(position + count)])
    }

    /// Checks a 4-byte ASCII signature such as `OHDR`.
    mutating func expect(signature: String) throws {
        let start = position
        let found = try bytes(4)
        guard found.elementsEqual(signature.utf8) else {
            throw FormatError("expected the signature '\(signature)' but found \(Array(found))", at: start)
        }
    }

    /// A NUL-terminated string of at most `limit` bytes (the NUL consumed, not included).
    mutating func cString(limit: Int = 1 << 16) throws -> String {
        let start = position
        var k = position
        let stop = min(end, position + limit)
        while k < stop, file.bytes[k] != 0 { k += 1 }
        guard k < stop else { throw FormatError("a name without its terminating NUL within \(limit) bytes", at: start) }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: file.bytes[position..<k]), as: UTF8.self)
        position = k + 1
        return text
    }

    /// Advances to the next multiple of `alignment` counted from `origin` (an absolute position).
    mutating func align(_ alignment: Int, from origin: Int) throws {
        let offset = (position - origin) % alignment
        if offset != 0 { try skip(alignment - offset) }
    }

    /// A cursor over the next `count` bytes (this one skips past them).
    mutating func sub(_ count: Int) throws -> Cursor {
        try need(count, "a block of \(count) bytes")
        defer { position += count }
        return Cursor(file: file, position: position, end: position + count)
    }
}

/// Jenkins' lookup3 `hashlittle`, the checksum of HDF5's version-2 metadata (superblock v2/v3,
/// object header v2, B-tree v2, fractal heap, fixed and extensible arrays), read byte by byte.
enum Lookup3 {
    static func hash(_ key: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        var length = key.count
        var a: UInt32 = 0xdead_beef &+ UInt32(truncatingIfNeeded: length) &+ initial
        var b = a
        var c = a
        var k = 0
        func word(_ at: Int) -> UInt32 {
            UInt32(key[at]) | UInt32(key[at + 1]) << 8 | UInt32(key[at + 2]) << 16 | UInt32(key[at + 3]) << 24
        }
        func rot(_ x: UInt32, _ r: UInt32) -> UInt32 { (x << r) | (x >> (32 - r)) }
        while length > 12 {
            a = a &+ word(k)
            b = b &+ word(k + 4)
            c = c &+ word(k + 8)
            a = a &- c; a ^= rot(c, 4); c = c &+ b
            b = b &- a; b ^= rot(a, 6); a = a &+ c
            c = c &- b; c ^= rot(b, 8); b = b &+ a
            a = a &- c; a ^= rot(c, 16); c = c &+ b
            b = b &- a; b ^= rot(a, 19); a = a &+ c
            c = c &- b; c ^= rot(b, 4); b = b &+ a
            length -= 12
            k += 12
        }
        if length == 0 { return c }
        // The last 1...12 bytes, each into its lane of a, b or c.
        for j in 0..<length {
            let byte = UInt32(key[k + j]) << UInt32(8 * (j % 4))
            switch j / 4 {
            case 0: a = a &+ byte
            case 1: b = b &+ byte
            default: c = c &+ byte
            }
        }
        c ^= b; c = c &- rot(b, 14)
        a ^= c; a = a &- rot(c, 11)
        b ^= a; b = b &- rot(a, 25)
        c ^= b; c = c &- rot(b, 16)
        a ^= c; a = a &- rot(c, 4)
        b ^= a; b = b &- rot(a, 14)
        c ^= b; c = c &- rot(b, 24)
        return c
    }

    /// Checks the 4-byte little-endian checksum stored right after `block`.
    static func verify(_ file: FileBytes, block start: Int, count: Int, what: String) throws {
        guard start >= 0, count >= 0, count <= file.count - start, file.count - start - count >= 4 else {
            throw FormatError("\(what) runs past the end of the file", at: start)
        }
        let stored = UInt32(file.bytes[start + count]) | UInt32(file.bytes[start + count + 1]) << 8
            | UInt32(file.bytes[start + count + 2]) << 16 | UInt32(file.bytes[start + count + 3]) << 24
        let computed = hash(UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + count)]))
        guard stored == computed else {
            throw FormatError("\(what) fails its checksum: the file is damaged", at: start)
        }
    }
}

// MARK: descriptions shared between the object-header parser and the storage readers

/// One filter of a dataset's pipeline (filter pipeline message).
struct FilterDescription: Sendable, Equatable {
    /// 1 deflate, 2 shuffle, 3 fletcher32, 4 szip, 5 nbit, 6 scaleoffset; ≥ 256 third party.
    var id: UInt16
    /// Bit 0: optional (a chunk may skip it; the chunk's filter mask says which were skipped).
    var flags: UInt16
    var name: String?
    var values: [UInt32]

    var isOptional: Bool { flags & 1 != 0 }
}

/// Where a chunked dataset's chunk index lives and what kind it is (data layout message v3/v4).
enum ChunkIndex: Sendable, Equatable {
    /// Layout v1–v3 and v4 index type 0: a version-1 B-tree of type 1.
    case v1BTree(address: UInt64?)
    /// v4 type 1: one chunk covering the dataset; filtered chunks carry their stored size and mask.
    case singleChunk(address: UInt64?, filteredSize: UInt64?, filterMask: UInt32)
    /// v4 type 2: chunks stored back to back, unfiltered, in row-major chunk order.
    case implicit(address: UInt64?)
    /// v4 type 3: fixed array header address; `pageBits` from the layout message.
    case fixedArray(address: UInt64?, pageBits: UInt8)
    /// v4 type 4: extensible array header address and its creation parameters.
    case extensibleArray(address: UInt64?, maxBits: UInt8, indexElements: UInt8, minPointers: UInt8, minElements: UInt8, pageBits: UInt8)
    /// v4 type 5: version-2 B-tree header address (record type 10 unfiltered, 11 filtered).
    case v2BTree(address: UInt64?, nodeSize: UInt32, splitPercent: UInt8, mergePercent: UInt8)
}

/// A chunk found in an index: where it starts in the dataset (in elements, per dimension), where its
/// bytes are, how many are stored, and which optional filters were skipped for it.
struct ChunkRecord: Sendable, Equatable {
    var offsets: [UInt64]
    var address: UInt64
    var storedSize: UInt64
    var filterMask: UInt32
}
