import CZlib
import RecastCore

/// How a zip entry's data is stored.
public enum ZipMethod: Sendable, Hashable {
    case stored
    case deflated
}

/// One file of a zip archive, as its central directory and local header agree on it.
public struct ZipEntry: Sendable, Hashable {
    public var name: String
    /// Where the entry's data starts in the archive.
    public var dataOffset: Int
    public var compressedSize: Int
    public var uncompressedSize: Int
    public var method: ZipMethod
    public var crc32: UInt32
    /// Where the entry's local header starts.
    public var headerOffset: Int
}

/// A zip archive read in place: the central directory (zip64 included) checked against every local
/// header, entries stored or deflated. Refuses, rather than guesses: entries that overlap one another
/// or the directory, sizes past the end, names that are empty, absolute, hold `..`, a backslash or NUL,
/// duplicate names, encryption, other compression methods and multi-disk archives.
///
/// The bytes are the caller's (a mapping, or a fuzzer's input) and must outlive the archive.
public struct ZipArchive {
    public let file: String
    public let entries: [ZipEntry]
    private let bytes: UnsafeRawBufferPointer
    private let index: [String: Int]

    public init(_ bytes: UnsafeRawBufferPointer, file: String) throws {
        self.bytes = bytes
        self.file = file
        let reader = ZipReader(bytes: bytes, file: file)
        entries = try reader.readEntries()
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() { index[e.name] = i }
        self.index = index
    }

    public func entry(named name: String) -> ZipEntry? { index[name].map { entries[$0] } }

