/// The K-quants: 256-element super-blocks of 16 or 8 sub-blocks, each with a small integer scale (and
/// minimum) that multiplies the super-block's f16 scale (and f16 minimum scale).
///
/// Bits are spread the way gguf-py's reshapes spread them: a byte array of 32 codes shifted by 0, 2, 4, 6
/// (or 0, 4) gives 4 (or 2) runs of 32 consecutive elements, and the 32-byte arrays follow each other.
enum KQuants {
    // Q2_K: 16 scale bytes (low nibble scale, high nibble minimum), 64 bytes of 2-bit codes, d, dmin.
    // x = (d · sc) · q − (dmin · mn), per 16 elements.
    static func dequantizeQ2_K(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 84, o = out + b * 256
            let scales = block, qs = block + 16
            let d = block.half(at: 80), dmin = block.half(at: 82)
            for half in 0..<2 {
                for shift in 0..<4 {
                    for run in 0..<2 {
                        let start = half * 128 + shift * 32 + run * 16, bytes = qs + half * 32 + run * 16
                        let sc = scales[start / 16]
                        let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc >> 4)
                        for l in 0..<16 { o[start + l] = dl * Float((bytes[l] >> UInt8(2 * shift)) & 3) - ml }
                    }
                }
            }
        }
    }

    // Q3_K: 32 bytes of high-bit masks, 64 bytes of 2-bit codes, 12 bytes of 6-bit scales, d.
    // x = (d · (sc − 32)) · (q_low − 4 · (1 − q_high)), per 16 elements.
    static func dequantizeQ3_K(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 110, o = out + b * 256
            let hmask = block, qs = block + 32, packed = block + 96
            let d = block.half(at: 108)
            for half in 0..<2 {
                for shift in 0..<4 {
                    for run in 0..<2 {
                        let start = half * 128 + shift * 32 + run * 16, i = start / 16
                        // Scale i: low four bits from the nibbles of bytes 0…7 (low nibbles first), high two
                        // from bytes 8…11, two bits at a time.
                        let low = (packed[i % 8] >> UInt8(4 * (i / 8))) & 0x0F
                        let high = (packed[8 + i % 4] >> UInt8(2 * (i / 4))) & 0x03
                        let dl = d * Float(Int(low | high << 4) - 32)
                        let bytes = qs + half * 32 + run * 16, masks = hmask + run * 16, bit = UInt8(start / 32)
                        for l in 0..<16 {
                            let q = Int((bytes[l] >> UInt8(2 * shift)) & 3) - (Int((masks[l] >> bit) & 1) ^ 1) << 2
                            o[start + l] = dl * Float(q)
                        }
                    }
                }
            }
        }
    }

    /// The eight 6-bit scales and minimums of Q4_K and Q5_K, from their 12 packed bytes.
    @inline(__always)
    static func scalesAndMinimums(_ p: UnsafePointer<UInt8>, _ i: Int) -> (scale: UInt8, minimum: UInt8) {
        if i < 4 { return (p[i] & 0x3F, p[4 + i] & 0x3F) }
        let j = i - 4
        return ((p[8 + j] & 0x0F) | ((p[j] >> 2) & 0x30), (p[8 + j] >> 4) | ((p[4 + j] >> 2) & 0x30))
    }

    // Q4_K: d, dmin, 12 bytes of scales and minimums, 128 bytes of nibbles. x = (d · sc) · q − (dmin · mn), per 32.
    static func dequantizeQ4_K(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 144, o = out + b * 256
            let d = block.half(at: 0), dmin = block.half(at: 2), qs = block + 16
            for sub in 0..<8 {
                let (sc, mn) = scalesAndMinimums(block + 4, sub)
                let ds = d * Float(sc), dm = dmin * Float(mn)
                let bytes = qs + (sub / 2) * 32, shift = UInt8(4 * (sub % 2))
                for l in 0..<32 { o[sub * 32 + l] = ds * Float((bytes[l] >> shift) & 0x0F) - dm }
            }
        }
    }

    // Q5_K: as Q4_K with 32 bytes of fifth bits (bit `sub` of byte `l`) before the nibbles.
    static func dequantizeQ5_K(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 176, o = out + b * 256
            let d = block.half(at: 0), dmin = block.half(at: 2), qh = block + 16, qs = block + 48
            for sub in 0..<8 {
                let (sc, mn) = scalesAndMinimums(block + 4, sub)
                let ds = d * Float(sc), dm = dmin * Float(mn)
                let bytes = qs + (sub / 2) * 32, shift = UInt8(4 * (sub % 2))
                for l in 0..<32 {
                    let q = ((bytes[l] >> shift) & 0x0F) | ((qh[l] >> UInt8(sub)) & 1) << 4
                    o[sub * 32 + l] = ds * Float(q) - dm
                }
            }
        }
    }

    // Q6_K: 128 bytes of low nibbles, 64 bytes of high 2 bits, 16 signed scales, d. x = (d · sc) · (q − 32), per 16.
    static func dequantizeQ6_K(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 210, o = out + b * 256
            let d = block.half(at: 208), scales = block + 192
            for half in 0..<2 {
                // Runs of 32: low nibbles of 64 bytes per half (low nibbles, then high), high bits of 32
                // bytes per half, shifted 0, 2, 4, 6.
                for run in 0..<4 {
                    let low = block + half * 64 + (run % 2) * 32, lowShift = UInt8(4 * (run / 2))
                    let high = block + 128 + half * 32, highShift = UInt8(2 * run)
                    for part in 0..<2 {
                        let start = half * 128 + run * 32 + part * 16
                        let ds = d * Float(Int8(bitPattern: scales[start / 16]))
                        for l in part * 16..<(part + 1) * 16 {
                            let q = ((low[l] >> lowShift) & 0x0F) | ((high[l] >> highShift) & 0x03) << 4
                            o[half * 128 + run * 32 + l] = ds * Float(Int(q) - 32)
                        }
                    }
                }
            }
        }
    }
}
