import Testing
import TestSupport
@testable import RecastCore

@Suite struct CastTests {
    func convert(_ values: [Float], to: DType) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                #expect(Cast.convert(src, from: .f32, to: to, count: values.count, into: dst))
            }
        }
        return out
    }

    @Test func bf16RoundsToNearestEven() {
        // 1 + 2^-8 is exactly half way between two bf16 values: ties go to the even one (1.0).
        let tie = Float(bitPattern: 0x3F80_8000)
        let aboveTie = Float(bitPattern: 0x3F80_8001)
        let oddTie = Float(bitPattern: 0x3F81_8000)
        #expect(convert([tie, aboveTie, oddTie], to: .bf16) == [0x3F80, 0x3F81, 0x3F82])
    }

    @Test func bf16KeepsNaNAndInfinity() {
        let out = convert([.nan, .infinity, -.infinity, Float(bitPattern: 0x7F80_0001), Float.greatestFiniteMagnitude], to: .bf16)
        #expect(Cast.f32(fromBF16Bits: out[0]).isNaN)
        #expect(out[1] == 0x7F80 && out[2] == 0xFF80)
        #expect(Cast.f32(fromBF16Bits: out[3]).isNaN, "a signalling NaN whose payload sits in the low bits must stay NaN")
        #expect(out[4] == 0x7F80, "the largest float rounds up to infinity in bf16")
    }

    @Test func f16MatchesIEEE() {
        let out = convert([1, 65504, 65520, 1e-8, 0.1, -2.5], to: .f16)
        #expect(out == [0x3C00, 0x7BFF, 0x7C00, 0x0000, 0x2E66, 0xC100])
    }

    @Test func wideningIsExact() {
        let halves: [UInt16] = [0x3C00, 0x0001, 0x7BFF, 0xFC00]
        var out = [Float](repeating: 0, count: 4)
        halves.withUnsafeBytes { s in out.withUnsafeMutableBytes { d in _ = Cast.convert(s, from: .f16, to: .f32, count: 4, into: d) } }
        #expect(out == [1, 0x1p-24, 65504, -.infinity])
    }

    @Test func doubleToBF16RoundsOnce() {
        // 1 + 2^-8 + 2^-40: just above a tie. Rounding to f32 first would erase the 2^-40 and round down.
        let d: [Double] = [1 + 0x1p-8 + 0x1p-40]
        var out: [UInt16] = [0]
        d.withUnsafeBytes { s in out.withUnsafeMutableBytes { o in _ = Cast.convert(s, from: .f64, to: .bf16, count: 1, into: o) } }
        #expect(out == [0x3F81])
    }

    @Test func minifloatDecoding() {
        let e4m3: [UInt8] = [0x38, 0x7E, 0x7F, 0x01, 0xB8]
        let decoded = e4m3.withUnsafeBytes { raw in (0..<5).map { Cast.decode(.f8e4m3, raw.baseAddress!, $0) } }
        #expect(decoded[0] == 1 && decoded[1] == 448 && decoded[2].isNaN && decoded[3] == 0x1p-9 && decoded[4] == -1)
        let e5m2: [UInt8] = [0x3C, 0x7C]
        let d2 = e5m2.withUnsafeBytes { raw in (0..<2).map { Cast.decode(.f8e5m2, raw.baseAddress!, $0) } }
        #expect(d2 == [1, .infinity])
        let e8m0: [UInt8] = [127, 130, 0xFF]
        let d3 = e8m0.withUnsafeBytes { raw in (0..<3).map { Cast.decode(.f8e8m0, raw.baseAddress!, $0) } }
        #expect(d3[0] == 1 && d3[1] == 8 && d3[2].isNaN)
        // F4 (E2M1), two per byte, low nibble first: 0x2 = 1.0, 0x7 = 6.0
        let f4: [UInt8] = [0x72]
        let d4 = f4.withUnsafeBytes { raw in (0..<2).map { Cast.decode(.f4, raw.baseAddress!, $0) } }
        #expect(d4 == [1, 6])
        let fnuz: [UInt8] = [0x80, 0x40]
        let d5 = fnuz.withUnsafeBytes { raw in (0..<2).map { Cast.decode(.f8e4m3fnuz, raw.baseAddress!, $0) } }
        #expect(d5[0].isNaN && d5[1] == 1)
    }

    @Test func sixBitFieldsAreLittleEndianBitStream() {
        // Four 6-bit values a, b, c, d packed into three bytes, low bits first.
        let vals: [UInt32] = [0b001000, 0b010000, 0b000001, 0b111111]
        var stream: UInt32 = 0
        for (i, v) in vals.enumerated() { stream |= v << UInt32(6 * i) }
        let packed: [UInt8] = [UInt8(stream & 0xFF), UInt8((stream >> 8) & 0xFF), UInt8(stream >> 16)]
        let got = packed.withUnsafeBytes { raw in (0..<4).map { Cast.sixBits(raw.baseAddress!, $0) } }
        #expect(got == vals)
        // E2M3: 0b001000 = exponent 1, mantissa 0 → 1.0
        let one = packed.withUnsafeBytes { Cast.decode(.f6e2m3, $0.baseAddress!, 0) }
        #expect(one == 1)
    }

    @Test func unsupportedPairsAreRefused() {
        let src: [Int32] = [1, 2]
        var dst = [Float](repeating: 0, count: 2)
        let ok = src.withUnsafeBytes { s in dst.withUnsafeMutableBytes { d in Cast.convert(s, from: .i32, to: .f32, count: 2, into: d) } }
        #expect(!ok)
    }
}

@Suite struct CoreTests {
    @Test func byteSizes() {
        #expect(ByteSize.parse("5GB") == 5_000_000_000)
        #expect(ByteSize.parse("2GiB") == 2 * 1_073_741_824)
        #expect(ByteSize.parse("500MB") == 500_000_000)
        #expect(ByteSize.parse("1000") == 1000)
        #expect(ByteSize.parse("abc") == nil)
        #expect(ByteSize.parse("-5GB") == nil)
        #expect(ByteSize.parse("5XB") == nil)
    }

    @Test func sha256KnownAnswers() {
        let s = SHA256()
        s.update(Array("abc".utf8))
        #expect(SHA256.hexString(s.finalize()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = [UInt8](repeating: 0x61, count: 1_000_000)
        let t = SHA256()
        // Uneven pieces exercise the buffering across block boundaries.
        t.update(Array(long[0..<7])); t.update(Array(long[7..<100_003])); t.update(Array(long[100_003...]))
        #expect(SHA256.hexString(t.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func dtypeSizes() {
        #expect(DType.f4.byteCount(elements: 3) == nil)
        #expect(DType.f4.byteCount(elements: 4) == 2)
        #expect(DType.f6e2m3.byteCount(elements: 4) == 3)
        #expect(DType.c64.byteCount(elements: 2) == 16)
        #expect(elementCount(of: [Int.max, 2]) == nil)
    }
}
