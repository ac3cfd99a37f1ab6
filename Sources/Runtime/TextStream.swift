/// Generated token ids turned into text as soon as the text is final, for printing while generating.
///
/// Decoding one token at a time is wrong for byte-level and byte-fallback tokenizers (a character may span
/// tokens) and for decoders that look at neighbours (a SentencePiece `▁` becomes a space except at the
/// start). So, as text-generation-inference does, the stream decodes a short window of ids twice, with and
/// without the newest ones, and emits the difference once it is longer and does not end in U+FFFD (an
/// incomplete UTF-8 sequence). For decoders that only join their tokens' text (byte-level BPE, SentencePiece
/// BPE) everything emitted, up to `finish()`, equals the decode of all the ids at once.
///
/// Stop strings: text that could be the start of one is held back until it is known not to be; when one
/// appears, the text before it is emitted and `stopped` becomes true.
public struct TextStream {
    let decode: ([Int]) throws -> String
    let stopStrings: [[UInt8]]
    var ids: [Int] = []
    /// ids[prefixOffset..<readOffset] were decoded already and give the text the next decode is compared with.
    var prefixOffset = 0
    var readOffset = 0
    /// Decoded text not emitted yet: it may begin a stop string.
    var held: [UInt8] = []
    /// True once a stop string appeared; nothing more is emitted.
    public private(set) var stopped = false

    /// `decode` turns ids into text (the tokenizer's decoder, special tokens skipped); empty stop strings are ignored.
    public init(stopStrings: [String] = [], decode: @escaping ([Int]) throws -> String) {
        self.decode = decode
        self.stopStrings = stopStrings.filter { !$0.isEmpty }.map { Array($0.utf8) }
    }

    /// Adds a generated token; returns the text that became final (often empty).
    public mutating func append(_ id: Int) throws -> String {
        guard !stopped else { return "" }
        ids.append(id)
        let before = try decode(Array(ids[prefixOffset..<readOffset]))
        let after = try decode(Array(ids[prefixOffset...]))
        guard after.utf8.count > before.utf8.count, after.unicodeScalars.last != "\u{FFFD}",
              after.utf8.starts(with: before.utf8) else { return "" }
        prefixOffset = readOffset
        readOffset = ids.count
        return release(Array(after.utf8.dropFirst(before.utf8.count)), atEnd: false)
    }

    /// The rest of the text, once generation has ended (an incomplete character included, as U+FFFD).
    public mutating func finish() throws -> String {
        guard !stopped else { return "" }
        let before = try decode(Array(ids[prefixOffset..<readOffset]))
        let after = try decode(Array(ids[prefixOffset...]))
        let common = zip(before.utf8, after.utf8).prefix { $0 == $1 }.count
        prefixOffset = ids.count
        readOffset = ids.count
        return release(Array(after.utf8.dropFirst(common)), atEnd: true)
    }

    /// Appends new text to what is held and returns what can be shown: everything before the first stop
    /// string, or, with none, all but the longest end that a stop string begins with.
    mutating func release(_ text: [UInt8], atEnd: Bool) -> String {
        held += text
        var first: Int?
        for s in stopStrings {
            if let at = TextStream.find(s, in: held), at < (first ?? .max) { first = at }
        }
        if let first {
            stopped = true
            defer { held = [] }
            return String(decoding: held[..<first], as: UTF8.self)
        }
        var keep = 0
        if !atEnd {
            for s in stopStrings {
                for n in stride(from: min(s.count - 1, held.count), to: keep, by: -1) where held.suffix(n).elementsEqual(s.prefix(n)) {
                    keep = n
                    break
                }
            }
        }
        // A stop string begins with a lead byte, so the kept end starts on a character boundary.
        let out = String(decoding: held[..<(held.count - keep)], as: UTF8.self)
        held = Array(held.suffix(keep))
        return out
    }

    /// The first index where `needle` occurs in `haystack`.
    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        }
        return nil
    }
}
