import RecastCore

/// BERT's WordPiece: the longest vocabulary token from the start of the word, then the longest
/// `##`-prefixed token from where it ended, and so on; a word that cannot be covered becomes one unknown token.
struct WordPiece: TokenModel {
    let vocabulary: Vocabulary
    let unkToken: String
    let prefix: String
    let maxInputCharsPerWord: Int
    let file: String

    init(vocabulary: Vocabulary, unkToken: String = "[UNK]", prefix: String = "##", maxInputCharsPerWord: Int = 100, file: String) {
        self.vocabulary = vocabulary
        self.unkToken = unkToken
        self.prefix = prefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        self.file = file
    }

    init(_ json: JSONView, file: String) throws {
        let r = ComponentReader(json: json, file: file, component: "model WordPiece")
        self.init(vocabulary: try Vocabulary(object: json["vocab"], file: file, component: "model WordPiece"),
                  unkToken: try r.string("unk_token") ?? "[UNK]",
                  prefix: try r.string("continuing_subword_prefix") ?? "##",
                  maxInputCharsPerWord: try r.int("max_input_chars_per_word") ?? 100, file: file)
    }

    private func unknown(_ count: Int) throws -> [ModelToken] {
        guard let id = vocabulary.id(of: unkToken) else {
            throw TokenizerError(file: file, "model WordPiece: the unknown token '\(unkToken)' is not in the vocabulary")
        }
        return [ModelToken(id: id, range: 0..<count)]
    }

    func tokenize(_ piece: [Unicode.Scalar]) throws -> [ModelToken] {
        if piece.count > maxInputCharsPerWord { return try unknown(piece.count) }
        var out: [ModelToken] = []
        var start = 0
        while start < piece.count {
            var end = piece.count
            var found: Int?
            while start < end {
                let sub = makeString(piece[start..<end])
                if let id = vocabulary.id(of: start > 0 ? prefix + sub : sub) {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { return try unknown(piece.count) }
            out.append(ModelToken(id: id, range: start..<end))
            start = end
        }
        return out
    }
}

/// A plain word → id lookup, with an unknown token for the rest.
struct WordLevel: TokenModel {
    let vocabulary: Vocabulary
    let unkToken: String
    let file: String

    init(_ json: JSONView, file: String) throws {
        let r = ComponentReader(json: json, file: file, component: "model WordLevel")
        vocabulary = try Vocabulary(object: json["vocab"], file: file, component: "model WordLevel")
        unkToken = try r.string("unk_token") ?? "<unk>"
        self.file = file
    }

    func tokenize(_ piece: [Unicode.Scalar]) throws -> [ModelToken] {
        if piece.isEmpty { return [] }
        if let id = vocabulary.id(of: makeString(piece)) { return [ModelToken(id: id, range: 0..<piece.count)] }
        guard let id = vocabulary.id(of: unkToken) else {
            throw TokenizerError(file: file, "model WordLevel: the unknown token '\(unkToken)' is not in the vocabulary")
        }
        return [ModelToken(id: id, range: 0..<piece.count)]
    }
}
