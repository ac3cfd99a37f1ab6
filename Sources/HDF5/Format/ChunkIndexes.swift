// Chunk indexes of chunked datasets (spec III.H Data Layout Message, layout versions 3 and 4):
// version-1 B-tree, single chunk, implicit, fixed array, extensible array, version-2 B-tree.

/// The chunk grid of a dataset: how many chunks each dimension has now and at most.
struct ChunkGrid {
    let datasetDims: [UInt64]
    let chunkDims: [UInt64]
    /// Chunks per dimension covering the current extent.
    let chunkCounts: [UInt64]
    /// Chunks per dimension covering the maximum extent; nil for an unlimited dimension.
    let maxChunkCounts: [UInt64?]
    /// Bytes of one whole (unfiltered) chunk.
    let chunkBytes: UInt64

    /// The "unlimited" maximum dimension (H5S_UNLIMITED).
    static let unlimited = UInt64.max

    init(datasetDims: [UInt64], chunkDims: [UInt64], maxDims: [UInt64]?, elementSize: Int) throws {
        guard !datasetDims.isEmpty else { throw FormatError("a chunked dataset must have at least one dimension") }
        guard chunkDims.count == datasetDims.count else {
            throw FormatError("the chunk has \(chunkDims.count) dimensions but the dataset has \(datasetDims.count)")
        }
        guard datasetDims.count <= 32 else { throw FormatError("a dataset of rank \(datasetDims.count); at most 32 dimensions are allowed") }
        let maxima = maxDims ?? datasetDims
        guard maxima.count == datasetDims.count else {
            throw FormatError("the maximum dimensions have rank \(maxima.count) but the dataset has \(datasetDims.count)")
        }
        guard elementSize > 0 else { throw FormatError("an element size of \(elementSize) bytes") }
        var bytes = UInt64(elementSize)
        for (k, size) in chunkDims.enumerated() {
            guard size > 0 else { throw FormatError("chunk dimension \(k) is 0") }
            bytes = try Checked.multiply(bytes, size, "the chunk size in bytes")
        }
        self.datasetDims = datasetDims
        self.chunkDims = chunkDims
        chunkBytes = bytes
        chunkCounts = zip(datasetDims, chunkDims).map { Checked.ceilDivide($0, $1) }
        maxChunkCounts = zip(maxima, chunkDims).map { $0 == Self.unlimited ? nil : Checked.ceilDivide($0, $1) }
    }

    var rank: Int { datasetDims.count }

    /// Dimensions with an unlimited maximum.
    var unlimitedDims: [Int] { maxChunkCounts.indices.filter { maxChunkCounts[$0] == nil } }

    /// Product of the maximum chunk counts (all dimensions limited), checked.
    func maxChunkTotal() throws -> UInt64 {
        var total: UInt64 = 1
        for count in maxChunkCounts {
            guard let count else { throw FormatError("this chunk index cannot have an unlimited dimension") }
            total = try Checked.multiply(total, count, "the number of chunks")
        }
        return total
    }

    /// Element offsets of the chunk at `scaled` chunk coordinates, or nil when it lies outside the current extent.
    func offsets(scaled: [UInt64]) throws -> [UInt64]? {
        var result: [UInt64] = []
        result.reserveCapacity(rank)
        for k in 0..<rank {
            guard k < scaled.count, scaled[k] < chunkCounts[k] else { return nil }
            result.append(try Checked.multiply(scaled[k], chunkDims[k], "a chunk offset"))
        }
        return result
    }

    /// Scaled coordinates of linear chunk `index` in row-major order over `counts`, visiting the
    /// dimensions in `order` (slowest first); the slowest dimension is unbounded.
    static func scaled(_ index: UInt64, counts: [UInt64], order: [Int]) -> [UInt64] {
        var result = [UInt64](repeating: 0, count: counts.count)
        var rest = index
        for position in order.indices.reversed() {
            let dim = order[position]
            guard dim >= 0, dim < counts.count else { continue }
            if position == 0 { result[dim] = rest; break }
            let count = max(counts[dim], 1)
            result[dim] = rest % count
            rest /= count
        }
        return result
    }

    /// Bytes of the "chunk size" field of filtered chunk entries under layout message version 4: one
    /// more byte than the unfiltered chunk size needs (a filter may grow the chunk), at most 8.
    var filteredSizeWidth: Int { min(1 + (Checked.log2(chunkBytes) + 8) / 8, 8) }

