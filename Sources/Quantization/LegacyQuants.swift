/// The first GGML formats: 32-element blocks with an f16 scale (and, for the `_1` types, an f16 minimum).
///
/// Element `j` of a block lives in the low nibble of byte `j` when `j < 16` and in the high nibble of byte
/// `j - 16` otherwise; Q5 types keep each element's fifth bit in a little-endian u32 `qh`, bit `j`.
enum LegacyQuants {
    // Q4_0: d (f16), 16 bytes of nibbles. x = d · (q − 8).
    static func dequantizeQ4_0(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 18, o = out + b * 32
            let d = block.half(at: 0)
            for j in 0..<16 {
                let byte = block[2 + j]
                o[j] = d * Float(Int(byte & 0x0F) - 8)
                o[j + 16] = d * Float(Int(byte >> 4) - 8)
            }
        }
    }

    // Q4_1: d, m (f16), 16 bytes of nibbles. x = d · q + m.
    static func dequantizeQ4_1(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 20, o = out + b * 32
            let d = block.half(at: 0), m = block.half(at: 2)
            for j in 0..<16 {
                let byte = block[4 + j]
                o[j] = d * Float(byte & 0x0F) + m
                o[j + 16] = d * Float(byte >> 4) + m
            }
        }
    }

    // Q5_0: d (f16), qh (u32), 16 bytes of nibbles. x = d · (q − 16).
    static func dequantizeQ5_0(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 22, o = out + b * 32
            let d = block.half(at: 0), qh = block.u32(at: 2)
            for j in 0..<16 {
                let byte = block[6 + j]
                let low = Int(byte & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
                let high = Int(byte >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
                o[j] = d * Float(low - 16)
                o[j + 16] = d * Float(high - 16)
            }
        }
    }

    // Q5_1: d, m (f16), qh (u32), 16 bytes of nibbles. x = d · q + m.
    static func dequantizeQ5_1(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 24, o = out + b * 32
            let d = block.half(at: 0), m = block.half(at: 2), qh = block.u32(at: 4)
            for j in 0..<16 {
                let byte = block[8 + j]
                let low = UInt32(byte & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
                let high = UInt32(byte >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
                o[j] = d * Float(low) + m
                o[j + 16] = d * Float(high) + m
            }
        }
    }

    // Q8_0: d (f16), 32 signed bytes. x = q · d.
    static func dequantizeQ8_0(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 34, o = out + b * 32
            let d = block.half(at: 0)
            for j in 0..<32 { o[j] = Float(Int8(bitPattern: block[2 + j])) * d }
        }
    }
}
