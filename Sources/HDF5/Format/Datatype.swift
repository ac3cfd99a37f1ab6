// IV.A.2.d Datatype Message: every class of version 1 to 3 encodings.

/// One member of a compound datatype.
struct HDF5CompoundMember: Sendable {
    var name: String
    /// Byte offset of the member inside one element.
    var offset: Int
    var type: HDF5Datatype
}

indirect enum HDF5Datatype: Sendable {
    case fixedPoint(size: Int, bigEndian: Bool, signed: Bool, bitOffset: Int, precision: Int)
    case floatingPoint(size: Int, bigEndian: Bool, signPosition: Int, exponentPosition: Int, exponentBits: Int,
                       mantissaPosition: Int, mantissaBits: Int, bias: Int)
    case time(size: Int)
    /// padding 0 null-terminated, 1 null-padded, 2 space-padded.
    case string(size: Int, padding: UInt8, utf8: Bool)
    case bitfield(size: Int)
    case opaque(size: Int, tag: String)
    case compound(size: Int, members: [HDF5CompoundMember])
    case reference(size: Int)
    case enumeration(base: HDF5Datatype, names: [String], values: [[UInt8]])
    case variableLength(base: HDF5Datatype, isString: Bool, utf8: Bool)
    case array(base: HDF5Datatype, dims: [Int])

    /// Bytes per element as stored. A variable-length element is its heap reference (4 + offset size + 4).
    var size: Int {
        switch self {
        case .fixedPoint(let size, _, _, _, _), .floatingPoint(let size, _, _, _, _, _, _, _), .time(let size),
             .string(let size, _, _), .bitfield(let size), .opaque(let size, _), .compound(let size, _),
             .reference(let size):
            return size
        case .enumeration(let base, _, _):
            return base.size
        case .variableLength:
            return variableLengthSize
        case .array(let base, let dims):
            var total = base.size
            for d in dims {
                let (product, overflow) = total.multipliedReportingOverflow(by: d)
                if overflow { return Int.max }
                total = product
            }
            return total
        }
    }

    /// The stored size of a variable-length element, fixed when the type is decoded.
    private var variableLengthSize: Int { 16 }
}

/// Decoding limits and context for datatype messages.
enum DatatypeDecoder {
    static let maximumDepth = 16
    static let maximumRank = 32

    /// The datatype of a datatype message (a whole message of `file`, such as a shared or committed
    /// one many objects refer to), decoded once per file.
    static func decode(message: RawMessage, in file: FileBytes) throws -> HDF5Datatype {
        try file.state.datatypes.value(message.position) {
            try file.budget.chargeItem(message.body.count, "the datatype message at byte \(message.position)")
            var c = message.cursor(in: file)
            return try decode(&c)
        }
    }

