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

    /// The original byte range the scalars `range` came from: from the start of its first scalar's range to
    /// the end of its last one, as `tokenizers` converts offsets (empty at the boundary when `range` is empty).
    public func originalRange(_ range: Range<Int>) -> Range<Int> {
        guard !range.isEmpty else {
            let at = range.lowerBound < alignments.count ? alignments[range.lowerBound].lowerBound : (alignments.last?.upperBound ?? 0)
            return at..<at
        }
        let lo = alignments[range.lowerBound].lowerBound
        return lo..<max(lo, alignments[range.upperBound - 1].upperBound)
    }

    /// The piece of this string from scalar `range`.
    public func slice(_ range: Range<Int>) -> NormalizedString {
        NormalizedString(scalars: Array(scalars[range]), alignments: Array(alignments[range]))
    }
}

/// Rewrites text before it is split, keeping alignments (`BertNormalizer`, `NFC`, `Lowercase`, …).
/// Only a regex that backtracks catastrophically (`Replace`) can make it throw.
public protocol Normalizer: Sendable {
    func normalize(_ s: inout NormalizedString) throws
}

/// Splits text into the pieces the model tokenizes one by one (`ByteLevel`, `Split`, `Whitespace`, …).
/// A piece may also be rewritten (ByteLevel maps each byte to a printable character).
/// Pieces are never empty. Only a regex that backtracks catastrophically (`Split`) can make it throw.
public protocol PreTokenizer: Sendable {
    func split(_ s: NormalizedString) throws -> [NormalizedString]
}

extension NormalizedString {
    /// Rewrites the scalars `range` (all by default) as `tokenizers`' `transform` does, which fixes how
    /// every component aligns its output. Each new scalar comes with a change: 0 replaces the next old
    /// scalar and takes its range; +1 is inserted and takes the range of the old scalar before it (an empty
    /// range at the start of the text when there is none); -n replaces the next old scalar and then drops
    /// the n after it. `skipping` old scalars at the start of `range` are dropped first.
    mutating func transform(_ changes: [(Unicode.Scalar, Int)], in range: Range<Int>? = nil, skipping: Int = 0) {
        let range = range ?? 0..<scalars.count
        let start = (alignments.first?.lowerBound ?? 0)..<(alignments.first?.lowerBound ?? 0)
        var newScalars: [Unicode.Scalar] = []
        var newAlignments: [Range<Int>] = []
        newScalars.reserveCapacity(changes.count)
        newAlignments.reserveCapacity(changes.count)
        var cursor = range.lowerBound + skipping
        for (scalar, change) in changes {
            let alignment: Range<Int>
            if change > 0 {
                alignment = cursor > 0 && cursor - 1 < alignments.count ? alignments[cursor - 1] : start
            } else {
                alignment = cursor < alignments.count ? alignments[cursor] : (alignments.last ?? start)
                cursor += 1 - min(change, 0)
            }
            newScalars.append(scalar)
            newAlignments.append(alignment)
        }
        scalars.replaceSubrange(range, with: newScalars)
        alignments.replaceSubrange(range, with: newAlignments)
    }

    /// Keeps the scalars `keep` accepts, each with its own alignment.
    mutating func filter(_ keep: (Unicode.Scalar) -> Bool) {
        var w = 0
        for r in scalars.indices where keep(scalars[r]) {
            scalars[w] = scalars[r]
            alignments[w] = alignments[r]
            w += 1
        }
        scalars.removeSubrange(w...)
        alignments.removeSubrange(w...)
    }

    /// Replaces every scalar by one scalar, alignments unchanged.
    mutating func map(_ transform: (Unicode.Scalar) -> Unicode.Scalar) {
        for i in scalars.indices { scalars[i] = transform(scalars[i]) }
    }

    /// Puts `text` in front of a non-empty string; the new scalars share the first scalar's alignment.
    mutating func prepend(_ text: [Unicode.Scalar]) {
        guard let first = alignments.first, !text.isEmpty else { return }
        scalars.insert(contentsOf: text, at: 0)
        alignments.insert(contentsOf: repeatElement(first, count: text.count), at: 0)
    }

