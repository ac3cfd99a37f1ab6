// The one place that calls zlib (module CZlib): inflating a deflate-filtered chunk into a bounded buffer.

import CZlib

enum Zlib {
    /// Inflates a complete zlib stream; more than `limit` output bytes, or a stream that does not end
    /// within `input`, is an error (so a decompression bomb cannot grow memory past `limit`).
    static func inflate(_ input: UnsafeRawBufferPointer, limit: Int) throws -> [UInt8] {
        guard limit >= 0 else { throw FormatError("a negative output limit for inflate") }
        var output = [UInt8](repeating: 0, count: limit)
        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw FormatError("zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        guard let inputBase = input.baseAddress, input.count > 0 else {
            throw FormatError("a deflate-compressed chunk of 0 bytes")
        }
        var produced = 0
        var consumed = 0
        let step = Int(UInt32.max / 2)
        var status: Int32 = Z_OK
        try output.withUnsafeMutableBytes { out in
            while true {
                if stream.avail_in == 0 && consumed < input.count {
                    let take = min(input.count - consumed, step)
                    stream.next_in = UnsafeMutablePointer(mutating: inputBase.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
                    stream.avail_in = uInt(take)
                    consumed += take
                }
                let room = min(out.count - produced, step)
                // With no room left, offer one scratch byte: if inflate wants it, the output is too large.
                var scratch: UInt8 = 0
                if room == 0 {
                    withUnsafeMutablePointer(to: &scratch) { pointer in
                        stream.next_out = pointer
                        stream.avail_out = 1
                        status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    }
                    if status == Z_STREAM_END && stream.avail_out == 1 { return }
                    if status == Z_OK || status == Z_STREAM_END || stream.avail_out == 0 {
                        throw FormatError("a deflate-compressed chunk inflates to more than the \(limit) bytes it may hold")
                    }
                } else if let outBase = out.baseAddress {
                    stream.next_out = outBase.advanced(by: produced).assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(room)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                }
                switch status {
                case Z_STREAM_END: return
                case Z_OK: continue
                case Z_BUF_ERROR where stream.avail_in == 0 && consumed >= input.count:
                    throw FormatError("a deflate-compressed chunk ends before its stream does (\(input.count) bytes): the data is truncated")
                case Z_BUF_ERROR: continue
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw FormatError("a deflate-compressed chunk is damaged: zlib says \(message)")
                }
            }
        }
        output.removeSubrange(produced...)
        return output
    }
}
