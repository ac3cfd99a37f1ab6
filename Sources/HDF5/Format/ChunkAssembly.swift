// Assembling a chunked dataset's elements from its chunks (spec III.H Data Layout Message, chunked
// storage): every chunk holds a whole chunk-shaped block of elements in row-major order, including
// the parts of edge chunks that lie beyond the dataset's extent.

enum ChunkAssembly {
    /// Fills `destination` (exactly elements × elementSize bytes, row-major, in the FILE's byte order:
    /// no conversion) from the chunks: each chunk is decoded (when there is a pipeline) to its full
    /// chunk size and its in-bounds part copied into place (edge chunks are partial); places no chunk
    /// covers get the fill value (`fill`, one element's bytes) or zeros when nil. Chunks whose offsets
    /// are not multiples of the chunk dims, lie outside the dataset, or overlap are errors.
    static func read(chunks: [ChunkRecord], datasetDims: [UInt64], chunkDims: [UInt64], elementSize: Int,
                     pipeline: [FilterDescription], fill: [UInt8]?, in file: FileBytes,
                     into destination: UnsafeMutableRawBufferPointer) throws {
        let assembler = try Assembler(chunks: chunks, datasetDims: datasetDims, chunkDims: chunkDims, elementSize: elementSize,
                                      pipeline: pipeline, fill: fill, in: file)
        guard assembler.totalBytes == destination.count else {
            throw FormatError("the dataset holds \(assembler.totalBytes) bytes but the destination has \(destination.count)")
        }
        try assembler.run(slabBytes: max(destination.count, elementSize),
                          buffer: { UnsafeMutableRawBufferPointer(rebasing: destination[$0]) }, done: { _ in })
    }

    /// The same, handed to `consume` in consecutive slabs of at most `slabBytes` bytes (at least one
    /// element) in row-major order, so that a dataset that is mostly unwritten (fill value) never has to
    /// be held whole: memory is one slab, plus the decoded filtered chunks the slabs still need.
    static func stream(chunks: [ChunkRecord], datasetDims: [UInt64], chunkDims: [UInt64], elementSize: Int,
                       pipeline: [FilterDescription], fill: [UInt8]?, in file: FileBytes, slabBytes: Int,
                       _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        let assembler = try Assembler(chunks: chunks, datasetDims: datasetDims, chunkDims: chunkDims, elementSize: elementSize,
                                      pipeline: pipeline, fill: fill, in: file)
        guard assembler.totalBytes > 0 else { return }
        let size = min(max(slabBytes, elementSize), assembler.totalBytes)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { scratch.deallocate() }
        try assembler.run(slabBytes: size, buffer: { UnsafeMutableRawBufferPointer(rebasing: scratch[0..<$0.count]) },
                          done: { try consume(UnsafeRawBufferPointer($0)) })
    }

    /// Places the chunks of one dataset into slabs of its row-major byte range. A slab is a run of
    /// whole rows of some dimension k (the first one whose rows fit the slab size), inside one index
    /// of every dimension before k, so each slab is a contiguous range of the output.
    private final class Assembler {
        let rank: Int
        let dims: [Int]
        let chunkDims: [Int]
        let elementSize: Int
        let chunks: [ChunkRecord]
        let pipeline: [FilterDescription]
        let fill: [UInt8]?
        let file: FileBytes
        let chunkBytes: Int
        let totalElements: Int
        var totalBytes: Int { totalElements * elementSize }
        /// Elements between neighbours in each dimension, in the dataset and in a whole chunk.
        let strides: [Int]
        let chunkStrides: [Int]
        /// Chunks per dimension, and between neighbours in the chunk grid.
        let counts: [Int]
        let gridStrides: [Int]
        /// Chunk index by linear position in the chunk grid.
        var byPosition: [Int: Int] = [:]
        /// The chunk rows (grid index in dimension 0) that hold at least one chunk, ascending.
        var rows: [Int] = []
        /// Decoded filtered chunks still needed by later slabs, with the last output element each covers.
        var decoded: [Int: (last: Int, bytes: [UInt8])] = [:]

