/// OCP microscaling formats: small floats sharing a power-of-two scale.
enum MicroscaledFloats {
    /// The E2M1 values doubled (GGML's `kvalues_mxfp4`); the scale is halved to match.
    static let e2m1Doubled: [Float] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]

    /// Half of 2^(e − 127) from an E8M0 exponent byte, as GGML's `ggml_e8m0_to_fp32_half` builds it.
    @inline(__always)
    static func e8m0Half(_ e: UInt8) -> Float {
        Float(bitPattern: e < 2 ? UInt32(0x0020_0000) << UInt32(e) : UInt32(e - 1) << 23)
    }

    // MXFP4: one E8M0 exponent byte, 16 bytes of E2M1 nibbles (low nibbles are elements 0…15).
    static func dequantizeMXFP4(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        e2m1Doubled.withUnsafeBufferPointer { values in
            for b in 0..<blocks {
                let block = src + b * 17, o = out + b * 32
                let d = e8m0Half(block[0])
                for j in 0..<16 {
                    let byte = block[1 + j]
                    o[j] = d * values[Int(byte & 0x0F)]
                    o[j + 16] = d * values[Int(byte >> 4)]
                }
            }
        }
    }

    /// An unsigned E4M3 scale byte (bit 7 ignored), halved to match the doubled values; 0x00 and 0x7F give 0.
    @inline(__always)
    static func ue4m3Half(_ x: UInt8) -> Float {
        if x == 0 || x == 0x7F { return 0 }
        let exponent = Int((x >> 3) & 0x0F), mantissa = Float(x & 0x07)
        let raw = exponent == 0 ? mantissa * 0x1p-9 : (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
        return raw * 0.5
    }

    // NVFP4: 64-element blocks of four UE4M3 scale bytes, then 4 × 8 bytes of E2M1 nibbles; each run of 16
    // elements is 8 low nibbles then 8 high nibbles.
    static func dequantizeNVFP4(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        e2m1Doubled.withUnsafeBufferPointer { values in
            for b in 0..<blocks {
                let block = src + b * 36, o = out + b * 64
                for sub in 0..<4 {
                    let d = ue4m3Half(block[sub]), bytes = block + 4 + 8 * sub, so = o + 16 * sub
                    for j in 0..<8 {
                        so[j] = d * values[Int(bytes[j] & 0x0F)]
                        so[j + 8] = d * values[Int(bytes[j] >> 4)]
                    }
                }
            }
        }
    }
}
