// Undoing a dataset's filter pipeline on one chunk (spec III.H Filter Pipeline Message): deflate (1),
// shuffle (2) and fletcher32 (3). Filters were applied in pipeline order when writing, so they are
// undone in reverse order; bit i of a chunk's filter mask set means filter i was skipped for it.

enum Filters {
    /// Deflate's best ratio is about 1032:1; no real chunk inflates by more than this factor.
    static let maxDeflateRatio = 1040

    /// Undoes the pipeline on one stored chunk, in reverse order, skipping the optional filters
    /// whose bit is set in `mask`: deflate (zlib; output capped at `expected` bytes, anything else is
    /// an error, so a decompression bomb cannot grow memory), shuffle (element size from the filter's
    /// value or `elementSize`), fletcher32 (verify and strip the 4-byte checksum). Any other filter
    /// throws a FormatError naming it (id and name) as not supported. The result has `expected` bytes.
    static func decode(_ stored: UnsafeRawBufferPointer, pipeline: [FilterDescription], mask: UInt32,
                       elementSize: Int, expected: Int) throws -> [UInt8] {
        guard expected >= 0 else { throw FormatError("a chunk of negative size") }
        guard pipeline.count <= 32 else { throw FormatError("a filter pipeline of \(pipeline.count) filters; at most 32 are allowed") }
        // The filters that apply to this chunk, in the order they were applied.
        var applied: [FilterDescription] = []
        for (k, filter) in pipeline.enumerated() where mask & (UInt32(1) << UInt32(k)) == 0 {
            switch filter.id {
            case 1, 2, 3: applied.append(filter)
            default: throw FormatError("the \(name(of: filter)) filter (id \(filter.id)) is not supported")
            }
        }
        // Bytes each stage may produce: fletcher32 adds 4 bytes, the others keep the size (deflate aside).
        var limits = [Int](repeating: expected, count: applied.count)
        var extra = 0
        for k in 0..<applied.count {
            limits[k] = try Checked.add(expected, extra, "a chunk size")   // size of the data entering stage k when writing
            if applied[k].id == 3 { extra += 4 }
        }
        if applied.contains(where: { $0.id == 1 }) {
            let (bound, overflow) = stored.count.multipliedReportingOverflow(by: maxDeflateRatio)
            guard overflow || expected - 1024 <= bound else {
                throw FormatError("a chunk of \(stored.count) stored bytes cannot inflate to the \(expected) bytes the chunk holds")
            }
        } else if expected > stored.count {
            throw FormatError("a chunk stores \(stored.count) bytes but holds \(expected) and has no compression filter")
        }

        var data = Array(stored)
        for k in stride(from: applied.count - 1, through: 0, by: -1) {
            let filter = applied[k]
            let wanted = limits[k]
            switch filter.id {
            case 1:
                data = try data.withUnsafeBytes { try Zlib.inflate($0, limit: wanted) }
            case 2:
                let size = filter.values.first.map { Int($0) } ?? elementSize
                data = unshuffle(data, elementSize: size)
            case 3:
                try verifyFletcher32(data)
                data.removeLast(4)
            default:
                throw FormatError("the \(name(of: filter)) filter (id \(filter.id)) is not supported")
            }
        }
        guard data.count == expected else {
            throw FormatError("a chunk decodes to \(data.count) bytes but a chunk holds \(expected)")
        }
        return data
    }

    /// A filter's name for messages: the one in the file, else the registered one.
    static func name(of filter: FilterDescription) -> String {
        if let name = filter.name, !name.isEmpty { return name }
        switch filter.id {
        case 1: return "deflate"
        case 2: return "shuffle"
        case 3: return "fletcher32"
        case 4: return "szip"
        case 5: return "nbit"
        case 6: return "scaleoffset"
        case 32000: return "lzf"
        case 32001: return "blosc"
        case 32004: return "lz4"
        case 32008: return "bitshuffle"
        case 32015: return "zstd"
        default: return "third-party"
        }
    }

    /// Undoes the shuffle filter: byte b of element i was stored at b × count + i. Trailing bytes
    /// that do not fill an element were stored unchanged.
    static func unshuffle(_ data: [UInt8], elementSize: Int) -> [UInt8] {
        guard elementSize > 1 else { return data }
        let count = data.count / elementSize
        guard count > 1 else { return data }
        var result = data
        for b in 0..<elementSize {
            let source = b * count
            for i in 0..<count { result[i * elementSize + b] = data[source + i] }
        }
        return result
    }

    /// Checks the fletcher32 checksum in the last 4 bytes (little-endian) of `data` against the rest.
    /// libhdf5 before 1.6.3 stored it with the bytes of each 16-bit half swapped; both are accepted.
    static func verifyFletcher32(_ data: [UInt8]) throws {
        guard data.count >= 4 else { throw FormatError("a fletcher32-filtered chunk of \(data.count) bytes has no room for its checksum") }
        let n = data.count - 4
        let stored = UInt32(data[n]) | UInt32(data[n + 1]) << 8 | UInt32(data[n + 2]) << 16 | UInt32(data[n + 3]) << 24
        let computed = fletcher32(data, count: n)
        let swapped = (computed & 0x00ff_00ff) << 8 | (computed & 0xff00_ff00) >> 8
        guard stored == computed || stored == swapped else {
            throw FormatError("a chunk fails its fletcher32 checksum: the data is damaged")
        }
    }

    /// HDF5's Fletcher-32 over big-endian 16-bit words (an odd last byte is the high byte of a word).
    static func fletcher32(_ data: [UInt8], count: Int) -> UInt32 {
        var sum1: UInt32 = 0
        var sum2: UInt32 = 0
        var words = count / 2
        var k = 0
        while words > 0 {
            let block = min(words, 360)
            words -= block
            for _ in 0..<block {
                sum1 &+= UInt32(data[k]) << 8 | UInt32(data[k + 1])
                sum2 &+= sum1
                k += 2
            }
            sum1 = (sum1 & 0xffff) + (sum1 >> 16)
            sum2 = (sum2 & 0xffff) + (sum2 >> 16)
        }
        if count % 2 == 1 {
            sum1 &+= UInt32(data[k]) << 8
            sum2 &+= sum1
            sum1 = (sum1 & 0xffff) + (sum1 >> 16)
            sum2 = (sum2 & 0xffff) + (sum2 >> 16)
        }
        sum1 = (sum1 & 0xffff) + (sum1 >> 16)
        sum2 = (sum2 & 0xffff) + (sum2 >> 16)
        return sum2 << 16 | sum1
    }
}
