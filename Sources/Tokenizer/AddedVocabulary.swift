import RecastCore

/// One entry of tokenizer.json's `added_tokens`.
public struct AddedToken: Sendable, Equatable {
    public var id: Int
    public var content: String
    /// Matches only when not inside a word (no word character on either side).
    public var singleWord: Bool
    /// Takes the whitespace on its left (`lstrip`) or right (`rstrip`) with it.
    public var leftStrip: Bool
    public var rightStrip: Bool
    /// Matched in the normalised text rather than the original.
    public var normalized: Bool
    /// Dropped by `decode(skipSpecialTokens:)`.
    public var special: Bool

    public init(id: Int, content: String, singleWord: Bool = false, leftStrip: Bool = false, rightStrip: Bool = false,
                normalized: Bool? = nil, special: Bool = false) {
        self.id = id
        self.content = content
        self.singleWord = singleWord
        self.leftStrip = leftStrip
        self.rightStrip = rightStrip
        self.normalized = normalized ?? !special
        self.special = special
    }
}

/// The added tokens, and how they are found in text before the model sees it (`tokenizers`' `AddedVocabulary`).
///
/// Tokens with `normalized: false` are matched in the original text; the rest is normalised piece by piece,
/// and tokens with `normalized: true` are then matched in each normalised piece. Matching is leftmost-longest;
/// a match refused by `single_word` still consumes its text, as with `tokenizers`' Aho-Corasick search.
struct AddedVocabulary: Sendable {
    let tokens: [AddedToken]
    let byContent: [TokenKey: Int]
    let byID: [Int: AddedToken]
    private let originalMatcher: TokenTrie
    private let normalizedMatcher: TokenTrie

    /// A piece of the text: either an added token or text for the model, with its alignments.
    struct Piece {
        var text: NormalizedString
        var token: Int?
    }

