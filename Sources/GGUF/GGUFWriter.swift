import RecastCore

/// Writes GGUF version 3, little-endian, tensor by tensor.
///
/// The layout is gguf-py's `GGUFWriter` (and llama.cpp's `gguf_write`): the header, the metadata, the
/// tensor infos, zero padding up to the alignment, then each tensor's bytes followed by zero padding up to
/// the next multiple of the alignment. The alignment is `general.alignment` when the metadata has it, 32
/// otherwise. Tensor bytes come from `OutputTensor` producers already in their GGML type (whole blocks for
/// the quantised types), so memory stays bounded by the largest chunk in flight.
public enum GGUFWriter {
    /// The version written.
    public static let version: UInt32 = 3
    /// llama.cpp's limit on a tensor name's length in bytes, its terminating NUL included (`GGML_MAX_NAME`).
    public static let maxNameBytes = 64

    /// Writes one file at `path` (the caller publishes it, see `AtomicOutput`). Everything is validated
    /// before the first byte is written; a failure names `path` and the key or tensor.
    public static func write(metadata: [(key: String, value: GGUFValue)], tensors: [OutputTensor], to path: String,
                             progress: ProgressSink? = nil) throws {
        let alignment = try validate(metadata: metadata, tensors: tensors.map(\.info), file: path)
        let out = try OutputFile(path: path)
        try out.write(header(metadata: metadata, tensors: tensors.map(\.info), alignment: alignment))
        let zeros = [UInt8](repeating: 0, count: alignment)
        for t in tensors {
            var written = 0
            try t.produce { chunk in
                written += chunk.count
                guard written <= t.info.byteCount else {
                    throw CheckpointError.tensor(t.info.name, in: path, "its source produced more than the \(t.info.byteCount) bytes declared")
                }
                try out.write(chunk)
                progress?.advance(by: chunk.count)
            }
            guard written == t.info.byteCount else {
                throw CheckpointError.tensor(t.info.name, in: path, "its source produced \(written) bytes; \(t.info.byteCount) were declared")
            }
            try out.write(Array(zeros[0..<padding(written, alignment)]))
        }
        try out.close()
    }

    /// Everything before the first tensor's data: magic, version, counts, metadata, tensor infos and the
    /// padding up to the alignment. Assumes `validate` passed.
    static func header(metadata: [(key: String, value: GGUFValue)], tensors: [TensorInfo], alignment: Int) -> [UInt8] {
        var b = GGUFBytes()
        b.u32(GGUFHeader.magic)
        b.u32(version)
        b.u64(UInt64(tensors.count))
        b.u64(UInt64(metadata.count))
        for (key, value) in metadata {
            b.string(key)
            b.u32(value.type.rawValue)
            b.value(value)
        }
        var offset = 0
        for t in tensors {
            b.string(t.name)
            b.u32(UInt32(t.shape.count))
            for d in t.shape.reversed() { b.u64(UInt64(d)) }
            b.u32(t.dtype.ggmlID ?? 0)
            b.u64(UInt64(offset))
            offset += t.byteCount + padding(t.byteCount, alignment)
        }
        b.bytes += [UInt8](repeating: 0, count: padding(b.bytes.count, alignment))
        return b.bytes
    }

    /// Zero bytes after `n` bytes up to the next multiple of `alignment`.
    static func padding(_ n: Int, _ alignment: Int) -> Int { (alignment - n % alignment) % alignment }

