import RecastCore

/// One tensor info of a GGUF file.
public struct GGUFTensorInfo: Sendable, Hashable {
    public var name: String
    public var type: DType
    /// Dimensions as GGUF stores them, innermost (the row length, `ne[0]`) first.
    public var dimensions: [Int]
    /// Byte offset of the data from the start of the data section.
    public var offset: Int
    /// Bytes of data: whole blocks of `type`.
    public var byteCount: Int
    /// File offset where this tensor info begins, for messages.
    public var infoOffset: Int

    /// Dimensions outermost first, as NumPy, PyTorch and safetensors order them.
    public var shape: [Int] { dimensions.reversed() }
    public var elementCount: Int { RecastCore.elementCount(of: dimensions) ?? 0 }
}

/// A parsed and validated GGUF header: version, metadata, tensor infos and where the data lies.
///
/// Reads versions 2 and 3, little-endian. Validation is strict, with one message per rule, each naming
/// the file and the byte offset: a truncated file; counts and string lengths larger than the file could
/// hold (checked before anything is allocated); strings that are not UTF-8; duplicate keys or tensor
/// names; unknown value or tensor types; dimension products that overflow; rows that are not a whole
/// number of blocks; tensor offsets that are misaligned, overlap, or lie outside the data section.
public struct GGUFHeader: Sendable {
    /// The magic `GGUF` as a little-endian 32-bit number.
    public static let magic: UInt32 = 0x4655_4747
    /// Alignment of tensor data when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// GGML's limit on a tensor's dimensions (`GGML_MAX_DIMS`).
    public static let maxDimensions = 4
    /// The largest `general.alignment` accepted.
    public static let maxAlignment: UInt32 = 1 << 20
    /// Deepest nesting of arrays accepted: deeper is only ever a hostile file, and would exhaust the stack.
    public static let maxArrayDepth = 16

    public var version: Int
    /// Metadata in stored order.
    public var metadata: [(key: String, value: GGUFValue)]
    /// Tensor infos in stored order.
    public var tensors: [GGUFTensorInfo]
    public var alignment: Int
    /// File offset of the data section: the end of the tensor infos, rounded up to `alignment`.
    public var dataStart: Int

    /// The value of a metadata key.
    public func value(_ key: String) -> GGUFValue? { metadata.first { $0.key == key }?.value }

