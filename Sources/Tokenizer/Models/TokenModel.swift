import RecastCore

/// One token a model found in a piece: its id and the bytes of the piece it covers.
struct ModelToken: Sendable, Equatable {
    var id: Int
    /// UTF-8 byte offsets within the piece, as `tokenizers` computes them (BPE counts its symbols' lengths
    /// from the start of the word, so a character it drops shifts the offsets of the tokens after it).
    var range: Range<Int>
}

/// The part of a tokenizer that turns one pre-tokenized piece into vocabulary ids (`tokenizers`' `Model`).
protocol TokenModel: Sendable {
    /// The tokens of one piece (the scalars a pre-tokenizer produced). Empty for an empty piece.
    func tokenize(_ piece: [Unicode.Scalar]) throws -> [ModelToken]
    var vocabulary: Vocabulary { get }
}

/// A token string as a dictionary key, compared by its UTF-8 bytes. Swift's `String` compares by canonical
/// equivalence, so `"é"` and `"e\u{301}"` would be one key; vocabularies hold both as different tokens.
struct TokenKey: Hashable, Sendable {
    let string: String
    init(_ string: String) { self.string = string }

    static func == (a: TokenKey, b: TokenKey) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

extension String {
    /// Whether the UTF-8 bytes start with `prefix`'s (no canonical equivalence, unlike `hasPrefix`).
    func hasBytePrefix(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

    /// This string without its first `count` UTF-8 bytes (which must end at a scalar boundary).
    func droppingBytes(_ count: Int) -> String { String(decoding: utf8.dropFirst(count), as: UTF8.self) }

    /// Equal byte for byte (no canonical equivalence, unlike `==`).
    func sameBytes(_ other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}

/// A model's token strings and their ids, both ways.
struct Vocabulary: Sendable {
    let ids: [TokenKey: Int]
    /// By id; nil where no token has that id.
    let tokens: [String?]

    /// Ids above this are refused: no real vocabulary comes near, and the id table is allocated up front.
    static let maxID = 16_000_000

    init(_ pairs: [(String, Int)], file: String, component: String) throws {
        var ids: [TokenKey: Int] = [:]
        ids.reserveCapacity(pairs.count)
        var top = -1
        for (token, id) in pairs {
            guard id >= 0, id <= Vocabulary.maxID else {
                throw TokenizerError(file: file, "\(component): the id \(id) of token '\(token)' is outside 0...\(Vocabulary.maxID)")
            }
            ids[TokenKey(token)] = id
            top = max(top, id)
        }
        var tokens = [String?](repeating: nil, count: top + 1)
        for (token, id) in ids { tokens[id] = token.string }
        self.ids = ids
        self.tokens = tokens
    }

    /// Reads `{"token": id, …}`.
    init(object json: JSONView?, file: String, component: String) throws {
        guard let json, json.kind == .object else {
            throw TokenizerError(file: file, "\(component): 'vocab' is missing or not an object of token → id")
        }
        var pairs: [(String, Int)] = []
        pairs.reserveCapacity(json.count)
        try json.forEachMember { key, value in
            let token = key.stringValue ?? ""
            guard let id = value.intValue else {
                throw TokenizerError(file: file, "\(component): the id of vocabulary token '\(token)' is not an integer")
            }
            pairs.append((token, id))
        }
        try self.init(pairs, file: file, component: component)
    }

    func id(of token: String) -> Int? { ids[TokenKey(token)] }
    func token(of id: Int) -> String? { id >= 0 && id < tokens.count ? tokens[id] : nil }
    /// The largest id + 1.
    var size: Int { tokens.count }
    /// The number of tokens (`tokenizers`' vocabulary size, which numbers added tokens from it).
    var count: Int { ids.count }
}

/// Reads the fields of one component's JSON with errors that name the file, the component and the key.
struct ComponentReader {
    let json: JSONView
    let file: String
    let component: String

    func fail(_ message: String) -> TokenizerError { TokenizerError(file: file, "\(component): \(message)") }

    func string(_ key: String) throws -> String? {
        guard let v = json[key], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw fail("'\(key)' is not a string") }
        return s
    }
    func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw fail("'\(key)' is missing") }
        return s
    }
    func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let v = json[key], !v.isNull else { return value }
        guard let b = v.boolValue else { throw fail("'\(key)' is not true or false") }
        return b
    }
    func int(_ key: String) throws -> Int? {
        guard let v = json[key], !v.isNull else { return nil }
        guard let i = v.intValue else { throw fail("'\(key)' is not an integer") }
        return i
    }
    func array(_ key: String) throws -> [JSONView] {
        guard let v = json[key], let a = v.arrayValue else { throw fail("'\(key)' is missing or not an array") }
        return a
    }
    /// A single character (`Metaspace`'s replacement, `Strip`'s content).
    func character(_ key: String, default value: Unicode.Scalar) throws -> Unicode.Scalar {
        guard let s = try string(key) else { return value }
        let scalars = Array(s.unicodeScalars)
        guard scalars.count == 1 else { throw fail("'\(key)' is '\(s)', not a single character") }
        return scalars[0]
    }
}

enum Models {
    /// The model of tokenizer.json, by its `type` (inferred from its fields when absent, as `tokenizers` does).
    static func make(_ json: JSONView, file: String) throws -> any TokenModel {
        guard json.kind == .object else { throw TokenizerError(file: file, "'model' is not an object") }
        var type = json["type"]?.stringValue
        if type == nil {
            if json["merges"] != nil { type = "BPE" }
            else if json["max_input_chars_per_word"] != nil || json["continuing_subword_prefix"] != nil { type = "WordPiece" }
            else if json["vocab"]?.kind == .array { type = "Unigram" }
            else if json["vocab"] != nil { type = "WordLevel" }
        }
        switch type {
        case "WordPiece": return try WordPiece(json, file: file)
        case "BPE": return try BPE(json, file: file)
        case "WordLevel": return try WordLevel(json, file: file)
        case "Unigram":
            throw TokenizerError(file: file, "model Unigram is not supported (Recast tokenizes WordPiece, BPE and WordLevel models)")
        default:
            throw TokenizerError(file: file, "model \(type.map { "'\($0)'" } ?? "without a type") is not supported (Recast tokenizes WordPiece, BPE and WordLevel models)")
        }
    }
}

/// Scalars to a String.
@inline(__always)
func makeString<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
    var s = String.UnicodeScalarView()
    s.append(contentsOf: scalars)
    return String(s)
}