    /// Checks what GGUF and llama.cpp require and returns the alignment: metadata keys unique, arrays of
    /// one element type, `general.alignment` a UINT32 power of two; tensor names unique, non-empty and
    /// shorter than `maxNameBytes`, at most four dimensions, a GGML type, rows a whole number of blocks,
    /// and the byte count the type and shape give.
    public static func validate(metadata: [(key: String, value: GGUFValue)], tensors: [TensorInfo], file: String) throws -> Int {
        var keys = Set<String>()
        for (key, value) in metadata {
            guard keys.insert(key).inserted else {
                throw CheckpointError(file: file, object: "key '\(key)'", "appears twice; each metadata key must be unique")
            }
            try checkArrays(value, key: key, file: file)
        }
        var alignment = GGUFHeader.defaultAlignment
        if let value = metadata.first(where: { $0.key == "general.alignment" })?.value {
            guard case let .uint32(v) = value, v > 0, v & (v - 1) == 0, v <= GGUFHeader.maxAlignment else {
                throw CheckpointError(file: file, object: "key 'general.alignment'",
                    "is \(value) (\(value.type.name)); it must be a UINT32 power of two of at most \(GGUFHeader.maxAlignment)")
            }
            alignment = Int(v)
        }
        var names = Set<String>()
        for t in tensors {
            func bad(_ why: String) -> CheckpointError { .tensor(t.name, in: file, why) }
            if t.name.isEmpty { throw CheckpointError(file: file, "cannot write a tensor with an empty name") }
            guard names.insert(t.name).inserted else { throw bad("appears twice; each tensor name must be unique") }
            guard t.name.utf8.count < maxNameBytes else {
                throw bad("has a name of \(t.name.utf8.count) bytes; llama.cpp allows at most \(maxNameBytes - 1)")
            }
            guard t.shape.count <= GGUFHeader.maxDimensions else {
                throw bad("has \(t.shape.count) dimensions (shape \(t.shape)); GGUF allows at most \(GGUFHeader.maxDimensions)")
            }
            guard t.dtype.ggmlID != nil else {
                throw bad("is \(t.dtype.rawValue), a type GGUF cannot hold: convert it with --dtype f32, f16 or bf16")
            }
            if let row = t.shape.last, row % t.dtype.blockSize != 0 {
                throw bad("has rows of \(row) elements, not a whole number of \(t.dtype.rawValue) blocks (\(t.dtype.blockSize) elements each)")
            }
            guard let n = elementCount(of: t.shape), t.dtype.byteCount(elements: n) == t.byteCount else {
                throw bad("declares \(t.byteCount) bytes, which is not the size of shape \(t.shape) in \(t.dtype.rawValue)")
            }
        }
        return alignment
    }

    /// Every element of an array has the array's element type (nested arrays are checked inside).
    static func checkArrays(_ value: GGUFValue, key: String, file: String) throws {
        guard case let .array(a) = value else { return }
        for (i, e) in a.elements.enumerated() {
            guard e.type == a.elementType else {
                throw CheckpointError(file: file, object: "key '\(key)'",
                    "is an array of \(a.elementType.name) whose element \(i) is a \(e.type.name); a GGUF array holds one type")
            }
            try checkArrays(e, key: key, file: file)
        }
    }
}

/// Little-endian encoding of GGUF's scalars, strings and values.
struct GGUFBytes {
    var bytes: [UInt8] = []

    mutating func integer<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func u32(_ v: UInt32) { integer(v) }
    mutating func u64(_ v: UInt64) { integer(v) }

    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }

    /// A value without its type code (the caller writes it where the format has one).
    mutating func value(_ v: GGUFValue) {
        switch v {
        case let .uint8(x): integer(x)
        case let .int8(x): integer(x)
        case let .uint16(x): integer(x)
        case let .int16(x): integer(x)
        case let .uint32(x): integer(x)
        case let .int32(x): integer(x)
        case let .uint64(x): integer(x)
        case let .int64(x): integer(x)
        case let .float32(x): integer(x.bitPattern)
        case let .float64(x): integer(x.bitPattern)
        case let .bool(x): integer(UInt8(x ? 1 : 0))
        case let .string(s): string(s)
        case let .array(a):
            u32(a.elementType.rawValue)
            u64(UInt64(a.count))
            for e in a.elements { value(e) }
        }
    }
}
