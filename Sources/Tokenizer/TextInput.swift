import RecastCore

/// Token sequences made from the inputs every model-running command takes (`--text-file`, `--lines`,
/// `--tokens-file`): the rules live here, so that `run`, `verify` and later commands cut text the same way.
public enum TextInput {
    /// The largest text or token file read (the whole file is held in memory while it is tokenized).
    public static let fileLimit = 1 << 30

    /// One window of a long document.
    public struct Window: Sendable, Equatable {
        /// The window's tokens: positions `range` of the document's tokens.
        public var range: Range<Int>
        /// The first position whose next-token prediction is scored (predicting token `scoredFrom + 1`):
        /// 0 for the first window and for windows that do not overlap; for a window that overlaps the
        /// previous one, the position before the first token the previous window did not reach. So every
        /// token of the document after the first is predicted exactly once (Hugging Face's strided
        /// perplexity), except the first token of each non-overlapping window, which nothing in its window
        /// precedes.
        public var scoredFrom: Int

        public init(range: Range<Int>, scoredFrom: Int) {
            self.range = range
            self.scoredFrom = scoredFrom
        }
    }

    /// The windows of `maxLength` tokens, starting every `stride` tokens, over a document of `count` tokens,
    /// as Hugging Face's strided perplexity walks it: the walk stops at the first window that reaches the
    /// end, which may be shorter. Needs `0 < stride <= maxLength`.
    public static func windows(count: Int, maxLength: Int, stride: Int) -> [Window] {
        precondition(maxLength > 0 && stride > 0 && stride <= maxLength, "windows need 0 < stride <= maxLength")
        var out: [Window] = []
        var begin = 0, previousEnd = 0
        while begin < count {
            let end = min(begin + maxLength, count)
            out.append(Window(range: begin..<end, scoredFrom: max(0, previousEnd - begin - 1)))
            previousEnd = end
            if end == count { break }
            begin += stride
        }
        return out
    }

    /// A document tokenized once (with the post-processor's special tokens when `addSpecialTokens`, as
    /// `tokenizer(text)` does), then cut into windows.
    public static func document(_ text: String, tokenizer: Tokenizer, maxLength: Int, stride: Int,
                                addSpecialTokens: Bool) throws -> (ids: [Int], windows: [Window]) {
        let ids = try tokenizer.encode(text, addSpecialTokens: addSpecialTokens).ids
        return (ids, windows(count: ids.count, maxLength: maxLength, stride: stride))
    }

    /// One encoding per line of `text` that holds more than white space, truncated to `maxLength` tokens
    /// as `tokenizers` truncates: the text's tokens are cut, then the post-processor's special tokens are
    /// added, so a BERT line keeps its final `[SEP]`. `file` names the text in errors.
    public static func lines(_ text: String, tokenizer: Tokenizer, maxLength: Int, addSpecialTokens: Bool,
                             file: String) throws -> [Encoding] {
        try lineTexts(text).map { try encode($0, tokenizer: tokenizer, maxLength: maxLength, addSpecialTokens: addSpecialTokens, file: file) }
    }

