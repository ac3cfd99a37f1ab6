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
    /// The file's work budget ran out (`WorkBudget`): the whole read stops, rather than skipping the
    /// object at hand and going on.
    var exhausted = false

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
    /// The work budget, the owners of blocks and the tables of parsed structures, shared by every copy
    /// of this value.
    let state: ReadState

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        state = ReadState(fileSize: bytes.count)
    }

    var budget: WorkBudget { state.budget }

    /// The absolute position of `view`, which must lie inside the file (a record or heap object read
    /// from it), so that it can be parsed with a `Cursor` of this file.
    func position(ofView view: UnsafeRawBufferPointer) throws -> Int {
        guard view.count > 0 else { return 0 }
        guard let base = bytes.baseAddress, let start = view.baseAddress, start >= base,
              start - base <= bytes.count - view.count else {
            throw FormatError("a block of \(view.count) bytes that does not lie in the file (internal check)")
        }
        return start - base
    }

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

/// What reading one file has cost so far, and what it may cost: every structure the reader parses
/// and every item it produces (a link, an attribute, a chunk record, a string) is charged here, so
/// the whole read of a file's metadata costs at most `limit` units (bytes and items), a bound
/// proportional to the file's size whatever the file does. Shared structures are parsed once
/// (`ReadState`'s tables), so a real file spends a small multiple of its metadata's size; a file
/// that makes many objects share or repeat structures runs out, with an error, instead of costing
/// minutes or gigabytes. Locked: a store may be read from several threads.
final class WorkBudget: @unchecked Sendable {
    /// Units each byte of the file buys.
    static let perByte = 16
    /// Units every file gets on top, so that small files are never short.
    static let constant = 16 << 20
    /// Units charged for each item produced, on top of its bytes.
    static let perItem = 16

    let fileSize: Int
    let limit: Int
    private let lock = RecursiveLock()
    private var spentUnits = 0
    private var exhaustedBy: String?

    init(fileSize: Int) {
        self.fileSize = fileSize
        let (scaled, overflow) = max(fileSize, 0).multipliedReportingOverflow(by: Self.perByte)
        limit = overflow ? Int.max / 2 : scaled + Self.constant
    }

    var spent: Int {
        lock.lock()
        defer { lock.unlock() }
        return spentUnits
    }

    /// Whether a charge has failed; every later charge fails too.
    var exhausted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return exhaustedBy != nil
    }

    /// Charges `units` for reading `what`; throws once the total passes the limit.
    func charge(_ units: Int, _ what: @autoclosure () -> String) throws {
        lock.lock()
        defer { lock.unlock() }
        let (total, overflow) = spentUnits.addingReportingOverflow(max(units, 0))
        spentUnits = overflow ? Int.max : total
        if exhaustedBy == nil, overflow || spentUnits > limit { exhaustedBy = what() }
        if let cause = exhaustedBy { throw Self.error(cause, limit: limit, fileSize: fileSize) }
    }

    /// Charges one item of `bytes` bytes.
    func chargeItem(_ bytes: Int, _ what: @autoclosure () -> String) throws {
        try charge(Self.perItem &+ max(bytes, 0), what())
    }

    static func error(_ cause: String, limit: Int, fileSize: Int) -> FormatError {
        var error = FormatError("reading \(cause) would take the work spent on the file's structures past \(limit) units (\(perByte) per byte of its \(fileSize) bytes, plus \(constant)): its objects share or repeat structures far more than a real file's do, so it is damaged or built to exhaust the reader")
        error.exhausted = true
        return error
    }
}

/// A table of what has been parsed, by address (or position), shared by every copy of a file's
/// `FileBytes`: each shared structure is parsed once however many objects refer to it. Failures are
/// kept too, so a damaged structure many objects refer to is not parsed again for each. Locked.
final class MemoTable<Key: Hashable, Value>: @unchecked Sendable {
    private let lock = RecursiveLock()
    private var values: [Key: Result<Value, FormatError>] = [:]