        init(chunks: [ChunkRecord], datasetDims: [UInt64], chunkDims rawChunkDims: [UInt64], elementSize: Int,
             pipeline: [FilterDescription], fill: [UInt8]?, in file: FileBytes) throws {
            let grid = try ChunkGrid(datasetDims: datasetDims, chunkDims: rawChunkDims, maxDims: nil, elementSize: elementSize)
            rank = grid.rank
            var elements: UInt64 = 1
            for size in datasetDims { elements = try Checked.multiply(elements, size, "the number of elements") }
            let total = try Checked.multiply(elements, UInt64(elementSize), "the dataset size in bytes")
            guard let totalElements = Int(exactly: elements), Int(exactly: total) != nil else {
                throw FormatError("the dataset's \(elements) elements of \(elementSize) bytes do not fit in memory")
            }
            self.totalElements = totalElements
            if let fill, fill.count != elementSize {
                throw FormatError("a fill value of \(fill.count) bytes for elements of \(elementSize) bytes")
            }
            guard grid.chunkBytes <= UInt64(UInt32.max) else {
                throw FormatError("chunks of \(grid.chunkBytes) bytes; HDF5 chunks hold less than 4 GiB")
            }
            chunkBytes = try Checked.int(grid.chunkBytes, "the chunk size in bytes")
            // A filtered chunk is decoded whole before its in-bounds part is copied: one far larger than the
            // dataset would cost memory the tensor does not justify (a damaged layout can claim that).
            if !pipeline.isEmpty, chunkBytes > max(Int(total).multipliedReportingOverflow(by: 64).partialValue, 1 << 26) {
                throw FormatError("compressed chunks of \(chunkBytes) bytes for a dataset of \(total) bytes; Recast does not decode chunks that much larger than their dataset")
            }
            // Every size below is bounded by the dataset's byte count or the chunk's, both checked to fit.
            dims = datasetDims.map { Int($0) }
            self.chunkDims = rawChunkDims.map { Int($0) }
            counts = grid.chunkCounts.map { Int($0) }
            var strides = [Int](repeating: 1, count: rank)
            var chunkStrides = [Int](repeating: 1, count: rank)
            var gridStrides = [Int](repeating: 1, count: rank)
            for k in stride(from: rank - 2, through: 0, by: -1) {
                strides[k] = strides[k + 1] * dims[k + 1]
                chunkStrides[k] = chunkStrides[k + 1] * self.chunkDims[k + 1]
                gridStrides[k] = gridStrides[k + 1] * counts[k + 1]
            }
            self.strides = strides
            self.chunkStrides = chunkStrides
            self.gridStrides = gridStrides
            self.elementSize = elementSize
            self.chunks = chunks
            self.pipeline = pipeline
            self.fill = fill
            self.file = file

            // Each chunk's position, checked, before any bytes move.
            var rowSet: Set<Int> = []
            for (n, chunk) in chunks.enumerated() {
                guard chunk.offsets.count == rank else {
                    throw FormatError("a chunk at address \(chunk.address) has \(chunk.offsets.count) offsets for a dataset of rank \(rank)")
                }
                var position = 0
                for k in 0..<rank {
                    guard chunk.offsets[k] % rawChunkDims[k] == 0 else {
                        throw FormatError("a chunk at address \(chunk.address) starts at \(chunk.offsets[k]) in dimension \(k), not a multiple of the chunk size \(rawChunkDims[k])")
                    }
                    guard chunk.offsets[k] < datasetDims[k] else {
                        throw FormatError("a chunk at address \(chunk.address) starts at \(chunk.offsets[k]) in dimension \(k), outside the dataset's \(datasetDims[k])")
                    }
                    position += Int(chunk.offsets[k]) / self.chunkDims[k] * gridStrides[k]
                }
                guard byPosition.updateValue(n, forKey: position) == nil else {
                    throw FormatError("two chunks cover the same place \(chunk.offsets) (one at address \(chunk.address))")
                }
                rowSet.insert(Int(chunk.offsets[0]) / self.chunkDims[0])
            }
            rows = rowSet.sorted()
        }

        /// The part of chunk `n` inside the box `[low, high)`, or nil when they do not meet.
        func intersection(_ n: Int, _ low: [Int], _ high: [Int]) -> (low: [Int], high: [Int])? {
            var a = [Int](repeating: 0, count: rank)
            var b = [Int](repeating: 0, count: rank)
            for k in 0..<rank {
                let start = Int(chunks[n].offsets[k])
                a[k] = max(start, low[k])
                b[k] = min(start + chunkDims[k], dims[k], high[k])
                if a[k] >= b[k] { return nil }
            }
            return (a, b)
        }

