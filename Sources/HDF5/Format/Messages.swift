// IV.A.2 Header messages other than the datatype: dataspace, link info, fill value, link, data layout,
// filter pipeline, attribute, attribute info and symbol table.

/// IV.A.2.b Dataspace Message. `nil` dims: the null dataspace; `[]`: scalar.
enum DataspaceMessage {
    static let maximumRank = 32

    static func decode(_ cursor: inout Cursor) throws -> [UInt64]? {
        try decodeWithMaximum(&cursor).dims
    }

    /// The dimensions and, when the message has them, the maximum dimensions (`UInt64.max` for an
    /// unlimited one).
    static func decodeWithMaximum(_ cursor: inout Cursor) throws -> (dims: [UInt64]?, maximum: [UInt64]?) {
        let start = cursor.position
        let version = try cursor.u8()
        let rank = Int(try cursor.u8())
        let flags = try cursor.u8()
        guard rank <= maximumRank else {
            throw FormatError("a dataspace of rank \(rank) (at most \(maximumRank) are allowed)", at: start)
        }
        var isNull = false
        switch version {
        case 1:
            try cursor.skip(5)  // reserved
        case 2:
            let type = try cursor.u8()
            switch type {
            case 0: guard rank == 0 else { throw FormatError("a scalar dataspace with rank \(rank)", at: start) }
            case 1: break
            case 2: isNull = true
            default: throw FormatError("dataspace type \(type) is not valid (0 scalar, 1 simple, 2 null)", at: start)
            }
        default:
            throw FormatError("dataspace message version \(version) is not supported (only 1 and 2)", at: start)
        }
        var dims: [UInt64] = []
        for _ in 0..<rank { dims.append(try cursor.length()) }
        var maximum: [UInt64]?
        if flags & 1 != 0 {
            let unlimited = cursor.file.lengthSize == 8 ? UInt64.max : (UInt64(1) << UInt64(cursor.file.lengthSize * 8)) - 1
            var values: [UInt64] = []
            for _ in 0..<rank {
                let value = try cursor.length()
                values.append(value == unlimited ? .max : value)
            }
            maximum = values
        }
        if version == 1, flags & 2 != 0 { try cursor.skip(rank * cursor.file.lengthSize) }  // permutation
        return isNull ? (nil, nil) : (dims, maximum)
    }

    /// The number of elements, checked not to overflow.
    static func elementCount(_ dims: [UInt64]?, at position: Int?) throws -> UInt64 {
        guard let dims else { return 0 }
        var count: UInt64 = 1
        for d in dims {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw FormatError("a dataspace with dimensions \(dims) has too many elements", at: position) }
            count = product
        }
        return count
    }
}

/// IV.A.2.c Link Info Message: where a new-style group's dense link storage is.
struct LinkInfoMessage {
    var fractalHeap: UInt64?
    var nameIndex: UInt64?

    static func decode(_ cursor: inout Cursor) throws -> LinkInfoMessage {
        let start = cursor.position
        let version = try cursor.u8()
        guard version == 0 else { throw FormatError("link info message version \(version) is not supported (only 0)", at: start) }
        let flags = try cursor.u8()
        if flags & 1 != 0 { try cursor.skip(8) }  // maximum creation index
        let heap = try cursor.address()
        let names = try cursor.address()
        return LinkInfoMessage(fractalHeap: heap, nameIndex: names)
    }
}

/// IV.A.2.k Attribute Info Message: where an object's dense attribute storage is.
struct AttributeInfoMessage {
    var fractalHeap: UInt64?
    var nameIndex: UInt64?

    static func decode(_ cursor: inout Cursor) throws -> AttributeInfoMessage {
        let start = cursor.position
        let version = try cursor.u8()
        guard version == 0 else { throw FormatError("attribute info message version \(version) is not supported (only 0)", at: start) }
        let flags = try cursor.u8()
        if flags & 1 != 0 { try cursor.skip(2) }  // maximum creation index
        let heap = try cursor.address()
        let names = try cursor.address()
        return AttributeInfoMessage(fractalHeap: heap, nameIndex: names)
    }
}

/// IV.A.2.e/f Fill Value Message (old and new): the fill value bytes when one is defined.
enum FillValueMessage {
    static func decodeOld(_ cursor: inout Cursor) throws -> UnsafeRawBufferPointer? {
        let size = Int(try cursor.u32())
        return size > 0 ? try cursor.bytes(size) : nil
    }

