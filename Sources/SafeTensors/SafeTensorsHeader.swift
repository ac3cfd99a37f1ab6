import RecastCore

/// One entry of a safetensors header.
public struct SafeTensorsEntry: Sendable, Hashable {
    public var info: TensorInfo
    /// Byte range relative to the start of the data section.
    public var dataRange: Range<Int>
}

/// A parsed and validated safetensors header.
///
/// Validation is at least as strict as the reference implementation, and stricter where it lets
/// things through: duplicate names, NUL bytes in names, and Git LFS pointers are rejected with
/// their own messages.
public struct SafeTensorsHeader: Sendable {
    /// Largest header the reference implementation accepts.
    public static let maxHeaderLength = 100_000_000

    /// Tensors in data order.
    public var entries: [SafeTensorsEntry]
    public var metadata: Metadata
    /// Offset of the data section from the start of the file: 8 + header length.
    public var dataStart: Int

    /// Parses the header at the start of `bytes`, a whole file of `bytes.count` bytes.
    public static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws -> SafeTensorsHeader {
        let size = bytes.count
        if isLFSPointer(bytes) {
            throw CheckpointError(file: file, "is a Git LFS pointer file, not the weights: fetch the real file with `git lfs pull`")
        }
        guard size >= 8 else {
            throw CheckpointError(file: file, "is \(size) bytes long; a safetensors file starts with an 8-byte header length")
        }
        let declared = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        // The first 8 bytes are the header length only in a safetensors file. Of any other file (a key, a
        // password store) they are its contents, so the number is shown only when the header that
        // follows starts like one ('{'): a refused file's bytes never reach the message.
        let looksLikeSafetensors = size > 8 && bytes[8] == UInt8(ascii: "{")
        guard declared <= UInt64(maxHeaderLength) else {
            let shown = looksLikeSafetensors ? "header length \(declared)" : "the header length in the first 8 bytes"
            throw CheckpointError(file: file, offset: 0, "\(shown) is over the limit of \(maxHeaderLength) bytes: the file is corrupt or not safetensors")
        }
        let n = Int(declared)
        guard 8 + n <= size else {
            let shown = looksLikeSafetensors ? "header length \(n)" : "the header length in the first 8 bytes"
            throw CheckpointError(file: file, offset: 0, "\(shown) runs past the end of the file (\(size) bytes): the file is truncated or not safetensors")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)])
        guard n > 0, headerBytes[0] == UInt8(ascii: "{") else {
            throw CheckpointError(file: file, offset: 8, "header does not start with '{': the file is corrupt or not safetensors")
        }
        let json: JSONView
        do {
            json = try JSONDocument.parse(headerBytes).root
        } catch {
            // The parser checks UTF-8 as it goes (every byte outside a string must be ASCII).
            if error.message.hasSuffix("not valid UTF-8") {
                throw CheckpointError(file: file, offset: 8 + error.offset, "header is not valid UTF-8")
            }
            if error.message.hasPrefix("duplicate key") {
                throw CheckpointError(file: file, offset: 8 + error.offset, "header lists a name twice (\(error.message)); each tensor name must be unique")
            }
            throw CheckpointError(file: file, offset: 8 + error.offset, "header is not valid JSON: \(error.message)")
        }
        guard json.kind == .object else {
            throw CheckpointError(file: file, offset: 8, "header is not a JSON object")
        }
        var metadata: Metadata = []
        var entries: [SafeTensorsEntry] = []
        try json.forEachMember { key, value in
            let name = key.stringValue ?? ""
            if name == "__metadata__" {
                guard let meta = value.objectValue else {
                    throw CheckpointError(file: file, "__metadata__ is not a JSON object of strings")
                }
                for (k, v) in meta {
                    guard let s = v.stringValue else {
                        throw CheckpointError(file: file, "__metadata__ value for '\(k)' is not a string")
                    }
                    metadata.append((k, s))
                }
                return
            }
            entries.append(try entry(name, value, file: file))
        }
        try validateOffsets(&entries, dataSize: size - 8 - n, file: file, dataStart: 8 + n)
        return SafeTensorsHeader(entries: entries, metadata: metadata, dataStart: 8 + n)
    }

    static func isLFSPointer(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let prefix = Array("version https://git-lfs".utf8)
        return bytes.count >= prefix.count && zip(bytes, prefix).allSatisfy { $0 == $1 }
    }

    static func entry(_ name: String, _ value: JSONView, file: String) throws -> SafeTensorsEntry {
        func bad(_ why: String) -> CheckpointError { .tensor(name, in: file, why) }
        if name.isEmpty { throw CheckpointError(file: file, "header has a tensor with an empty name") }
        if name.utf8.contains(0) { throw bad("name contains a NUL byte") }
        guard value.objectValue != nil else { throw bad("header entry is not a JSON object") }
        guard let dtypeField = value["dtype"] else { throw bad("header entry has no 'dtype'") }
        guard let code = dtypeField.stringValue else { throw bad("'dtype' is not a string") }
        guard let dtype = DType(code: code) else { throw bad("unknown dtype '\(code)'") }
        guard let shapeField = value["shape"] else { throw bad("header entry has no 'shape'") }
        guard let dims = shapeField.arrayValue else { throw bad("'shape' is not an array") }
        var shape: [Int] = []
        for d in dims {
            guard let v = d.intValue, v >= 0 else { throw bad("'shape' holds \(d.serialized()), not a non-negative integer") }
            shape.append(v)
        }
        guard let offsetsField = value["data_offsets"] else { throw bad("header entry has no 'data_offsets'") }
        guard let offs = offsetsField.arrayValue, offs.count == 2 else { throw bad("'data_offsets' is not a pair [begin, end]") }
        guard let begin = offs[0].intValue, let end = offs[1].intValue, begin >= 0, end >= 0 else {
            throw bad("'data_offsets' holds \(offsetsField.serialized()), not two non-negative integers")
        }
        guard let count = elementCount(of: shape) else {
            throw bad("element count of shape \(shape) overflows")
        }
        let (bits, overflow) = count.multipliedReportingOverflow(by: dtype.bitWidth)
        guard !overflow else { throw bad("byte size of shape \(shape) × \(code) overflows") }
        guard bits % 8 == 0 else {
            throw bad("shape \(shape) of \(code) (\(dtype.bitWidth)-bit) is not a whole number of bytes")
        }
        guard end >= begin else { throw bad("data_offsets [\(begin), \(end)] end before they begin") }
        let span = end - begin
        guard span == bits / 8 else {
            throw bad("data_offsets span \(span) bytes but shape \(shape) of \(code) needs \(bits / 8)")
        }
        return SafeTensorsEntry(info: TensorInfo(name: name, dtype: dtype, shape: shape, byteCount: span), dataRange: begin..<end)
    }

    static func validateOffsets(_ entries: inout [SafeTensorsEntry], dataSize: Int, file: String, dataStart: Int) throws {
        // A file offset for messages; nil where a corrupt header's offset would not fit in an Int.
        func at(_ offset: Int) -> Int? {
            let (sum, overflow) = dataStart.addingReportingOverflow(offset)
            return overflow ? nil : sum
        }
        entries.sort { ($0.dataRange.lowerBound, $0.dataRange.upperBound) < ($1.dataRange.lowerBound, $1.dataRange.upperBound) }
        var expected = 0
        for e in entries {
            let r = e.dataRange
            if r.lowerBound > expected {
                throw CheckpointError.tensor(e.info.name, in: file, offset: at(r.lowerBound),
                    "data begins at \(r.lowerBound) but the previous tensor ends at \(expected): the data section has a hole")
            }
            if r.lowerBound < expected {
                throw CheckpointError.tensor(e.info.name, in: file, offset: at(r.lowerBound),
                    "data [\(r.lowerBound), \(r.upperBound)) overlaps the previous tensor, which ends at \(expected)")
            }
            expected = r.upperBound
        }
        if expected > dataSize {
            throw CheckpointError(file: file, offset: dataStart + dataSize,
                "tensor data needs \(expected) bytes after the header but the file holds \(dataSize): the file is truncated")
        }
        if expected < dataSize {
            throw CheckpointError(file: file, offset: dataStart + expected,
                "tensor data ends at byte \(dataStart + expected) but the file goes on for \(dataSize - expected) more bytes")
        }
    }

    /// Serialises a header for tensors laid out contiguously in the given order, padded with spaces
    /// so that the data starts 8-byte aligned.
    public static func encode(_ infos: [TensorInfo], metadata: Metadata) -> [UInt8] {
        // Written straight to text (the same bytes as serialising a `JSON` tree), since a tree of a
        // million entries would cost tens of bytes per header byte.
        var text = "{"
        var first = metadata.isEmpty
        if !metadata.isEmpty {
            text += "\"__metadata__\":{"
            for (k, (key, value)) in metadata.enumerated() {
                if k > 0 { text += "," }
                JSON.quote(key, into: &text)
                text += ":"
                JSON.quote(value, into: &text)
            }
            text += "}"
        }
        var offset = 0
        for info in infos {
            if !first { text += "," }
            first = false
            JSON.quote(info.name, into: &text)
            text += ":{\"dtype\":"
            JSON.quote(info.dtype.rawValue, into: &text)
            text += ",\"shape\":[" + info.shape.map { String($0) }.joined(separator: ",") + "],\"data_offsets\":["
            text += "\(offset),\(offset + info.byteCount)]}"
            offset += info.byteCount
        }
        text += "}"
        var header = Array(text.utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        return out
    }
}
