// Attribute values: strings (fixed-length, and variable-length through the global heap, III.E) and
// integers of any width and byte order.

struct HDF5Attribute: @unchecked Sendable {
    // @unchecked: `raw` views the read-only mapping of the file, which outlives every attribute. A view
    // rather than a copy: many objects may refer to one large shared attribute, and only the values
    // asked for are decoded (each decoding charged to the file's work budget).
    var name: String
    var datatype: HDF5Datatype
    /// nil: null dataspace; []: scalar.
    var shape: [Int]?
    /// The stored value bytes (a view into the file).
    var raw: UnsafeRawBufferPointer

    /// The number of elements (0 for a null dataspace).
    var elementCount: Int {
        guard let shape else { return 0 }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { return .max }
            count = product
        }
        return count
    }

    /// Strings (fixed: NUL/space padding removed; variable: through the global heap); nil if not a string type.
    func strings(in file: HDF5File) throws -> [String]? {
        try file.file.budget.chargeItem(raw.count, "the value of attribute '\(name)'")
        return try StringValues.decode(raw, datatype: datatype, in: file)
    }

    /// Integers of any width and byte order as Int; nil if not an integer type.
    func integers() throws -> [Int]? {
        guard case .fixedPoint(let size, let bigEndian, let signed, _, _) = datatype else { return nil }
        guard (1...8).contains(size) else {
            throw FormatError("attribute '\(name)' has \(size)-byte integers; only 1 to 8 bytes are supported")
        }
        guard raw.count <= 1 << 20 else {
            throw FormatError("attribute '\(name)' holds \(raw.count / size) integers; at most \(1 << 20 / size) are read")
        }
        var values: [Int] = []
        var index = 0
        while index + size <= raw.count {
            var bits: UInt64 = 0
            for k in 0..<size {
                let byte = UInt64(raw[index + (bigEndian ? size - 1 - k : k)])
                bits |= byte << UInt64(8 * k)
            }
            if signed {
                let shift = UInt64(64 - 8 * size)
                values.append(Int(Int64(bitPattern: bits << shift) >> Int64(shift)))
            } else {
                guard let value = Int(exactly: bits) else {
                    throw FormatError("attribute '\(name)' holds the unsigned value \(bits), too large for Int")
                }
                values.append(value)
            }
            index += size
        }
        return values
    }
}

enum StringValues {
    /// Decodes every element of `raw` when `datatype` is a fixed- or variable-length string type.
    static func decode(_ raw: UnsafeRawBufferPointer, datatype: HDF5Datatype, in file: HDF5File) throws -> [String]? {
        switch datatype {
        case .string(let size, let padding, _):
            guard size > 0 else { return [] }
            var strings: [String] = []
            var index = 0
            while index + size <= raw.count {
                // Null-terminated: up to the first NUL. Null-padded: trailing NULs removed. Space-padded:
                // trailing spaces (and NULs) removed.
                var element = UnsafeRawBufferPointer(rebasing: raw[index..<(index + size)])
                if padding == 0, let nul = element.firstIndex(of: 0) {
                    element = UnsafeRawBufferPointer(rebasing: element[..<nul])
                }
                var end = element.count
                while end > 0, element[end - 1] == 0 || (padding == 2 && element[end - 1] == 0x20) { end -= 1 }
                element = UnsafeRawBufferPointer(rebasing: element[..<end])
                strings.append(String(decoding: element, as: UTF8.self))
                index += size
            }
            return strings
        case .variableLength(_, let isString, _):
            guard isString else { return nil }
            let elementSize = datatype.size
            var strings: [String] = []
            var index = 0
            while index + elementSize <= raw.count {
                let element = UnsafeRawBufferPointer(rebasing: raw[index..<(index + elementSize)])
                let bytes = try GlobalHeap.element(element, in: file)
                try file.file.budget.chargeItem(bytes.count, "a variable-length string")
                strings.append(String(decoding: bytes, as: UTF8.self))
                index += elementSize
            }
            return strings
        default:
            return nil
        }
    }
}

/// III.E Global Heap (`GCOL`): the collections that hold variable-length data.
enum GlobalHeap {
    /// The largest collection accepted.
    static let maximumObjects = 1 << 20

    /// The bytes of one variable-length element: length (u32), collection address, object index (u32).
    static func element(_ reference: UnsafeRawBufferPointer, in file: HDF5File) throws -> UnsafeRawBufferPointer {
        let offsetSize = file.file.offsetSize
        guard reference.count >= 8 + offsetSize else {
            throw FormatError("a variable-length element of \(reference.count) bytes is too short")
        }
        func uint(_ at: Int, _ size: Int) -> UInt64 {
            var value: UInt64 = 0
            for k in 0..<size { value |= UInt64(reference[at + k]) << UInt64(8 * k) }
            return value
        }
        let length = uint(0, 4)
        let collection = uint(4, offsetSize)
        let index = uint(4 + offsetSize, 4)
        if length == 0 && (collection == 0 || collection == file.file.undefinedAddress) { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let objects = try collectionIndex(at: collection, in: file)
        guard index <= UInt64(UInt16.max), let object = objects[UInt16(index)] else {
            throw FormatError("the global heap collection at address \(collection) has no object \(index)")
        }
        guard length <= UInt64(object.size) else {
            throw FormatError("a variable-length element of \(length) items lies in a global heap object of \(object.size) bytes", at: object.position)
        }
        return UnsafeRawBufferPointer(rebasing: file.file.bytes[object.position..<(object.position + Int(length))])
    }

    /// The objects of the collection at `address`, indexed once per file.
    static func collectionIndex(at address: UInt64, in file: HDF5File) throws -> [UInt16: (position: Int, size: Int)] {
        try file.file.state.globalHeaps.value(address) { try readCollection(at: address, in: file) }
    }

    private static func readCollection(at address: UInt64, in file: HDF5File) throws -> [UInt16: (position: Int, size: Int)] {
        let bytes = file.file
        var header = try bytes.cursor(at: address)
        let start = header.position
        try header.expect(signature: "GCOL")
        let version = try header.u8()
        guard version == 1 else { throw FormatError("global heap version \(version) is not supported (only 1)", at: start) }
        try header.skip(3)
        let size = try header.length(atMost: bytes.count - start, "the global heap collection's size")
        guard size >= header.position - start else {
            throw FormatError("a global heap collection of \(size) bytes is smaller than its header", at: start)
        }
        try bytes.budget.charge(size, "the global heap collection at address \(address)")
        var cursor = Cursor(file: bytes, position: header.position, end: start + size)
        var objects: [UInt16: (position: Int, size: Int)] = [:]
        while cursor.remaining >= 8 + bytes.lengthSize, objects.count < maximumObjects {
            let index = try cursor.u16()
            if index == 0 { break }  // the free space runs to the end of the collection
            try cursor.skip(6)  // reference count, reserved
            let objectSize = try cursor.length(atMost: cursor.remaining, "a global heap object's size")
            let position = cursor.position
            try cursor.skip(objectSize)
            objects[index] = (position, objectSize)
            try bytes.budget.charge(WorkBudget.perItem, "the global heap collection at address \(address)")
            if cursor.remaining > 0 { try? cursor.align(8, from: start) }
        }
        return objects
    }
}
