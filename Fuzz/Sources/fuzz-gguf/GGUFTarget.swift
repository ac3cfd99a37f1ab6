import FuzzSupport
import GGUF
import Quantization
import RecastCore

/// The GGUF header and metadata parser and validator, from memory: the input is a whole file.
///
/// A parse must either throw a `CheckpointError` naming the file, or return a header whose promises
/// hold: version 2 or 3; the alignment `general.alignment` gives (32 without it); keys and tensor names
/// unique; arrays nested no deeper than the limit; every tensor's dimensions at most four, its rows a
/// whole number of blocks, its size the whole blocks its type and shape need, its data aligned, inside
/// the data section and overlapping no other tensor's. Every tensor's bytes are then read: floats
/// decoded through `Cast`, block-quantised types that Recast decodes through `Dequantize.rows`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let header: GGUFHeader
    do {
        header = try GGUFHeader.parse(bytes, file: "input.gguf")
    } catch let error as CheckpointError {
        Fuzz.invariant(error.file == "input.gguf", "the error does not name the file: \(error)")
        return 0
    } catch {
        Fuzz.invariant(false, "parse threw an unexpected \(type(of: error)): \(error)")
        return 0
    }
    checkMetadata(header)
    checkTensors(header, bytes)
    readTensors(header, bytes)
    return 0
}

func checkMetadata(_ header: GGUFHeader) {
    Fuzz.invariant(header.version == 2 || header.version == 3, "version \(header.version) was accepted")
    var keys = Set<String>()
    for (key, value) in header.metadata {
        Fuzz.invariant(keys.insert(key).inserted, "key '\(key)' appears twice")
        Fuzz.invariant(depth(value) <= GGUFHeader.maxArrayDepth + 1, "key '\(key)' nests arrays \(depth(value)) deep")
        // What inspect shows of a value, and the accessors the readers of metadata use.
        Fuzz.sink(UInt8(truncatingIfNeeded: value.description.utf8.count &+ (value.intValue ?? 0)))
        if let array = value.arrayValue {
            Fuzz.invariant(array.elements.allSatisfy { $0.type == array.elementType }, "key '\(key)' mixes element types")
            Fuzz.sink(UInt8(truncatingIfNeeded: array.strings?.count ?? 0))
        }
    }
    let expected: Int
    if case let .uint32(v) = header.value("general.alignment") { expected = Int(v) } else { expected = GGUFHeader.defaultAlignment }
    Fuzz.invariant(header.alignment == expected, "alignment \(header.alignment), general.alignment says \(expected)")
    Fuzz.invariant(header.alignment > 0 && header.alignment & (header.alignment - 1) == 0, "alignment \(header.alignment) is not a power of two")
}

/// Arrays inside arrays: 0 for a scalar, 1 for an array of scalars.
func depth(_ value: GGUFValue) -> Int {
    guard let array = value.arrayValue else { return 0 }
    return 1 + (array.elements.map(depth).max() ?? 0)
}