    /// Parses the header of `bytes`, a whole file.
    public static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws -> GGUFHeader {
        var cursor = GGUFCursor(bytes: bytes, file: file)
        guard bytes.count >= 4, try cursor.read(UInt32.self, "the magic") == magic else {
            throw CheckpointError(file: file, offset: 0, "does not start with the magic 'GGUF': not a GGUF file")
        }
        let version = try cursor.read(UInt32.self, "the version")
        if version & 0xFFFF == 0 && version != 0 {
            throw CheckpointError(file: file, offset: 4,
                "is a big-endian GGUF file (version \(version.byteSwapped)); Recast reads little-endian GGUF only")
        }
        if version == 1 {
            throw CheckpointError(file: file, offset: 4,
                "is GGUF version 1, which Recast does not read (versions 2 and 3 only): convert it again with a current llama.cpp")
        }
        guard version == 2 || version == 3 else {
            throw CheckpointError(file: file, offset: 4, "has GGUF version \(version); Recast reads versions 2 and 3")
        }
        let tensorCount = try cursor.read(UInt64.self, "the tensor count")
        let keyCount = try cursor.read(UInt64.self, "the metadata key count")
        // The smallest key-value pair: an 8-byte key length, a 4-byte type, a 1-byte value. The smallest
        // tensor info: an 8-byte name length, 4-byte dimension count, 4-byte type, 8-byte offset.
        try cursor.checkCount(keyCount, each: 13, "metadata entries", at: 16)
        try cursor.checkCount(tensorCount, each: 24, "tensor infos", at: 8)
        // Each entry costs more in memory than in the file (the entry, its index and name): refused before
        // anything is allocated when the counts alone would not fit.
        let entries = MemoryNeed.product([Int(keyCount), MemoryLayout<(key: String, value: GGUFValue)>.stride + 64])
            + MemoryNeed.product([Int(tensorCount), MemoryLayout<GGUFTensorInfo>.stride + 128])
        if let refusal = cursor.memory.refusal(needing: entries, for: "\(keyCount) metadata entries and \(tensorCount) tensor infos") {
            throw CheckpointError(file: file, offset: 8, refusal)
        }

        var metadata: [(key: String, value: GGUFValue)] = []
        var keyOffsets: [String: Int] = [:]
        for i in 0..<Int(keyCount) {
            let start = cursor.position
            let key = try cursor.readString("the key of metadata entry \(i)")
            if let first = keyOffsets[key] {
                throw CheckpointError(file: file, object: "key '\(key)'", offset: start,
                    "appears twice (first at byte \(first)); each metadata key must be unique")
            }
            keyOffsets[key] = start
            let value = try cursor.readValue(of: try cursor.readValueType("key '\(key)'"), "the value of key '\(key)'", depth: 0)
            metadata.append((key, value))
        }

        let alignment = try alignment(metadata, keyOffsets, file: file)
        var tensors: [GGUFTensorInfo] = []
        var nameOffsets: [String: Int] = [:]
        for i in 0..<Int(tensorCount) {
            let start = cursor.position
            let name = try cursor.readString("the name of tensor info \(i)")
            if let first = nameOffsets[name] {
                throw CheckpointError.tensor(name, in: file, offset: start,
                    "is listed twice (first at byte \(first)); each tensor name must be unique")
            }
            nameOffsets[name] = start
            tensors.append(try cursor.readTensorInfo(name, at: start, alignment: alignment))
        }

        let end = cursor.position
        let dataStart = (end + alignment - 1) / alignment * alignment
        try validateData(tensors, dataStart: dataStart, size: bytes.count, file: file)
        return GGUFHeader(version: Int(version), metadata: metadata, tensors: tensors, alignment: alignment, dataStart: dataStart)
    }

    /// `general.alignment`: a UINT32 power of two, 32 when absent.
    static func alignment(_ metadata: [(key: String, value: GGUFValue)], _ offsets: [String: Int], file: String) throws -> Int {
        let key = "general.alignment"
        guard let value = metadata.first(where: { $0.key == key })?.value else { return defaultAlignment }
        let at = offsets[key]
        guard case let .uint32(v) = value else {
            throw CheckpointError(file: file, object: "key '\(key)'", offset: at, "is a \(value.type.name); it must be a UINT32")
        }
        guard v > 0, v & (v - 1) == 0 else {
            throw CheckpointError(file: file, object: "key '\(key)'", offset: at, "is \(v); it must be a power of two")
        }
        // Real files use 32 (llama.cpp's default) or a few kilobytes at most; a larger one would make every
        // copy of the file pad each tensor with up to that many bytes.
        guard v <= maxAlignment else {
            throw CheckpointError(file: file, object: "key '\(key)'", offset: at,
                "is \(v); Recast reads alignments up to \(maxAlignment) bytes (1 MiB)")
        }
        return Int(v)
    }

