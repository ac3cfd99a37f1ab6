// Fractal heaps (spec III.G): header `FRHP`, indirect blocks `FHIB`, direct blocks `FHDB`.
// The managed space is a doubling table: rows of `tableWidth` blocks, the first two rows of the
// starting block size, each further row twice the size of the one before; rows up to the maximum
// direct block size hold direct blocks, larger rows hold indirect blocks with rows of their own.

/// Fractal heap (spec III.G): looks up objects by heap ID.
struct FractalHeap {
    let file: FileBytes
    /// Address of the header.
    let address: UInt64
    /// Bytes in each heap ID.
    let idLength: Int
    /// Length of the encoded I/O filter pipeline; nonzero means the heap's blocks may be filtered.
    let filterInfoLength: Int
    /// Bit 1 of the header flags: direct blocks carry a checksum.
    let directBlocksChecksummed: Bool
    let maxManagedObjectSize: UInt32
    let hugeObjectTree: UInt64?
    let tableWidth: UInt64
    let startingBlockSize: UInt64
    let maxDirectBlockSize: UInt64
    /// log2 of the heap's address space ("maximum heap size").
    let maxHeapBits: Int
    let rootAddress: UInt64?
    /// Rows in the root indirect block; 0 means the root is a direct block.
    let rootRows: Int

    /// Bytes of heap offsets (in managed IDs and block headers).
    let heapOffsetSize: Int
    /// Bytes of object lengths in managed IDs.
    let heapLengthSize: Int
    /// Rows of an indirect block that hold direct blocks.
    let maxDirectRows: Int
    /// log2(startingBlockSize × tableWidth).
    let firstRowBits: Int
    /// Most rows the root indirect block may have.
    let maxRootRows: Int
    /// Huge object IDs hold the address and length directly (no B-tree lookup).
    let hugeIDsDirect: Bool
    /// Bytes of the huge object ID proper when it is looked up in the B-tree.
    let hugeIDSize: Int
    /// What earlier lookups learned: direct blocks whose checksum passed, the huge-object index.
    private let memo = Memo()

    private final class Memo {
        /// Address → size of direct blocks whose checksum passed.
        var verifiedDirectBlocks: [UInt64: UInt64] = [:]
        /// Huge object ID → (address, length), from the huge-object B-tree, read once.
        var hugeObjects: [UInt64: (UInt64, UInt64)]?
        /// Indirect blocks already read and checked, by address, with the rows and heap offset they were
        /// read for: every lookup walks from the root, and a root block can hold megabytes of entries.
        var indirectBlocks: [UInt64: (rows: Int, blockOffset: UInt64, entries: [UInt64?], start: Int)] = [:]
        /// Entries held in `indirectBlocks`, kept within what the file itself could hold.
        var cachedEntries = 0
    }

    /// The heap whose header is at `address`, read once per file (with what its lookups learn).
    static func at(_ address: UInt64, in file: FileBytes) throws -> FractalHeap {
        try file.state.fractalHeaps.value(address) { try FractalHeap(at: address, in: file) }
    }