func checkTensors(_ header: GGUFHeader, _ bytes: UnsafeRawBufferPointer) {
    // Magic, version, two counts; the data section starts aligned after the tensor infos.
    Fuzz.invariant(header.dataStart >= 24 && header.dataStart % header.alignment == 0,
                   "data starts at \(header.dataStart) with alignment \(header.alignment)")
    var names = Set<String>()
    for t in header.tensors {
        Fuzz.invariant(names.insert(t.name).inserted, "tensor '\(t.name)' is listed twice")
        Fuzz.invariant(t.dimensions.count <= GGUFHeader.maxDimensions, "tensor '\(t.name)' has \(t.dimensions.count) dimensions")
        Fuzz.invariant(t.type.ggmlID != nil, "tensor '\(t.name)' has \(t.type.rawValue), which GGUF cannot hold")
        Fuzz.invariant((t.dimensions.first ?? 0) % t.type.blockSize == 0,
                       "tensor '\(t.name)' has rows of \(t.dimensions[0]) elements in \(t.type.rawValue) blocks of \(t.type.blockSize)")
        let elements = elementCount(of: t.dimensions)
        Fuzz.invariant(elements != nil && elements == t.elementCount, "tensor '\(t.name)' has dimensions \(t.dimensions)")
        Fuzz.invariant(t.type.byteCount(elements: t.elementCount) == t.byteCount,
                       "tensor '\(t.name)' lists \(t.byteCount) bytes for \(t.type.rawValue) \(t.dimensions)")
        Fuzz.invariant(t.tensorInfo.byteCount == TensorInfo(name: t.name, dtype: t.type, shape: t.shape)?.byteCount,
                       "tensor '\(t.name)': the store's info disagrees with its dtype and shape")
        Fuzz.invariant(t.offset >= 0 && t.offset % header.alignment == 0, "tensor '\(t.name)' starts at \(t.offset)")
        guard t.byteCount > 0 else { continue }
        let (end, overflow) = (header.dataStart + t.offset).addingReportingOverflow(t.byteCount)
        Fuzz.invariant(!overflow && end <= bytes.count, "tensor '\(t.name)' runs past the end of the input")
    }
    let filled = header.tensors.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
    for (a, b) in zip(filled, filled.dropFirst()) {
        Fuzz.invariant(a.offset + a.byteCount <= b.offset, "tensors '\(a.name)' and '\(b.name)' overlap")
    }
}

/// Largest tensor decoded, in elements (a file of a few kilobytes of TQ1_0 blocks declares about five
/// times as many elements as bytes; f32 output is four bytes each).
let decodeLimit = 1 << 22

func readTensors(_ header: GGUFHeader, _ bytes: UnsafeRawBufferPointer) {
    for t in header.tensors where t.byteCount > 0 && t.elementCount <= decodeLimit {
        let start = header.dataStart + t.offset
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + t.byteCount)])
        Fuzz.decode(raw, t.tensorInfo)
        guard t.type.isQuantized, t.type.canDequantize else { continue }
        let count = t.elementCount
        let floats = [Float](unsafeUninitializedCapacity: count) { out, initialized in
            guard let first = out.baseAddress else { return }
            do {
                try Dequantize.rows(type: t.type, bytes: raw, count: count, into: first)
            } catch {
                Fuzz.invariant(false, "Dequantize.rows refused tensor '\(t.name)' the header accepted: \(error)")
            }
            initialized = count
        }
        Fuzz.sink(UInt8(truncatingIfNeeded: floats.last?.bitPattern ?? 0))
    }
}

// MARK: structure-aware mutation

/// Half the time, when the input parses: an edit of the structure (a tensor's type or shape, the
/// alignment, the version, a tensor or key added, dropped, renamed or retyped), then the file written
/// again, usually with the tensors laid out afresh (aligned, contiguous, each keeping what it can of
/// its old bytes) so that edited types and shapes reach the decoders. Otherwise libFuzzer's byte mutation.
@_cdecl("LLVMFuzzerCustomMutator")
public func mutateGGUF(_ data: UnsafeMutablePointer<UInt8>?, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    guard let data else { return 0 }
    var rng = SplitMix(seed: UInt64(seed) &* 0x1000_0000_01B3 &+ UInt64(size))
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard rng.below(2) == 0, let header = try? GGUFHeader.parse(bytes, file: "mutated.gguf") else {
        return Fuzz.byteMutation(data, size, maxSize)
    }
    var image = GGUFImage(header, bytes)
    let movedOffsets = image.mutate(&rng)
    if !movedOffsets && rng.below(4) != 0 { image.layOut(&rng) }
    return Fuzz.emit(image.encoded(), data, size, maxSize)
}

