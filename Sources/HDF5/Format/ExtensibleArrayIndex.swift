// Extensible array chunk index (layout v4 type 4; spec III.H and the extensible array structures
// `EAHD`, `EAIB`, `EASB`, `EADB`), used when exactly one dimension is unlimited.
//
// Element i of the array is chunk i in row-major chunk order over the maximum chunk counts, with the
// unlimited dimension moved to the front. The first `indexElements` elements live in the index block;
// the rest are grouped into super blocks 0, 1, 2, …: super block s has 2^⌊s/2⌋ data blocks of
// 2^⌈s/2⌉ × `minElements` elements. The data blocks of the first 2·log2(`minPointers`) super blocks are
// listed in the index block itself; later super blocks are secondary blocks listing their data blocks.
// Data blocks of more than 2^pageBits elements are paged (pages follow the block, each checksummed;
// the secondary block's bitmap says which pages were written).

enum ExtensibleArrayIndex {
    struct Parameters {
        var maxBits: UInt8
        var indexElements: UInt8
        var minPointers: UInt8
        var minElements: UInt8
        var pageBits: UInt8
    }

    /// One super block's shape.
    private struct SuperBlock {
        var dataBlocks: UInt64
        var elementsPerBlock: UInt64
        /// Index of its first element, counted after the index block's elements.
        var firstElement: UInt64
    }

    private struct Reader {
        let file: FileBytes
        let headerAddress: UInt64
        let client: UInt8
        let format: ChunkEntryFormat
        let grid: ChunkGrid
        let blockOffsetSize: Int
        let pageElements: UInt64
        let counts: [UInt64]
        let order: [Int]
        /// Elements past this index were never set.
        let limit: UInt64
        var records: [ChunkRecord] = []
        var visited: Set<UInt64> = []

        mutating func add(_ index: UInt64, _ entry: (UInt64, UInt64, UInt32)?) throws {
            guard index < limit, let (address, stored, mask) = entry else { return }
            guard let offsets = try grid.offsets(scaled: ChunkGrid.scaled(index, counts: counts, order: order)) else { return }
            try file.budget.chargeItem(0, "the extensible array at address \(headerAddress)")
            records.append(ChunkRecord(offsets: offsets, address: address, storedSize: stored, filterMask: mask))
        }

        mutating func visit(_ address: UInt64, _ what: String) throws {
            guard visited.insert(address).inserted else {
                throw FormatError("the extensible array at address \(headerAddress) reaches its \(what) at address \(address) twice")
            }
        }

        /// Reads the common prefix of an index, secondary or data block.
        func prefix(_ cursor: inout Cursor, signature: String, what: String) throws {
            let start = cursor.position
            try cursor.expect(signature: signature)
            let version = try cursor.u8()
            guard version == 0 else { throw FormatError("extensible array \(what) version \(version) is not supported (only 0)", at: start) }
            guard try cursor.u8() == client else { throw FormatError("the extensible array \(what)'s client ID differs from its header's", at: start) }
            guard try cursor.uint(file.offsetSize) == headerAddress else {
                throw FormatError("the extensible array \(what) belongs to another header", at: start)
            }
        }

        /// One data block of `elements` elements whose first element is `first` (after the index
        /// block's); `pagesWritten(page)` says whether a page of a paged block was written.
        mutating func dataBlock(at address: UInt64, elements: UInt64, first: UInt64, indexBase: UInt64,
                                alsoAccepted: UInt64? = nil, pagesWritten: (UInt64) -> Bool) throws {
            try visit(address, "data block")
            var cursor = try file.cursor(at: address)
            let start = cursor.position
            try prefix(&cursor, signature: "EADB", what: "data block")
            let recorded = try cursor.uint(blockOffsetSize)
            guard recorded == first || recorded == alsoAccepted else {
                throw FormatError("the extensible array data block at address \(address) says it starts at element \(recorded), expected \(first)", at: start)
            }
            let base = try Checked.add(first, indexBase, "an extensible array element index")
            _ = try Checked.add(base, elements, "an extensible array element index")
            if elements <= pageElements {
                let bytes = try Checked.multiply(elements, UInt64(format.size), "an extensible array data block")
                guard bytes <= UInt64(cursor.remaining) else {
                    throw FormatError("the extensible array data block at address \(address) runs past the end of the file", at: start)
                }
                for k in 0..<elements { try add(base + k, try format.read(&cursor, unfilteredSize: grid.chunkBytes)) }
                try Lookup3.verify(file, block: start, count: cursor.position - start, what: "the extensible array data block at address \(address)")
                return
            }
            try Lookup3.verify(file, block: start, count: cursor.position - start, what: "the extensible array data block at address \(address)")
            try cursor.skip(4)
            let pagesStart = UInt64(cursor.position - file.base)
            let pageBytes = try Checked.multiply(pageElements, UInt64(format.size), "an extensible array page")
            let stride = try Checked.add(pageBytes, 4, "an extensible array page")
            let pages = elements / pageElements
            for page in 0..<pages where pagesWritten(page) {
                let pageAddress = try Checked.add(pagesStart, try Checked.multiply(page, stride, "an extensible array page"), "an extensible array page")
                var pageCursor = try file.cursor(at: pageAddress, count: try Checked.int(pageBytes, "an extensible array page"))
                for k in 0..<pageElements {
                    try add(base + page * pageElements + k, try format.read(&pageCursor, unfilteredSize: grid.chunkBytes))
                }
                try Lookup3.verify(file, block: pageCursor.position - Int(pageBytes), count: Int(pageBytes),
                                   what: "page \(page) of the extensible array data block at address \(address)")
            }
        }
    }