    /// Decodes one datatype message from `cursor` (advancing past it).
    static func decode(_ cursor: inout Cursor, depth: Int = 0) throws -> HDF5Datatype {
        let start = cursor.position
        guard depth < maximumDepth else {
            throw FormatError("a datatype nests more than \(maximumDepth) levels deep", at: start)
        }
        let classAndVersion = try cursor.u8()
        let typeClass = classAndVersion & 0x0F
        let version = classAndVersion >> 4
        guard (1...5).contains(version) else {
            throw FormatError("datatype message version \(version) is not supported (only 1 to 5)", at: start)
        }
        let b0 = try cursor.u8(), b1 = try cursor.u8(), b2 = try cursor.u8()
        let bits = UInt32(b0) | UInt32(b1) << 8 | UInt32(b2) << 16
        let size = Int(try cursor.u32())
        switch typeClass {
        case 0:
            let offset = Int(try cursor.u16()), precision = Int(try cursor.u16())
            return .fixedPoint(size: size, bigEndian: bits & 1 != 0, signed: bits & 0x08 != 0,
                               bitOffset: offset, precision: precision)
        case 1:
            let order = (bits & 1) | ((bits >> 5) & 2)
            guard order < 2 else {
                throw FormatError("a floating-point datatype with VAX byte order is not supported", at: start)
            }
            let offset = Int(try cursor.u16()), precision = Int(try cursor.u16())
            _ = offset; _ = precision
            let exponentPosition = Int(try cursor.u8()), exponentBits = Int(try cursor.u8())
            let mantissaPosition = Int(try cursor.u8()), mantissaBits = Int(try cursor.u8())
            let bias = Int(try cursor.u32())
            return .floatingPoint(size: size, bigEndian: order == 1, signPosition: Int((bits >> 8) & 0xFF),
                                  exponentPosition: exponentPosition, exponentBits: exponentBits,
                                  mantissaPosition: mantissaPosition, mantissaBits: mantissaBits, bias: bias)
        case 2:
            _ = try cursor.u16()  // bit precision
            return .time(size: size)
        case 3:
            return .string(size: size, padding: UInt8(bits & 0x0F), utf8: (bits >> 4) & 0x0F == 1)
        case 4:
            _ = try cursor.u16(); _ = try cursor.u16()  // bit offset, precision
            return .bitfield(size: size)
        case 5:
            let tagLength = Int(bits & 0xFF)
            let tagBytes = try cursor.bytes(tagLength)
            let tag = String(decoding: tagBytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            return .opaque(size: size, tag: tag)
        case 6:
            return try compound(&cursor, version: version, count: Int(bits & 0xFFFF), size: size, depth: depth)
        case 7:
            return .reference(size: size)
        case 8:
            let count = Int(bits & 0xFFFF)
            let base = try decode(&cursor, depth: depth + 1)
            var names: [String] = []
            for _ in 0..<count {
                names.append(try name(&cursor, padded: version < 3))
            }
            let baseSize = base.size
            guard baseSize > 0, baseSize <= 64 else {
                throw FormatError("an enumeration's base type has \(baseSize) bytes per value", at: start)
            }
            var values: [[UInt8]] = []
            for _ in 0..<count { values.append(Array(try cursor.bytes(baseSize))) }
            return .enumeration(base: base, names: names, values: values)
        case 9:
            let isString = bits & 0x0F == 1
            let utf8 = (bits >> 8) & 0x0F == 1
            let base = try decode(&cursor, depth: depth + 1)
            let stored = 4 + cursor.file.offsetSize + 4
            guard size == stored, cursor.file.offsetSize == 8 else {
                throw FormatError("a variable-length datatype of \(size) bytes per element in a file with \(cursor.file.offsetSize)-byte addresses is not supported (only 16-byte elements with 8-byte addresses)", at: start)
            }
            return .variableLength(base: base, isString: isString, utf8: utf8)
        case 10:
            let rank = Int(try cursor.u8())
            guard rank >= 1, rank <= maximumRank else {
                throw FormatError("an array datatype of rank \(rank) (only 1 to \(maximumRank) are valid)", at: start)
            }
            if version < 3 { try cursor.skip(3) }
            var dims: [Int] = []
            for _ in 0..<rank { dims.append(Int(try cursor.u32())) }
            if version < 3 { try cursor.skip(4 * rank) }  // permutation indices
            let base = try decode(&cursor, depth: depth + 1)
            let array = HDF5Datatype.array(base: base, dims: dims)
            guard array.size == size else {
                throw FormatError("an array datatype of \(size) bytes holds elements that need \(array.size)", at: start)
            }
            return array
        case 11:
            throw FormatError("the complex number datatype class (HDF5 2.0) is not supported", at: start)
        default:
            throw FormatError("datatype class \(typeClass) is not supported", at: start)
        }
    }

    /// A NUL-terminated name; versions 1 and 2 pad it (with its NUL) to a multiple of 8 bytes.
    private static func name(_ cursor: inout Cursor, padded: Bool) throws -> String {
        let start = cursor.position
        let text = try cursor.cString(limit: 1 << 16)
        if padded { try cursor.align(8, from: start) }
        return text
    }

    private static func compound(_ cursor: inout Cursor, version: UInt8, count: Int, size: Int, depth: Int) throws -> HDF5Datatype {
        var members: [HDF5CompoundMember] = []
        // Version 3 stores each offset in as few bytes as the element size needs.
        let offsetWidth = size < 1 << 8 ? 1 : size < 1 << 16 ? 2 : size < 1 << 24 ? 3 : 4
        for _ in 0..<count {
            let memberAt = cursor.position
            let memberName = try name(&cursor, padded: version < 3)
            let offset: Int
            var type: HDF5Datatype
            if version == 1 {
                offset = Int(try cursor.u32())
                let rank = Int(try cursor.u8())
                try cursor.skip(3 + 4 + 4)  // reserved, permutation, reserved
                var dims: [Int] = []
                for k in 0..<4 {
                    let d = Int(try cursor.u32())
                    if k < rank { dims.append(d) }
                }
                guard rank <= 4 else {
                    throw FormatError("compound member '\(memberName)' has \(rank) dimensions; version 1 allows at most 4", at: memberAt)
                }
                type = try decode(&cursor, depth: depth + 1)
                if rank > 0 { type = .array(base: type, dims: dims) }
            } else {
                offset = Int(try cursor.uint(version == 2 ? 4 : offsetWidth))
                type = try decode(&cursor, depth: depth + 1)
            }
            let memberSize = type.size
            guard offset <= size, memberSize <= size - offset else {
                throw FormatError("compound member '\(memberName)' at offset \(offset) with \(memberSize) bytes does not fit in its \(size)-byte element", at: memberAt)
            }
            members.append(HDF5CompoundMember(name: memberName, offset: offset, type: type))
        }
        return .compound(size: size, members: members)
    }
}
