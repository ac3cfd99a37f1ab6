/// A set of Unicode scalars a regex position may match: literal scalars and ranges, general categories,
/// `\s`, each term possibly negated, the whole possibly negated. Membership of scalars below 256 is a
/// precomputed bitmap; above, the terms are tested against the scalar's cached general category.
struct ScalarSet: Sendable, Equatable {
    /// One way a scalar can belong.
    enum Term: Sendable, Equatable {
        case range(UInt32, UInt32)
        case categories(CategoryMask)
        case space
        /// A nested set (a `\S`, a `[^…]` inside a class).
        indirect case set(ScalarSet)
    }

    var terms: [Term] = []
    var negated = false
    /// Bits for scalars 0–255.
    private var latin: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init(terms: [Term] = [], negated: Bool = false) {
        self.terms = terms
        self.negated = negated
        seal()
    }

    static func scalar(_ v: UInt32) -> ScalarSet { ScalarSet(terms: [.range(v, v)]) }
    static let any = ScalarSet(terms: [], negated: true)

    /// Recomputes the bitmap after `terms` or `negated` changed.
    mutating func seal() {
        var words: [UInt64] = [0, 0, 0, 0]
        for v in 0..<256 where slowContains(UInt32(v)) { words[v >> 6] |= 1 << UInt64(v & 63) }
        latin = (words[0], words[1], words[2], words[3])
    }

    static func == (a: ScalarSet, b: ScalarSet) -> Bool { a.terms == b.terms && a.negated == b.negated }

    @inline(__always)
    func contains(_ v: UInt32) -> Bool {
        if v < 256 {
            let word: UInt64
            switch v >> 6 {
            case 0: word = latin.0
            case 1: word = latin.1
            case 2: word = latin.2
            default: word = latin.3
            }
            return (word >> UInt64(v & 63)) & 1 != 0
        }
        return slowContains(v)
    }

    func slowContains(_ v: UInt32) -> Bool {
        var found = false
        var category: UInt8? = nil
        for term in terms {
            switch term {
            case .range(let lo, let hi): found = v >= lo && v <= hi
            case .categories(let mask):
                let c = category ?? UnicodeClasses.categoryIndex(v)
                category = c
                found = mask.contains(index: c)
            case .space: found = UnicodeClasses.isSpace(v)
            case .set(let inner): found = inner.contains(v)
            }
            if found { break }
        }
        return found != negated
    }

    /// The union of two sets.
    func union(_ other: ScalarSet) -> ScalarSet {
        if !negated && !other.negated { return ScalarSet(terms: terms + other.terms) }
        return ScalarSet(terms: [.set(self), .set(other)])
    }

    /// The set's scalars under Oniguruma's simple case folding, for `(?i)`: every cased scalar of a small
    /// range gains its other cases; category terms are closed under case already (up to titlecase).
    func caseInsensitive() -> ScalarSet {
        var extra: [Term] = []
        for term in terms {
            guard case .range(let lo, let hi) = term, hi - lo < 512 else { continue }
            for v in lo...hi {
                guard let s = Unicode.Scalar(v) else { continue }
                for other in ScalarSet.caseVariants(of: s) where !(lo...hi).contains(other.value) {
                    extra.append(.range(other.value, other.value))
                }
            }
        }
        guard !extra.isEmpty else { return self }
        return ScalarSet(terms: terms + extra, negated: negated)
    }

    /// Scalars that fold to the same simple case folding as `s`.
    static func caseVariants(of s: Unicode.Scalar) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        for mapped in [s.properties.lowercaseMapping, s.properties.uppercaseMapping, s.properties.titlecaseMapping] {
            let scalars = mapped.unicodeScalars
            if scalars.count == 1, let m = scalars.first, m != s, !out.contains(m) { out.append(m) }
        }
        // Scalars whose simple folding meets an ASCII letter without being one of its cases.
        let foldsTogether: [[UInt32]] = [[0x73, 0x53, 0x17F], [0x6B, 0x4B, 0x212A], [0xE5, 0xC5, 0x212B]]
        for group in foldsTogether where group.contains(s.value) {
            for v in group where v != s.value { if let m = Unicode.Scalar(v), !out.contains(m) { out.append(m) } }
        }
        return out
    }
}
