// Fixed array chunk index (layout v4 type 3; spec III.H and the fixed array structures `FAHD`/`FADB`):
// one entry per chunk of the maximum extent in row-major chunk order. A data block with more than
// 2^pageBits entries is paged: after the block come pages of 2^pageBits entries, each with its own
// checksum, and a bitmap in the block says which pages were ever written.

enum FixedArrayIndex {
    static func chunks(at address: UInt64, pageBits: UInt8, grid: ChunkGrid, filtered: Bool, in file: FileBytes) throws -> [ChunkRecord] {
        // Header (FAHD).
        var cursor = try file.cursor(at: address)
        let start = cursor.position
        try cursor.expect(signature: "FAHD")
        let version = try cursor.u8()
        guard version == 0 else { throw FormatError("fixed array header version \(version) is not supported (only 0)", at: start) }
        let client = try cursor.u8()
        let entrySize = Int(try cursor.u8())
        let headerPageBits = try cursor.u8()
        let entryCount = try cursor.length()
        let blockAddress = try cursor.address()
        try Lookup3.verify(file, block: start, count: cursor.position - start, what: "the fixed array header at address \(address)")
        guard client == (filtered ? 1 : 0) else {
            throw FormatError("the fixed array at address \(address) indexes \(client == 1 ? "filtered" : "unfiltered") chunks but the dataset is \(filtered ? "filtered" : "unfiltered")", at: start)
        }
        let format = try ChunkEntryFormat(grid: grid, filtered: filtered, file: file, entrySize: entrySize,
                                          what: "the fixed array at address \(address)")
        guard headerPageBits == pageBits else {
            throw FormatError("the fixed array at address \(address) has pages of 2^\(headerPageBits) entries but the layout message says 2^\(pageBits)", at: start)
        }
        guard headerPageBits < 64 else { throw FormatError("the fixed array at address \(address) has pages of 2^\(headerPageBits) entries", at: start) }
        let expected = try grid.maxChunkTotal()
        guard entryCount == expected else {
            throw FormatError("the fixed array at address \(address) has \(entryCount) entries but the dataset has \(expected) chunks (are its maximum dimensions right?)", at: start)
        }
        guard let blockAddress else { return [] }

        // Data block (FADB).
        var block = try file.cursor(at: blockAddress)
        let blockStart = block.position
        try block.expect(signature: "FADB")
        let blockVersion = try block.u8()
        guard blockVersion == 0 else { throw FormatError("fixed array data block version \(blockVersion) is not supported (only 0)", at: blockStart) }
        guard try block.u8() == client else { throw FormatError("the fixed array data block's client ID differs from its header's", at: blockStart) }
        guard try block.uint(file.offsetSize) == address else {
            throw FormatError("the fixed array data block at address \(blockAddress) belongs to another header", at: blockStart)
        }
        let counts = grid.maxChunkCounts.map { $0 ?? 0 }
        let order = Array(0..<grid.rank)
        var records: [ChunkRecord] = []
        func add(_ index: UInt64, _ entry: (UInt64, UInt64, UInt32)?) throws {
            guard let (chunkAddress, stored, mask) = entry else { return }
            guard let offsets = try grid.offsets(scaled: ChunkGrid.scaled(index, counts: counts, order: order)) else { return }
            try file.budget.chargeItem(0, "the fixed array at address \(address)")
            records.append(ChunkRecord(offsets: offsets, address: chunkAddress, storedSize: stored, filterMask: mask))
        }

        let pageEntries = UInt64(1) << UInt64(headerPageBits)
        if entryCount <= pageEntries {
            let bytes = try Checked.multiply(entryCount, UInt64(entrySize), "the fixed array data block")
            guard bytes <= UInt64(block.remaining) else {
                throw FormatError("the fixed array data block at address \(blockAddress) with \(entryCount) entries runs past the end of the file", at: blockStart)
            }
            for index in 0..<entryCount { try add(index, try format.read(&block, unfilteredSize: grid.chunkBytes)) }
            try Lookup3.verify(file, block: blockStart, count: block.position - blockStart, what: "the fixed array data block at address \(blockAddress)")
            return records
        }

        let pageCount = Checked.ceilDivide(entryCount, pageEntries)
        let bitmapBytes = try Checked.int(Checked.ceilDivide(pageCount, 8), "the fixed array page bitmap", at: blockStart)
        let bitmap = try block.bytes(bitmapBytes)
        try Lookup3.verify(file, block: blockStart, count: block.position - blockStart, what: "the fixed array data block at address \(blockAddress)")
        try block.skip(4)
        let pagesStart = UInt64(block.position - file.base)
        let pageBytes = try Checked.multiply(pageEntries, UInt64(entrySize), "a fixed array page")
        let pageStride = try Checked.add(pageBytes, 4, "a fixed array page")
        for page in 0..<pageCount {
            // Bit `page` of the bitmap, most significant bit first, says whether the page was written.
            let byte = Int(page / 8)
            guard bitmap[byte] & (0x80 >> UInt8(page % 8)) != 0 else { continue }
            let first = page * pageEntries
            let entries = min(pageEntries, entryCount - first)
            let pageAddress = try Checked.add(pagesStart, try Checked.multiply(page, pageStride, "a fixed array page address"), "a fixed array page address")
            let size = try Checked.int(entries * UInt64(entrySize), "a fixed array page")
            var pageCursor = try file.cursor(at: pageAddress, count: size)
            for k in 0..<entries { try add(first + k, try format.read(&pageCursor, unfilteredSize: grid.chunkBytes)) }
            try Lookup3.verify(file, block: pageCursor.position - size, count: size, what: "fixed array page \(page) at address \(pageAddress)")
        }
        return records
    }
}
