/// Why a regex from a tokenizer file cannot be used: the pattern, the scalar position, and what is wrong.
public struct RegexError: Error, CustomStringConvertible, Sendable, Equatable {
    public var pattern: String
    /// Scalar offset in the pattern, or nil when the error is about matching, not syntax.
    public var position: Int?
    public var message: String

    public var description: String {
        if let position { return "regex \(String(reflecting: pattern)) at position \(position): \(message)" }
        return "regex \(String(reflecting: pattern)): \(message)"
    }
}

/// A parsed regex, before compilation.
indirect enum RegexNode: Sendable {
    case empty
    case set(ScalarSet)
    case concat([RegexNode])
    case alternation([RegexNode])
    case repetition(RegexNode, min: Int, max: Int?, greedy: Bool)
    case lookahead(RegexNode, negative: Bool)
    case assertion(Assertion)

    enum Assertion: Sendable {
        case lineStart, lineEnd, textStart, textEnd, textEndBeforeNewline, wordBoundary, notWordBoundary
    }

    /// Whether the node can match without consuming a scalar.
    var isNullable: Bool {
        switch self {
        case .empty, .lookahead, .assertion: return true
        case .set: return false
        case .concat(let items): return items.allSatisfy(\.isNullable)
        case .alternation(let items): return items.contains(where: \.isNullable)
        case .repetition(let node, let min, _, _): return min == 0 || node.isNullable
        }
    }

    /// The scalars a match can start with; nil when any scalar (or none) might.
    var firstSet: ScalarSet? {
        switch self {
        case .set(let s): return s
        case .concat(let items):
            var acc: ScalarSet? = nil
            for item in items {
                switch item {
                case .lookahead, .assertion: return nil
                default: break
                }
                guard let f = item.firstSet else { return nil }
                acc = acc.map { $0.union(f) } ?? f
                if !item.isNullable { return acc }
            }
            return nil
        case .alternation(let items):
            var acc: ScalarSet? = nil
            for item in items {
                guard let f = item.firstSet, !item.isNullable else { return nil }
                acc = acc.map { $0.union(f) } ?? f
            }
            return acc
        case .repetition(let node, let min, _, _): return min > 0 ? node.firstSet : nil
        case .empty, .lookahead, .assertion: return nil
        }
    }
}

/// Reads the Oniguruma (Ruby) syntax that tokenizer files use: literals and escapes, `.`, classes with
/// ranges, negation and `\p{…}`, `\s \S \d \D \w \W \h \H`, groups `( )`, `(?: )`, `(?i: )`, `(?i)`,
/// lookahead `(?= )` `(?! )`, alternation, greedy and lazy quantifiers `? * + {n} {n,} {n,m} {,m}`, and the
/// anchors `^ $ \A \z \Z \b \B`. Anything else is a `RegexError` naming the position.
struct RegexParser {
    let pattern: String
    let chars: [Unicode.Scalar]
    var i = 0
    /// Capturing groups are matched as plain groups (the tokenizer only needs the whole match).
    static let maxRepeat = 1000
    /// Groups and character classes nest at most this deep (real tokenizer patterns nest 2 or 3), so that parsing, compiling and
    /// matching, which recurse into groups, stay far from the stack's end on any pattern.
    static let maxDepth = 64
    var depth = 0
    static let bareWord: [ScalarSet.Term] = [.word, .range(0xB2, 0xB3), .range(0xB9, 0xB9), .range(0xBC, 0xBE)]
    /// The word scalars of `\b`, as `\w` outside a class.
    static let bareWordSet = ScalarSet(terms: bareWord)

    init(_ pattern: String) {
        self.pattern = pattern
        chars = Array(pattern.unicodeScalars)
    }

    func error(_ message: String, at position: Int? = nil) -> RegexError {
        RegexError(pattern: pattern, position: position ?? i, message: message)
    }

    mutating func parse() throws(RegexError) -> RegexNode {
        let node = try alternation(caseInsensitive: false)
        if i < chars.count { throw error(chars[i] == ")" ? "unbalanced ')'" : "unexpected '\(chars[i])'") }
        return node
    }

    var atEnd: Bool { i >= chars.count }
    var peek: Unicode.Scalar? { i < chars.count ? chars[i] : nil }

