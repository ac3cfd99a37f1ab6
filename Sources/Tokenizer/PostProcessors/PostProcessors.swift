import RecastCore

/// Adds special tokens around the encoded sequence(s) and sets type ids (`tokenizers`' `PostProcessor`).
/// `encodings` holds the first sequence and, for pairs, the second; the tokenizer concatenates them afterwards.
protocol PostProcessor: Sendable {
    func process(_ encodings: inout [Encoding], texts: [String], addSpecialTokens: Bool)
}

extension Encoding {
    /// Appends one special token (offsets 0..<0, marked in `specialTokensMask`).
    mutating func appendSpecial(id: Int, token: String, typeID: Int) {
        ids.append(id)
        tokens.append(token)
        offsets.append(0..<0)
        typeIds.append(typeID)
        specialTokensMask.append(true)
    }

    /// This encoding with every type id set to `typeID`.
    func typed(_ typeID: Int) -> Encoding {
        var e = self
        e.typeIds = [Int](repeating: typeID, count: e.count)
        return e
    }

    /// `specials` then this encoding then `after`.
    func wrapped(_ before: [(Int, String)], _ after: [(Int, String)], typeID: Int) -> Encoding {
        var e = Encoding()
        for (id, t) in before { e.appendSpecial(id: id, token: t, typeID: typeID) }
        e.append(typed(typeID))
        for (id, t) in after { e.appendSpecial(id: id, token: t, typeID: typeID) }
        return e
    }

    mutating func append(_ o: Encoding) {
        ids += o.ids
        tokens += o.tokens
        offsets += o.offsets
        typeIds += o.typeIds
        specialTokensMask += o.specialTokensMask
    }
}

enum PostProcessors {
    static func make(_ json: JSONView, file: String) throws -> any PostProcessor {
        let type = json["type"]?.stringValue ?? "?"
        let r = ComponentReader(json: json, file: file, component: "post-processor \(type)")
        switch type {
        case "BertProcessing":
            return BertProcessing(sep: try specialPair(r, "sep"), cls: try specialPair(r, "cls"))
        case "RobertaProcessing":
            return RobertaProcessing(sep: try specialPair(r, "sep"), cls: try specialPair(r, "cls"),
                                     trimOffsets: try r.bool("trim_offsets", default: true),
                                     addPrefixSpace: try r.bool("add_prefix_space", default: true))
        case "ByteLevel":
            return ByteLevelProcessing(trimOffsets: try r.bool("trim_offsets", default: true),
                                       addPrefixSpace: try r.bool("add_prefix_space", default: true))
        case "TemplateProcessing":
            return try TemplateProcessing(r)
        case "Sequence":
            return SequenceProcessing(steps: try r.array("processors").map { try make($0, file: file) })
        default:
            throw TokenizerError(file: file, "post-processor '\(type)' is not supported (Recast knows TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)")
        }
    }

    /// `["[SEP]", 102]`.
    static func specialPair(_ r: ComponentReader, _ key: String) throws -> (Int, String) {
        guard let a = r.json[key]?.arrayValue, a.count == 2, let token = a[0].stringValue, let id = a[1].intValue, id >= 0 else {
            throw r.fail("'\(key)' is not [token, id]")
        }
        return (id, token)
    }
}

/// `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]`, type ids 0 then 1.
struct BertProcessing: PostProcessor {
    let sep: (Int, String)
    let cls: (Int, String)

    func process(_ encodings: inout [Encoding], texts: [String], addSpecialTokens: Bool) {
        guard addSpecialTokens else { return }
        for i in encodings.indices {
            encodings[i] = encodings[i].wrapped(i == 0 ? [cls] : [], [sep], typeID: i == 0 ? 0 : 1)
        }
    }
}

/// `tokenizers`' `process_offsets`: moves token offsets past the spaces (`Ġ` or whitespace) a token begins or
/// ends with, except a first token's single leading space when the pre-tokenizer added it.
///
/// `tokenizers` counts these moves in characters of the original text (its Python binding converts offsets
/// to characters before post-processing), so a move of n spaces goes n scalars of `text`, not n bytes.
func trimSpaceOffsets(_ e: inout Encoding, text: String, addPrefixSpace: Bool) {
    let space = ByteLevelAlphabet.characterOfByte[32]
    func isSpace(_ c: Unicode.Scalar) -> Bool { c == space || c.properties.isWhitespace }
    var scalars = ScalarOffsets(text)
    for i in e.offsets.indices {
        let token = e.tokens[i].unicodeScalars
        var leading = token.prefix(while: isSpace).count
        let trailing = token.reversed().prefix(while: isSpace).count
        guard leading > 0 || trailing > 0 else { continue }
        var lo = scalars.index(ofByte: e.offsets[i].lowerBound), hi = scalars.index(ofByte: e.offsets[i].upperBound)
        if leading > 0 {
            if (i == 0 || lo == 0) && addPrefixSpace && leading == 1 { leading = 0 }
            lo = min(lo + leading, hi)
        }
        if trailing > 0 && hi >= trailing {
            hi = max(hi - trailing, lo)
        }
        e.offsets[i] = scalars.byte(ofIndex: lo)..<scalars.byte(ofIndex: hi)
    }
}

/// Byte offsets of a text's scalars and back, built on first use: offsets between scalar boundaries and
/// beyond the end map as `tokenizers`' byte-to-character converter maps them (to the scalar holding that byte;
/// to the scalar count at and past the end).
struct ScalarOffsets {
    private let text: String
    /// The byte offset where each scalar starts, and the text's length in bytes last.
    private var starts: [Int] = []

