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
}
