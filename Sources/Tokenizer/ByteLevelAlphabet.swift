/// GPT-2's byte-level alphabet: every byte 0–255 as a printable character, so that byte-level BPE can work
/// on text made of characters. Printable Latin-1 bytes stand for themselves; the others map, in order, to
/// U+0100 onwards (the space becomes `Ġ`, the newline `Ċ`). Shared by the ByteLevel pre-tokenizer and decoder.
public enum ByteLevelAlphabet {
    /// The character of each byte.
    public static let characterOfByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(next) ?? " "
                next += 1
            }
        }
        return table
    }()

    /// The byte a character stands for; nil for characters outside the alphabet.
    public static func byte(of c: Unicode.Scalar) -> UInt8? {
        let v = c.value
        guard v < 512 else { return nil }
        return byteOfValue[Int(v)]
    }

    private static let byteOfValue: [UInt8?] = {
        var table = [UInt8?](repeating: nil, count: 512)
        for (b, c) in characterOfByte.enumerated() { table[Int(c.value)] = UInt8(b) }
        return table
    }()
}