    /// FRHP header, checked.
    init(at address: UInt64, in file: FileBytes) throws {
        self.file = file
        self.address = address
        var cursor = try file.cursor(at: address)
        let start = cursor.position
        try cursor.expect(signature: "FRHP")
        let version = try cursor.u8()
        guard version == 0 else { throw FormatError("fractal heap version \(version) is not supported (only 0)", at: start) }
        idLength = Int(try cursor.u16())
        filterInfoLength = Int(try cursor.u16())
        let flags = try cursor.u8()
        directBlocksChecksummed = flags & 2 != 0
        maxManagedObjectSize = try cursor.u32()
        _ = try cursor.length()                 // next huge object ID
        hugeObjectTree = try cursor.address()
        _ = try cursor.length()                 // free space in managed blocks
        _ = try cursor.address()                // free-space manager
        _ = try cursor.length()                 // managed space
        _ = try cursor.length()                 // allocated managed space
        _ = try cursor.length()                 // direct block allocation iterator
        _ = try cursor.length()                 // managed objects
        _ = try cursor.length()                 // huge object size
        _ = try cursor.length()                 // huge objects
        _ = try cursor.length()                 // tiny object size
        _ = try cursor.length()                 // tiny objects
        tableWidth = UInt64(try cursor.u16())
        startingBlockSize = try cursor.length()
        maxDirectBlockSize = try cursor.length()
        maxHeapBits = Int(try cursor.u16())
        _ = try cursor.u16()                    // starting rows of the root indirect block
        rootAddress = try cursor.address()
        rootRows = Int(try cursor.u16())
        if filterInfoLength > 0 {
            _ = try cursor.length()             // size of the filtered root direct block
            _ = try cursor.u32()                // its filter mask
            try cursor.skip(filterInfoLength)
        }
        try Lookup3.verify(file, block: start, count: cursor.position - start, what: "the fractal heap header at address \(address)")

        func bad(_ why: String) -> FormatError { FormatError("the fractal heap at address \(address) \(why)", at: start) }
        guard idLength >= 1 else { throw bad("has heap IDs of 0 bytes") }
        guard Checked.isPowerOfTwo(tableWidth) else { throw bad("has a table width of \(tableWidth); it must be a power of two") }
        guard Checked.isPowerOfTwo(startingBlockSize) else { throw bad("has a starting block size of \(startingBlockSize); it must be a power of two") }
        guard Checked.isPowerOfTwo(maxDirectBlockSize), maxDirectBlockSize >= startingBlockSize else {
            throw bad("has a maximum direct block size of \(maxDirectBlockSize); it must be a power of two ≥ the starting block size \(startingBlockSize)")
        }
        guard maxDirectBlockSize <= UInt64(file.count) || maxDirectBlockSize <= 1 << 16 else {
            throw bad("has direct blocks of up to \(maxDirectBlockSize) bytes, more than the file holds")
        }
        guard (1...64).contains(maxHeapBits) else { throw bad("has a maximum heap size of 2^\(maxHeapBits); it must be 2^1 to 2^64") }
        firstRowBits = Checked.log2(startingBlockSize) + Checked.log2(tableWidth)
        guard firstRowBits <= maxHeapBits else {
            throw bad("has a first row of 2^\(firstRowBits) bytes, larger than its maximum heap size 2^\(maxHeapBits)")
        }
        maxDirectRows = Checked.log2(maxDirectBlockSize) - Checked.log2(startingBlockSize) + 2
        maxRootRows = maxHeapBits - firstRowBits + 1
        guard rootRows <= maxRootRows else {
            throw bad("has a root indirect block of \(rootRows) rows but the heap allows at most \(maxRootRows)")
        }
        heapOffsetSize = (maxHeapBits + 7) / 8
        heapLengthSize = min((Checked.log2(maxDirectBlockSize) + 7) / 8, Checked.encodedSize(UInt64(maxManagedObjectSize)))
        if filterInfoLength > 0 {
            hugeIDsDirect = idLength - 1 >= file.offsetSize + 2 * file.lengthSize + 4
        } else {
            hugeIDsDirect = idLength - 1 >= file.offsetSize + file.lengthSize
        }
        hugeIDSize = min(idLength - 1, 8)
    }

    /// The object a heap ID names: managed (in a direct block, through the indirect blocks),
    /// tiny (inside the ID) or huge (through the heap's huge-object v2 B-tree, types 1-4; filtered
    /// huge objects may throw "not supported"). `limit` bounds the size accepted. The object is a view
    /// into the file (`id` must be one too, as B-tree records are).
    func object(_ id: UnsafeRawBufferPointer, limit: Int) throws -> UnsafeRawBufferPointer {
        guard limit >= 0 else { throw FormatError("a negative size limit for a heap object") }
        guard id.count == idLength else {
            throw FormatError("a heap ID of \(id.count) bytes for the fractal heap at address \(address), whose IDs have \(idLength)")
        }
        let flags = id[0]
        guard flags >> 6 == 0 else { throw FormatError("heap ID version \(flags >> 6) is not supported (only 0)") }
        switch (flags >> 4) & 3 {
        case 0: return try managedObject(id, limit: limit)
        case 1: return try hugeObject(id, limit: limit)
        case 2: return try tinyObject(id, limit: limit)
        default: throw FormatError("a heap ID of unknown type 3 for the fractal heap at address \(address)")
        }
    }