    /// Replaces every match (scalar ranges, in order, not overlapping) by `content`. As in `tokenizers`, the
    /// content takes the alignment of the last scalar of the match (of the scalar before an empty match).
    mutating func replace(_ matches: [Range<Int>], with content: [Unicode.Scalar]) {
        guard !matches.isEmpty else { return }
        let start = (alignments.first?.lowerBound ?? 0)..<(alignments.first?.lowerBound ?? 0)
        var newScalars: [Unicode.Scalar] = []
        var newAlignments: [Range<Int>] = []
        newScalars.reserveCapacity(scalars.count)
        newAlignments.reserveCapacity(scalars.count)
        var last = 0
        for m in matches {
            newScalars.append(contentsOf: scalars[last..<m.lowerBound])
            newAlignments.append(contentsOf: alignments[last..<m.lowerBound])
            let alignment = m.upperBound > 0 ? alignments[m.upperBound - 1] : start
            newScalars.append(contentsOf: content)
            newAlignments.append(contentsOf: repeatElement(alignment, count: content.count))
            last = m.upperBound
        }
        newScalars.append(contentsOf: scalars[last...])
        newAlignments.append(contentsOf: alignments[last...])
        scalars = newScalars
        alignments = newAlignments
    }

    /// Cuts the string at the pieces of `pattern`, keeping or merging them as `behavior` says, as
    /// `tokenizers`' `NormalizedString.split` does. Empty pieces are dropped (as its pre-tokenized string does).
    func split(_ pattern: SplitPattern, _ behavior: SplitBehavior) throws -> [NormalizedString] {
        let parts = try pattern.parts(of: scalars)
        var pieces: [(Range<Int>, Bool)] = []  // (range, removed)
        pieces.reserveCapacity(parts.count)
        switch behavior {
        case .isolated:
            pieces = parts.map { ($0.0, false) }
        case .removed:
            pieces = parts
        case .contiguous:
            var previous = false
            for (range, isMatch) in parts {
                if isMatch == previous, let last = pieces.last {
                    pieces[pieces.count - 1].0 = last.0.lowerBound..<range.upperBound
                } else {
                    pieces.append((range, false))
                }
                previous = isMatch
            }
        case .mergedWithPrevious:
            var previous = false
            for (range, isMatch) in parts {
                if isMatch && !previous, let last = pieces.last {
                    pieces[pieces.count - 1].0 = last.0.lowerBound..<range.upperBound
                } else {
                    pieces.append((range, false))
                }
                previous = isMatch
            }
        case .mergedWithNext:
            var previous = false
            for (range, isMatch) in parts.reversed() {
                if isMatch && !previous, let last = pieces.last {
                    pieces[pieces.count - 1].0 = range.lowerBound..<last.0.upperBound
                } else {
                    pieces.append((range, false))
                }
                previous = isMatch
            }
            pieces.reverse()
        }
        return pieces.compactMap { range, removed in removed || range.isEmpty ? nil : slice(range) }
    }
}

/// What a split cuts at: each scalar a predicate accepts (one match per scalar), or each match of a regex;
/// `inverted` swaps matches and the text between them.
struct SplitPattern {
    enum Kind {
        case scalar((Unicode.Scalar) -> Bool)
        case regex(TokenizerRegex)
    }
    var kind: Kind
    var inverted = false

    static func scalar(_ p: @escaping (Unicode.Scalar) -> Bool) -> SplitPattern { SplitPattern(kind: .scalar(p)) }
    static func regex(_ r: TokenizerRegex, inverted: Bool = false) -> SplitPattern { SplitPattern(kind: .regex(r), inverted: inverted) }

    /// The string cut into consecutive (range, is a match) parts, as `tokenizers`' `find_matches` gives them.
    func parts(of scalars: [Unicode.Scalar]) throws -> [(Range<Int>, Bool)] {
        if scalars.isEmpty { return [(0..<0, inverted)] }
        var parts: [(Range<Int>, Bool)] = []
        switch kind {
        case .scalar(let accepts):
            var last = 0
            for (i, s) in scalars.enumerated() where accepts(s) {
                if last < i { parts.append((last..<i, inverted)) }
                parts.append((i..<(i + 1), !inverted))
                last = i + 1
            }
            if last < scalars.count { parts.append((last..<scalars.count, inverted)) }
        case .regex(let regex):
            var last = 0
            for m in try regex.matches(in: scalars) {
                if last != m.lowerBound { parts.append((last..<m.lowerBound, inverted)) }
                parts.append((m, !inverted))
                last = m.upperBound
            }
            if last != scalars.count { parts.append((last..<scalars.count, inverted)) }
        }
        return parts
    }
}

/// How a split treats the pieces it cuts at (`tokenizers`' `SplitDelimiterBehavior`).
enum SplitBehavior: String, CaseIterable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}