    /// Each tensor's data must start at a multiple of the alignment, lie inside the data section, and
    /// not overlap another's.
    static func validateData(_ tensors: [GGUFTensorInfo], dataStart: Int, size: Int, file: String) throws {
        let available = max(0, size - dataStart)
        for t in tensors {
            let (end, overflow) = t.offset.addingReportingOverflow(t.byteCount)
            if overflow || end > available {
                let at = t.offset <= available ? dataStart + t.offset : nil
                throw CheckpointError.tensor(t.name, in: file, offset: at,
                    "data [\(t.offset), \(overflow ? "overflow" : String(end))) lies outside the data section, which holds \(available) bytes from byte \(dataStart): the file is truncated or the offset is wrong")
            }
        }
        // Empty tensors hold no bytes and overlap nothing; left in, one between two tensors would hide
        // their overlap (each tensor is compared with the one before it).
        let sorted = tensors.filter { $0.byteCount > 0 }.sorted { ($0.offset, $0.infoOffset) < ($1.offset, $1.infoOffset) }
        for (previous, t) in zip(sorted, sorted.dropFirst()) where t.offset < previous.offset + previous.byteCount {
            throw CheckpointError.tensor(t.name, in: file, offset: dataStart + t.offset,
                "data [\(t.offset), \(t.offset + t.byteCount)) overlaps tensor '\(previous.name)' at [\(previous.offset), \(previous.offset + previous.byteCount))")
        }
    }
}