    /// The lines of `text` that hold more than white space, split at \n with a \r before it dropped.
    public static func lineTexts(_ text: String) -> [String] {
        text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).compactMap { line in
            let line = line.last == UInt8(ascii: "\r") ? line.dropLast() : line
            let s = String(Substring(line))
            return s.allSatisfy(\.isWhitespace) ? nil : s
        }
    }

    /// One text encoded and, when longer than `maxLength`, truncated with its special tokens kept.
    public static func encode(_ text: String, tokenizer: Tokenizer, maxLength: Int, addSpecialTokens: Bool,
                              file: String) throws -> Encoding {
        let full = try tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
        guard full.count > maxLength else { return full }
        guard addSpecialTokens else { return full.prefix(maxLength) }
        // With a single-sequence template the encoding is prefix + the text's tokens + suffix.
        let plain = try tokenizer.encode(text, addSpecialTokens: false)
        let added = full.count - plain.count
        guard added >= 0, let prefix = (0...added).first(where: { p in full.ids[p..<(p + plain.count)].elementsEqual(plain.ids) }) else {
            throw TokenizerError(file: tokenizer.file, "the post-processor changes the text's tokens, so a sequence cannot be truncated to \(maxLength) tokens")
        }
        guard maxLength > added else {
            throw TokenizerError(file: file, "--max-length \(maxLength) leaves no room for the text beside the \(added) special tokens the post-processor adds")
        }
        let keep = maxLength - added
        let kept = Array(0..<(prefix + keep)) + Array((prefix + plain.count)..<full.count)
        return full.selecting(kept)
    }

    /// A text file, read whole (at most `fileLimit` bytes) and checked to be UTF-8; the error names the
    /// line and the byte offset (from 0) of the first invalid byte.
    public static func readText(_ path: String) throws -> String {
        let bytes = try readBounded(path, what: "a text file")
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var valid = 0
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while case let .scalarValue(scalar) = decoder.decode(&iterator) { valid += UTF8.width(scalar) }
        let line = bytes[..<valid].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
        throw TokenizerError(file: path, "line \(line) is not valid UTF-8 (byte \(valid) of the file): Recast reads text files as UTF-8")
    }

    /// Sequences of token ids from a file: a JSON array of arrays of ids, or JSON lines (one array per
    /// non-blank line). Every id must lie in 0..<`vocab`. Errors name the file, and the line or the sequence.
    public static func readTokens(_ path: String, vocab: Int) throws -> [[Int]] {
        let bytes = try readBounded(path, what: "a tokens file")
        func ids(_ json: JSON, _ place: String) throws -> [Int] {
            guard let items = json.arrayValue else {
                throw TokenizerError(file: path, "\(place) is not an array of token ids")
            }
            guard !items.isEmpty else { throw TokenizerError(file: path, "\(place) is an empty sequence") }
            return try items.enumerated().map { i, item in
                guard let id = item.intValue else {
                    throw TokenizerError(file: path, "\(place), element \(i): \(item.serialized()) is not an integer token id")
                }
                guard id >= 0, id < vocab else {
                    throw TokenizerError(file: path, "\(place), element \(i): token \(id) is outside the model's vocabulary of \(vocab)")
                }
                return id
            }
        }
        // The whole file as one JSON array of arrays.
        if let whole = try? JSON.parse(bytes), let items = whole.arrayValue, !items.isEmpty, items.allSatisfy({ $0.arrayValue != nil }) {
            return try items.enumerated().map { try ids($1, "sequence \($0)") }
        }
        // JSON lines.
        var out: [[Int]] = []
        var lineNumber = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            guard line.contains(where: { ![0x20, 0x09, 0x0D].contains($0) }) else { continue }
            let json: JSON
            do {
                json = try JSON.parse(Array(line))
            } catch {
                throw TokenizerError(file: path, "line \(lineNumber) is not JSON (\(error.message) at byte \(error.offset) of the line): give a JSON array of arrays of ids, or one array per line")
            }
            out.append(try ids(json, "line \(lineNumber)"))
        }
        guard !out.isEmpty else { throw TokenizerError(file: path, "holds no sequences") }
        return out
    }

    /// The bytes of a file of at most `fileLimit` bytes.
    static func readBounded(_ path: String, what: String) throws -> [UInt8] {
        if let size = FileSystem.fileSize(path), size > fileLimit {
            throw TokenizerError(file: path, "is \(ByteSize.format(size)), over the limit of \(ByteSize.format(fileLimit)) for \(what)")
        }
        let bytes = try InputFile.readAll(path)
        guard bytes.count <= fileLimit else {
            throw TokenizerError(file: path, "is \(ByteSize.format(bytes.count)), over the limit of \(ByteSize.format(fileLimit)) for \(what)")
        }
        return bytes
    }
}

extension Encoding {
    /// The first `n` tokens.
    func prefix(_ n: Int) -> Encoding { selecting(Array(0..<Swift.min(n, count))) }

    /// The tokens at `positions`, in that order.
    func selecting(_ positions: [Int]) -> Encoding {
        func pick<T>(_ values: [T]) -> [T] { values.count == count ? positions.map { values[$0] } : values }
        return Encoding(ids: pick(ids), tokens: pick(tokens), offsets: pick(offsets), typeIds: pick(typeIds),
                        specialTokensMask: pick(specialTokensMask))
    }
}