    /// Hands the entry's uncompressed contents to `body`: a view of the archive for a stored entry, a
    /// buffer that lives for the call for a deflated one (inflated to exactly its declared size, its
    /// CRC-32 checked).
    public func withContents<R>(of entry: ZipEntry, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard entry.dataOffset >= 0, entry.compressedSize >= 0, entry.dataOffset <= bytes.count - entry.compressedSize else {
            throw CheckpointError(file: file, object: "zip entry '\(entry.name)'", "lies outside the archive")
        }
        let data = UnsafeRawBufferPointer(rebasing: bytes[entry.dataOffset..<(entry.dataOffset + entry.compressedSize)])
        switch entry.method {
        case .stored:
            return try body(data)
        case .deflated:
            let need = entry.uncompressedSize
            if let refusal = MemoryLimit.current().refusal(needing: need, for: "zip entry '\(entry.name)' inflated") {
                throw CheckpointError(file: file, object: "zip entry '\(entry.name)'", refusal)
            }
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(need, 1), alignment: 64)
            defer { out.deallocate() }
            let view = UnsafeMutableRawBufferPointer(rebasing: out[0..<need])
            try RawInflate.inflate(data, into: view, file: file, entry: entry.name)
            let crc = ZipArchive.crc32(UnsafeRawBufferPointer(view))
            guard crc == entry.crc32 else {
                throw CheckpointError(file: file, object: "zip entry '\(entry.name)'", "inflates to data whose CRC-32 is \(crc), not the \(entry.crc32) the directory records: the entry is damaged")
            }
            return try body(UnsafeRawBufferPointer(view))
        }
    }

    /// zlib's CRC-32, over pieces of at most 1 GiB (its length argument is 32-bit).
    static func crc32(_ data: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CZlib.crc32(0, nil, 0)
        var offset = 0
        while offset < data.count, let base = data.baseAddress {
            let n = min(data.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, base.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}

/// Parsing the structures of a zip archive (APPNOTE.TXT 6.3).
private struct ZipReader {
    let bytes: UnsafeRawBufferPointer
    let file: String

    static let endSignature: UInt32 = 0x0605_4B50
    static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    static let zip64EndSignature: UInt32 = 0x0606_4B50
    static let centralSignature: UInt32 = 0x0201_4B50
    static let localSignature: UInt32 = 0x0403_4B50

    func error(_ reason: String, at offset: Int? = nil, entry: String? = nil) -> CheckpointError {
        CheckpointError(file: file, object: entry.map { "zip entry '\($0)'" }, offset: offset, reason)
    }

    /// A little-endian unsigned integer of `width` bytes at `offset`, or nil past the end.
    func uint(_ offset: Int, _ width: Int) -> UInt64? {
        guard offset >= 0, width <= 8, offset <= bytes.count - width else { return nil }
        var v: UInt64 = 0
        for i in (0..<width).reversed() { v = v << 8 | UInt64(bytes[offset + i]) }
        return v
    }

    func field(_ offset: Int, _ width: Int, _ what: String) throws -> Int {
        guard let v = uint(offset, width) else { throw error("ends inside \(what)", at: offset) }
        guard v <= UInt64(Int.max) else { throw error("has \(what) \(v), too large", at: offset) }
        return Int(v)
    }

    func readEntries() throws -> [ZipEntry] {
        // The end-of-central-directory record: the last signature within its 22 bytes plus a comment of up to 65,535.
        var end = -1
        var at = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65_535)
        while at >= lowest {
            if uint(at, 4) == UInt64(Self.endSignature), let commentLength = uint(at + 20, 2), at + 22 + Int(commentLength) == bytes.count {
                end = at
                break
            }
            at -= 1
        }
        guard end >= 0 else { throw error("has no zip end-of-central-directory record: the archive is truncated or not a zip") }
        let disk = try field(end + 4, 2, "the disk number"), cdDisk = try field(end + 6, 2, "the directory's disk")
        var count = try field(end + 10, 2, "the entry count")
        let countOnDisk = try field(end + 8, 2, "the entry count of this disk")
        var cdSize = try field(end + 12, 4, "the directory size")
        var cdOffset = try field(end + 16, 4, "the directory offset")
        var directoryEnd = end
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            // Zip64: the locator sits just before the end record and points at the zip64 end record.
            let locator = end - 20
            guard uint(locator, 4) == UInt64(Self.zip64LocatorSignature) else {
                throw error("marks its directory as zip64 but has no zip64 locator", at: max(locator, 0))
            }
            let record = try field(locator + 8, 8, "the zip64 end record offset")
            guard record <= locator - 56, uint(record, 4) == UInt64(Self.zip64EndSignature) else {
                throw error("points to a zip64 end record that is not there", at: record)
            }
            count = try field(record + 32, 8, "the zip64 entry count")
            cdSize = try field(record + 40, 8, "the zip64 directory size")
            cdOffset = try field(record + 48, 8, "the zip64 directory offset")
            directoryEnd = record
        } else {
            guard disk == 0, cdDisk == 0, countOnDisk == count else { throw error("spans several disks; Recast reads single-file archives") }
        }
        guard cdOffset <= directoryEnd, cdSize <= directoryEnd - cdOffset else {
            throw error("has a central directory (\(cdSize) bytes at \(cdOffset)) that runs past its end record")
        }
        guard count <= cdSize / 46 else { throw error("declares \(count) entries, more than its \(cdSize)-byte directory can hold") }

        var entries: [ZipEntry] = []
        var names = Set<String>()
        var p = cdOffset
        for _ in 0..<count {
            guard p <= cdOffset + cdSize - 46, uint(p, 4) == UInt64(Self.centralSignature) else {
                throw error("has a damaged central directory: no entry header where one should be", at: p)
            }
            let flags = try field(p + 8, 2, "the flags")
            let methodCode = try field(p + 10, 2, "the method")
            let crc = UInt32(try field(p + 16, 4, "the CRC"))
            var compressed = try field(p + 20, 4, "the compressed size")
            var uncompressed = try field(p + 24, 4, "the size")
            let nameLength = try field(p + 28, 2, "the name length")
            let extraLength = try field(p + 30, 2, "the extra length")
            let commentLength = try field(p + 32, 2, "the comment length")
            let startDisk = try field(p + 34, 2, "the entry's disk")
            var header = try field(p + 42, 4, "the local header offset")
            let next = p + 46 + nameLength + extraLength + commentLength
            guard next <= cdOffset + cdSize else { throw error("has a directory entry that runs past the directory", at: p) }
            let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[(p + 46)..<(p + 46 + nameLength)])
            guard let name = String(validating: nameBytes, as: UTF8.self) else { throw error("has an entry name that is not UTF-8", at: p) }
            try checkName(name, at: p)
            guard names.insert(name).inserted else { throw error("holds two entries named '\(name)'", at: p, entry: name) }
            // The zip64 extra field holds, in order, whichever of the three fields are 0xFFFFFFFF.
            var extra = p + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let tag = try field(extra, 2, "an extra field tag"), size = try field(extra + 2, 2, "an extra field size")
                guard extra + 4 + size <= extraEnd else { throw error("has an extra field that runs past its entry", at: extra, entry: name) }
                if tag == 1 {
                    var q = extra + 4
                    for slot in 0..<3 {
                        let current = slot == 0 ? uncompressed : slot == 1 ? compressed : header
                        guard current == 0xFFFF_FFFF else { continue }
                        guard q + 8 <= extra + 4 + size else { throw error("has a zip64 extra field too short for its sizes", at: extra, entry: name) }
                        let v = try field(q, 8, "a zip64 size")
                        if slot == 0 { uncompressed = v } else if slot == 1 { compressed = v } else { header = v }
                        q += 8
                    }
                }
                extra += 4 + size
            }
            guard startDisk == 0 || startDisk == 0xFFFF else { throw error("has an entry on another disk", at: p, entry: name) }
            guard flags & 0x1 == 0, flags & 0x40 == 0 else { throw error("is encrypted; Recast reads plain entries", at: p, entry: name) }
            let method: ZipMethod
            switch methodCode {
            case 0: method = .stored
            case 8: method = .deflated
            default: throw error("is compressed with method \(methodCode); Recast reads stored and deflated entries", at: p, entry: name)
            }
            if method == .stored, compressed != uncompressed {
                throw error("is stored but declares \(compressed) bytes stored and \(uncompressed) uncompressed", at: p, entry: name)
            }
            let dataOffset = try checkLocalHeader(at: header, name: name, methodCode: methodCode, flags: flags,
                                                  crc: crc, compressed: compressed, uncompressed: uncompressed)
            guard dataOffset <= cdOffset, compressed <= cdOffset - dataOffset else {
                throw error("has \(compressed) bytes of data at \(dataOffset), which run past the start of the central directory", at: header, entry: name)
            }
            entries.append(ZipEntry(name: name, dataOffset: dataOffset, compressedSize: compressed, uncompressedSize: uncompressed,
                                    method: method, crc32: crc, headerOffset: header))
            p = next
        }
        // No two entries may share bytes (local header through data).
        let spans = entries.sorted { $0.headerOffset < $1.headerOffset }
        for (a, b) in zip(spans, spans.dropFirst()) where a.dataOffset + a.compressedSize > b.headerOffset {
            throw error("has entries '\(a.name)' and '\(b.name)' that overlap", at: b.headerOffset, entry: b.name)
        }
        return entries
    }

    /// Names must be relative paths inside the archive.
    func checkName(_ name: String, at p: Int) throws {
        let bad = name.isEmpty || name.hasPrefix("/") || name.contains("\\") || name.contains("\0")
            || name.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == ".." || $0 == "." }
            || (name.count >= 2 && name.dropFirst().first == ":")
        if bad { throw error("has an entry named '\(name.prefix(200))', which is not a plain relative path (empty, absolute, a drive, `..`, `.`, a backslash or NUL)", at: p) }
    }

    /// Checks the local header against the directory and returns where the data starts.
    func checkLocalHeader(at header: Int, name: String, methodCode: Int, flags: Int, crc: UInt32, compressed: Int, uncompressed: Int) throws -> Int {
        guard header <= bytes.count - 30, uint(header, 4) == UInt64(Self.localSignature) else {
            throw error("points to a local header at \(header) that is not there: the directory lies", at: header, entry: name)
        }
        let localMethod = try field(header + 8, 2, "the local method")
        let localFlags = try field(header + 6, 2, "the local flags")
        let nameLength = try field(header + 26, 2, "the local name length")
        let extraLength = try field(header + 28, 2, "the local extra length")
        let dataOffset = header + 30 + nameLength + extraLength
        guard dataOffset <= bytes.count else { throw error("has a local header that runs past the end", at: header, entry: name) }
        let localName = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(header + 30)..<(header + 30 + nameLength)]), as: UTF8.self)
        guard localName == name else {
            throw error("is named '\(localName.prefix(200))' in its local header: the directory and the local headers disagree", at: header, entry: name)
        }
        guard localMethod == methodCode, (localFlags & 0x1) == (flags & 0x1) else {
            throw error("has a method or flags in its local header that differ from the directory's", at: header, entry: name)
        }
        // Without a data descriptor (flag bit 3), the local header repeats CRC and sizes (0xFFFFFFFF: in its zip64 extra).
        if localFlags & 0x8 == 0 {
            let localCRC = UInt32(try field(header + 14, 4, "the local CRC"))
            let localCompressed = try field(header + 18, 4, "the local compressed size")
            let localSize = try field(header + 22, 4, "the local size")
            let sizesAgree = (localCompressed == compressed || localCompressed == 0xFFFF_FFFF)
                && (localSize == uncompressed || localSize == 0xFFFF_FFFF)
            guard localCRC == crc, sizesAgree else {
                throw error("has a CRC or sizes in its local header that differ from the directory's", at: header, entry: name)
            }
        }
        return dataOffset
    }
}