    init(_ text: String) { self.text = text }

    private mutating func build() {
        guard starts.isEmpty else { return }
        starts.reserveCapacity(text.utf8.count + 1)
        var at = 0
        for c in text.unicodeScalars {
            starts.append(at)
            at += UTF8.width(c)
        }
        starts.append(at)
    }

    /// The index of the scalar holding byte `byte`.
    mutating func index(ofByte byte: Int) -> Int {
        build()
        if byte >= starts[starts.count - 1] { return starts.count - 1 }
        var lo = 0, hi = starts.count - 1  // starts[lo] <= byte < starts[hi]
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if starts[mid] <= byte { lo = mid } else { hi = mid }
        }
        return lo
    }

    /// The byte offset where scalar `index` starts (the text's length at and past the end).
    mutating func byte(ofIndex index: Int) -> Int {
        build()
        return starts[max(0, min(index, starts.count - 1))]
    }
}

/// `<s> A </s>` and `<s> A </s> </s> B </s>`, all type ids 0, offsets trimmed of spaces.
struct RobertaProcessing: PostProcessor {
    let sep: (Int, String)
    let cls: (Int, String)
    let trimOffsets: Bool
    let addPrefixSpace: Bool

    func process(_ encodings: inout [Encoding], texts: [String], addSpecialTokens: Bool) {
        if trimOffsets {
            for i in encodings.indices { trimSpaceOffsets(&encodings[i], text: texts[min(i, texts.count - 1)], addPrefixSpace: addPrefixSpace) }
        }
        for i in encodings.indices {
            encodings[i] = addSpecialTokens ? encodings[i].wrapped(i == 0 ? [cls] : [sep], [sep], typeID: 0) : encodings[i].typed(0)
        }
    }
}

/// Byte-level BPE's post-processor: only trims offsets of the spaces tokens carry.
struct ByteLevelProcessing: PostProcessor {
    let trimOffsets: Bool
    let addPrefixSpace: Bool

    func process(_ encodings: inout [Encoding], texts: [String], addSpecialTokens: Bool) {
        guard trimOffsets else { return }
        for i in encodings.indices { trimSpaceOffsets(&encodings[i], text: texts[min(i, texts.count - 1)], addPrefixSpace: addPrefixSpace) }
    }
}

/// The processors in turn.
struct SequenceProcessing: PostProcessor {
    let steps: [any PostProcessor]
    func process(_ encodings: inout [Encoding], texts: [String], addSpecialTokens: Bool) {
        for s in steps { s.process(&encodings, texts: texts, addSpecialTokens: addSpecialTokens) }
    }
}

/// Templates such as `[CLS]:0 $A:0 [SEP]:0` / `$B:1 [SEP]:1`, from tokenizer.json's `single` and `pair` lists.
struct TemplateProcessing: PostProcessor {
    enum Piece {
        case sequence(index: Int, typeID: Int)
        case special(ids: [Int], tokens: [String], typeID: Int)
    }
    let single: [Piece]
    let pair: [Piece]

    init(_ r: ComponentReader) throws {
        var specials: [String: ([Int], [String])] = [:]
        if let table = r.json["special_tokens"], table.kind == .object {
            try table.forEachMember { key, value in
                let name = key.stringValue ?? ""
                guard let ids = value["ids"]?.arrayValue?.compactMap(\.intValue), let tokens = value["tokens"]?.arrayValue?.compactMap(\.stringValue),
                      ids.count == tokens.count, ids.count == value["ids"]?.count, ids.allSatisfy({ $0 >= 0 }) else {
                    throw r.fail("special_tokens '\(name)' needs 'ids' and 'tokens' lists of the same length")
                }
                specials[name] = (ids, tokens)
            }
        }
        func template(_ key: String) throws -> [Piece] {
            try r.array(key).enumerated().map { i, item in
                if let s = item["Sequence"] {
                    guard let id = s["id"]?.stringValue, id == "A" || id == "B" else { throw r.fail("\(key)[\(i)]: Sequence id is not \"A\" or \"B\"") }
                    return .sequence(index: id == "A" ? 0 : 1, typeID: s["type_id"]?.intValue ?? 0)
                }
                if let s = item["SpecialToken"] {
                    guard let id = s["id"]?.stringValue else { throw r.fail("\(key)[\(i)]: SpecialToken has no id") }
                    guard let (ids, tokens) = specials[id] else { throw r.fail("\(key)[\(i)]: special token '\(id)' is not in special_tokens") }
                    return .special(ids: ids, tokens: tokens, typeID: s["type_id"]?.intValue ?? 0)
                }
                throw r.fail("\(key)[\(i)] is neither a Sequence nor a SpecialToken")
            }
        }
        single = try template("single")
        pair = try template("pair")
    }

    func process(_ encodings: inout [Encoding], texts: [String], addSpecialTokens: Bool) {
        guard addSpecialTokens else { return }
        var out = Encoding()
        for piece in encodings.count == 1 ? single : pair {
            switch piece {
            case let .sequence(index, typeID):
                if index < encodings.count { out.append(encodings[index].typed(typeID)) }
            case let .special(ids, tokens, typeID):
                for (id, t) in zip(ids, tokens) { out.appendSpecial(id: id, token: t, typeID: typeID) }
            }
        }
        encodings = [out]
    }
}
