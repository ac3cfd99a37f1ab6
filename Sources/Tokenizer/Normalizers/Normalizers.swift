import RecastCore

/// The normalizers of tokenizer.json, by their `type`.
enum Normalizers {
    /// Builds the normalizer a tokenizer.json `normalizer` object describes.
    static func make(_ json: JSONView, file: String) throws -> any Normalizer {
        let c = try ComponentFields(json, role: "normalizer", file: file)
        switch c.type {
        case "BertNormalizer":
            return BertNormalizer(cleanText: try c.bool("clean_text", default: true),
                                  handleChineseChars: try c.bool("handle_chinese_chars", default: true),
                                  stripAccents: try c.optionalBool("strip_accents"),
                                  lowercase: try c.bool("lowercase", default: true))
        case "NFD": return UnicodeNormalizer(form: .nfd)
        case "NFKD": return UnicodeNormalizer(form: .nfkd)
        case "NFC": return UnicodeNormalizer(form: .nfc)
        case "NFKC": return UnicodeNormalizer(form: .nfkc)
        case "Lowercase": return Lowercase()
        case "Strip":
            return Strip(left: try c.bool("strip_left", default: true), right: try c.bool("strip_right", default: true))
        case "StripAccents": return StripAccents()
        case "Nmt": return Nmt()
        case "Prepend": return Prepend(text: Array(try c.string("prepend").unicodeScalars))
        case "Replace":
            return Replace(regex: try c.pattern("pattern"), content: Array(try c.string("content").unicodeScalars))
        case "Sequence":
            return NormalizerSequence(try c.array("normalizers").map { try make($0, file: file) })
        default:
            throw c.unsupported()
        }
    }
}

/// Reads the fields of one tokenizer.json component, with errors that name the file, the component and
/// the key.
struct ComponentFields {
    let json: JSONView
    /// "normalizer", "pre-tokenizer", …
    let role: String
    let type: String
    let file: String

    init(_ json: JSONView, role: String, file: String) throws {
        guard json.kind == .object else { throw TokenizerError(file: file, "\(role) is not a JSON object") }
        guard let type = json["type"]?.stringValue else { throw TokenizerError(file: file, "\(role) has no string \"type\"") }
        self.json = json
        self.role = role
        self.type = type
        self.file = file
    }

    func error(_ message: String) -> TokenizerError { TokenizerError(file: file, "\(role) '\(type)': \(message)") }

    func unsupported() -> TokenizerError {
        TokenizerError(file: file, "\(role) '\(type)' is not supported")
    }

    func bool(_ key: String, default value: Bool? = nil) throws -> Bool {
        guard let v = json[key], !v.isNull else {
            if let value { return value }
            throw error("missing \"\(key)\"")
        }
        guard let b = v.boolValue else { throw error("\"\(key)\" must be true or false") }
        return b
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let v = json[key], !v.isNull else { return nil }
        guard let b = v.boolValue else { throw error("\"\(key)\" must be true, false or null") }
        return b
    }

    func string(_ key: String, default value: String? = nil) throws -> String {
        guard let v = json[key], !v.isNull else {
            if let value { return value }
            throw error("missing \"\(key)\"")
        }
        guard let s = v.stringValue else { throw error("\"\(key)\" must be a string") }
        return s
    }

    /// A string holding exactly one scalar (Metaspace's `replacement`).
    func scalar(_ key: String, default value: Unicode.Scalar) throws -> Unicode.Scalar {
        guard json[key] != nil else { return value }
        let s = try string(key)
        guard s.unicodeScalars.count == 1, let c = s.unicodeScalars.first else { throw error("\"\(key)\" must be one character") }
        return c
    }

    func array(_ key: String) throws -> [JSONView] {
        guard let a = json[key]?.arrayValue else { throw error("\"\(key)\" must be an array") }
        return a
    }

    /// A `{"String": …}` or `{"Regex": …}` pattern, compiled.
    func pattern(_ key: String) throws -> TokenizerRegex {
        guard let p = json[key], p.kind == .object else { throw error("\"\(key)\" must be {\"String\": …} or {\"Regex\": …}") }
        if let s = p["String"]?.stringValue { return TokenizerRegex(literal: s) }
        if let r = p["Regex"]?.stringValue {
            do throws(RegexError) { return try TokenizerRegex(r) } catch { throw self.error(error.description) }
        }
        throw error("\"\(key)\" must be {\"String\": …} or {\"Regex\": …}")
    }

