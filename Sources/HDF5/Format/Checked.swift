// Overflow-checked arithmetic on values read from the file: every overflow becomes a FormatError.

enum Checked {
    static func add(_ a: UInt64, _ b: UInt64, _ what: @autoclosure () -> String, at offset: Int? = nil) throws -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw FormatError("\(what()) overflows 64 bits (\(a) + \(b))", at: offset) }
        return sum
    }

    static func multiply(_ a: UInt64, _ b: UInt64, _ what: @autoclosure () -> String, at offset: Int? = nil) throws -> UInt64 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw FormatError("\(what()) overflows 64 bits (\(a) × \(b))", at: offset) }
        return product
    }

    static func add(_ a: Int, _ b: Int, _ what: @autoclosure () -> String, at offset: Int? = nil) throws -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw FormatError("\(what()) is too large (\(a) + \(b))", at: offset) }
        return sum
    }

    static func multiply(_ a: Int, _ b: Int, _ what: @autoclosure () -> String, at offset: Int? = nil) throws -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw FormatError("\(what()) is too large (\(a) × \(b))", at: offset) }
        return product
    }

    /// `value` as an `Int`, or an error naming it.
    static func int(_ value: UInt64, _ what: @autoclosure () -> String, at offset: Int? = nil) throws -> Int {
        guard let result = Int(exactly: value) else {
            throw FormatError("\(what()) of \(value) is too large", at: offset)
        }
        return result
    }

    /// ⌈a / b⌉ for b > 0.
    static func ceilDivide(_ a: UInt64, _ b: UInt64) -> UInt64 {
        b == 0 ? 0 : a / b + (a % b == 0 ? 0 : 1)
    }

    /// ⌊log2(value)⌋, 0 for 0 (libhdf5's H5VM_log2_gen).
    static func log2(_ value: UInt64) -> Int {
        value == 0 ? 0 : 63 - value.leadingZeroBitCount
    }

    static func isPowerOfTwo(_ value: UInt64) -> Bool { value != 0 && value & (value - 1) == 0 }

    /// Bytes needed to encode `value` the way libhdf5 sizes record-count fields (H5VM_limit_enc_size).
    static func encodedSize(_ value: UInt64) -> Int { log2(value) / 8 + 1 }
}

extension UnsafeRawBufferPointer {
    /// Little-endian unsigned integer of `size` (1...8) bytes at `offset`; the caller has checked the bounds.
    func littleEndian(at offset: Int, size: Int) throws -> UInt64 {
        guard (1...8).contains(size), offset >= 0, offset <= count - size else {
            throw FormatError("a \(size)-byte field at \(offset) lies outside a \(count)-byte record")
        }
        var value: UInt64 = 0
        for k in 0..<size { value |= UInt64(self[offset + k]) << UInt64(8 * k) }
        return value
    }
}