    static func chunks(at address: UInt64, parameters: Parameters, grid: ChunkGrid, filtered: Bool, in file: FileBytes) throws -> [ChunkRecord] {
        var cursor = try file.cursor(at: address)
        let start = cursor.position
        try cursor.expect(signature: "EAHD")
        let version = try cursor.u8()
        guard version == 0 else { throw FormatError("extensible array header version \(version) is not supported (only 0)", at: start) }
        let client = try cursor.u8()
        let elementSize = Int(try cursor.u8())
        let found = Parameters(maxBits: try cursor.u8(), indexElements: try cursor.u8(), minPointers: 0,
                               minElements: try cursor.u8(), pageBits: 0)
        let minPointers = try cursor.u8()
        let pageBits = try cursor.u8()
        for _ in 0..<4 { _ = try cursor.length() }      // secondary/data block counts and sizes
        let maxIndexSet = try cursor.length()
        _ = try cursor.length()                         // number of elements
        let indexBlockAddress = try cursor.address()
        try Lookup3.verify(file, block: start, count: cursor.position - start, what: "the extensible array header at address \(address)")

        func bad(_ why: String) -> FormatError { FormatError("the extensible array at address \(address) \(why)", at: start) }
        guard client == (filtered ? 1 : 0) else {
            throw bad("indexes \(client == 1 ? "filtered" : "unfiltered") chunks but the dataset is \(filtered ? "filtered" : "unfiltered")")
        }
        let format = try ChunkEntryFormat(grid: grid, filtered: filtered, file: file, entrySize: elementSize,
                                          what: "the extensible array at address \(address)")
        guard found.maxBits == parameters.maxBits, found.indexElements == parameters.indexElements,
              found.minElements == parameters.minElements, minPointers == parameters.minPointers, pageBits == parameters.pageBits else {
            throw bad("has creation parameters (\(found.maxBits), \(found.indexElements), \(minPointers), \(found.minElements), \(pageBits)) that differ from the layout message's (\(parameters.maxBits), \(parameters.indexElements), \(parameters.minPointers), \(parameters.minElements), \(parameters.pageBits))")
        }
        let maxBits = Int(found.maxBits)
        let minElements = UInt64(found.minElements)
        guard (1...64).contains(maxBits) else { throw bad("allows 2^\(maxBits) elements; it must be 2^1 to 2^64") }
        guard Checked.isPowerOfTwo(minElements), Checked.log2(minElements) <= maxBits else {
            throw bad("has data blocks of at least \(minElements) elements; it must be a power of two up to 2^\(maxBits)")
        }
        guard Checked.isPowerOfTwo(UInt64(minPointers)), minPointers >= 2 else {
            throw bad("has secondary blocks of at least \(minPointers) data blocks; it must be a power of two ≥ 2")
        }
        guard pageBits < 64 else { throw bad("has pages of 2^\(pageBits) elements") }
        let unlimited = grid.unlimitedDims
        guard unlimited.count == 1, let unlimitedDim = unlimited.first else {
            throw bad("indexes a dataset with \(unlimited.count) unlimited dimensions; extensible arrays serve exactly one")
        }

        // Super block shapes (libhdf5: 1 + maxBits − log2(minElements) super blocks).
        let superBlockCount = 1 + maxBits - Checked.log2(minElements)
        var superBlocks: [SuperBlock] = []
        var firstElement: UInt64 = 0
        var saturated = false
        for s in 0..<superBlockCount {
            let blocks = UInt64(1) << UInt64(s / 2)
            let (perBlock, overflow) = (UInt64(1) << UInt64(min((s + 1) / 2, 63))).multipliedReportingOverflow(by: minElements)
            guard !overflow, !saturated else { break }  // beyond 2^64 elements: never reachable
            superBlocks.append(SuperBlock(dataBlocks: blocks, elementsPerBlock: perBlock, firstElement: firstElement))
            let (span, spanOverflow) = blocks.multipliedReportingOverflow(by: perBlock)
            let (next, nextOverflow) = firstElement.addingReportingOverflow(span)
            if spanOverflow || nextOverflow { saturated = true } else { firstElement = next }
        }
        let superBlocksInIndex = 2 * Checked.log2(UInt64(minPointers))
        let directBlockCount = 2 * (Int(minPointers) - 1)
        let secondaryCount = max(superBlockCount - superBlocksInIndex, 0)

        // Elements are numbered over the maximum chunk counts with the unlimited dimension first.
        let order = [unlimitedDim] + (0..<grid.rank).filter { $0 != unlimitedDim }
        var reader = Reader(file: file, headerAddress: address, client: client, format: format, grid: grid,
                            blockOffsetSize: (maxBits + 7) / 8, pageElements: UInt64(1) << UInt64(pageBits),
                            counts: grid.maxChunkCounts.map { $0 ?? 0 }, order: order, limit: maxIndexSet)
        guard let indexBlockAddress else { return [] }

        // Index block (EAIB): its own elements, then data block and secondary block addresses.
        var index = try file.cursor(at: indexBlockAddress)
        let indexStart = index.position
        try reader.prefix(&index, signature: "EAIB", what: "index block")
        let indexElements = UInt64(found.indexElements)
        for k in 0..<indexElements { try reader.add(k, try format.read(&index, unfilteredSize: grid.chunkBytes)) }
        var dataBlocks: [UInt64?] = []
        for _ in 0..<directBlockCount { dataBlocks.append(try index.address()) }
        var secondaryBlocks: [UInt64?] = []
        for _ in 0..<secondaryCount { secondaryBlocks.append(try index.address()) }
        try Lookup3.verify(file, block: indexStart, count: index.position - indexStart, what: "the extensible array index block at address \(indexBlockAddress)")

        // Data blocks listed in the index block.
        var listed = 0
        for s in 0..<min(superBlocksInIndex, superBlocks.count) {
            let shape = superBlocks[s]
            for d in 0..<shape.dataBlocks {
                defer { listed += 1 }
                guard listed < dataBlocks.count else { break }
                let first = try Checked.add(shape.firstElement, try Checked.multiply(d, shape.elementsPerBlock, "an element index"), "an element index")
                guard first < maxIndexSet, let blockAddress = dataBlocks[listed] else { continue }
                guard shape.elementsPerBlock <= reader.pageElements else {
                    throw bad("has paged data blocks listed in its index block, which is not supported")
                }
                // libhdf5 records these blocks' offsets counting the data blocks of the earlier super
                // blocks too (start + (global block number) × block size); accept that as well.
                let quirk = shape.firstElement &+ UInt64(listed) &* shape.elementsPerBlock
                try reader.dataBlock(at: blockAddress, elements: shape.elementsPerBlock, first: first, indexBase: indexElements,
                                     alsoAccepted: quirk) { _ in true }
            }
        }

        // Secondary blocks (EASB): a page bitmap when their data blocks are paged, then data block addresses.
        for (k, secondary) in secondaryBlocks.enumerated() {
            let s = superBlocksInIndex + k
            guard s < superBlocks.count else { break }
            let shape = superBlocks[s]
            guard shape.firstElement < maxIndexSet, let secondaryAddress = secondary else { continue }
            try reader.visit(secondaryAddress, "secondary block")
            var block = try file.cursor(at: secondaryAddress)
            let blockStart = block.position
            try reader.prefix(&block, signature: "EASB", what: "secondary block")
            let recorded = try block.uint(reader.blockOffsetSize)
            guard recorded == shape.firstElement else {
                throw bad("has a secondary block at address \(secondaryAddress) that says it starts at element \(recorded), expected \(shape.firstElement)")
            }
            let paged = shape.elementsPerBlock > reader.pageElements
            let pagesPerBlock = paged ? shape.elementsPerBlock / reader.pageElements : 0
            let bitmapBytesPerBlock = Checked.ceilDivide(pagesPerBlock, 8)
            let bitmapBytes = try Checked.multiply(bitmapBytesPerBlock, shape.dataBlocks, "an extensible array page bitmap")
            let addressBytes = try Checked.multiply(shape.dataBlocks, UInt64(file.offsetSize), "an extensible array secondary block")
            guard try Checked.add(bitmapBytes, addressBytes, "an extensible array secondary block") <= UInt64(block.remaining) else {
                throw bad("has a secondary block at address \(secondaryAddress) that runs past the end of the file")
            }
            let bitmap = try block.bytes(Int(bitmapBytes))
            var addresses: [UInt64?] = []
            for _ in 0..<shape.dataBlocks { addresses.append(try block.address()) }
            try Lookup3.verify(file, block: blockStart, count: block.position - blockStart, what: "the extensible array secondary block at address \(secondaryAddress)")
            for (d, dataAddress) in addresses.enumerated() {
                let first = try Checked.add(shape.firstElement, try Checked.multiply(UInt64(d), shape.elementsPerBlock, "an element index"), "an element index")
                guard first < maxIndexSet, let dataAddress else { continue }
                // Page p of data block d is bit d × pagesPerBlock + p of the bitmap, most significant bit first.
                try reader.dataBlock(at: dataAddress, elements: shape.elementsPerBlock, first: first, indexBase: indexElements) { page in
                    let bit = UInt64(d) &* pagesPerBlock &+ page   // below 8 × the bitmap bytes, checked above
                    let byte = Int(bit / 8)
                    return byte < bitmap.count && bitmap[byte] & (0x80 >> UInt8(bit % 8)) != 0
                }
            }
        }
        return reader.records
    }
}