/// A GGUF file as fields to edit, written back with `encoded()`; tensor fields are raw, so an edit
/// can make any of them invalid.
struct GGUFImage {
    struct Tensor {
        var name: String
        var typeID: UInt32
        var dimensions: [UInt64]
        var offset: UInt64
        /// The tensor's bytes as they were (what the file held of them), for a new layout.
        var bytes: [UInt8]
    }

    var version: UInt32
    var metadata: [(key: String, value: GGUFValue)]
    var tensors: [Tensor]
    /// The data section as it was, for edits that keep the offsets.
    var data: [UInt8]

    init(_ header: GGUFHeader, _ file: UnsafeRawBufferPointer) {
        version = UInt32(header.version)
        metadata = header.metadata
        let start = min(header.dataStart, file.count)
        data = Array(file[start...])
        tensors = header.tensors.map { t in
            let from = min(header.dataStart + t.offset, file.count)
            return Tensor(name: t.name, typeID: t.type.ggmlID ?? 0, dimensions: t.dimensions.map { UInt64($0) },
                          offset: UInt64(t.offset), bytes: Array(file[from..<min(from + t.byteCount, file.count)]))
        }
    }

    var alignment: Int {
        if case let .uint32(v) = metadata.first(where: { $0.key == "general.alignment" })?.value, v > 0, v & (v - 1) == 0, v <= 1 << 16 {
            return Int(v)
        }
        return GGUFHeader.defaultAlignment
    }

    static let dimensions: [UInt64] = [0, 1, 2, 3, 7, 8, 31, 32, 33, 64, 255, 256, 512, 1 << 31, 1 << 32, 1 << 62, UInt64(Int64.max), .max]