        /// Runs the slabs: `buffer` gives the memory for the output bytes in a range, `done` takes it filled.
        func run(slabBytes: Int, buffer: (Range<Int>) throws -> UnsafeMutableRawBufferPointer,
                 done: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
            guard totalElements > 0 else { return }
            // Elements inside one index of each dimension: inner[k] = dims[k+1] × … × dims[rank-1].
            var inner = [Int](repeating: 1, count: rank)
            for k in stride(from: rank - 2, through: 0, by: -1) { inner[k] = inner[k + 1] * dims[k + 1] }
            let k = (0..<rank).first { inner[$0] * elementSize <= slabBytes } ?? (rank - 1)
            let height = min(dims[k], max(1, slabBytes / (inner[k] * elementSize)))
            var start = 0
            while start < totalElements {
                // The slab's first element, unravelled: every dimension after k is at 0.
                var low = [Int](repeating: 0, count: rank)
                var rest = start
                for d in 0..<rank { low[d] = rest / strides[d]; rest %= strides[d] }
                var high = low
                for d in 0..<k { high[d] = low[d] + 1 }
                let count = min(height, dims[k] - low[k])
                high[k] = low[k] + count
                for d in (k + 1)..<rank { high[d] = dims[d] }
                let elements = count * inner[k]
                let slab = try buffer((start * elementSize)..<((start + elements) * elementSize))
                try assemble(slab, first: start, low: low, high: high)
                try done(slab)
                start += elements
                decoded = decoded.filter { $0.value.last >= start }
            }
        }

        /// Fills one slab (output elements from `first`, the box `[low, high)`).
        private func assemble(_ slab: UnsafeMutableRawBufferPointer, first: Int, low: [Int], high: [Int]) throws {
            // The chunks that meet the slab: by their grid positions when the slab spans fewer positions
            // than there are chunks, else by testing every chunk. Either costs at most the slab's elements.
            var lowGrid = [Int](repeating: 0, count: rank)
            var highGrid = [Int](repeating: 0, count: rank)
            for d in 0..<rank {
                lowGrid[d] = low[d] / chunkDims[d]
                highGrid[d] = (high[d] - 1) / chunkDims[d] + 1
            }
            let firstRow = rows.partitioningIndex { $0 >= lowGrid[0] }
            let lastRow = rows.partitioningIndex { $0 >= highGrid[0] }
            var positions = lastRow - firstRow
            for d in 1..<max(rank, 1) where positions > 0 {
                positions = positions.multipliedReportingOverflow(by: highGrid[d] - lowGrid[d]).partialValue
                if positions > chunks.count { break }
            }
            var meeting: [(chunk: Int, low: [Int], high: [Int])] = []
            var covered = 0
            func consider(_ n: Int) {
                guard let box = intersection(n, low, high) else { return }
                meeting.append((n, box.low, box.high))
                var volume = 1
                for d in 0..<rank { volume *= box.high[d] - box.low[d] }
                covered += volume
            }
            if positions > chunks.count || positions < 0 {
                for n in chunks.indices { consider(n) }
            } else if positions > 0 {
                var index = lowGrid
                for row in rows[firstRow..<lastRow] {
                    index[0] = row
                    for d in 1..<max(rank, 1) { index[d] = lowGrid[d] }
                    while true {
                        var position = 0
                        for d in 0..<rank { position += index[d] * gridStrides[d] }
                        if let n = byPosition[position] { consider(n) }
                        var d = rank - 1
                        while d >= 1 {
                            index[d] += 1
                            if index[d] < highGrid[d] { break }
                            index[d] = lowGrid[d]
                            d -= 1
                        }
                        if d < 1 { break }
                    }
                }
            }
            // Places no chunk covers read as the fill value.
            if covered < slab.count / elementSize { Fill.pattern(slab, with: fill) }
            let end = first + slab.count / elementSize
            for (n, boxLow, boxHigh) in meeting {
                let chunk = chunks[n]
                if pipeline.isEmpty {
                    guard chunk.storedSize >= UInt64(chunkBytes) else {
                        throw FormatError("the chunk at address \(chunk.address) stores \(chunk.storedSize) bytes but an unfiltered chunk holds \(chunkBytes)")
                    }
                    let bytes = try file.view(at: chunk.address, count: chunkBytes)
                    try place(bytes, chunk: chunk, low: boxLow, high: boxHigh, into: slab, first: first)
                } else {
                    let bytes = try decodedChunk(n)
                    try bytes.withUnsafeBytes { try place($0, chunk: chunk, low: boxLow, high: boxHigh, into: slab, first: first) }
                    // Kept only while a later slab still needs it.
                    let last = lastElement(of: chunk)
                    if last < end { decoded[n] = nil } else { decoded[n] = (last, bytes) }
                }
            }
        }