    static func decode(_ cursor: inout Cursor) throws -> UnsafeRawBufferPointer? {
        let start = cursor.position
        let version = try cursor.u8()
        switch version {
        case 1, 2:
            try cursor.skip(2)  // space allocation time, fill value write time
            let defined = try cursor.u8()
            guard version == 1 || defined != 0 else { return nil }
            if cursor.remaining == 0 { return nil }
            let size = Int(try cursor.u32())
            let value = try cursor.bytes(size)
            return defined != 0 && size > 0 ? value : nil
        case 3:
            let flags = try cursor.u8()
            guard flags & 0x20 != 0 else { return nil }
            let size = Int(try cursor.u32())
            return size > 0 ? try cursor.bytes(size) : nil
        default:
            throw FormatError("fill value message version \(version) is not supported (only 1 to 3)", at: start)
        }
    }
}

/// IV.A.2.g Link Message: one link of a new-style group.
enum LinkMessage {
    static func decode(_ cursor: inout Cursor) throws -> HDF5Link {
        let start = cursor.position
        let version = try cursor.u8()
        guard version == 1 else { throw FormatError("link message version \(version) is not supported (only 1)", at: start) }
        let flags = try cursor.u8()
        var linkType: UInt8 = 0
        if flags & 0x08 != 0 { linkType = try cursor.u8() }
        if flags & 0x04 != 0 { try cursor.skip(8) }  // creation order
        if flags & 0x10 != 0 { try cursor.skip(1) }  // name character set
        let nameLength = try cursor.uint(1 << Int(flags & 0x03))
        guard nameLength >= 1, nameLength <= UInt64(cursor.remaining) else {
            throw FormatError("a link name of \(nameLength) bytes (the message has \(cursor.remaining) left)", at: start)
        }
        let name = String(decoding: try cursor.bytes(Int(nameLength)), as: UTF8.self)
        switch linkType {
        case 0:
            let at = cursor.position
            guard let address = try cursor.address() else {
                throw FormatError("the hard link '\(name)' has an undefined address", at: at)
            }
            return HDF5Link(name: name, target: .hard(address))
        case 1:
            let length = Int(try cursor.u16())
            let value = String(decoding: try cursor.bytes(length), as: UTF8.self)
            return HDF5Link(name: name, target: .soft(value))
        case 64:
            let length = Int(try cursor.u16())
            var info = try cursor.sub(length)
            _ = try info.u8()  // version and flags
            let file = try info.cString(limit: length)
            let object = try info.cString(limit: length)
            return HDF5Link(name: name, target: .external(file: file, object: object))
        default:
            return HDF5Link(name: name, target: .userDefined(linkType))
        }
    }
}

/// IV.A.2.i Data Layout Message, versions 1 to 4.
enum LayoutMessage {
    /// The storage, and for versions 1/2 contiguous storage (whose size is not stored) a nil size.
    struct Decoded {
        var storage: HDF5Dataset.Storage
        var sizeUnknown: Bool = false
        var version: UInt8 = 0
        /// Chunked layouts: the last dimension, the size of one element in bytes.
        var chunkElementSize: UInt64?
    }

    static func decode(_ cursor: inout Cursor, rank: Int) throws -> Decoded {
        let version = try cursor.u8()
        cursor.position -= 1
        var decoded = try decodeBody(&cursor, rank: rank)
        decoded.version = version
        return decoded
    }

    private static func decodeBody(_ cursor: inout Cursor, rank: Int) throws -> Decoded {
        let start = cursor.position
        let version = try cursor.u8()
        switch version {
        case 1, 2:
            let dimensionality = Int(try cursor.u8())
            let layoutClass = try cursor.u8()
            try cursor.skip(5)
            guard dimensionality >= 1, dimensionality <= DataspaceMessage.maximumRank + 1 else {
                throw FormatError("a data layout with \(dimensionality) dimensions", at: start)
            }
            var address: UInt64?
            if layoutClass != 0 { address = try cursor.address() }
            var dims: [UInt64] = []
            for _ in 0..<dimensionality { dims.append(UInt64(try cursor.u32())) }
            switch layoutClass {
            case 0:
                let size = Int(try cursor.u32())
                return Decoded(storage: .compact(try cursor.bytes(size)))
            case 1:
                return Decoded(storage: .contiguous(address: address, size: 0), sizeUnknown: true)
            case 2:
                return Decoded(storage: .chunked(index: .v1BTree(address: address), chunkDims: try chunkDims(dims, rank: rank, at: start)),
                               chunkElementSize: dims.last)
            default:
                throw FormatError("data layout class \(layoutClass) is not valid", at: start)
            }
        case 3, 4, 5:
            // Version 5 (libhdf5 2.0) has version 4's encoding; it only changes how the chunk index
            // stores filtered chunk sizes (always "size of lengths" bytes), see HDF5Dataset.layoutVersion.
            let layoutClass = try cursor.u8()
            switch layoutClass {
            case 0:
                let size = Int(try cursor.u16())
                return Decoded(storage: .compact(try cursor.bytes(size)))
            case 1:
                let address = try cursor.address()
                let size = try cursor.length()
                return Decoded(storage: .contiguous(address: address, size: size))
            case 2:
                return version == 3 ? try chunkedVersion3(&cursor, rank: rank, at: start)
                                    : try chunkedVersion4(&cursor, rank: rank, at: start)
            case 3:
                return Decoded(storage: .virtual)
            default:
                throw FormatError("data layout class \(layoutClass) is not valid", at: start)
            }
        default:
            throw FormatError("data layout message version \(version) is not supported (only 1 to 5)", at: start)
        }
    }