    /// One edit; true when it set an offset by hand (which a new layout would undo).
    mutating func mutate(_ rng: inout SplitMix) -> Bool {
        let types = DType.ggmlTypes
        switch rng.below(9) {
        case 7 where !tensors.isEmpty:
            // An offset moved onto or near another tensor's (overlaps, holes, misalignment), or a tensor
            // emptied (zero-size tensors between others).
            let i = rng.below(tensors.count), other = tensors[rng.below(tensors.count)]
            if rng.below(3) == 0 {
                tensors[i].dimensions = [0] + tensors[i].dimensions.dropFirst()
            } else {
                let step = UInt64(alignment) &* UInt64(rng.below(4))
                tensors[i].offset = rng.below(2) == 0 ? other.offset &+ step : other.offset &- step
                if rng.below(8) == 0 { tensors[i].offset &+= UInt64(1 + rng.below(31)) }
                return true
            }
        case 0...1 where !tensors.isEmpty:
            // Another type, with rows a whole number of its blocks (or, now and then, not).
            let i = rng.below(tensors.count)
            let type = types[rng.below(types.count)]
            tensors[i].typeID = rng.below(16) == 0 ? UInt32(rng.below(48)) : type.ggmlID ?? 0
            let row = UInt64(type.blockSize * (1 + rng.below(3))) &+ (rng.below(8) == 0 ? 1 : 0)
            tensors[i].dimensions = [row] + (0..<rng.below(3)).map { _ in UInt64(1 + rng.below(3)) }
        case 2 where !tensors.isEmpty:
            let i = rng.below(tensors.count)
            tensors[i].dimensions = (0..<rng.below(6)).map { _ in
                rng.below(4) == 0 ? GGUFImage.dimensions[rng.below(GGUFImage.dimensions.count)] : UInt64(1 + rng.below(4))
            }
        case 3:
            let values: [GGUFValue] = [.uint32(1), .uint32(8), .uint32(16), .uint32(64), .uint32(128), .uint32(4096),
                                       .uint32(0), .uint32(3), .uint32(1 << 31), .uint64(32), .string("32")]
            metadata.removeAll { $0.key == "general.alignment" }
            if rng.below(4) != 0 { metadata.insert(("general.alignment", values[rng.below(values.count)]), at: rng.below(metadata.count + 1)) }
        case 4:
            version = [2, 3, 1, 4, 0x0300_0000][rng.below(5)]
        case 5 where !tensors.isEmpty:
            // Drop, copy (same or another name) or rename a tensor.
            let i = rng.below(tensors.count)
            switch rng.below(3) {
            case 0: tensors.remove(at: i)
            case 1:
                var copy = tensors[i]
                if rng.below(2) == 0 { copy.name += ".\(rng.below(10))" }
                tensors.insert(copy, at: rng.below(tensors.count + 1))
            default: tensors[i].name = tensors[rng.below(tensors.count)].name + (rng.below(2) == 0 ? "" : "x")
            }
        case 6 where !metadata.isEmpty:
            // Drop, copy or rename a key, or wrap its value in an array.
            let i = rng.below(metadata.count)
            switch rng.below(4) {
            case 0: metadata.remove(at: i)
            case 1: metadata.insert(metadata[i], at: rng.below(metadata.count + 1))
            case 2: metadata[i].key = metadata[rng.below(metadata.count)].key + (rng.below(2) == 0 ? "" : ".x")
            default:
                let value = metadata[i].value
                metadata[i].value = .array(GGUFArray(elementType: value.type, elements: Array(repeating: value, count: 1 + rng.below(3))))
            }
        default:
            let keys = ["general.architecture", "general.name", "llama.block_count", "llama.context_length",
                        "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "general.file_type"]
            let values: [GGUFValue] = [.string("llama"), .uint32(30), .float32(1e-5), .bool(true), .int64(-1),
                                       .array(GGUFArray(elementType: .string, elements: [.string("<s>"), .string("é")])),
                                       .array(GGUFArray(elementType: .float32, elements: [.float32(0), .float32(-.infinity)]))]
            metadata.append((keys[rng.below(keys.count)], values[rng.below(values.count)]))
        }
        return false
    }

    /// Offsets aligned and contiguous in stored order; each tensor keeps what it can of its bytes and is
    /// filled up with random ones (a size that overflows or is fractional gets none).
    mutating func layOut(_ rng: inout SplitMix) {
        let align = alignment
        var out: [UInt8] = []
        for i in tensors.indices {
            while out.count % align != 0 { out.append(0) }
            tensors[i].offset = UInt64(out.count)
            let type = DType(ggmlID: tensors[i].typeID) ?? .f32
            let dims = tensors[i].dimensions.compactMap { Int(exactly: $0) }
            guard dims.count == tensors[i].dimensions.count, let n = elementCount(of: dims),
                  let size = type.byteCount(elements: n), size <= 1 << 16 else { continue }
            let kept = tensors[i].bytes.prefix(size)
            out += kept
            out += (kept.count..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
        data = out
    }

    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func put(_ s: String) { put(UInt64(s.utf8.count)); out += s.utf8 }
        func put(_ value: GGUFValue) {
            switch value {
            case let .uint8(v): put(v)
            case let .int8(v): put(v)
            case let .uint16(v): put(v)
            case let .int16(v): put(v)
            case let .uint32(v): put(v)
            case let .int32(v): put(v)
            case let .uint64(v): put(v)
            case let .int64(v): put(v)
            case let .float32(v): put(v.bitPattern)
            case let .float64(v): put(v.bitPattern)
            case let .bool(v): put(UInt8(v ? 1 : 0))
            case let .string(s): put(s)
            case let .array(a):
                put(a.elementType.rawValue)
                put(UInt64(a.count))
                a.elements.forEach(put)
            }
        }
        put(GGUFHeader.magic)
        put(version)
        put(UInt64(tensors.count))
        put(UInt64(metadata.count))
        for (key, value) in metadata {
            put(key)
            put(value.type.rawValue)
            put(value)
        }
        for t in tensors {
            put(t.name)
            put(UInt32(t.dimensions.count))
            t.dimensions.forEach { put($0) }
            put(t.typeID)
            put(t.offset)
        }
        while out.count % alignment != 0 { out.append(0) }
        return out + data
    }
}
