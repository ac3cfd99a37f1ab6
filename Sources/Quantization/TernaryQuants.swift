/// The ternary quants (values −1, 0, 1 times an f16 scale, for BitNet-style models).
enum TernaryQuants {
    // TQ1_0: 48 bytes holding five trits each, 4 bytes holding four, then d. A byte b holds its trits as the
    // top digit of (b · 3^k mod 256) · 3 / 256, for k = 0, 1, 2, …; the k-th trit of each byte makes a run.
    static func dequantizeTQ1_0(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        let powers: [UInt8] = [1, 3, 9, 27, 81]
        for b in 0..<blocks {
            let block = src + b * 54, o = out + b * 256
            let d = block.half(at: 52)
            var e = 0
            // (first byte, byte count, trits per byte): 32 bytes of 5, 16 bytes of 5, 4 bytes of 4.
            for (first, count, trits) in [(0, 32, 5), (32, 16, 5), (48, 4, 4)] {
                for k in 0..<trits {
                    for l in 0..<count {
                        let scaled = block[first + l] &* powers[k]
                        let trit = Int((UInt16(scaled) &* 3) >> 8) - 1
                        o[e] = d * Float(trit)
                        e += 1
                    }
                }
            }
        }
    }

    // TQ2_0: 64 bytes of 2-bit codes (32 bytes shifted 0, 2, 4, 6 give runs of 32), then d. x = d · (q − 1).
    static func dequantizeTQ2_0(_ src: UnsafePointer<UInt8>, _ blocks: Int, _ out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 66, o = out + b * 256
            let d = block.half(at: 64)
            for half in 0..<2 {
                for shift in 0..<4 {
                    for l in 0..<32 {
                        let q = Int((block[half * 32 + l] >> UInt8(2 * shift)) & 3) - 1
                        o[half * 128 + shift * 32 + l] = d * Float(q)
                    }
                }
            }
        }
    }
}