    /// The stored chunk dimensions end with the element size; the others must match the dataset's rank.
    private static func chunkDims(_ dims: [UInt64], rank: Int, at position: Int) throws -> [UInt64] {
        guard dims.count == rank + 1, rank >= 1 else {
            throw FormatError("a chunked layout with \(dims.count) dimensions for a dataset of rank \(rank) (it needs rank + 1)", at: position)
        }
        let chunk = Array(dims.dropLast())
        guard !chunk.contains(0) else {
            throw FormatError("a chunked layout with a zero chunk dimension \(chunk)", at: position)
        }
        return chunk
    }

    private static func chunkedVersion3(_ cursor: inout Cursor, rank: Int, at start: Int) throws -> Decoded {
        let dimensionality = Int(try cursor.u8())
        guard dimensionality >= 2, dimensionality <= DataspaceMessage.maximumRank + 1 else {
            throw FormatError("a chunked layout with \(dimensionality) dimensions", at: start)
        }
        let address = try cursor.address()
        var dims: [UInt64] = []
        // The last dimension is the element size; there is no separate element size field.
        for _ in 0..<dimensionality { dims.append(UInt64(try cursor.u32())) }
        return Decoded(storage: .chunked(index: .v1BTree(address: address), chunkDims: try chunkDims(dims, rank: rank, at: start)),
                               chunkElementSize: dims.last)
    }

    private static func chunkedVersion4(_ cursor: inout Cursor, rank: Int, at start: Int) throws -> Decoded {
        let flags = try cursor.u8()
        let dimensionality = Int(try cursor.u8())
        guard dimensionality >= 2, dimensionality <= DataspaceMessage.maximumRank + 1 else {
            throw FormatError("a chunked layout with \(dimensionality) dimensions", at: start)
        }
        let width = Int(try cursor.u8())
        guard (1...8).contains(width) else {
            throw FormatError("a chunked layout with \(width)-byte dimension sizes (1 to 8 are valid)", at: start)
        }
        var dims: [UInt64] = []
        for _ in 0..<dimensionality { dims.append(try cursor.uint(width)) }
        let indexType = try cursor.u8()
        let chunk = try chunkDims(dims, rank: rank, at: start)
        let index: ChunkIndex
        switch indexType {
        case 0:
            index = .v1BTree(address: try cursor.address())
        case 1:
            var filteredSize: UInt64?
            var mask: UInt32 = 0
            if flags & 0x02 != 0 {
                filteredSize = try cursor.length()
                mask = try cursor.u32()
            }
            index = .singleChunk(address: try cursor.address(), filteredSize: filteredSize, filterMask: mask)
        case 2:
            index = .implicit(address: try cursor.address())
        case 3:
            let pageBits = try cursor.u8()
            index = .fixedArray(address: try cursor.address(), pageBits: pageBits)
        case 4:
            let maxBits = try cursor.u8(), indexElements = try cursor.u8(), minPointers = try cursor.u8()
            let minElements = try cursor.u8(), pageBits = try cursor.u8()
            index = .extensibleArray(address: try cursor.address(), maxBits: maxBits, indexElements: indexElements,
                                     minPointers: minPointers, minElements: minElements, pageBits: pageBits)
        case 5:
            let nodeSize = try cursor.u32()
            let split = try cursor.u8(), merge = try cursor.u8()
            index = .v2BTree(address: try cursor.address(), nodeSize: nodeSize, splitPercent: split, mergePercent: merge)
        default:
            throw FormatError("chunk index type \(indexType) is not valid (0 to 5)", at: start)
        }
        return Decoded(storage: .chunked(index: index, chunkDims: chunk), chunkElementSize: dims.last)
    }
}

/// IV.A.2.l Filter Pipeline Message, versions 1 and 2.
enum FilterPipelineMessage {
    static let maximumFilters = 32