    init(_ tokens: [AddedToken], model: Vocabulary, normalizer: (any Normalizer)?, file: String) throws {
        var byContent: [TokenKey: Int] = [:]
        var byID: [Int: AddedToken] = [:]
        var lastAdded: Int?  // the largest id given to an added token so far
        for t in tokens {
            guard t.id >= 0, t.id <= Vocabulary.maxID else {
                throw TokenizerError(file: file, "added_tokens: the id \(t.id) of '\(t.content)' is outside 0...\(Vocabulary.maxID)")
            }
            if let other = byContent[TokenKey(t.content)], other != t.id {
                throw TokenizerError(file: file, "added_tokens: '\(t.content)' has two ids, \(other) and \(t.id)")
            }
            if let other = byID[t.id], !other.content.sameBytes(t.content) {
                throw TokenizerError(file: file, "added_tokens: the id \(t.id) names both '\(other.content)' and '\(t.content)'")
            }
            if let vocab = model.token(of: t.id), !vocab.sameBytes(t.content) {
                throw TokenizerError(file: file, "added_tokens: the id \(t.id) of '\(t.content)' is the model's id of '\(vocab)'")
            }
            if !t.content.isEmpty {
                // `tokenizers` ignores the stored ids: it numbers the added tokens itself, in file order.
                let (expected, why): (Int, String)
                if let known = byContent[TokenKey(t.content)] ?? model.id(of: t.content) {
                    (expected, why) = (known, "the vocabulary's id of that token")
                } else {
                    let next = lastAdded.map { $0 >= model.count || model.count == 0 ? $0 + 1 : model.count } ?? model.count
                    (expected, why) = (next, "the next id after the vocabulary (\(model.count) tokens) and the added tokens before it")
                }
                guard t.id == expected else {
                    throw TokenizerError(file: file, "added_tokens: '\(t.content)' has the id \(t.id), but `tokenizers` gives it \(expected), \(why)")
                }
                lastAdded = max(lastAdded ?? expected, expected)
            }
            byContent[TokenKey(t.content)] = t.id
            byID[t.id] = t
        }
        self.tokens = tokens
        self.byContent = byContent
        self.byID = byID
        originalMatcher = TokenTrie(tokens.filter { !$0.normalized }.map { (Array($0.content.unicodeScalars), $0) })
        normalizedMatcher = TokenTrie(try tokens.filter(\.normalized).map { t in
            var content = NormalizedString(t.content)
            try normalizer?.normalize(&content)
            return (content.scalars, t)
        })
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Splits the text at added tokens and normalises the text between them.
    func extract(_ text: String, normalizer: (any Normalizer)?) throws -> [Piece] {
        let original = NormalizedString(text)
        var out: [Piece] = []
        for piece in split(original, originalMatcher) {
            if piece.token != nil {
                out.append(piece)
                continue
            }
            var normalized = piece.text
            try normalizer?.normalize(&normalized)
            if normalizedMatcher.isEmpty {
                if !normalized.isEmpty { out.append(Piece(text: normalized, token: nil)) }
            } else {
                out.append(contentsOf: split(normalized, normalizedMatcher))
            }
        }
        return out
    }

    /// Splits at the matches of `trie`, honouring `single_word`, `lstrip` and `rstrip`; drops empty pieces.
    private func split(_ s: NormalizedString, _ trie: TokenTrie) -> [Piece] {
        if trie.isEmpty {
            return s.isEmpty ? [] : [Piece(text: s, token: nil)]
        }
        let scalars = s.scalars
        var out: [Piece] = []
        var startOffset = 0
        var i = 0
        func emit(_ range: Range<Int>, _ token: Int?) {
            if !range.isEmpty { out.append(Piece(text: s.slice(range), token: token)) }
        }
        while i < scalars.count {
            guard let (length, token) = trie.longestMatch(scalars, at: i) else {
                i += 1
                continue
            }
            var start = i
            var stop = i + length
            i = stop
            if token.singleWord {
                let spaceBefore = start == 0 || !isWordCharacter(scalars[start - 1])
                let spaceAfter = stop == scalars.count || !isWordCharacter(scalars[stop])
                if !spaceBefore || !spaceAfter { continue }
            }
            if token.leftStrip {
                var j = start
                while j > 0, scalars[j - 1].properties.isWhitespace { j -= 1 }
                start = max(j, startOffset)
            }
            if token.rightStrip {
                while stop < scalars.count, scalars[stop].properties.isWhitespace { stop += 1 }
            }
            if start > startOffset { emit(startOffset..<start, nil) }
            emit(start..<stop, token.id)
            startOffset = stop
        }
        if startOffset < scalars.count { emit(startOffset..<scalars.count, nil) }
        return out
    }
}

/// A regex `\w` character: letters, marks, decimal digits, connector punctuation, joiners.
func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
    let p = c.properties
    if p.isAlphabetic || p.isJoinControl { return true }
    switch p.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
    default: return false
    }
}

/// A trie over the scalars of the added tokens, for leftmost-longest matching.
struct TokenTrie: Sendable {
    private var children: [[Unicode.Scalar: Int]] = [[:]]
    private var terminal: [AddedToken?] = [nil]

    init(_ entries: [([Unicode.Scalar], AddedToken)]) {
        for (scalars, token) in entries where !scalars.isEmpty {
            var node = 0
            for c in scalars {
                if let n = children[node][c] {
                    node = n
                } else {
                    children.append([:])
                    terminal.append(nil)
                    children[node][c] = children.count - 1
                    node = children.count - 1
                }
            }
            if terminal[node] == nil { terminal[node] = token }
        }
    }

    var isEmpty: Bool { children[0].isEmpty }

    /// The longest token starting at `start`: its length in scalars and the token.
    func longestMatch(_ scalars: [Unicode.Scalar], at start: Int) -> (Int, AddedToken)? {
        var node = 0
        var best: (Int, AddedToken)?
        var i = start
        while i < scalars.count, let n = children[node][scalars[i]] {
            node = n
            i += 1
            if let t = terminal[node] { best = (i - start, t) }
        }
        return best
    }
}
