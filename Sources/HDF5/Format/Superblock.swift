// II.A Superblock: where the file starts (after any user block), the sizes of addresses and lengths,
// the end-of-file address and where the root group is.

/// What the superblock says, once it has been found and checked.
struct Superblock: Sendable {
    /// 0...3.
    var version: UInt8
    /// Absolute position of the superblock (and of address 0).
    var position: Int
    var offsetSize: Int
    var lengthSize: Int
    /// End-of-file address (relative to the base).
    var endOfFile: UInt64
    /// Object header address of the root group.
    var rootAddress: UInt64
    /// Versions 0/1: the root symbol table entry's cached B-tree and local heap addresses, if any.
    var rootCachedSymbolTable: (btree: UInt64, heap: UInt64)?

    static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]

    /// Finds the signature at 0, 512, 1024, 2048, … and reads the superblock there.
    static func locate(in bytes: UnsafeRawBufferPointer) throws -> Superblock {
        guard let position = signaturePosition(in: bytes) else {
            throw FormatError("this is not an HDF5 file: no HDF5 signature at byte 0, 512, 1024, 2048, …")
        }
        return try read(bytes, at: position)
    }

    /// Where the signature is: at 0, or where a user block of 512, 1024, 2048, … bytes ends.
    static func signaturePosition(in bytes: UnsafeRawBufferPointer) -> Int? {
        var position = 0
        var probes = 0
        while probes < 64, position <= bytes.count - signature.count {
            probes += 1
            if UnsafeRawBufferPointer(rebasing: bytes[position..<(position + signature.count)]).elementsEqual(signature) {
                return position
            }
            guard position <= Int.max / 2 else { break }
            position = position == 0 ? 512 : position * 2
        }
        return nil
    }

    private static func sizeField(_ value: UInt8, _ what: String, at position: Int) throws -> Int {
        guard value == 2 || value == 4 || value == 8 else {
            throw FormatError("the superblock gives a size of \(what) of \(value) bytes; only 2, 4 and 8 are valid", at: position)
        }
        return Int(value)
    }

    private static func read(_ bytes: UnsafeRawBufferPointer, at position: Int) throws -> Superblock {
        var file = FileBytes(bytes)
        file.base = position
        var cursor = try file.cursor(at: 0)
        try cursor.skip(8)
        let versionPosition = cursor.position
        let version = try cursor.u8()
        switch version {
        case 0, 1:
            try cursor.skip(4)  // free-space, root symbol table entry, reserved, shared header versions
            let sizesAt = cursor.position
            file.offsetSize = try sizeField(try cursor.u8(), "offsets", at: sizesAt)
            file.lengthSize = try sizeField(try cursor.u8(), "lengths", at: sizesAt + 1)
            try cursor.skip(1)
            try cursor.skip(4)  // group leaf / internal node K
            try cursor.skip(4)  // file consistency flags
            if version == 1 { try cursor.skip(4) }  // indexed storage internal node K, reserved
            // Base, free-space info, end of file, driver info block. The base is taken to be the
            // superblock's position, as libhdf5 does when the two disagree.
            cursor = Cursor(file: file, position: cursor.position, end: cursor.end)
            _ = try cursor.uint(file.offsetSize)
            _ = try cursor.address()
            let eofAt = cursor.position
            let eof = try cursor.uint(file.offsetSize)
            _ = try cursor.address()
            // Root group symbol table entry (III.C).
            _ = try cursor.uint(file.offsetSize)  // link name offset
            let rootAt = cursor.position
            guard let root = try cursor.address() else {
                throw FormatError("the superblock's root group entry has no object header address", at: rootAt)
            }
            let cacheType = try cursor.u32()
            try cursor.skip(4)
            var cached: (UInt64, UInt64)?
            if cacheType == 1 {
                let btree = try cursor.uint(file.offsetSize)
                let heap = try cursor.uint(file.offsetSize)
                cached = (btree, heap)
            }
            try checkEnd(eof, file: file, at: eofAt)
            return Superblock(version: version, position: position, offsetSize: file.offsetSize,
                              lengthSize: file.lengthSize, endOfFile: eof, rootAddress: root,
                              rootCachedSymbolTable: cached)
        case 2, 3:
            let sizesAt = cursor.position
            file.offsetSize = try sizeField(try cursor.u8(), "offsets", at: sizesAt)
            file.lengthSize = try sizeField(try cursor.u8(), "lengths", at: sizesAt + 1)
            try cursor.skip(1)  // file consistency flags
            cursor = Cursor(file: file, position: cursor.position, end: cursor.end)
            _ = try cursor.uint(file.offsetSize)  // base address
            _ = try cursor.address()  // superblock extension address
            let eofAt = cursor.position
            let eof = try cursor.uint(file.offsetSize)
            let rootAt = cursor.position
            guard let root = try cursor.address() else {
                throw FormatError("the superblock has no root group object header address", at: rootAt)
            }
            let length = cursor.position - position
            try Lookup3.verify(file, block: position, count: length, what: "the superblock")
            try checkEnd(eof, file: file, at: eofAt)
            return Superblock(version: version, position: position, offsetSize: file.offsetSize,
                              lengthSize: file.lengthSize, endOfFile: eof, rootAddress: root,
                              rootCachedSymbolTable: nil)
        default:
            throw FormatError("superblock version \(version) is not supported (only 0 to 3)", at: versionPosition)
        }
    }

    /// A file shorter than its end-of-file address says has been truncated. libhdf5 writes the
    /// end-of-file address counting the user block too (and compares it with the whole file's size).
    private static func checkEnd(_ eof: UInt64, file: FileBytes, at position: Int) throws {
        guard eof <= UInt64(file.count) else {
            throw FormatError("the file is truncated: its superblock says it ends at byte \(eof) but the file has \(file.count) bytes", at: position)
        }
    }
}