/// Inflating a raw deflate stream (a zip entry) into a buffer of exactly its declared size.
enum RawInflate {
    static func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, file: String, entry: String) throws {
        func fail(_ reason: String) -> CheckpointError { CheckpointError(file: file, object: "zip entry '\(entry)'", reason) }
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw fail("zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var consumed = 0, produced = 0
        let step = 1 << 30
        var scratch: UInt8 = 0
        while true {
            if stream.avail_in == 0, consumed < input.count, let base = input.baseAddress {
                let take = min(input.count - consumed, step)
                stream.next_in = UnsafeMutablePointer(mutating: base.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(take)
                consumed += take
            }
            let room = min(output.count - produced, step)
            let before = (Int(stream.avail_in), consumed, produced)
            let status: Int32
            if room > 0, let base = output.baseAddress {
                stream.next_out = base.advanced(by: produced).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(room)
                status = CZlib.inflate(&stream, Z_NO_FLUSH)
                produced += room - Int(stream.avail_out)
            } else {
                // No room left: one scratch byte tells whether the stream has more to give.
                status = withUnsafeMutablePointer(to: &scratch) { pointer in
                    stream.next_out = pointer
                    stream.avail_out = 1
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                if stream.avail_out == 0 { throw fail("inflates to more than the \(output.count) bytes the directory declares") }
            }
            switch status {
            case Z_STREAM_END:
                guard produced == output.count else {
                    throw fail("inflates to \(produced) bytes, not the \(output.count) the directory declares")
                }
                return
            case Z_OK: continue
            case Z_BUF_ERROR where stream.avail_in == 0 && consumed >= input.count:
                throw fail("ends before its deflate stream does: the entry is truncated")
            case Z_BUF_ERROR where before != (Int(stream.avail_in), consumed, produced): continue
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                throw fail("is damaged: zlib says \(message)")
            }
        }
    }
}
