/// Text on its way through a tokenizer: Unicode scalars, each remembering the UTF-8 byte range of the
/// original text it came from, so that every token can name its offsets in the user's text (as
/// `tokenizers`' `NormalizedString` does).
///
/// A normalizer rewrites scalars and keeps alignments: a scalar that expands (NFD, a lowercase mapping,
/// ByteLevel's byte-to-character map) gives every result scalar the source scalar's range; scalars that
/// merge (NFC) take the union of their ranges; an inserted scalar (Prepend, Replace) takes the range of the
/// scalar it stands beside, as `tokenizers` does.
public struct NormalizedString: Sendable, Equatable {
    public var scalars: [Unicode.Scalar]
    /// One range per scalar, in bytes of the original text.
    public var alignments: [Range<Int>]

    public init(scalars: [Unicode.Scalar], alignments: [Range<Int>]) {
        precondition(scalars.count == alignments.count, "one alignment per scalar")
        self.scalars = scalars
        self.alignments = alignments
    }

    /// `text` as it stands, its first byte at `offset` in the original text.
    public init(_ text: Substring, offset: Int = 0) {
        var scalars: [Unicode.Scalar] = []
        var alignments: [Range<Int>] = []
        scalars.reserveCapacity(text.utf8.count)
        alignments.reserveCapacity(text.utf8.count)
        var at = offset
        for s in text.unicodeScalars {
            let n = UTF8.width(s)
            scalars.append(s)
            alignments.append(at..<(at + n))
            at += n
        }
        self.scalars = scalars
        self.alignments = alignments
    }

    public init(_ text: String, offset: Int = 0) { self.init(Substring(text), offset: offset) }

    public var isEmpty: Bool { scalars.isEmpty }

    /// The normalised text.
    public var string: String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars)
        return String(s)
    }

    /// The original byte range the scalars `range` came from (empty at the boundary when `range` is empty).
    public func originalRange(_ range: Range<Int>) -> Range<Int> {
        guard !range.isEmpty else {
            let at = range.lowerBound < alignments.count ? alignments[range.lowerBound].lowerBound : (alignments.last?.upperBound ?? 0)
            return at..<at
        }
        var lo = Int.max, hi = Int.min
        for i in range {
            lo = min(lo, alignments[i].lowerBound)
            hi = max(hi, alignments[i].upperBound)
        }
        return lo..<hi
    }

    /// The piece of this string from scalar `range`.
    public func slice(_ range: Range<Int>) -> NormalizedString {
        NormalizedString(scalars: Array(scalars[range]), alignments: Array(alignments[range]))
    }
}

/// Rewrites text before it is split, keeping alignments (`BertNormalizer`, `NFC`, `Lowercase`, …).
public protocol Normalizer: Sendable {
    func normalize(_ s: inout NormalizedString)
}

/// Splits text into the pieces the model tokenizes one by one (`ByteLevel`, `Split`, `Whitespace`, …).
/// A piece may also be rewritten (ByteLevel maps each byte to a printable character).
public protocol PreTokenizer: Sendable {
    func split(_ s: NormalizedString) -> [NormalizedString]
}