/// A bounds-checked reader over the header bytes; every failure names the file and the byte offset.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var position = 0
    /// Elements of every metadata array read so far, and the memory they may take: each element is a
    /// `GGUFValue` in memory, much larger than a one-byte element in the file, so a file of a few hundred
    /// megabytes could otherwise ask for tens of gigabytes.
    var arrayElements = 0
    let memory = MemoryLimit.current()

    var remaining: Int { bytes.count - position }

    func truncated(_ what: String, needs n: Int) -> CheckpointError {
        CheckpointError(file: file, offset: position,
            "the file ends at byte \(bytes.count), inside \(what) (\(n) bytes needed): the file is truncated")
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let n = MemoryLayout<T>.size
        guard remaining >= n else { throw truncated(what(), needs: n) }
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += n
        return v
    }

    /// Refuses a count whose elements, each at least `each` bytes, could not fit in what is left of the file.
    func checkCount(_ count: UInt64, each: Int, _ what: String, at offset: Int) throws {
        guard count <= UInt64(max(0, remaining) / each) else {
            throw CheckpointError(file: file, offset: offset,
                "declares \(count) \(what), but each takes at least \(each) bytes and only \(remaining) bytes follow: the file is corrupt or truncated")
        }
    }

    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let start = position
        let length = try read(UInt64.self, "the length of \(what())")
        guard length <= UInt64(remaining) else {
            throw CheckpointError(file: file, offset: start,
                "\(what()) declares a string of \(length) bytes, but only \(remaining) bytes follow: the file is corrupt or truncated")
        }
        let n = Int(length)
        guard let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)]), as: UTF8.self) else {
            throw CheckpointError(file: file, offset: position, "\(what()) is not valid UTF-8")
        }
        position += n
        return s
    }

    mutating func readValueType(_ what: @autoclosure () -> String) throws -> GGUFValueType {
        let start = position
        let code = try read(UInt32.self, "the value type of \(what())")
        guard let type = GGUFValueType(rawValue: code) else {
            throw CheckpointError(file: file, offset: start, "\(what()) has value type \(code), which GGUF does not define (0 to 12)")
        }
        return type
    }

    mutating func readValue(of type: GGUFValueType, _ what: @autoclosure () -> String, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, what()))
        case .int8: return .int8(try read(Int8.self, what()))
        case .uint16: return .uint16(try read(UInt16.self, what()))
        case .int16: return .int16(try read(Int16.self, what()))
        case .uint32: return .uint32(try read(UInt32.self, what()))
        case .int32: return .int32(try read(Int32.self, what()))
        case .uint64: return .uint64(try read(UInt64.self, what()))
        case .int64: return .int64(try read(Int64.self, what()))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, what())))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, what())))
        case .bool:
            let start = position
            let b = try read(UInt8.self, what())
            guard b <= 1 else { throw CheckpointError(file: file, offset: start, "\(what()) is a BOOL holding \(b); only 0 and 1 are booleans") }
            return .bool(b == 1)
        case .string: return .string(try readString(what()))
        case .array:
            let start = position
            guard depth < GGUFHeader.maxArrayDepth else {
                throw CheckpointError(file: file, offset: start, "\(what()) nests arrays more than \(GGUFHeader.maxArrayDepth) deep")
            }
            let elementType = try readValueType(what())
            let count = try read(UInt64.self, "the element count of \(what())")
            try checkCount(count, each: elementType.minimumSize, "elements of type \(elementType.name) in \(what())", at: start + 4)
            arrayElements += Int(count)
            let need = MemoryNeed.product([arrayElements, MemoryLayout<GGUFValue>.stride])
            if let refusal = memory.refusal(needing: need, for: "the \(arrayElements) elements of its metadata arrays") {
                throw CheckpointError(file: file, offset: start, "\(what()): \(refusal)")
            }
            var elements: [GGUFValue] = []
            elements.reserveCapacity(Int(count))
            for i in 0..<Int(count) {
                elements.append(try readValue(of: elementType, "element \(i) of \(what())", depth: depth + 1))
            }
            return .array(GGUFArray(elementType: elementType, elements: elements))
        }
    }

    /// Reads the rest of a tensor info after its name, checking dimensions, type and row size.
    mutating func readTensorInfo(_ name: String, at start: Int, alignment: Int) throws -> GGUFTensorInfo {
        func bad(_ offset: Int, _ why: String) -> CheckpointError { .tensor(name, in: file, offset: offset, why) }
        let countAt = position
        let count = try read(UInt32.self, "the dimension count of tensor '\(name)'")
        guard count <= GGUFHeader.maxDimensions else {
            throw bad(countAt, "has \(count) dimensions; GGML allows at most \(GGUFHeader.maxDimensions)")
        }
        var dimensions: [Int] = []
        for d in 0..<Int(count) {
            let at = position
            let v = try read(UInt64.self, "dimension \(d) of tensor '\(name)'")
            guard let dim = Int(exactly: v) else { throw bad(at, "dimension \(d) is \(v), over the largest signed 64-bit size") }
            dimensions.append(dim)
        }
        let typeAt = position
        let id = try read(UInt32.self, "the type of tensor '\(name)'")
        guard let type = DType(ggmlID: id) else {
            if let old = DType.retiredGGMLTypes[id] {
                throw bad(typeAt, "has GGML type \(id) (\(old)), which GGML has removed: convert the model again with a current llama.cpp")
            }
            throw bad(typeAt, "has GGML type \(id), which GGML does not define")
        }
        let offsetAt = position
        let offset = try read(UInt64.self, "the data offset of tensor '\(name)'")
        // Zeros left out: [0, 2^63 - 1, 2] has no elements in GGUF's order, but its shape (outermost
        // first, [2, 2^63 - 1, 0]) overflows on the way for anyone multiplying it out.
        guard let elements = elementCount(of: dimensions), elementCount(of: dimensions.filter { $0 != 0 }) != nil else {
            throw bad(start, "the element count of dimensions \(dimensions) overflows")
        }
        if let row = dimensions.first, row % type.blockSize != 0 {
            throw bad(start, "rows of \(row) elements are not a whole number of \(type.rawValue) blocks (\(type.blockSize) elements each)")
        }
        guard let byteCount = type.byteCount(elements: elements) else {
            throw bad(start, "the byte size of dimensions \(dimensions) in \(type.rawValue) overflows")
        }
        guard let dataOffset = Int(exactly: offset) else {
            throw bad(offsetAt, "data offset \(offset) is over the largest signed 64-bit size")
        }
        guard dataOffset % alignment == 0 else {
            throw bad(offsetAt, "data offset \(offset) is not a multiple of the alignment \(alignment)")
        }
        return GGUFTensorInfo(name: name, type: type, dimensions: dimensions, offset: dataOffset, byteCount: byteCount, infoOffset: start)
    }
}
