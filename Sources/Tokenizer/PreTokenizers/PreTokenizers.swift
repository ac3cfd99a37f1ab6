import RecastCore

/// The pre-tokenizers of tokenizer.json, by their `type`.
enum PreTokenizers {
    /// Builds the pre-tokenizer a tokenizer.json `pre_tokenizer` object describes.
    static func make(_ json: JSONView, file: String) throws -> any PreTokenizer {
        let c = try ComponentFields(json, role: "pre-tokenizer", file: file)
        switch c.type {
        case "BertPreTokenizer": return BertPreTokenizer()
        case "ByteLevel":
            return ByteLevelPreTokenizer(addPrefixSpace: try c.bool("add_prefix_space", default: true),
                                         useRegex: try c.bool("use_regex", default: true))
        case "Split":
            return Split(pattern: .regex(try c.pattern("pattern"), inverted: try c.bool("invert", default: false)),
                         behavior: try c.behavior("behavior"))
        case "Digits": return Digits(individual: try c.bool("individual_digits", default: false))
        case "Whitespace": return WhitespacePreTokenizer()
        case "WhitespaceSplit": return Split(pattern: .scalar { $0.properties.isWhitespace }, behavior: .removed)
        case "Punctuation":
            return Split(pattern: .scalar(BertPreTokenizer.isPunctuation), behavior: try c.behavior("behavior", default: .isolated))
        case "Metaspace":
            let addPrefixSpace = try c.optionalBool("add_prefix_space")
            var scheme = try Metaspace.PrependScheme(rawValue: c.string("prepend_scheme", default: "always"))
            guard scheme != nil else { throw c.error("\"prepend_scheme\" must be \"always\", \"first\" or \"never\"") }
            if addPrefixSpace == false {
                guard scheme == .never || json["prepend_scheme"] == nil else {
                    throw c.error("\"add_prefix_space\" false does not match \"prepend_scheme\"")
                }
                scheme = .never
            }
            return Metaspace(replacement: try c.scalar("replacement", default: "\u{2581}"), prependScheme: scheme ?? .always,
                             split: try c.bool("split", default: true))
        case "Sequence":
            return PreTokenizerSequence(try c.array("pretokenizers").map { try make($0, file: file) })
        default:
            throw c.unsupported()
        }
    }
}

/// Runs pre-tokenizers one after the other, each on every piece of the one before.
struct PreTokenizerSequence: PreTokenizer {
    let preTokenizers: [any PreTokenizer]
    init(_ preTokenizers: [any PreTokenizer]) { self.preTokenizers = preTokenizers }
    func split(_ s: NormalizedString) throws -> [NormalizedString] {
        var pieces = [s]
        for p in preTokenizers { pieces = try pieces.flatMap { try p.split($0) } }
        return pieces
    }
}

/// Cuts at a pattern (a regex, or scalars a predicate accepts), with a `SplitBehavior`.
struct Split: PreTokenizer, @unchecked Sendable {
    let pattern: SplitPattern
    let behavior: SplitBehavior
    func split(_ s: NormalizedString) throws -> [NormalizedString] { try s.split(pattern, behavior) }
}

/// BERT's pre-tokenizer: split at white space (removed), then isolate each punctuation character.
struct BertPreTokenizer: PreTokenizer {
    func split(_ s: NormalizedString) throws -> [NormalizedString] {
        try s.split(.scalar { $0.properties.isWhitespace }, .removed).flatMap { try $0.split(.scalar(Self.isPunctuation), .isolated) }
    }

    /// ASCII punctuation and symbols, and the Unicode punctuation categories (P*).
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return true
        case 0..<0x80: return false
        default: return UnicodeClasses.punctuation.contains(index: UnicodeClasses.categoryIndex(c.value))
        }
    }
}

/// Splits digits from the rest: each digit alone, or runs of digits (`char::is_numeric`: Nd, Nl, No).
struct Digits: PreTokenizer {
    let individual: Bool
    func split(_ s: NormalizedString) throws -> [NormalizedString] {
        try s.split(.scalar(Self.isNumeric), individual ? .isolated : .contiguous)
    }

