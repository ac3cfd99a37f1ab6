/// Unicode character properties as the regex engine and the text components test them: the general
/// category of a scalar (cached for the Basic Multilingual Plane), and the `\s`, `\w` and `\d` classes as
/// Oniguruma defines them for Unicode text.
enum UnicodeClasses {
    /// Every general category, in a fixed order: a category's index is its bit in a `CategoryMask`.
    static let categories: [Unicode.GeneralCategory] = [
        .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
        .nonspacingMark, .spacingMark, .enclosingMark,
        .decimalNumber, .letterNumber, .otherNumber,
        .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
        .initialPunctuation, .finalPunctuation, .otherPunctuation,
        .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol,
        .spaceSeparator, .lineSeparator, .paragraphSeparator,
        .control, .format, .surrogate, .privateUse, .unassigned,
    ]

    static func index(of category: Unicode.GeneralCategory) -> UInt8 {
        UInt8(categories.firstIndex(of: category) ?? Int(unassigned))
    }

    /// The category index of every BMP scalar, computed once (64 KB).
    private static let bmp: [UInt8] = {
        var table = [UInt8](repeating: 27, count: 0x10000)  // surrogates stay "surrogate"
        for v in 0..<0x10000 {
            if let s = Unicode.Scalar(UInt32(v)) { table[v] = index(of: s.properties.generalCategory) }
        }
        return table
    }()

    /// The general category index of a scalar value.
    @inline(__always)
    static func categoryIndex(_ v: UInt32) -> UInt8 {
        if v < 0x10000 { return bmp[Int(v)] }
        guard let s = Unicode.Scalar(v) else { return unassigned }
        return index(of: s.properties.generalCategory)
    }

    /// Oniguruma's `\s` for Unicode text: the White_Space property.
    @inline(__always)
    static func isSpace(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Oniguruma's `\w` for Unicode text: Alphabetic (letters, letter numbers, circled letters), marks,
    /// decimal digits and connector punctuation.
    static func isWord(_ v: UInt32) -> Bool {
        let c = categoryIndex(v)
        if wordCategories.contains(index: c) { return true }
        return c == 21 && (Unicode.Scalar(v)?.properties.isAlphabetic ?? false)  // So: Ⓐ and the like
    }

    static let letters: CategoryMask = [.init(0), .init(1), .init(2), .init(3), .init(4)]
    static let marks: CategoryMask = [.init(5), .init(6), .init(7)]
    static let numbers: CategoryMask = [.init(8), .init(9), .init(10)]
    static let punctuation: CategoryMask = CategoryMask(rawValue: 0b111_1111 << 11)
    static let symbols: CategoryMask = CategoryMask(rawValue: 0b1111 << 18)
    static let separators: CategoryMask = CategoryMask(rawValue: 0b111 << 22)
    static let others: CategoryMask = CategoryMask(rawValue: 0b11111 << 25)
    /// The index of Cn (unassigned), the last category.
    static let unassigned: UInt8 = 29
    static let wordCategories: CategoryMask = letters.union(marks).union([.init(8), .init(9), .init(11)])

    /// The category mask a `\p{NAME}` names (one- and two-letter names, and the long names of the major
    /// classes), or nil.
    static func mask(named name: String) -> CategoryMask? {
        let short = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
                     "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"]
        if let i = short.firstIndex(of: name) { return CategoryMask(rawValue: 1 << UInt32(i)) }
        switch name.lowercased() {
        case "l", "letter": return letters
        case "l&", "lc", "cased_letter": return [.init(0), .init(1), .init(2)]
        case "m", "mark", "combining_mark": return marks
        case "n", "number": return numbers
        case "p", "punctuation", "punct": return punctuation
        case "s", "symbol": return symbols
        case "z", "separator": return separators
        case "c", "other": return others
        case "alpha", "alphabetic": return letters.union([.init(9)])
        case "digit": return [.init(8)]
        case "space", "white_space": return nil
        case "any": return CategoryMask(rawValue: (1 << 30) - 1)
        default: return nil
        }
    }
}

/// A set of general categories, one bit each, in `UnicodeClasses.categories` order.
struct CategoryMask: OptionSet, Sendable, Hashable {
    let rawValue: UInt32
    init(rawValue: UInt32) { self.rawValue = rawValue }
    init(_ index: UInt8) { rawValue = 1 << UInt32(index) }

    @inline(__always)
    func contains(index: UInt8) -> Bool { rawValue & (1 << UInt32(index)) != 0 }
}