    // MARK: tiny objects: the bytes are inside the ID.

    private func tinyObject(_ id: UnsafeRawBufferPointer, limit: Int) throws -> UnsafeRawBufferPointer {
        let extended = idLength - 1 > 16
        let length: Int
        let start: Int
        if extended {
            guard id.count >= 2 else { throw FormatError("a tiny heap ID too short for its length field") }
            length = (Int(id[0] & 0x0f) << 8 | Int(id[1])) + 1
            start = 2
        } else {
            length = Int(id[0] & 0x0f) + 1
            start = 1
        }
        guard length <= id.count - start else {
            throw FormatError("a tiny heap object of \(length) bytes does not fit in its \(id.count)-byte heap ID")
        }
        guard length <= limit else { throw FormatError("a heap object of \(length) bytes is larger than the \(limit) accepted") }
        return UnsafeRawBufferPointer(rebasing: id[start..<(start + length)])
    }

    // MARK: huge objects: stored on their own, found through the ID or the heap's B-tree.

    private func hugeObject(_ id: UnsafeRawBufferPointer, limit: Int) throws -> UnsafeRawBufferPointer {
        let objectAddress: UInt64
        let objectLength: UInt64
        if hugeIDsDirect {
            guard filterInfoLength == 0 else {
                throw FormatError("filtered huge objects in the fractal heap at address \(address) are not supported")
            }
            objectAddress = try id.littleEndian(at: 1, size: file.offsetSize)
            objectLength = try id.littleEndian(at: 1 + file.offsetSize, size: file.lengthSize)
        } else {
            guard let treeAddress = hugeObjectTree else {
                throw FormatError("a huge object ID in the fractal heap at address \(address), which has no huge-object B-tree")
            }
            let wanted = try id.littleEndian(at: 1, size: hugeIDSize)
            let tree = try V2BTree(at: treeAddress, in: file)
            switch tree.type {
            case 1:
                let expected = file.offsetSize + 2 * file.lengthSize
                guard tree.recordSize == expected else {
                    throw FormatError("huge-object B-tree records of \(tree.recordSize) bytes; type 1 records have \(expected)")
                }
                if memo.hugeObjects == nil {
                    var index: [UInt64: (UInt64, UInt64)] = [:]
                    for record in try tree.records() {
                        let recordID = try record.littleEndian(at: file.offsetSize + file.lengthSize, size: file.lengthSize)
                        index[recordID] = (try record.littleEndian(at: 0, size: file.offsetSize),
                                           try record.littleEndian(at: file.offsetSize, size: file.lengthSize))
                    }
                    memo.hugeObjects = index
                }
                guard let (recordAddress, recordLength) = memo.hugeObjects?[wanted] else {
                    throw FormatError("huge object \(wanted) is not in the huge-object B-tree of the fractal heap at address \(address)")
                }
                objectAddress = recordAddress
                objectLength = recordLength
            case 2, 4:
                throw FormatError("filtered huge objects (B-tree record type \(tree.type)) in the fractal heap at address \(address) are not supported")
            default:
                throw FormatError("the huge-object B-tree of the fractal heap at address \(address) has record type \(tree.type); indirectly accessed huge objects use type 1 or 2")
            }
        }
        guard objectLength <= UInt64(limit) else {
            throw FormatError("a huge heap object of \(objectLength) bytes is larger than the \(limit) accepted")
        }
        return try file.view(at: objectAddress, count: Int(objectLength))
    }

    // MARK: managed objects: inside direct blocks of the doubling table.

    /// Bytes each block of `row` spans.
    private func rowBlockSize(_ row: Int) throws -> UInt64 {
        guard row >= 1 else { return startingBlockSize }
        guard row - 1 < 64 - Checked.log2(startingBlockSize) else { throw FormatError("fractal heap row \(row) is beyond 64-bit offsets") }
        return startingBlockSize << UInt64(row - 1)
    }

