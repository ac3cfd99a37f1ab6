/// The importance-matrix quants: the non-linear 4-bit ones (IQ4_NL, IQ4_XS), whose 4-bit codes index a
/// table of 16 levels, and the lattice ones (IQ1_*, IQ2_*, IQ3_*), whose codes index rows of 4 or 8 values
/// in a fixed table (`IQGrid`), with signs stored apart.
///
/// gguf-py multiplies by the signs as ±1.0 rather than negating (the two differ on NaN), and so do these.
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

    /// Sign bytes with even parity: entry k is k with bit 7 set when k has an odd number of bits
    /// (GGML's `ksigns_iq2xs`), for the types that store 7 sign bits and imply the eighth.
    static let evenParitySigns: [UInt8] = (0..<128).map { UInt8($0) | UInt8($0.nonzeroBitCount & 1) << 7 }

    /// +1 or −1 for bit `bit` of `signs`.
    @inline(__always)
    static func sign(_ signs: UInt8, _ bit: Int) -> Float { (signs >> UInt8(bit)) & 1 == 0 ? 1 : -1 }

    /// The 8-bit sign pattern of group `k` of a u32 that holds four 7-bit sign indices.
    @inline(__always)
    static func packedSigns(_ word: UInt32, _ k: Int) -> UInt8 { evenParitySigns[Int((word >> UInt32(7 * k)) & 0x7F)] }

    // IQ2_XXS: d, then 8 pairs of u32: four grid rows (bytes of the first), four 7-bit sign indices and a
    // 4-bit scale (the second). x = ((d · (0.5 + s)) · 0.25) · grid · sign.
    static func dequantizeIQ2_XXS(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        let grid = IQGrid.iq2_xxs
        for b in 0..<blocks {
            let block = src + b * 66, o = out + b * 256
            let d = block.half(at: 0)
            for sub in 0..<8 {
                let rows = block + 2 + 8 * sub, aux = block.u32(at: 2 + 8 * sub + 4)
                let db = d * (0.5 + Float(aux >> 28)) * 0.25
                for k in 0..<4 {
                    let signs = packedSigns(aux, k), row = Int(rows[k])
                    for j in 0..<8 { o[sub * 32 + k * 8 + j] = db * grid[row, j] * sign(signs, j) }
                }
            }
        }
    }

    /// The 16 4-bit scales of IQ2_XS and IQ2_S, as gguf-py's factor d · (0.5 + s) · 0.25.
    @inline(__always)
    static func quarterScale(_ d: Float, _ scales: UnsafePointer<UInt8>, _ i: Int) -> Float {
        d * (0.5 + Float((scales[i / 2] >> UInt8(4 * (i % 2))) & 0x0F)) * 0.25
    }

    // IQ2_XS: d, 32 u16 (9-bit grid row, 7-bit sign index), 8 bytes of 4-bit scales (one per 16 elements).
    static func dequantizeIQ2_XS(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        let grid = IQGrid.iq2_xs
        for b in 0..<blocks {
            let block = src + b * 74, o = out + b * 256
            let d = block.half(at: 0)
            for i in 0..<32 {
                let code = block.u16(at: 2 + 2 * i), db = quarterScale(d, block + 66, i / 2)
                let signs = evenParitySigns[Int(code >> 9)], row = Int(code & 511)
                for j in 0..<8 { o[i * 8 + j] = db * grid[row, j] * sign(signs, j) }
            }
        }
    }

    // IQ2_S: d, 32 low bytes of grid rows, 32 sign bytes, 8 bytes of row high bits (2 each), 8 bytes of scales.
    static func dequantizeIQ2_S(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        let grid = IQGrid.iq2_s
        for b in 0..<blocks {
            let block = src + b * 82, o = out + b * 256
            let d = block.half(at: 0), qs = block + 2, signs = block + 34, qh = block + 66
            for i in 0..<32 {
                let db = quarterScale(d, block + 74, i / 2)
                let row = Int(qs[i]) | Int((qh[i / 4] >> UInt8(2 * (i % 4))) & 3) << 8
                for j in 0..<8 { o[i * 8 + j] = db * grid[row, j] * sign(signs[i], j) }
            }
        }
    }

    // IQ3_XXS: d, 64 grid rows of 4 (bytes), 8 u32 of four 7-bit sign indices and a 4-bit scale.
    // x = ((d · (0.5 + s)) · 0.5) · grid · sign.
    static func dequantizeIQ3_XXS(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        let grid = IQGrid.iq3_xxs
        for b in 0..<blocks {
            let block = src + b * 98, o = out + b * 256
            let d = block.half(at: 0), qs = block + 2
            for sub in 0..<8 {
                let aux = block.u32(at: 66 + 4 * sub)
                let db = d * (0.5 + Float(aux >> 28)) * 0.5
                for k in 0..<4 {
                    let signs = packedSigns(aux, k)
                    for half in 0..<2 {
                        let row = Int(qs[sub * 8 + k * 2 + half])
                        for j in 0..<4 { o[sub * 32 + k * 8 + half * 4 + j] = db * grid[row, j] * sign(signs, half * 4 + j) }
                    }
                }
            }
        }
    }

    // IQ3_S: d, 64 low bytes of grid rows, 8 bytes of row high bits, 32 sign bytes, 4 bytes of 4-bit scales.
    // x = (d · (1 + 2s)) · grid · sign.
    static func dequantizeIQ3_S(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        let grid = IQGrid.iq3_s
        for b in 0..<blocks {
            let block = src + b * 110, o = out + b * 256
            let d = block.half(at: 0), qs = block + 2, qh = block + 66, signs = block + 74, scales = block + 106
            for i in 0..<64 {
                let sub = i / 8
                let db = d * Float(1 + 2 * ((scales[sub / 2] >> UInt8(4 * (sub % 2))) & 0x0F))
                let row = Int(qs[i]) | Int((qh[i / 8] >> UInt8(i % 8)) & 1) << 8
                for j in 0..<4 {
                    let e = i * 4 + j
                    o[e] = db * grid[row, j] * sign(signs[e / 8], e % 8)
                }
            }
        }
    }

    /// IQ1's shift of the lattice values: +0.125, or −0.125 when the flag is set.
    @inline(__always)
    static func delta(_ negative: Bool) -> Float { negative ? -0.125 : 0.125 }

    // IQ1_S: d, 32 low bytes of grid rows, 8 u16, one per 32 elements (3 high bits for each of its 4 rows,
    // a 3-bit scale, the delta sign).
    // x = (d · (2s + 1)) · (grid + delta).
    static func dequantizeIQ1_S(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        let grid = IQGrid.iq1_s
        for b in 0..<blocks {
            let block = src + b * 50, o = out + b * 256
            let d = block.half(at: 0), qs = block + 2
            for sub in 0..<8 {
                let qh = block.u16(at: 34 + 2 * sub)
                let dl = d * Float(2 * ((qh >> 12) & 7) + 1), shift = delta(qh & 0x8000 != 0)
                for k in 0..<4 {
                    let i = sub * 4 + k, row = Int(qs[i]) | Int((qh >> UInt16(3 * k)) & 7) << 8
                    for j in 0..<8 { o[i * 8 + j] = dl * (grid[row, j] + shift) }
                }
            }
        }
    }

    // IQ1_M: 32 low bytes of grid rows, 16 bytes of nibbles (3 high row bits and the delta sign), 4 u16 of
    // 3-bit scales whose top nibbles together make the f16 d. x = (d · (2s + 1)) · (grid + delta).
    static func dequantizeIQ1_M(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        let grid = IQGrid.iq1_s
        for b in 0..<blocks {
            let block = src + b * 56, o = out + b * 256
            let qs = block, qh = block + 32
            let words = (0..<4).map { block.u16(at: 48 + 2 * $0) }
            let dBits = words[0] >> 12 | (words[1] & 0xF000) >> 8 | (words[2] & 0xF000) >> 4 | words[3] & 0xF000
            let d = halfToFloat(dBits)
            for i in 0..<32 {
                let scale = (words[i / 8] >> UInt16(3 * ((i / 2) % 4))) & 7
                let dl = d * Float(2 * scale + 1)
                let nibble = (qh[i / 2] >> UInt8(4 * (i % 2))) & 0x0F
                let row = Int(qs[i]) | Int(nibble & 7) << 8, shift = delta(nibble & 8 != 0)
                for j in 0..<8 { o[i * 8 + j] = dl * (grid[row, j] + shift) }
            }
        }
    }
}

/// A lattice of the IQ types: `rows` rows of `width` values, each one of a few levels.
///
/// The values live in memory allocated once and never freed (the tables are process-wide constants), so
/// the kernels read them without bounds checks; every row index a kernel forms is masked to `rows`.
struct IQGrid: @unchecked Sendable {
    let rows: Int
    let width: Int
    private let values: UnsafeMutablePointer<Float>

    /// Decodes `digits`, one hex digit per value (the index of its level), row after row; other characters
    /// (the line breaks of the source) are skipped.
    init(rows: Int, width: Int, levels: [Float], digits: StaticString) {
        self.rows = rows
        self.width = width
        values = .allocate(capacity: rows * width)
        var count = 0
        digits.withUTF8Buffer { text in
            for c in text {
                let level: Int
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): level = Int(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): level = Int(c - UInt8(ascii: "a")) + 10
                default: continue
                }
                precondition(count < rows * width, "IQGrid: a table larger than its shape")  // a source-code constant
                values[count] = levels[level]
                count += 1
            }
        }
        precondition(count == rows * width, "IQGrid: a table smaller than its shape")
    }

    @inline(__always)
    subscript(row: Int, column: Int) -> Float { values[row * width + column] }
}
