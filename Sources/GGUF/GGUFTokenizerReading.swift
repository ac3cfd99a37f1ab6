import RecastCore

/// The `tokenizer.*` metadata of a GGUF file, read and checked: each problem names the file and the key.
struct GGUFVocabulary {
    enum Model: String { case gpt2, llama, bert }

    let file: String
    let model: Model
    let pre: GGUFPreTokenizer?
    /// Token strings as tokenizer.json spells them (for `bert`, with llama.cpp's respelling undone).
    let tokens: [String]
    let types: [GGUFTokenType]
    let scores: [Float]?
    let merges: [(String, String)]?
    let specialIDs: [String: Int]
    let addBOS: Bool?
    let addEOS: Bool?
    let addSpacePrefix: Bool
    let chatTemplate: String?

    init(_ header: GGUFHeader, file: String) throws {
        typealias K = GGUFTokenizerKey
        self.file = file
        func fail(_ key: String, _ reason: String) -> CheckpointError { .tokenizerKey(key, in: file, reason) }
        func string(_ key: String) throws -> String? {
            guard let v = header.value(key) else { return nil }
            guard let s = v.stringValue else { throw fail(key, "is a \(v.type.name); it must be a STRING") }
            return s
        }
        func bool(_ key: String) throws -> Bool? {
            guard let v = header.value(key) else { return nil }
            guard let b = v.boolValue else { throw fail(key, "is a \(v.type.name); it must be a BOOL") }
            return b
        }
        func array(_ key: String, of what: String, _ accepts: (GGUFValueType) -> Bool) throws -> GGUFArray? {
            guard let v = header.value(key) else { return nil }
            guard let a = v.arrayValue, accepts(a.elementType) else {
                throw fail(key, "is a \(v.type.name)\(v.arrayValue.map { " of \($0.elementType.name)" } ?? ""); it must be an array of \(what)")
            }
            return a
        }

        guard let modelName = try string(K.model) else {
            throw fail(K.model, "is missing: the file has no tokenizer (llama.cpp's converter writes tokenizer.ggml.model and tokenizer.ggml.tokens)")
        }
        guard let model = Model(rawValue: modelName) else {
            throw fail(K.model, "is '\(modelName)'; Recast reads the tokenizer models gpt2 (byte-level BPE), llama (SentencePiece BPE) and bert (WordPiece)")
        }
        self.model = model
        if model == .gpt2 {
            // Missing, llama.cpp runs its default split (and warns that the file should be converted again).
            let name = try string(K.pre) ?? GGUFPreTokenizer.llamaCppDefault.rawValue
            guard let known = GGUFPreTokenizer(name: name) else {
                throw fail(K.pre, "is '\(name)', a pre-tokenizer Recast does not know; it knows \(GGUFPreTokenizer.names)")
            }
            pre = known
        } else {
            pre = nil
        }

        guard let tokenArray = try array(K.tokens, of: "strings", { $0 == .string }) else {
            throw fail(K.tokens, "is missing: the file has no vocabulary")
        }
        let stored = tokenArray.elements.compactMap(\.stringValue)
        guard !stored.isEmpty, stored.count == tokenArray.count else { throw fail(K.tokens, "is empty") }

        let count = stored.count
        if let a = try array(K.tokenType, of: "integers", { $0.fixedSize != nil && $0 != .float32 && $0 != .float64 && $0 != .bool }) {
            guard a.count == count else { throw fail(K.tokenType, "has \(a.count) entries for \(count) tokens") }
            types = try a.elements.enumerated().map { i, v in
                guard let n = v.intValue, let t = GGUFTokenType(rawValue: n) else {
                    throw fail(K.tokenType, "entry \(i) is \(v), not a token type (0 to 6)")
                }
                return t == .undefined ? .normal : t
            }
        } else {
            types = Array(repeating: .normal, count: count)
        }
        if let a = try array(K.scores, of: "FLOAT32", { $0 == .float32 || $0 == .float64 }) {
            guard a.count == count else { throw fail(K.scores, "has \(a.count) entries for \(count) tokens") }
            scores = a.elements.map { Float($0.doubleValue ?? 0) }
        } else {
            scores = nil
        }

        tokens = model == .bert ? zip(stored, types).map { Self.wordPieceSpelling($0, $1) } : stored
        var ids: [String: Int] = [:]
        for (i, t) in tokens.enumerated() {
            if let first = ids[t] {
                throw fail(K.tokens, "holds '\(t)' twice (ids \(first) and \(i))\(model == .bert ? " once the converter's respelling is undone" : ""): a vocabulary maps each token to one id")
            }
            ids[t] = i
        }

        if let a = try array(K.merges, of: "strings", { $0 == .string }) {
            var list: [(String, String)] = []
            list.reserveCapacity(a.count)
            for (i, v) in a.elements.enumerated() {
                let m = v.stringValue ?? ""
                guard let pair = Self.splitMerge(m) else { throw fail(K.merges, "entry \(i) '\(m)' is not two tokens separated by one space") }
                for part in [pair.0, pair.1, pair.0 + pair.1] where ids[part] == nil {
                    throw fail(K.merges, "entry \(i) '\(m)' needs the token '\(part)', which is not in tokenizer.ggml.tokens")
                }
                list.append(pair)
            }
            merges = list
        } else {
            merges = nil
        }
        if model == .gpt2 && merges == nil { throw fail(K.merges, "is missing: a gpt2 (byte-level BPE) tokenizer needs its merges") }
        if model == .llama && merges == nil && scores == nil {
            throw fail(K.scores, "is missing, and so is tokenizer.ggml.merges: a llama (SentencePiece BPE) tokenizer needs one of them")
        }

        var specialIDs: [String: Int] = [:]
        for (kind, key) in K.specials {
            guard let v = header.value(key) else { continue }
            guard let id = v.intValue else { throw fail(key, "is a \(v.type.name); it must be an integer") }
            guard id >= 0 && id < count else { throw fail(key, "is \(id), outside the \(count) tokens") }
            specialIDs[kind] = id
        }
        // llama.cpp's defaults when the file names none (src/llama-vocab.cpp).
        if model == .llama {
            if specialIDs["unk"] == nil, count > 0 { specialIDs["unk"] = 0 }
        }
        if model == .bert {
            for (kind, id) in [("bos", 101), ("unk", 100), ("sep", 102), ("pad", 0), ("mask", 103)] where specialIDs[kind] == nil && id < count {
                specialIDs[kind] = id
            }
        }
        self.specialIDs = specialIDs
        addBOS = try bool(K.addBOS)
        addEOS = try bool(K.addEOS)
        addSpacePrefix = try bool(K.addSpacePrefix) ?? true
        chatTemplate = try string(K.chatTemplate)
    }

    /// llama.cpp splits a merge at its first space after the first character (`find(' ', 1)`).
    static func splitMerge(_ m: String) -> (String, String)? {
        let scalars = Array(m.unicodeScalars)
        guard scalars.count >= 3, let space = scalars.dropFirst().firstIndex(of: " "), space + 1 < scalars.count else { return nil }
        let right = scalars[(space + 1)...]
        guard !right.contains(" ") else { return nil }
        var a = "", b = ""
        a.unicodeScalars.append(contentsOf: scalars[..<space])
        b.unicodeScalars.append(contentsOf: right)
        return (a, b)
    }

    /// Undoes `BertModel.set_vocab`'s respelling: control tokens are kept, `▁x` was `x`, and any other
    /// `x` was the continuation `##x`.
    static func wordPieceSpelling(_ token: String, _ type: GGUFTokenType) -> String {
        if type == .control { return token }
        if token.unicodeScalars.first == "\u{2581}" { return String(token.unicodeScalars.dropFirst()) }
        return "##" + token
    }

    func token(_ kind: String) -> String? { specialIDs[kind].map { tokens[$0] } }

    // MARK: tokenizer.json

    func tokenizerJSON() throws -> JSON {
        let normalizer: JSON, preTokenizer: JSON, tokenModel: JSON, decoder: JSON
        var postProcessor: JSON
        switch model {
        case .gpt2:
            let pre = self.pre ?? .gpt2
            normalizer = pre.normalizer
            preTokenizer = pre.preTokenizer
            tokenModel = bpe(unk: nil, fuseUnknown: false, byteFallback: false, ignoreMerges: pre.ignoresMerges, merges: merges ?? [])
            decoder = .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])
            let byteLevel = JSON.object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                                         ("trim_offsets", .bool(pre == .gpt2)), ("use_regex", .bool(true))])
            postProcessor = try template(adding: addBOS ?? (pre == .llama3), addEOS ?? false).map { .object([("type", .string("Sequence")), ("processors", .array([byteLevel, $0]))]) } ?? byteLevel
        case .llama:
            let replace = JSON.object([("type", .string("Replace")), ("pattern", .object([("String", .string(" "))])), ("content", .string("\u{2581}"))])
            normalizer = addSpacePrefix
                ? .object([("type", .string("Sequence")), ("normalizers", .array([.object([("type", .string("Prepend")), ("prepend", .string("\u{2581}"))]), replace]))])
                : replace
            preTokenizer = .null
            tokenModel = bpe(unk: token("unk"), fuseUnknown: true, byteFallback: true, ignoreMerges: false, merges: merges ?? mergesFromScores())
            var steps: [JSON] = [
                .object([("type", .string("Replace")), ("pattern", .object([("String", .string("\u{2581}"))])), ("content", .string(" "))]),
                .object([("type", .string("ByteFallback"))]), .object([("type", .string("Fuse"))]),
            ]
            if addSpacePrefix { steps.append(.object([("type", .string("Strip")), ("content", .string(" ")), ("start", .int(1)), ("stop", .int(0))])) }
            decoder = .object([("type", .string("Sequence")), ("decoders", .array(steps))])
            // llama.cpp adds BOS to a SentencePiece vocabulary unless the file says otherwise.
            postProcessor = try template(adding: addBOS ?? true, addEOS ?? false) ?? .null
        case .bert:
            normalizer = .object([("type", .string("BertNormalizer")), ("clean_text", .bool(true)), ("handle_chinese_chars", .bool(true)),
                                  ("strip_accents", .null), ("lowercase", .bool(true))])
            preTokenizer = .object([("type", .string("BertPreTokenizer"))])
            tokenModel = .object([("type", .string("WordPiece")), ("unk_token", .string(token("unk") ?? "[UNK]")),
                                  ("continuing_subword_prefix", .string("##")), ("max_input_chars_per_word", .int(100)), ("vocab", vocabulary())])
            decoder = .object([("type", .string("WordPiece")), ("prefix", .string("##")), ("cleanup", .bool(true))])
            guard let cls = specialIDs["bos"] else { throw CheckpointError.tokenizerKey(GGUFTokenizerKey.bos, in: file, "is missing: BERT's [CLS] token is needed") }
            guard let sep = specialIDs["sep"] ?? specialIDs["eos"] else { throw CheckpointError.tokenizerKey(GGUFTokenizerKey.sep, in: file, "is missing: BERT's [SEP] token is needed") }
            postProcessor = .object([("type", .string("BertProcessing")), ("sep", .array([.string(tokens[sep]), .int(sep)])),
                                     ("cls", .array([.string(tokens[cls]), .int(cls)]))])
        }
        return .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(addedTokens())),
            ("normalizer", normalizer), ("pre_tokenizer", preTokenizer), ("post_processor", postProcessor),
            ("decoder", decoder), ("model", tokenModel),
        ])
    }

    /// Control and unknown tokens are special added tokens, user-defined ones plain added tokens: both are
    /// matched whole in the text, as llama.cpp does.
    func addedTokens() -> [JSON] {
        zip(tokens, types).enumerated().compactMap { id, entry in
            let (content, type) = entry
            guard type == .control || type == .unknown || type == .userDefined else { return nil }
            return .object([("id", .int(id)), ("content", .string(content)), ("single_word", .bool(false)), ("lstrip", .bool(false)),
                             ("rstrip", .bool(false)), ("normalized", .bool(false)), ("special", .bool(type != .userDefined))])
        }
    }

    func vocabulary() -> JSON { .object(tokens.enumerated().map { ($1, .int($0)) }) }

    func bpe(unk: String?, fuseUnknown: Bool, byteFallback: Bool, ignoreMerges: Bool, merges: [(String, String)]) -> JSON {
        .object([
            ("type", .string("BPE")), ("dropout", .null), ("unk_token", unk.map(JSON.string) ?? .null),
            ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(fuseUnknown)),
            ("byte_fallback", .bool(byteFallback)), ("ignore_merges", .bool(ignoreMerges)),
            ("vocab", vocabulary()), ("merges", .array(merges.map { .array([.string($0.0), .string($0.1)]) })),
        ])
    }

    /// A TemplateProcessing that puts BOS before and EOS after each sequence, or nil when neither is added.
    func template(adding bos: Bool, _ eos: Bool) throws -> JSON? {
        guard bos || eos else { return nil }
        var specials: [(String, Int)] = []
        for (kind, add, key) in [("bos", bos, GGUFTokenizerKey.bos), ("eos", eos, GGUFTokenizerKey.eos)] where add {
            guard let id = specialIDs[kind] else {
                throw CheckpointError.tokenizerKey(key, in: file, "is missing, but \(kind == "bos" ? GGUFTokenizerKey.addBOS : GGUFTokenizerKey.addEOS) asks for the token")
            }
            specials.append((tokens[id], id))
        }
        func special(_ t: String) -> JSON { .object([("SpecialToken", .object([("id", .string(t)), ("type_id", .int(0))]))]) }
        func sequence(_ s: String) -> JSON { .object([("Sequence", .object([("id", .string(s)), ("type_id", .int(0))]))]) }
        let first = bos ? [special(specials[0].0)] : [], last = eos ? [special(specials[specials.count - 1].0)] : []
        var table: [(String, JSON)] = []
        for (t, id) in specials where !table.contains(where: { $0.0 == t }) {
            table.append((t, .object([("id", .string(t)), ("ids", .array([.int(id)])), ("tokens", .array([.string(t)]))])))
        }
        return .object([
            ("type", .string("TemplateProcessing")),
            ("single", .array(first + [sequence("A")] + last)),
            ("pair", .array(first + [sequence("A")] + last + first + [sequence("B")] + last)),
            ("special_tokens", .object(table)),
        ])
    }

    /// The merges a SentencePiece BPE vocabulary implies, as `transformers` derives them
    /// (`generate_merges` in tokenization_utils_base.py): every split of a token into two tokens of the
    /// vocabulary, the splits of one token ordered by the ids of their halves, then all of them ordered by
    /// the token's score, highest first, then by the lengths of the halves, longest first (a stable sort).
    func mergesFromScores() -> [(String, String)] {
        let scores = self.scores ?? []
        var ids: [String: Int] = [:]
        for (i, t) in tokens.enumerated() { ids[t] = i }
        // Both halves are tokens, so only cuts at lengths some token has can match: a vocabulary with one
        // very long token costs a few cuts, not one per character.
        let lengths = Set(tokens.map(\.unicodeScalars.count)).sorted()
        var candidates: [(left: String, right: String, score: Float, leftLength: Int, rightLength: Int, order: Int)] = []
        for (i, token) in tokens.enumerated() {
            let scalars = Array(token.unicodeScalars)
            guard scalars.count > 1 else { continue }
            var local: [(String, String, Int, Int, Int, Int)] = []
            for cut in lengths where cut >= 1 && cut < scalars.count {
                var l = "", r = ""
                l.unicodeScalars.append(contentsOf: scalars[..<cut])
                r.unicodeScalars.append(contentsOf: scalars[cut...])
                if let li = ids[l], let ri = ids[r] { local.append((l, r, li, ri, cut, scalars.count - cut)) }
            }
            local.sort { ($0.2, $0.3) < ($1.2, $1.3) }
            for m in local {
                candidates.append((m.0, m.1, i < scores.count ? scores[i] : 0, m.4, m.5, candidates.count))
            }
        }
        candidates.sort { a, b in
            if a.score != b.score { return a.score > b.score }
            if a.leftLength != b.leftLength { return a.leftLength > b.leftLength }
            if a.rightLength != b.rightLength { return a.rightLength > b.rightLength }
            return a.order < b.order
        }
        return candidates.map { ($0.left, $0.right) }
    }

    // MARK: tokenizer_config.json

    func tokenizerConfig() -> JSON? {
        var pairs: [(String, JSON)] = []
        let names: [(String, String)] = model == .bert
            ? [("cls_token", "bos"), ("sep_token", "sep"), ("unk_token", "unk"), ("pad_token", "pad"), ("mask_token", "mask")]
            : [("bos_token", "bos"), ("eos_token", "eos"), ("unk_token", "unk"), ("pad_token", "pad")]
        for (name, kind) in names { if let t = token(kind) { pairs.append((name, .string(t))) } }
        if let addBOS { pairs.append(("add_bos_token", .bool(addBOS))) }
        if let addEOS { pairs.append(("add_eos_token", .bool(addEOS))) }
        if let chatTemplate { pairs.append(("chat_template", .string(chatTemplate))) }
        return pairs.isEmpty ? nil : .object(pairs)
    }
}