    /// Heap offset of the first block of `row`, relative to the start of its indirect block.
    private func rowOffset(_ row: Int) throws -> UInt64 {
        guard row >= 1 else { return 0 }
        return try Checked.multiply(try rowBlockSize(row), tableWidth, "a fractal heap row offset")
    }

    private func managedObject(_ id: UnsafeRawBufferPointer, limit: Int) throws -> UnsafeRawBufferPointer {
        guard filterInfoLength == 0 else {
            throw FormatError("objects in the filtered fractal heap at address \(address) are not supported")
        }
        let offset = try id.littleEndian(at: 1, size: heapOffsetSize)
        let length = try id.littleEndian(at: 1 + heapOffsetSize, size: heapLengthSize)
        guard length <= UInt64(limit) else {
            throw FormatError("a heap object of \(length) bytes is larger than the \(limit) accepted")
        }
        guard let root = rootAddress else {
            throw FormatError("a heap ID points into the fractal heap at address \(address), which has no blocks")
        }
        if rootRows == 0 {
            return try objectInDirectBlock(at: root, blockOffset: 0, blockSize: startingBlockSize, offset: offset, length: Int(length))
        }
        var blockAddress = root
        var blockOffset: UInt64 = 0
        var rows = rootRows
        for _ in 0..<64 {
            let (entries, headerStart) = try indirectBlock(at: blockAddress, rows: rows, blockOffset: blockOffset)
            guard offset >= blockOffset else {
                throw FormatError("heap offset \(offset) lies before its indirect block at offset \(blockOffset)", at: headerStart)
            }
            let relative = offset - blockOffset
            let row: Int
            let column: UInt64
            let firstRowSpan = try Checked.multiply(startingBlockSize, tableWidth, "the fractal heap's first row")
            if relative < firstRowSpan {
                row = 0
                column = relative / startingBlockSize
            } else {
                let highBit = Checked.log2(relative)
                row = highBit - firstRowBits + 1
                column = (relative - (UInt64(1) << UInt64(highBit))) / (try rowBlockSize(row))
            }
            guard row < rows, column < tableWidth else {
                throw FormatError("heap offset \(offset) lies beyond the \(rows) rows of the indirect block at address \(blockAddress)", at: headerStart)
            }
            let childOffset = try Checked.add(blockOffset, try Checked.add(try rowOffset(row), try Checked.multiply(column, try rowBlockSize(row), "a fractal heap block offset"), "a fractal heap block offset"), "a fractal heap block offset")
            let entry = row * Int(tableWidth) + Int(column)
            guard entry < entries.count, let child = entries[entry] else {
                throw FormatError("heap offset \(offset) lies in a block of the fractal heap at address \(address) that was never allocated", at: headerStart)
            }
            if row < maxDirectRows {
                return try objectInDirectBlock(at: child, blockOffset: childOffset, blockSize: try rowBlockSize(row), offset: offset, length: Int(length))
            }
            let childRows = Checked.log2(try rowBlockSize(row)) - firstRowBits + 1
            guard childRows < rows else {
                throw FormatError("a fractal heap indirect block of \(rows) rows has a child with \(childRows) rows", at: headerStart)
            }
            blockAddress = child
            blockOffset = childOffset
            rows = childRows
        }
        throw FormatError("the fractal heap at address \(address) nests indirect blocks too deeply")
    }

    /// The child addresses of an indirect block (direct block entries first, then indirect ones).
    private func indirectBlock(at blockAddress: UInt64, rows: Int, blockOffset: UInt64) throws -> ([UInt64?], Int) {
        if let known = memo.indirectBlocks[blockAddress], known.rows == rows, known.blockOffset == blockOffset {
            return (known.entries, known.start)
        }
        let (entries, start) = try readIndirectBlock(at: blockAddress, rows: rows, blockOffset: blockOffset)
        if memo.cachedEntries + entries.count <= max(1 << 16, file.count / file.offsetSize) {
            memo.indirectBlocks[blockAddress] = (rows, blockOffset, entries, start)
            memo.cachedEntries += entries.count
        }
        return (entries, start)
    }