    static func isNumeric(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 { return c.value >= 0x30 && c.value <= 0x39 }
        return UnicodeClasses.numbers.contains(index: UnicodeClasses.categoryIndex(c.value))
    }
}

/// `tokenizers`' Whitespace: the runs of `\w+|[^\w\s]+` (Rust `regex` classes), white space dropped.
struct WhitespacePreTokenizer: PreTokenizer {
    func split(_ s: NormalizedString) -> [NormalizedString] {
        var pieces: [NormalizedString] = []
        var i = 0
        let n = s.scalars.count
        while i < n {
            let c = s.scalars[i]
            if c.properties.isWhitespace {
                i += 1
                continue
            }
            let word = Self.isWord(c)
            var j = i + 1
            while j < n, !s.scalars[j].properties.isWhitespace, Self.isWord(s.scalars[j]) == word { j += 1 }
            pieces.append(s.slice(i..<j))
            i = j
        }
        return pieces
    }

    /// Rust `regex`'s `\w`: Alphabetic, marks, decimal digits, connector punctuation, joiners.
    static func isWord(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 {
            let v = c.value
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
        }
        if c.value == 0x200C || c.value == 0x200D || c.properties.isAlphabetic { return true }
        let cat = UnicodeClasses.categoryIndex(c.value)
        return UnicodeClasses.marks.contains(index: cat) || cat == 8 || cat == 11
    }
}

/// SentencePiece's pre-tokenizer: spaces become the replacement character (`▁`), which is put in front
/// of the text as `prependScheme` says, and the text is cut before each replacement character.
struct Metaspace: PreTokenizer {
    enum PrependScheme: String, Sendable { case always, first, never }
    let replacement: Unicode.Scalar
    let prependScheme: PrependScheme
    let split: Bool

    func split(_ s: NormalizedString) throws -> [NormalizedString] {
        var t = s
        let spaces = t.scalars.indices.filter { t.scalars[$0] == " " }.map { $0..<($0 + 1) }
        t.replace(spaces, with: [replacement])
        let startsWithReplacement = t.scalars.first == replacement
        switch prependScheme {
        case .always where !startsWithReplacement: t.prepend([replacement])
        case .first where !startsWithReplacement && t.alignments.first?.lowerBound == 0: t.prepend([replacement])
        default: break
        }
        guard split else { return t.isEmpty ? [] : [t] }
        let r = replacement
        return try t.split(.scalar { $0 == r }, .mergedWithNext)
    }
}

/// GPT-2's byte-level pre-tokenizer: optionally a space in front, the GPT-2 regex split (`use_regex`), then
/// every UTF-8 byte of each piece as its `ByteLevelAlphabet` character, aligned to the scalar it came from.
struct ByteLevelPreTokenizer: PreTokenizer {
    let addPrefixSpace: Bool
    let useRegex: Bool

    /// GPT-2's pre-tokenization pattern.
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let gpt2: TokenizerRegex = (try? TokenizerRegex(gpt2Pattern)) ?? TokenizerRegex(literal: "")

    func split(_ s: NormalizedString) throws -> [NormalizedString] {
        var t = s
        if addPrefixSpace && t.scalars.first != " " { t.prepend([" "]) }
        let pieces = useRegex ? try t.split(.regex(Self.gpt2), .isolated) : (t.isEmpty ? [] : [t])
        return pieces.map(Self.mapBytes)
    }

    /// Each scalar's UTF-8 bytes as alphabet characters, all aligned to the scalar.
    static func mapBytes(_ s: NormalizedString) -> NormalizedString {
        var scalars: [Unicode.Scalar] = []
        var alignments: [Range<Int>] = []
        scalars.reserveCapacity(s.scalars.count + 8)
        alignments.reserveCapacity(s.scalars.count + 8)
        let table = ByteLevelAlphabet.characterOfByte
        for (c, a) in zip(s.scalars, s.alignments) {
            if c.value < 0x80 {
                scalars.append(table[Int(c.value)])
                alignments.append(a)
                continue
            }
            guard let bytes = UTF8.encode(c) else { continue }
            for b in bytes {
                scalars.append(table[Int(b)])
                alignments.append(a)
            }
        }
        return NormalizedString(scalars: scalars, alignments: alignments)
    }
}