    static func decode(_ cursor: inout Cursor) throws -> [FilterDescription] {
        let start = cursor.position
        let version = try cursor.u8()
        let count = Int(try cursor.u8())
        guard version == 1 || version == 2 else {
            throw FormatError("filter pipeline message version \(version) is not supported (only 1 and 2)", at: start)
        }
        guard count <= maximumFilters else {
            throw FormatError("a filter pipeline with \(count) filters (at most \(maximumFilters))", at: start)
        }
        if version == 1 { try cursor.skip(6) }
        var filters: [FilterDescription] = []
        for _ in 0..<count {
            let id = try cursor.u16()
            var nameLength = 0
            if version == 1 || id >= 256 { nameLength = Int(try cursor.u16()) }
            let flags = try cursor.u16()
            let valueCount = Int(try cursor.u16())
            var name: String?
            if nameLength > 0 {
                let raw = try cursor.bytes(nameLength)
                name = String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                if version == 1 {
                    let padding = (8 - nameLength % 8) % 8
                    try cursor.skip(padding)
                }
            }
            var values: [UInt32] = []
            for _ in 0..<valueCount { values.append(try cursor.u32()) }
            if version == 1, valueCount % 2 == 1 { try cursor.skip(4) }
            filters.append(FilterDescription(id: id, flags: flags, name: name, values: values))
        }
        return filters
    }
}

/// IV.A.2.m Attribute Message, versions 1 to 3.
enum AttributeMessage {
    /// The attribute whose message `cursor` is at (a cursor of `file`), parsed once per file: its
    /// name, datatype and shape are decoded, its value stays a view into the file until asked for.
    static func decode(_ cursor: inout Cursor, in file: FileBytes) throws -> HDF5Attribute {
        let message = cursor
        return try file.state.attributes.value(message.position) {
            var c = message
            let attribute = try parse(&c, in: file)
            try file.budget.chargeItem(c.position - message.position - attribute.raw.count,
                                       "the attribute '\(attribute.name)' at byte \(message.position)")
            return attribute
        }
    }

    private static func parse(_ cursor: inout Cursor, in file: FileBytes) throws -> HDF5Attribute {
        let start = cursor.position
        let version = try cursor.u8()
        guard (1...3).contains(version) else {
            throw FormatError("attribute message version \(version) is not supported (only 1 to 3)", at: start)
        }
        let flags = try cursor.u8()
        let nameSize = Int(try cursor.u16())
        let datatypeSize = Int(try cursor.u16())
        let dataspaceSize = Int(try cursor.u16())
        if version == 3 { try cursor.skip(1) }  // name character set
        func padded(_ n: Int) -> Int { version == 1 ? (n + 7) / 8 * 8 : n }
        var nameField = try cursor.sub(padded(nameSize))
        let name = String(decoding: try nameField.bytes(nameSize).prefix(while: { $0 != 0 }), as: UTF8.self)
        var typeField = try cursor.sub(padded(datatypeSize))
        let datatype: HDF5Datatype
        if flags & 0x01 != 0 {
            datatype = try DatatypeDecoder.decode(message: try ObjectHeader.resolveSharedReference(&typeField, type: MessageType.datatype, in: file), in: file)
        } else {
            datatype = try DatatypeDecoder.decode(&typeField)
        }
        var spaceField = try cursor.sub(padded(dataspaceSize))
        let dims: [UInt64]?
        if flags & 0x02 != 0 {
            var resolved = try ObjectHeader.resolveSharedReference(&spaceField, type: MessageType.dataspace, in: file).cursor(in: file)
            dims = try DataspaceMessage.decode(&resolved)
        } else {
            dims = try DataspaceMessage.decode(&spaceField)
        }
        let elements = try DataspaceMessage.elementCount(dims, at: start)
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: UInt64(datatype.size))
        guard !overflow, bytes <= UInt64(cursor.remaining) else {
            throw FormatError("attribute '\(name)' needs \(elements) elements of \(datatype.size) bytes but its message has \(cursor.remaining) bytes left", at: start)
        }
        let raw = try cursor.bytes(Int(bytes))
        let shape = try dims.map { try $0.map { d -> Int in
            guard let v = Int(exactly: d) else { throw FormatError("attribute '\(name)' has a dimension of \(d)", at: start) }
            return v
        } }
        return HDF5Attribute(name: name, datatype: datatype, shape: shape, raw: raw)
    }
}

/// IV.A.2.r Symbol Table Message: an old-style group's B-tree and local heap.
struct SymbolTableMessage {
    var btree: UInt64
    var heap: UInt64

    static func decode(_ cursor: inout Cursor) throws -> SymbolTableMessage {
        let start = cursor.position
        guard let btree = try cursor.address(), let heap = try cursor.address() else {
            throw FormatError("a symbol table message has an undefined B-tree or local heap address", at: start)
        }
        return SymbolTableMessage(btree: btree, heap: heap)
    }
}