    /// The prefix direct and indirect blocks share (III.G): signature, version 0, the heap's address,
    /// and the heap offset the block starts at, which must be the one the walk expects.
    private func checkBlockPrefix(_ cursor: inout Cursor, signature: String, kind: String, at blockAddress: UInt64, blockOffset: UInt64) throws {
        let start = cursor.position
        try cursor.expect(signature: signature)
        let version = try cursor.u8()
        guard version == 0 else { throw FormatError("fractal heap \(kind) block version \(version) is not supported (only 0)", at: start) }
        let heap = try cursor.uint(file.offsetSize)
        guard heap == address else {
            throw FormatError("the \(kind) block at address \(blockAddress) belongs to the heap at \(heap), not \(address)", at: start)
        }
        let recordedOffset = try cursor.uint(heapOffsetSize)
        guard recordedOffset == blockOffset else {
            throw FormatError("the fractal heap \(kind) block at address \(blockAddress) says it starts at heap offset \(recordedOffset), expected \(blockOffset)", at: start)
        }
    }

    private func readIndirectBlock(at blockAddress: UInt64, rows: Int, blockOffset: UInt64) throws -> ([UInt64?], Int) {
        var cursor = try file.cursor(at: blockAddress)
        let start = cursor.position
        try checkBlockPrefix(&cursor, signature: "FHIB", kind: "indirect", at: blockAddress, blockOffset: blockOffset)
        let width = Int(tableWidth)
        let directCount = try Checked.multiply(min(rows, maxDirectRows), width, "fractal heap direct entries", at: start)
        let indirectCount = try Checked.multiply(max(rows - maxDirectRows, 0), width, "fractal heap indirect entries", at: start)
        guard try Checked.multiply(directCount + indirectCount, file.offsetSize, "an indirect block") <= cursor.remaining else {
            throw FormatError("the fractal heap indirect block at address \(blockAddress) with \(rows) rows runs past the end of the file", at: start)
        }
        var entries: [UInt64?] = []
        entries.reserveCapacity(directCount + indirectCount)
        for _ in 0..<(directCount + indirectCount) { entries.append(try cursor.address()) }
        try Lookup3.verify(file, block: start, count: cursor.position - start, what: "the fractal heap indirect block at address \(blockAddress)")
        return (entries, start)
    }

    private func objectInDirectBlock(at blockAddress: UInt64, blockOffset: UInt64, blockSize: UInt64, offset: UInt64, length: Int) throws -> UnsafeRawBufferPointer {
        let size = try Checked.int(blockSize, "a fractal heap direct block size")
        let block = try file.view(at: blockAddress, count: size)
        let start = try file.position(of: blockAddress)
        var cursor = try file.cursor(at: blockAddress, count: size)
        try checkBlockPrefix(&cursor, signature: "FHDB", kind: "direct", at: blockAddress, blockOffset: blockOffset)
        if directBlocksChecksummed && memo.verifiedDirectBlocks[blockAddress] == blockSize {
            try cursor.skip(4)
        } else if directBlocksChecksummed {
            // The checksum covers the whole block with the checksum field itself zeroed.
            try file.budget.charge(size, "the fractal heap direct block at address \(blockAddress)")
            let field = cursor.position - start
            let stored = try block.littleEndian(at: field, size: 4)
            var copy = Array(block)
            for k in field..<(field + 4) { copy[k] = 0 }
            let computed = copy.withUnsafeBytes { Lookup3.hash($0) }
            guard UInt64(computed) == stored else {
                throw FormatError("the fractal heap direct block at address \(blockAddress) fails its checksum: the file is damaged", at: start)
            }
            memo.verifiedDirectBlocks[blockAddress] = blockSize
            try cursor.skip(4)
        }
        let headerSize = cursor.position - start
        guard offset >= blockOffset else { throw FormatError("heap offset \(offset) lies before its direct block", at: start) }
        let within = offset - blockOffset
        guard within >= UInt64(headerSize), within <= blockSize, UInt64(length) <= blockSize - within else {
            throw FormatError("a heap object of \(length) bytes at heap offset \(offset) does not lie inside the \(blockSize)-byte direct block at address \(blockAddress)", at: start)
        }
        let from = Int(within)
        return UnsafeRawBufferPointer(rebasing: block[from..<(from + length)])
    }
}