    mutating func alternation(caseInsensitive: Bool) throws(RegexError) -> RegexNode {
        var ci = caseInsensitive
        var branches = [try sequence(caseInsensitive: &ci)]
        while peek == "|" {
            i += 1
            branches.append(try sequence(caseInsensitive: &ci))
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    /// A run of quantified atoms up to `|` or `)`. An inline `(?i)` changes the flag for the rest of the
    /// enclosing group, so the flag is shared with the following branches.
    mutating func sequence(caseInsensitive: inout Bool) throws(RegexError) -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek, c != "|", c != ")" {
            let start = i
            if c == "(", i + 2 < chars.count, chars[i + 1] == "?", let flags = inlineFlagsEnd(from: i + 2), chars[flags] == ")" {
                caseInsensitive = try parseFlags(i + 2..<flags, current: caseInsensitive)
                i = flags + 1
                continue
            }
            let atom = try atom(caseInsensitive: caseInsensitive)
            items.append(try quantified(atom, start: start))
        }
        switch items.count {
        case 0: return .empty
        case 1: return items[0]
        default: return .concat(items)
        }
    }

    /// The index after a run of flag letters (`i`, `-`, …) starting at `from`.
    func inlineFlagsEnd(from: Int) -> Int? {
        var j = from
        while j < chars.count, "imx-".unicodeScalars.contains(chars[j]) { j += 1 }
        return j > from && j < chars.count ? j : nil
    }

    func parseFlags(_ range: Range<Int>, current: Bool) throws(RegexError) -> Bool {
        var on = true, ci = current
        for j in range {
            switch chars[j] {
            case "-": on = false
            case "i": ci = on
            default: throw error("the inline flag '\(chars[j])' is not supported (only i)", at: j)
            }
        }
        return ci
    }

    mutating func quantified(_ atom: RegexNode, start: Int) throws(RegexError) -> RegexNode {
        var node = atom
        while let c = peek {
            var min = 0, max: Int? = nil
            let at = i
            switch c {
            case "?": min = 0; max = 1; i += 1
            case "*": min = 0; max = nil; i += 1
            case "+": min = 1; max = nil; i += 1
            case "{":
                guard let (lo, hi, end) = interval(from: i) else { return node }  // a literal '{'
                min = lo; max = hi; i = end
            default: return node
            }
            switch node {
            case .lookahead, .assertion, .empty: throw error("a quantifier needs something to repeat", at: at)
            default: break
            }
            var greedy = true
            if peek == "?" {
                greedy = false
                i += 1
            } else if peek == "+" {
                throw error("possessive quantifiers are not supported")
            }
            if let max, max < min { throw error("the repeat range {\(min),\(max)} is empty", at: at) }
            if min > Self.maxRepeat || (max ?? 0) > Self.maxRepeat {
                throw error("repeat counts above \(Self.maxRepeat) are not supported", at: at)
            }
            if max == nil && node.isNullable {
                throw error("an unbounded repeat of something that can match nothing is not supported", at: at)
            }
            node = .repetition(node, min: min, max: max, greedy: greedy)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}` or `{,m}` at `from`: (min, max, index after `}`), or nil when the brace is literal.
    func interval(from: Int) -> (Int, Int?, Int)? {
        var j = from + 1
        func number() -> Int? {
            var n: Int? = nil
            while j < chars.count, chars[j].value >= 0x30, chars[j].value <= 0x39 {
                n = Swift.min((n ?? 0) * 10 + Int(chars[j].value - 0x30), 1_000_000)
                j += 1
            }
            return n
        }
        let lo = number()
        var hi: Int?
        if j < chars.count, chars[j] == "," {
            j += 1
            hi = number()
            if lo == nil && hi == nil { return nil }
        } else {
            guard let lo else { return nil }
            hi = lo
        }
        guard j < chars.count, chars[j] == "}" else { return nil }
        return (lo ?? 0, hi, j + 1)
    }

    mutating func atom(caseInsensitive ci: Bool) throws(RegexError) -> RegexNode {
        let start = i
        let c = chars[i]
        i += 1
        switch c {
        case "(": return try group(caseInsensitive: ci, start: start)
        case "[":
            let set = try charClass(start: start)
            return .set(ci ? set.caseInsensitive() : set)
        case ".": return .set(ScalarSet(terms: [.range(0x0A, 0x0A)], negated: true))
        case "^": return .assertion(.lineStart)
        case "$": return .assertion(.lineEnd)
        case "\\":
            if let assertion = try anchorEscape() { return .assertion(assertion) }
            let set = try escape(inClass: false)
            return .set(ci ? set.caseInsensitive() : set)
        case "*", "+", "?": throw error("a quantifier needs something to repeat", at: start)
        default:
            let set = ScalarSet.scalar(c.value)
            return .set(ci ? set.caseInsensitive() : set)
        }
    }

    mutating func group(caseInsensitive ci: Bool, start: Int) throws(RegexError) -> RegexNode {
        depth += 1
        defer { depth -= 1 }
        guard depth <= RegexParser.maxDepth else { throw error("groups and classes nest more than \(RegexParser.maxDepth) deep", at: start) }
        var inner = ci
        var lookahead: Bool? = nil  // the negative flag
        if peek == "?" {
            i += 1
            guard let c = peek else { throw error("unterminated group", at: start) }
            switch c {
            case ":": i += 1
            case "=": i += 1; lookahead = false
            case "!": i += 1; lookahead = true
            case "<":
                if i + 1 < chars.count, chars[i + 1] == "=" || chars[i + 1] == "!" {
                    throw error("lookbehind is not supported", at: start)
                }
                // A named group: (?<name>…)
                guard let close = chars[i...].firstIndex(of: ">") else { throw error("unterminated group name", at: start) }
                i = close + 1
            default:
                guard let end = inlineFlagsEnd(from: i), chars[end] == ":" else {
                    throw error("the group syntax '(?\(c)' is not supported", at: start)
                }
                inner = try parseFlags(i..<end, current: ci)
                i = end + 1
            }
        }
        let body = try alternation(caseInsensitive: inner)
        guard peek == ")" else { throw error("missing ')' for the group opened here", at: start) }
        i += 1
        if let negative = lookahead { return .lookahead(body, negative: negative) }
        return body
    }

    /// `\A \z \Z \b \B` (after the backslash); nil for other escapes, leaving the position unchanged.
    mutating func anchorEscape() throws(RegexError) -> RegexNode.Assertion? {
        guard let c = peek else { throw error("a pattern cannot end with '\\'", at: i - 1) }
        let a: RegexNode.Assertion?
        switch c {
        case "A": a = .textStart
        case "z": a = .textEnd
        case "Z": a = .textEndBeforeNewline
        case "b": a = .wordBoundary
        case "B": a = .notWordBoundary
        case "G": throw error("\\G is not supported")
        default: a = nil
        }
        if a != nil { i += 1 }
        return a
    }

    /// One escape after the backslash, as a set.
    mutating func escape(inClass: Bool) throws(RegexError) -> ScalarSet {
        let start = i - 1
        guard let c = peek else { throw error("a pattern cannot end with '\\'", at: start) }
        i += 1
        switch c {
        case "s": return ScalarSet(terms: [.space])
        case "S": return ScalarSet(terms: [.space], negated: true)
        case "d": return ScalarSet(terms: [.categories([.init(8)])])
        case "D": return ScalarSet(terms: [.categories([.init(8)])], negated: true)
        // Outside a class, Oniguruma's \w also takes the Latin-1 digits ² ³ ¹ ¼ ½ ¾.
        case "w": return ScalarSet(terms: inClass ? [.word] : Self.bareWord)
        case "W": return ScalarSet(terms: inClass ? [.word] : Self.bareWord, negated: true)
        case "h": return ScalarSet(terms: [.range(0x30, 0x39), .range(0x41, 0x46), .range(0x61, 0x66)])
        case "H": return ScalarSet(terms: [.range(0x30, 0x39), .range(0x41, 0x46), .range(0x61, 0x66)], negated: true)
        case "p", "P": return try property(negated: c == "P", start: start)
        case "t": return .scalar(0x09)
        case "n": return .scalar(0x0A)
        case "r": return .scalar(0x0D)
        case "f": return .scalar(0x0C)
        case "v": return .scalar(0x0B)
        case "a": return .scalar(0x07)
        case "e": return .scalar(0x1B)
        case "x":
            if peek == "{" {
                guard let close = chars[i...].firstIndex(of: "}") else { throw error("unterminated \\x{…}", at: start) }
                let v = try hex(i + 1..<close, start: start)
                i = close + 1
                return .scalar(v)
            }
            let end = min(i + 2, chars.count)
            var j = i
            while j < end, chars[j].properties.isASCIIHexDigit { j += 1 }
            let v = try hex(i..<j, start: start)
            i = j
            return .scalar(v)
        case "u":
            guard i + 4 <= chars.count else { throw error("\\u needs four hex digits", at: start) }
            let v = try hex(i..<(i + 4), start: start)
            i += 4
            return .scalar(v)
        case "0": return .scalar(0)
        default:
            if c.properties.isAlphabetic || c.properties.numericType != nil {
                throw error("the escape '\\\(c)' is not supported", at: start)
            }
            return .scalar(c.value)
        }
    }

    func hex(_ range: Range<Int>, start: Int) throws(RegexError) -> UInt32 {
        let text = String(String.UnicodeScalarView(chars[range]))
        guard !text.isEmpty, text.count <= 8, let v = UInt32(text, radix: 16), Unicode.Scalar(v) != nil else {
            throw error("bad hexadecimal escape", at: start)
        }
        return v
    }

    mutating func property(negated: Bool, start: Int) throws(RegexError) -> ScalarSet {
        guard peek == "{", let close = chars[i...].firstIndex(of: "}") else { throw error("\\p needs {NAME}", at: start) }
        var name = String(String.UnicodeScalarView(chars[(i + 1)..<close]))
        i = close + 1
        var neg = negated
        if name.hasPrefix("^") {
            neg.toggle()
            name.removeFirst()
        }
        let compact = name.replacingOccurrences(of: " ", with: "").replacingOccurrences(of: "-", with: "_")
        if ["space", "white_space", "whitespace"].contains(compact.lowercased()) {
            return ScalarSet(terms: [.space], negated: neg)
        }
        guard let mask = UnicodeClasses.mask(named: compact) else {
            throw error("the property \\p{\(name)} is not supported (general categories only)", at: start)
        }
        return ScalarSet(terms: [.categories(mask)], negated: neg)
    }

    /// A bracket class after `[`.
    mutating func charClass(start: Int) throws(RegexError) -> ScalarSet {
        depth += 1
        defer { depth -= 1 }
        guard depth <= RegexParser.maxDepth else { throw error("groups and classes nest more than \(RegexParser.maxDepth) deep", at: start) }
        var negated = false
        if peek == "^" {
            negated = true
            i += 1
        }
        var terms: [ScalarSet.Term] = []
        var first = true
        while true {
            guard let c = peek else { throw error("missing ']' for the class opened here", at: start) }
            if c == "]" && !first { i += 1; break }
            first = false
            let itemStart = i
            if c == "[" {
                if i + 1 < chars.count, chars[i + 1] == ":" { throw error("POSIX bracket classes are not supported", at: i) }
                i += 1
                terms.append(.set(try charClass(start: itemStart)))
                continue
            }
            if c == "&", i + 1 < chars.count, chars[i + 1] == "&" { throw error("class intersection '&&' is not supported", at: i) }
            // One item: a scalar (maybe the start of a range) or a class escape.
            let low: UInt32
            i += 1
            if c == "\\" {
                let set = try escape(inClass: true)
                guard case .range(let a, let b) = set.terms.first, set.terms.count == 1, a == b, !set.negated else {
                    terms.append(.set(set))
                    continue
                }
                low = a
            } else {
                low = c.value
            }
            if peek == "-", i + 1 < chars.count, chars[i + 1] != "]" {
                i += 1
                let hc = chars[i]
                i += 1
                var high = hc.value
                if hc == "\\" {
                    let set = try escape(inClass: true)
                    guard case .range(let a, let b) = set.terms.first, set.terms.count == 1, a == b, !set.negated else {
                        throw error("a range must end with a single character", at: itemStart)
                    }
                    high = a
                } else if hc == "[" {
                    throw error("a range must end with a single character", at: itemStart)
                }
                guard low <= high else { throw error("the range is out of order", at: itemStart) }
                terms.append(.range(low, high))
            } else {
                terms.append(.range(low, low))
            }
        }
        return ScalarSet(terms: terms, negated: negated)
    }
}