    /// The widths the field may have: layout version 4's computed width, or the file's "size of
    /// lengths" that layout version 5 (HDF5 2.0 file format) always uses. The index's own entry or
    /// record size tells which one a file has.
    func filteredSizeWidths(_ file: FileBytes) -> [Int] {
        filteredSizeWidth == file.lengthSize ? [filteredSizeWidth] : [filteredSizeWidth, file.lengthSize]
    }
}

enum ChunkIndexes {
    /// Every chunk of a chunked dataset, whatever its index (see `ChunkIndex` in FileBytes.swift:
    /// version-1 B-tree via the stub, single chunk, implicit, fixed array incl. paged data blocks,
    /// extensible array, version-2 B-tree record types 10 and 11). `datasetDims` and `chunkDims` are
    /// in elements, one per dataset dimension (without the element-size dimension the layout message
    /// adds); `filtered` says whether the dataset has a filter pipeline (it decides the element
    /// format of fixed/extensible arrays and which v2 B-tree record type is expected). The chunk size
    /// field width of filtered entries follows the spec (computed from the chunk's byte size).
    ///
    /// `maxDims` (the dataspace's maximum dimensions, `UInt64.max` for unlimited) decides how fixed
    /// arrays, extensible arrays and implicit indexes number their chunks; nil means "equal to
    /// `datasetDims`" (and, for an extensible array, dimension 0 unlimited). Chunks an index lists
    /// outside the current extent (left over by a shrink) are left out.
    static func chunks(_ index: ChunkIndex, datasetDims: [UInt64], chunkDims: [UInt64],
                       elementSize: Int, filtered: Bool, maxDims: [UInt64]? = nil,
                       in file: FileBytes) throws -> [ChunkRecord] {
        var maxima = maxDims
        if maxima == nil, case .extensibleArray = index, !datasetDims.isEmpty {
            maxima = [ChunkGrid.unlimited] + datasetDims.dropFirst()
        }
        let grid = try ChunkGrid(datasetDims: datasetDims, chunkDims: chunkDims, maxDims: maxima, elementSize: elementSize)
        switch index {
        case .v1BTree(let address):
            guard let address else { return [] }
            return try V1BTree.chunks(at: address, rank: grid.rank, in: file)
        case .singleChunk(let address, let filteredSize, let filterMask):
            guard let address else { return [] }
            let stored: UInt64
            if filtered {
                guard let filteredSize else { throw FormatError("a filtered single-chunk dataset without the size of its chunk") }
                stored = filteredSize
            } else {
                stored = grid.chunkBytes
            }
            return [ChunkRecord(offsets: Array(repeating: 0, count: grid.rank), address: address,
                                storedSize: stored, filterMask: filtered ? filterMask : 0)]
        case .implicit(let address):
            guard let address else { return [] }
            guard !filtered else { throw FormatError("an implicit chunk index on a filtered dataset; implicit indexes hold unfiltered chunks only") }
            return try implicitChunks(at: address, grid: grid, in: file)
        case .fixedArray(let address, let pageBits):
            guard let address else { return [] }
            return try FixedArrayIndex.chunks(at: address, pageBits: pageBits, grid: grid, filtered: filtered, in: file)
        case .extensibleArray(let address, let maxBits, let indexElements, let minPointers, let minElements, let pageBits):
            guard let address else { return [] }
            let parameters = ExtensibleArrayIndex.Parameters(maxBits: maxBits, indexElements: indexElements, minPointers: minPointers,
                                                             minElements: minElements, pageBits: pageBits)
            return try ExtensibleArrayIndex.chunks(at: address, parameters: parameters, grid: grid, filtered: filtered, in: file)
        case .v2BTree(let address, _, _, _):
            guard let address else { return [] }
            return try v2BTreeChunks(at: address, grid: grid, filtered: filtered, in: file)
        }
    }

    /// Implicit index (layout v4 type 2): every chunk of the maximum extent stored back to back from
    /// `address`, in row-major chunk order; only the chunks inside the current extent are listed.
    private static func implicitChunks(at address: UInt64, grid: ChunkGrid, in file: FileBytes) throws -> [ChunkRecord] {
        let total = try grid.maxChunkTotal()
        let span = try Checked.multiply(total, grid.chunkBytes, "the implicit chunk storage")
        let end = try Checked.add(address, span, "the end of the implicit chunk storage")
        guard end <= UInt64(max(file.count - file.base, 0)) else {
            throw FormatError("the implicit chunk storage of \(total) chunks of \(grid.chunkBytes) bytes at address \(address) runs past the end of the file")
        }
        let counts = grid.maxChunkCounts.map { $0 ?? 0 }
        let order = Array(0..<grid.rank)
        var records: [ChunkRecord] = []
        for index in 0..<total {
            let scaled = ChunkGrid.scaled(index, counts: counts, order: order)
            guard let offsets = try grid.offsets(scaled: scaled) else { continue }
            try file.budget.chargeItem(0, "the implicit chunk index at address \(address)")
            records.append(ChunkRecord(offsets: offsets, address: address + index * grid.chunkBytes,
                                       storedSize: grid.chunkBytes, filterMask: 0))
        }
        return records
    }