    /// A `SplitDelimiterBehavior` name.
    func behavior(_ key: String, default value: SplitBehavior? = nil) throws -> SplitBehavior {
        if json[key] == nil, let value { return value }
        let name = try string(key)
        guard let b = SplitBehavior(rawValue: name) else {
            throw error("\"\(key)\" is \(String(reflecting: name)); expected one of \(SplitBehavior.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return b
    }
}

/// Runs normalizers one after the other.
struct NormalizerSequence: Normalizer {
    let normalizers: [any Normalizer]
    init(_ normalizers: [any Normalizer]) { self.normalizers = normalizers }
    func normalize(_ s: inout NormalizedString) throws {
        for n in normalizers { try n.normalize(&s) }
    }
}

/// NFD, NFKD, NFC or NFKC.
struct UnicodeNormalizer: Normalizer {
    let form: UnicodeNormalization.Form
    func normalize(_ s: inout NormalizedString) {
        var n = UnicodeNormalization(form)
        n.apply(to: &s)
    }
}

/// Full lowercase mapping, scalar by scalar (`İ` becomes `i̇`; the extra scalars share the source's range).
struct Lowercase: Normalizer {
    func normalize(_ s: inout NormalizedString) { Self.lowercase(&s) }

    static func lowercase(_ s: inout NormalizedString) {
        if s.scalars.allSatisfy({ $0.value < 0x80 }) {
            s.map { $0.value >= 0x41 && $0.value <= 0x5A ? Unicode.Scalar($0.value + 32) ?? $0 : $0 }
            return
        }
        var changes: [(Unicode.Scalar, Int)] = []
        changes.reserveCapacity(s.scalars.count)
        for c in s.scalars {
            if c.value < 0x80 {
                changes.append((c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 32) ?? c : c, 0))
                continue
            }
            for (k, l) in c.properties.lowercaseMapping.unicodeScalars.enumerated() { changes.append((l, k == 0 ? 0 : 1)) }
        }
        s.transform(changes)
    }
}

/// Removes leading and/or trailing white space.
struct Strip: Normalizer {
    let left: Bool
    let right: Bool
    func normalize(_ s: inout NormalizedString) {
        var lo = 0, hi = s.scalars.count
        if left { while lo < hi && s.scalars[lo].properties.isWhitespace { lo += 1 } }
        if right { while hi > lo && s.scalars[hi - 1].properties.isWhitespace { hi -= 1 } }
        if lo > 0 || hi < s.scalars.count { s = s.slice(lo..<hi) }
    }
}

/// Removes combining marks (Mn, Mc, Me); usually after NFD.
struct StripAccents: Normalizer {
    func normalize(_ s: inout NormalizedString) {
        s.filter { c in c.value < 0x300 || !UnicodeClasses.marks.contains(index: UnicodeClasses.categoryIndex(c.value)) }
    }
}

/// Puts a fixed text in front of non-empty text (SentencePiece's `▁`).
struct Prepend: Normalizer {
    let text: [Unicode.Scalar]
    func normalize(_ s: inout NormalizedString) { s.prepend(text) }
}

/// Replaces every match of a pattern.
struct Replace: Normalizer {
    let regex: TokenizerRegex
    let content: [Unicode.Scalar]
    func normalize(_ s: inout NormalizedString) throws {
        s.replace(try regex.matches(in: s.scalars), with: content)
    }
}

/// The NMT normalizer: drops some control characters and turns other separators into spaces.
struct Nmt: Normalizer {
    func normalize(_ s: inout NormalizedString) {
        s.filter { c in
            switch c.value {
            case 0x01...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x8F, 0x9F: return false
            default: return true
            }
        }
        s.map { c in
            switch c.value {
            case 0x09, 0x0A, 0x0C, 0x0D, 0x1680, 0x200B...0x200F, 0x2028, 0x2029, 0x2581, 0xFEFF, 0xFFFD: return " "
            default: return c
            }
        }
    }
}
