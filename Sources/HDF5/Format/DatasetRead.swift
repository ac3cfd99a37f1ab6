// Reading a dataset's elements, in the file's byte order, from contiguous, compact or chunked storage.

extension HDF5Dataset {
    /// elements × datatype.size, checked; nil dataspace has 0 elements.
    func byteCount() throws -> Int {
        let elements = try DataspaceMessage.elementCount(shape.map { $0.map { UInt64($0) } }, at: nil)
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: UInt64(max(datatype.size, 0)))
        guard !overflow, let count = Int(exactly: bytes) else {
            throw FormatError("the dataset's \(elements) elements of \(datatype.size) bytes do not fit in memory")
        }
        return count
    }
}

extension HDF5File {
    /// The dataset's elements in the file's byte order, into exactly elements × datatype.size bytes.
    /// Contiguous storage not allocated (address nil) and missing chunks read as the fill value or zeros.
    /// Storage smaller than the elements need is an error. Chunked goes through ChunkAssembly.
    func read(_ dataset: HDF5Dataset, into destination: UnsafeMutableRawBufferPointer) throws {
        let needed = try dataset.byteCount()
        guard destination.count == needed else {
            throw FormatError("the dataset needs a buffer of \(needed) bytes, not \(destination.count)")
        }
        if needed == 0 { return }
        guard !dataset.hasExternalFiles else {
            throw FormatError("datasets whose data is stored in external files are not supported")
        }
        switch dataset.storage {
        case .contiguous(let address, let size):
            guard let address else { return fill(destination, with: dataset) }
            guard size >= UInt64(needed) else {
                throw FormatError("the dataset's contiguous storage has \(size) bytes but its elements need \(needed)")
            }
            let source = try file.view(at: address, count: needed)
            destination.copyMemory(from: source)
        case .compact(let bytes):
            guard bytes.count >= needed else {
                throw FormatError("the dataset's compact storage has \(bytes.count) bytes but its elements need \(needed)")
            }
            destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<needed]))
        case .chunked(let index, let chunkDims):
            guard let shape = dataset.shape, shape.count == chunkDims.count else {
                throw FormatError("a chunked dataset's rank differs from its chunks' rank \(chunkDims.count)")
            }
            if index.address == nil { return fill(destination, with: dataset) }
            let dims = shape.map { UInt64($0) }
            let elementSize = dataset.datatype.size
            let chunks = try ChunkIndexes.chunks(index, datasetDims: dims, chunkDims: chunkDims, elementSize: elementSize,
                                                 filtered: !dataset.filters.isEmpty, maxDims: dataset.maximumShape, in: file)
            try ChunkAssembly.read(chunks: chunks, datasetDims: dims, chunkDims: chunkDims, elementSize: elementSize,
                                   pipeline: dataset.filters, fill: usableFill(dataset), in: file, into: destination)
        case .virtual:
            throw FormatError("virtual datasets are not supported")
        }
    }

    /// A zero-copy view when the storage is contiguous, allocated and in bounds; nil otherwise.
    func contiguousBytes(_ dataset: HDF5Dataset) throws -> UnsafeRawBufferPointer? {
        guard case .contiguous(let address, let size) = dataset.storage, let address, !dataset.hasExternalFiles else { return nil }
        let needed = try dataset.byteCount()
        guard size >= UInt64(needed) else {
            throw FormatError("the dataset's contiguous storage has \(size) bytes but its elements need \(needed)")
        }
        return try file.view(at: address, count: needed)
    }

    /// The fill value when it is exactly one element.
    private func usableFill(_ dataset: HDF5Dataset) -> [UInt8]? {
        guard let fill = dataset.fillValue, fill.count == dataset.datatype.size else { return nil }
        return Array(fill)
    }

    private func fill(_ destination: UnsafeMutableRawBufferPointer, with dataset: HDF5Dataset) {
        Fill.pattern(destination, with: usableFill(dataset))
    }

    /// The dataset's elements in the file's byte order, handed to `consume` in consecutive pieces of at
    /// most `pieceBytes` bytes (at least one element; each a whole number of elements) that add up to
    /// elements × datatype.size. Storage that was never allocated and chunks never written are
    /// streamed as the fill value from one small buffer, never materialised: a tiny file may declare a
    /// dataset of gigabytes. Chunked data is assembled slab by slab (see `ChunkAssembly.stream`).
    func stream(_ dataset: HDF5Dataset, pieceBytes: Int, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        let needed = try dataset.byteCount()
        if needed == 0 { return }
        guard !dataset.hasExternalFiles else {
            throw FormatError("datasets whose data is stored in external files are not supported")
        }
        let elementSize = max(dataset.datatype.size, 1)
        let piece = max(pieceBytes / elementSize, 1) * elementSize
        func streamFill() throws {
            let size = min(piece, needed)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
            defer { buffer.deallocate() }
            Fill.pattern(buffer, with: usableFill(dataset))
            var left = needed
            while left > 0 {
                let count = min(size, left)
                try consume(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                left -= count
            }
        }
        switch dataset.storage {
        case .contiguous(let address, let size):
            guard let address else { return try streamFill() }
            guard size >= UInt64(needed) else {
                throw FormatError("the dataset's contiguous storage has \(size) bytes but its elements need \(needed)")
            }
            let source = try file.view(at: address, count: needed)
            var start = 0
            while start < needed {
                let end = min(start + piece, needed)
                try consume(UnsafeRawBufferPointer(rebasing: source[start..<end]))
                start = end
            }
        case .compact(let bytes):
            guard bytes.count >= needed else {
                throw FormatError("the dataset's compact storage has \(bytes.count) bytes but its elements need \(needed)")
            }
            try consume(UnsafeRawBufferPointer(rebasing: bytes[..<needed]))
        case .chunked(let index, let chunkDims):
            guard let shape = dataset.shape, shape.count == chunkDims.count else {
                throw FormatError("a chunked dataset's rank differs from its chunks' rank \(chunkDims.count)")
            }
            if index.address == nil { return try streamFill() }
            let dims = shape.map { UInt64($0) }
            let chunks = try ChunkIndexes.chunks(index, datasetDims: dims, chunkDims: chunkDims, elementSize: dataset.datatype.size,
                                                 filtered: !dataset.filters.isEmpty, maxDims: dataset.maximumShape, in: file)
            try ChunkAssembly.stream(chunks: chunks, datasetDims: dims, chunkDims: chunkDims, elementSize: dataset.datatype.size,
                                     pipeline: dataset.filters, fill: usableFill(dataset), in: file, slabBytes: piece, consume)
        case .virtual:
            throw FormatError("virtual datasets are not supported")
        }
    }
}

extension ChunkIndex {
    /// The index structure's address; nil when no chunk has been written.
    var address: UInt64? {
        switch self {
        case .v1BTree(let a), .singleChunk(let a, _, _), .implicit(let a), .fixedArray(let a, _),
             .extensibleArray(let a, _, _, _, _, _), .v2BTree(let a, _, _, _):
            return a
        }
    }
}