        /// The row-major index of the last dataset element chunk `chunk` covers.
        private func lastElement(of chunk: ChunkRecord) -> Int {
            var last = 0
            for d in 0..<rank { last += (min(Int(chunk.offsets[d]) + chunkDims[d], dims[d]) - 1) * strides[d] }
            return last
        }

        private func decodedChunk(_ n: Int) throws -> [UInt8] {
            if let known = decoded[n] { return known.bytes }
            let chunk = chunks[n]
            let storedSize = try Checked.int(chunk.storedSize, "the stored size of the chunk at address \(chunk.address)")
            let stored = try file.view(at: chunk.address, count: storedSize)
            do {
                return try Filters.decode(stored, pipeline: pipeline, mask: chunk.filterMask, elementSize: elementSize, expected: chunkBytes)
            } catch let error as FormatError {
                // Say which chunk: its place in the dataset and where its bytes are.
                throw FormatError("the chunk at element offsets \(chunk.offsets) (\(storedSize) bytes at address \(chunk.address)): \(error.reason)",
                                  at: error.offset ?? (try? file.position(of: chunk.address)))
            }
        }

        /// Copies the box `[low, high)` of one whole chunk (`bytes`) into the slab that starts at output
        /// element `first`, one run along the last dimension at a time.
        private func place(_ bytes: UnsafeRawBufferPointer, chunk: ChunkRecord, low: [Int], high: [Int],
                           into slab: UnsafeMutableRawBufferPointer, first: Int) throws {
            let runBytes = (high[rank - 1] - low[rank - 1]) * elementSize
            guard runBytes > 0, let source = bytes.baseAddress, let target = slab.baseAddress else { return }
            var index = low
            while true {
                var from = 0
                var to = -first
                for d in 0..<rank {
                    from += (index[d] - Int(chunk.offsets[d])) * chunkStrides[d]
                    to += index[d] * strides[d]
                }
                let fromByte = from * elementSize
                let toByte = to * elementSize
                guard fromByte >= 0, toByte >= 0, fromByte + runBytes <= bytes.count, toByte + runBytes <= slab.count else {
                    throw FormatError("a run of the chunk at element offsets \(chunk.offsets) falls outside its buffers (internal check)")
                }
                target.advanced(by: toByte).copyMemory(from: source.advanced(by: fromByte), byteCount: runBytes)
                // Advance the odometer over all dimensions but the last.
                var d = rank - 2
                while d >= 0 {
                    index[d] += 1
                    if index[d] < high[d] { break }
                    index[d] = low[d]
                    d -= 1
                }
                if d < 0 { return }
            }
        }
    }
}

/// Filling memory with one element's bytes repeated.
enum Fill {
    /// Fills `buffer` with `value` repeated (zeros when nil, empty or all zero). The buffer's size is a
    /// multiple of the value's.
    static func pattern(_ buffer: UnsafeMutableRawBufferPointer, with value: [UInt8]?) {
        guard let value, !value.isEmpty, value.contains(where: { $0 != 0 }), let base = buffer.baseAddress else {
            if buffer.count > 0 { buffer.initializeMemory(as: UInt8.self, repeating: 0) }
            return
        }
        let first = min(value.count, buffer.count)
        value.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: first) }
        // Doubling copies: each copies what is already there.
        var done = first
        while done < buffer.count {
            let next = min(done, buffer.count - done)
            (base + done).copyMemory(from: base, byteCount: next)
            done += next
        }
    }
}

extension Array {
    /// The first index whose element satisfies `predicate`, for an array partitioned by it (false then true).
    func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if predicate(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
