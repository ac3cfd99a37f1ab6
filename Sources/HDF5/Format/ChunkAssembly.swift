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
        let grid = try ChunkGrid(datasetDims: datasetDims, chunkDims: chunkDims, maxDims: nil, elementSize: elementSize)
        var elements: UInt64 = 1
        for size in datasetDims { elements = try Checked.multiply(elements, size, "the number of elements") }
        let total = try Checked.multiply(elements, UInt64(elementSize), "the dataset size in bytes")
        guard total == UInt64(destination.count) else {
            throw FormatError("the dataset holds \(total) bytes but the destination has \(destination.count)")
        }
        if let fill, fill.count != elementSize {
            throw FormatError("a fill value of \(fill.count) bytes for elements of \(elementSize) bytes")
        }
        let chunkBytes = try Checked.int(grid.chunkBytes, "the chunk size in bytes")
        guard grid.chunkBytes <= UInt64(UInt32.max) else {
            throw FormatError("chunks of \(grid.chunkBytes) bytes; HDF5 chunks hold less than 4 GiB")
        }
        // A filtered chunk is decoded whole before its in-bounds part is copied: one far larger than the
        // dataset would cost memory the tensor does not justify (a damaged layout can claim that).
        if !pipeline.isEmpty, chunkBytes > max(destination.count.multipliedReportingOverflow(by: 64).partialValue, 1 << 26) {
            throw FormatError("compressed chunks of \(chunkBytes) bytes for a dataset of \(destination.count) bytes; Recast does not decode chunks that much larger than their dataset")
        }
        let rank = grid.rank

        // Each chunk's position, checked, before any bytes move.
        var chunkTotal: UInt64 = 1
        for count in grid.chunkCounts { chunkTotal = try Checked.multiply(chunkTotal, count, "the number of chunks") }
        guard UInt64(chunks.count) <= chunkTotal else {
            throw FormatError("the index lists \(chunks.count) chunks but the dataset has room for \(chunkTotal)")
        }
        // One bit per chunk position (row-major over the chunk grid); the grid has at most one chunk
        // per element, so the bitmap is smaller than the destination.
        var down = [UInt64](repeating: 1, count: rank)
        for k in stride(from: rank - 2, through: 0, by: -1) { down[k] = down[k + 1] &* grid.chunkCounts[k + 1] }   // ≤ the checked total unless it is 0
        var seen = [UInt8](repeating: 0, count: Int(chunkTotal / 8) + 1)
        for chunk in chunks {
            guard chunk.offsets.count == rank else {
                throw FormatError("a chunk at address \(chunk.address) has \(chunk.offsets.count) offsets for a dataset of rank \(rank)")
            }
            for k in 0..<rank {
                guard chunk.offsets[k] % chunkDims[k] == 0 else {
                    throw FormatError("a chunk at address \(chunk.address) starts at \(chunk.offsets[k]) in dimension \(k), not a multiple of the chunk size \(chunkDims[k])")
                }
                guard chunk.offsets[k] < datasetDims[k] else {
                    throw FormatError("a chunk at address \(chunk.address) starts at \(chunk.offsets[k]) in dimension \(k), outside the dataset's \(datasetDims[k])")
                }
            }
            var position: UInt64 = 0
            for k in 0..<rank { position &+= chunk.offsets[k] / chunkDims[k] &* down[k] }
            let byte = Int(position / 8)
            let bit = UInt8(1) << UInt8(position % 8)
            guard seen[byte] & bit == 0 else {
                throw FormatError("two chunks cover the same place \(chunk.offsets) (one at address \(chunk.address))")
            }
            seen[byte] |= bit
        }

        // Places no chunk covers read as the fill value.
        if UInt64(chunks.count) < chunkTotal, destination.count > 0 {
            if let fill, fill.contains(where: { $0 != 0 }) {
                var k = 0
                while k < destination.count {
                    for b in 0..<elementSize { destination[k + b] = fill[b] }
                    k += elementSize
                }
            } else {
                destination.initializeMemory(as: UInt8.self, repeating: 0)
            }
        }

        let layout = try Layout(grid: grid, elementSize: elementSize)
        var start = [Int](repeating: 0, count: rank)
        var extent = [Int](repeating: 0, count: rank)
        var index = [Int](repeating: 0, count: rank)
        func place(_ bytes: UnsafeRawBufferPointer, at offsets: [UInt64]) throws {
            try layout.place(bytes, at: offsets, into: destination, start: &start, extent: &extent, index: &index)
        }
        for chunk in chunks {
            if pipeline.isEmpty {
                guard chunk.storedSize >= grid.chunkBytes else {
                    throw FormatError("the chunk at address \(chunk.address) stores \(chunk.storedSize) bytes but an unfiltered chunk holds \(chunkBytes)")
                }
                let bytes = try file.view(at: chunk.address, count: chunkBytes)
                try place(bytes, at: chunk.offsets)
            } else {
                let storedSize = try Checked.int(chunk.storedSize, "the stored size of the chunk at address \(chunk.address)")
                let stored = try file.view(at: chunk.address, count: storedSize)
                let decoded: [UInt8]
                do {
                    decoded = try Filters.decode(stored, pipeline: pipeline, mask: chunk.filterMask,
                                                 elementSize: elementSize, expected: chunkBytes)
                } catch let error as FormatError {
                    // Say which chunk: its place in the dataset and where its bytes are.
                    throw FormatError("the chunk at element offsets \(chunk.offsets) (\(storedSize) bytes at address \(chunk.address)): \(error.reason)",
                                      at: error.offset ?? (try? file.position(of: chunk.address)))
                }
                try decoded.withUnsafeBytes { try place($0, at: chunk.offsets) }
            }
        }
    }

    /// Strides of a whole chunk and of the dataset, in elements, for copying chunks into place.
    private struct Layout {
        let rank: Int
        let elementSize: Int
        let chunkDims: [UInt64]
        let datasetDims: [UInt64]
        var chunkStride: [Int]
        var dataStride: [Int]

        init(grid: ChunkGrid, elementSize: Int) throws {
            rank = grid.rank
            self.elementSize = elementSize
            chunkDims = grid.chunkDims
            datasetDims = grid.datasetDims
            // Both products are bounded by sizes already checked (the chunk bytes, the destination).
            chunkStride = [Int](repeating: 1, count: rank)
            dataStride = [Int](repeating: 1, count: rank)
            for k in stride(from: rank - 2, through: 0, by: -1) {
                chunkStride[k] = chunkStride[k + 1] * (try Checked.int(chunkDims[k + 1], "a chunk dimension"))
                dataStride[k] = dataStride[k + 1] * (try Checked.int(datasetDims[k + 1], "a dataset dimension"))
            }
        }

        /// Copies the part of one whole chunk (`bytes`) that lies inside the dataset into place, one
        /// run along the last dimension at a time. `start`, `extent` and `index` are scratch space.
        func place(_ bytes: UnsafeRawBufferPointer, at offsets: [UInt64], into destination: UnsafeMutableRawBufferPointer,
                   start: inout [Int], extent: inout [Int], index: inout [Int]) throws {
            for k in 0..<rank {
                // Offsets were checked to lie inside the dataset, so these fit.
                extent[k] = Int(min(chunkDims[k], datasetDims[k] - offsets[k]))
                start[k] = Int(offsets[k])
                index[k] = 0
            }
            let runBytes = extent[rank - 1] * elementSize
            guard runBytes > 0, let source = bytes.baseAddress, let target = destination.baseAddress else { return }
            while true {
                var from = 0
                var to = 0
                for k in 0..<rank {
                    from += index[k] * chunkStride[k]
                    to += (start[k] + index[k]) * dataStride[k]
                }
                let fromByte = from * elementSize
                let toByte = to * elementSize
                guard fromByte + runBytes <= bytes.count, toByte + runBytes <= destination.count else {
                    throw FormatError("a run of the chunk at element offsets \(offsets) falls outside its buffers (internal check)")
                }
                target.advanced(by: toByte).copyMemory(from: source.advanced(by: fromByte), byteCount: runBytes)
                // Advance the odometer over all dimensions but the last.
                var k = rank - 2
                while k >= 0 {
                    index[k] += 1
                    if index[k] < extent[k] { break }
                    index[k] = 0
                    k -= 1
                }
                if k < 0 { return }
            }
        }
    }
}