    /// Version-2 B-tree index (layout v4 type 5): records of type 10 (address, scaled offsets) or
    /// 11 (address, chunk size, filter mask, scaled offsets); scaled offsets are 8 bytes each.
    private static func v2BTreeChunks(at address: UInt64, grid: ChunkGrid, filtered: Bool, in file: FileBytes) throws -> [ChunkRecord] {
        let tree = try V2BTree(at: address, in: file)
        let expectedType: UInt8 = filtered ? 11 : 10
        guard tree.type == expectedType else {
            throw FormatError("the chunk B-tree at address \(address) has record type \(tree.type); a \(filtered ? "filtered" : "unfiltered") dataset uses type \(expectedType)")
        }
        let widths = filtered ? grid.filteredSizeWidths(file) : [0]
        let sizes = widths.map { file.offsetSize + (filtered ? $0 + 4 : 0) + 8 * grid.rank }
        guard let which = sizes.firstIndex(of: tree.recordSize) else {
            throw FormatError("the chunk B-tree at address \(address) has \(tree.recordSize)-byte records; rank \(grid.rank) needs \(sizes.map(String.init).joined(separator: " or "))")
        }
        let sizeWidth = widths[which]
        let head = file.offsetSize + (filtered ? sizeWidth + 4 : 0)
        var records: [ChunkRecord] = []
        for record in try tree.records() {
            let chunkAddress = try record.littleEndian(at: 0, size: file.offsetSize)
            var stored = grid.chunkBytes
            var mask: UInt32 = 0
            if filtered {
                stored = try record.littleEndian(at: file.offsetSize, size: sizeWidth)
                mask = UInt32(truncatingIfNeeded: try record.littleEndian(at: file.offsetSize + sizeWidth, size: 4))
            }
            var scaled: [UInt64] = []
            for k in 0..<grid.rank { scaled.append(try record.littleEndian(at: head + 8 * k, size: 8)) }
            guard chunkAddress != file.undefinedAddress else { continue }
            guard let offsets = try grid.offsets(scaled: scaled) else { continue }
            try file.budget.chargeItem(0, "the chunk B-tree at address \(address)")
            records.append(ChunkRecord(offsets: offsets, address: chunkAddress, storedSize: stored, filterMask: mask))
        }
        return records
    }
}

/// Reading one fixed or extensible array element of a chunk index: the chunk's address, then for
/// filtered datasets its stored size (`ChunkGrid.filteredSizeWidth` bytes) and filter mask (4 bytes).
struct ChunkEntryFormat {
    let filtered: Bool
    let offsetSize: Int
    let sizeWidth: Int

    /// The format of entries of `entrySize` bytes (as the array's header says), checked.
    init(grid: ChunkGrid, filtered: Bool, file: FileBytes, entrySize: Int, what: String) throws {
        self.filtered = filtered
        offsetSize = file.offsetSize
        let widths = filtered ? grid.filteredSizeWidths(file) : [0]
        let sizes = widths.map { file.offsetSize + (filtered ? $0 + 4 : 0) }
        guard let which = sizes.firstIndex(of: entrySize) else {
            throw FormatError("\(what) has \(entrySize)-byte entries; this dataset's \(filtered ? "filtered" : "unfiltered") chunks need \(sizes.map(String.init).joined(separator: " or "))")
        }
        sizeWidth = widths[which]
    }

    var size: Int { filtered ? offsetSize + sizeWidth + 4 : offsetSize }

    /// The entry's (address, stored size, mask), nil when the chunk is not allocated.
    func read(_ cursor: inout Cursor, unfilteredSize: UInt64) throws -> (UInt64, UInt64, UInt32)? {
        let address = try cursor.address()
        var stored = unfilteredSize
        var mask: UInt32 = 0
        if filtered {
            stored = try cursor.uint(sizeWidth)
            mask = try cursor.u32()
        }
        guard let address else { return nil }
        return (address, stored, mask)
    }
}
