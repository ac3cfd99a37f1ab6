/// BERT's normalizer: drops control characters and turns white space into spaces (`clean_text`), puts
/// spaces around CJK ideographs (`handle_chinese_chars`), removes accents after NFD (`strip_accents`; null
/// means "when lowercasing"), and lowercases.
struct BertNormalizer: Normalizer {
    let cleanText: Bool
    let handleChineseChars: Bool
    let stripAccents: Bool?
    let lowercase: Bool

    func normalize(_ s: inout NormalizedString) {
        if cleanText {
            s.filter { c in c.value != 0 && c.value != 0xFFFD && !Self.isControl(c) }
            s.map { c in c == "\t" || c == "\n" || c == "\r" || c.properties.isWhitespace ? " " : c }
        }
        if handleChineseChars && s.scalars.contains(where: Self.isChineseChar) {
            var changes: [(Unicode.Scalar, Int)] = []
            changes.reserveCapacity(s.scalars.count + 16)
            for c in s.scalars {
                if Self.isChineseChar(c) {
                    changes.append((" ", 0))
                    changes.append((c, 1))
                    changes.append((" ", 1))
                } else {
                    changes.append((c, 0))
                }
            }
            s.transform(changes)
        }
        if stripAccents ?? lowercase {
            UnicodeNormalizer(form: .nfd).normalize(&s)
            s.filter { c in c.value < 0x300 || UnicodeClasses.categoryIndex(c.value) != 5 }  // Mn
        }
        if lowercase { Lowercase.lowercase(&s) }
    }

    /// Control, format, surrogate and private-use characters (Cc, Cf, Cs, Co), except tab, newline and
    /// carriage return. Unassigned scalars (Cn, noncharacters such as U+FDD0) are kept, as `tokenizers` keeps them.
    static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        if c.value >= 0x20 && c.value < 0x7F { return false }
        let category = UnicodeClasses.categoryIndex(c.value)
        return category != UnicodeClasses.unassigned && UnicodeClasses.others.contains(index: category)
    }

    /// The CJK ideograph blocks BERT isolates.
    static func isChineseChar(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