    /// The value for `key`, made by `make` the first time (outside the lock: making may consult other tables).
    func value(_ key: Key, orMake make: () throws -> Value) throws -> Value {
        lock.lock()
        let known = values[key]
        lock.unlock()
        if let known { return try known.get() }
        let result: Result<Value, FormatError>
        do {
            result = .success(try make())
        } catch let error as FormatError {
            result = .failure(error)
        }
        lock.lock()
        values[key] = result
        lock.unlock()
        return try result.get()
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return values.count
    }

    func removeAll() {
        lock.lock()
        let old = values
        values = [:]
        lock.unlock()
        _ = old  // released outside the lock
    }
}

/// Which structure owns each block that belongs to exactly one structure in a valid file (an object
/// header's continuation chunks, a B-tree's nodes, a group's symbol table nodes). A hostile file could
/// make many structures share one large block, so that each of them parses it again; claiming the
/// block for its first owner refuses that. Locked.
final class Owners: @unchecked Sendable {
    enum Kind: UInt8 { case continuation, v1Node, symbolNode, v2Node, linkStorage, attributeStorage }
    private struct Key: Hashable { var kind: Kind; var address: UInt64 }
    private let lock = RecursiveLock()
    private var owners: [Key: UInt64] = [:]

    /// Records `owner` as the owner of the block at `block`; returns the other owner it already has,
    /// if it has one (nil when it is free or already `owner`'s).
    func claim(_ kind: Kind, _ block: UInt64, for owner: UInt64) -> UInt64? {
        lock.lock()
        defer { lock.unlock() }
        let key = Key(kind: kind, address: block)
        if let known = owners[key], known != owner { return known }
        owners[key] = owner
        return nil
    }
}

/// Everything one reading of a file shares: the work budget, the owners of blocks, and the tables of
/// parsed structures (object headers, datatypes, heaps, link and attribute storages).
final class ReadState: @unchecked Sendable {
    let budget: WorkBudget
    let owners = Owners()
    /// Object header address → its messages.
    let headers = MemoTable<UInt64, HeaderMessages>()
    /// Position of a datatype message → the datatype.
    let datatypes = MemoTable<Int, HDF5Datatype>()
    /// Position of an attribute message → the attribute (its value a view into the file).
    let attributes = MemoTable<Int, HDF5Attribute>()
    /// Object header address → the object's attributes (compact, then dense).
    let objectAttributes = MemoTable<UInt64, [HDF5Attribute]>()
    /// Dense attribute storage (fractal heap, name index) → its attributes.
    let denseAttributes = MemoTable<[UInt64], [HDF5Attribute]>()
    /// Link storage (symbol table B-tree and heap, or fractal heap and name index) → its links.
    let links = MemoTable<[UInt64], [HDF5Link]>()
    let fractalHeaps = MemoTable<UInt64, FractalHeap>()
    let localHeaps = MemoTable<UInt64, LocalHeap>()
    /// Global heap collection address → object index → (absolute position, size).
    let globalHeaps = MemoTable<UInt64, [UInt16: (position: Int, size: Int)]>()

    init(fileSize: Int) { budget = WorkBudget(fileSize: fileSize) }

    /// Empties the tables. Some of their values (heaps) hold the file's `FileBytes`, and so this state:
    /// the owner of a file's reading (`HDF5File`) calls this when it goes, or the cycle would leak.
    func clear() {
        headers.removeAll()
        datatypes.removeAll()
        attributes.removeAll()
        objectAttributes.removeAll()
        denseAttributes.removeAll()
        links.removeAll()
        fractalHeaps.removeAll()
        localHeaps.removeAll()
        globalHeaps.removeAll()
    }
}

/// An object header's messages, and the first of each type (for shared-message references).
struct HeaderMessages {
    var messages: [RawMessage]
    var firstOfType: [UInt16: RawMessage]

    init(_ messages: [RawMessage]) {
        self.messages = messages
        var first: [UInt16: RawMessage] = [:]
        for message in messages where first[message.type] == nil { first[message.type] = message }
        firstOfType = first
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
        try file.budget.charge(count, what)
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
