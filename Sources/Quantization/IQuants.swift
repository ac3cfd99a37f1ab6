/// The importance-matrix quants that Recast decodes: the non-linear 4-bit ones (IQ4_NL, IQ4_XS).
///
/// Their 4-bit codes index a fixed table of 16 levels rather than standing for evenly spaced values.
enum IQuants {
    /// The 16 levels of IQ4_NL and IQ4_XS (GGML's `kvalues_iq4nl`).
    static let nonLinearLevels: [Float] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    // IQ4_NL: d (f16), 16 bytes of nibbles (low nibbles are elements 0…15). x = d · level[q].
    static func dequantizeIQ4_NL(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        nonLinearLevels.withUnsafeBufferPointer { levels in
            for b in 0..<blocks {
                let block = src + b * 18, o = out + b * 32
                let d = block.half(at: 0)
                for j in 0..<16 {
                    let byte = block[2 + j]
                    o[j] = d * levels[Int(byte & 0x0F)]
                    o[j + 16] = d * levels[Int(byte >> 4)]
                }
            }
        }
    }

    // IQ4_XS: d (f16), high scale bits (u16, two per sub-block), low scale nibbles (4 bytes), 128 bytes of
    // nibbles, 16 bytes per 32-element sub-block. x = (d · (sc − 32)) · level[q].
    static func dequantizeIQ4_XS(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        nonLinearLevels.withUnsafeBufferPointer { levels in
            for b in 0..<blocks {
                let block = src + b * 136, o = out + b * 256
                let d = block.half(at: 0), high = block.u16(at: 2), low = block + 4, qs = block + 8
                for sub in 0..<8 {
                    let scaleLow = (low[sub / 2] >> UInt8(4 * (sub % 2))) & 0x0F
                    let scaleHigh = UInt8(truncatingIfNeeded: high >> UInt16(2 * sub)) & 0x03
                    let dl = d * Float(Int(scaleLow | scaleHigh << 4) - 32)
                    let bytes = qs + sub * 16, so = o + sub * 32
                    for l in 0..<16 {
                        so[l] = dl * levels[Int(bytes[l] & 0x0F)]
                        so[l + 16] = dl * levels[Int(bytes[l] >> 4)]
                    }
                }
            }
        }
    }
}
