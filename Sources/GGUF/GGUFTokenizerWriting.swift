import RecastCore

/// The `tokenizer.ggml.*` metadata for a tokenizer.json, following llama.cpp's convert_hf_to_gguf.py
/// (`get_vocab_base`, `BertModel.set_vocab`, gguf-py's `LlamaHfVocab` and `SpecialVocab`).
struct GGUFTokenizerWriter {
    typealias K = GGUFTokenizerKey
    let json: JSON
    let config: JSON?
    let file: String

    init(tokenizerJSON: JSON, config: JSON?, file: String) {
        json = tokenizerJSON
        self.config = config
        self.file = file
    }

    func fail(_ what: String, _ reason: String) -> CheckpointError { CheckpointError(file: file, object: what, reason) }

    struct Added { var content: String; var special: Bool; var normalized: Bool }

    func metadata() throws -> [(key: String, value: GGUFValue)] {
        guard let model = json["model"], let type = model["type"]?.stringValue else {
            throw fail("'model'", "is missing or has no 'type': not a tokenizer.json")
        }
        guard let vocab = model["vocab"]?.objectValue else { throw fail("'model.vocab'", "is missing or not an object") }
        var byID: [Int: String] = [:]
        for (token, v) in vocab {
            guard let id = v.intValue, id >= 0, id < 1 << 24 else { throw fail("'model.vocab'", "gives '\(token)' the id \(v.serialized()), not an id") }
            if let other = byID[id] { throw fail("'model.vocab'", "gives the id \(id) to both '\(other)' and '\(token)'") }
            byID[id] = token
        }
        let baseSize = (byID.keys.max() ?? -1) + 1
        var added: [Int: Added] = [:]
        for (i, entry) in (json["added_tokens"]?.arrayValue ?? []).enumerated() {
            guard let id = entry["id"]?.intValue, id >= 0, id < 1 << 24, let content = entry["content"]?.stringValue else {
                throw fail("'added_tokens[\(i)]'", "has no integer 'id' or string 'content'")
            }
            added[id] = Added(content: content, special: entry["special"]?.boolValue ?? false, normalized: entry["normalized"]?.boolValue ?? false)
            byID[id] = content
        }
        let size = (byID.keys.max() ?? -1) + 1
        guard size > 0 else { throw fail("'model.vocab'", "is empty") }

        var entries: [(key: String, value: GGUFValue)] = []
        func strings(_ list: [String]) -> GGUFValue { .array(GGUFArray(elementType: .string, elements: list.map(GGUFValue.string))) }
        func types(_ list: [GGUFTokenType]) -> GGUFValue { .array(GGUFArray(elementType: .int32, elements: list.map { .int32(Int32($0.rawValue)) })) }
        let merges = try self.merges(model)

        switch type {
        case "BPE" where model["byte_fallback"]?.boolValue == true:
            // gguf-py's LlamaHfVocab: base tokens (bytes `<0xHH>`, the special ones control, else normal),
            // then the added tokens past the base vocabulary.
            let specialIDs = Set(added.filter(\.value.special).map(\.key))
            var tokens: [String] = [], kinds: [GGUFTokenType] = []
            for id in 0..<size {
                guard let token = byID[id] else { throw fail("'model.vocab'", "has no token with id \(id), below the largest id \(size - 1)") }
                tokens.append(token)
                if id < baseSize {
                    kinds.append(Self.isByteToken(token) ? .byte : specialIDs.contains(id) ? .control : .normal)
                } else {
                    kinds.append(specialIDs.contains(id) ? .control : .userDefined)
                }
            }
            let addSpacePrefix = try sentencePieceSpacePrefix()
            entries.append((K.model, .string("llama")))
            entries.append((K.pre, .string("default")))
            entries.append((K.tokens, strings(tokens)))
            entries.append((K.scores, .array(GGUFArray(elementType: .float32, elements: Self.scores(tokens: tokens, merges: merges).map(GGUFValue.float32)))))
            entries.append((K.tokenType, types(kinds)))
            if !addSpacePrefix { entries.append((K.addSpacePrefix, .bool(false))) }
            entries.append((K.merges, strings(merges.map { $0.0 + " " + $0.1 })))
        case "BPE":
            guard let pre = GGUFPreTokenizer.recognise(normalizer: json["normalizer"], preTokenizer: json["pre_tokenizer"]) else {
                throw fail("'pre_tokenizer'", "\(json["pre_tokenizer"]?.serialized() ?? "null") (normalizer \(json["normalizer"]?.serialized() ?? "null")) is not a byte-level BPE pre-tokenizer Recast can name for llama.cpp; it knows \(GGUFPreTokenizer.names)")
            }
            let (tokens, kinds) = try vocabularyBase(byID: byID, added: added, size: size)
            entries.append((K.model, .string("gpt2")))
            entries.append((K.pre, .string(pre.rawValue)))
            entries.append((K.tokens, strings(tokens)))
            entries.append((K.tokenType, types(kinds)))
            // The format since transformers 4.45 allows spaces inside a merge's tokens; gguf-py writes them as U+0120.
            entries.append((K.merges, strings(merges.map { Self.spaceless($0.0) + " " + Self.spaceless($0.1) })))
        case "WordPiece":
            let (tokens, kinds) = try vocabularyBase(byID: byID, added: added, size: size)
            let prefix = model["continuing_subword_prefix"]?.stringValue ?? "##"
            guard prefix == "##" else { throw fail("'model.continuing_subword_prefix'", "is '\(prefix)'; llama.cpp's WordPiece knows only '##'") }
            // BertModel.set_vocab's "phantom space" spelling.
            let respelled = zip(tokens, kinds).map { token, kind in
                kind == .control ? token : Self.starts(token, "##") ? Self.dropping(2, from: token) : "\u{2581}" + token
            }
            entries.append((K.model, .string("bert")))
            entries.append((K.pre, .string("default")))
            entries.append((K.tokens, strings(respelled)))
            entries.append((K.tokenType, types(kinds)))
        default:
            throw fail("'model.type'", "is '\(type)'; Recast writes GGUF tokenizers for BPE (byte-level or with byte fallback) and WordPiece")
        }
        entries += specialEntries()
        return entries
    }

    /// Whether a SentencePiece BPE tokenizer.json puts `▁` before the text, which is all llama.cpp can say
    /// about its spaces (`tokenizer.ggml.add_space_prefix`): the legacy normalizer (Prepend `▁`, Replace
    /// spaces) or a `Metaspace` pre-tokenizer that prepends; a normalizer that only replaces spaces does not.
    /// A `Metaspace` tokenizer reads back in the legacy form, which llama.cpp follows: the two differ
    /// only on text that starts with a space or follows a special token.
    func sentencePieceSpacePrefix() throws -> Bool {
        let replace = JSON.object([("type", .string("Replace")), ("pattern", .object([("String", .string(" "))])), ("content", .string("\u{2581}"))])
        let prepend = JSON.object([("type", .string("Prepend")), ("prepend", .string("\u{2581}"))])
        let normalizer = json["normalizer"] ?? .null, pre = json["pre_tokenizer"] ?? .null
        let steps = normalizer["normalizers"]?.arrayValue ?? [normalizer]
        if pre.isNull && steps == [prepend, replace] { return true }
        if pre.isNull && steps == [replace] { return false }
        if normalizer.isNull, pre["type"]?.stringValue == "Metaspace", (pre["replacement"]?.stringValue ?? "\u{2581}") == "\u{2581}" {
            return pre["prepend_scheme"]?.stringValue != "never" && pre["add_prefix_space"]?.boolValue != false
        }
        throw fail("'normalizer'", "\(normalizer.serialized()) with pre-tokenizer \(pre.serialized()) is not a SentencePiece space handling llama.cpp has (Prepend and Replace '▁', or Metaspace)")
    }

    /// `get_vocab_base`: every id below the largest, a gap as `[PADn]` (unused); added tokens control when
    /// special or when they look special, else user-defined with `▁` written as a space; others normal.
    func vocabularyBase(byID: [Int: String], added: [Int: Added], size: Int) throws -> ([String], [GGUFTokenType]) {
        var tokens: [String] = [], kinds: [GGUFTokenType] = []
        tokens.reserveCapacity(size)
        kinds.reserveCapacity(size)
        for id in 0..<size {
            guard let token = byID[id] else {
                tokens.append("[PAD\(id)]")
                kinds.append(.unused)
                continue
            }
            if let a = added[id] {
                if a.special || Self.looksSpecial(token) {
                    tokens.append(token)
                    kinds.append(.control)
                } else {
                    tokens.append(Self.replacing("\u{2581}", with: " ", in: token))
                    kinds.append(.userDefined)
                }
            } else {
                tokens.append(token)
                kinds.append(.normal)
            }
        }
        return (tokens, kinds)
    }

    /// convert_hf_to_gguf.py's `does_token_look_special`: added tokens some models forget to mark special.
    static func looksSpecial(_ t: String) -> Bool {
        ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(t) || (starts(t, "<|") && ends(t, "|>"))
            || (starts(t, "<\u{FF5C}") && ends(t, "\u{FF5C}>")) || (starts(t, "<unused") && ends(t, ">"))
    }

    /// Prefix and suffix tests on Unicode scalars, as Python compares strings: `String.hasPrefix` compares
    /// characters, so "##" is no prefix of "##\u{308}" (the second `#` and the mark are one character).
    static func starts(_ s: String, _ prefix: String) -> Bool { s.unicodeScalars.starts(with: prefix.unicodeScalars) }
    static func ends(_ s: String, _ suffix: String) -> Bool { s.unicodeScalars.reversed().starts(with: suffix.unicodeScalars.reversed()) }
    static func dropping(_ n: Int, from s: String) -> String {
        var out = ""
        out.unicodeScalars.append(contentsOf: s.unicodeScalars.dropFirst(n))
        return out
    }

    /// `<0x00>` … `<0xFF>`: SentencePiece's byte-fallback tokens.
    static func isByteToken(_ t: String) -> Bool {
        let s = Array(t.utf8)
        func hex(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) }
        return s.count == 6 && s[0] == 60 && s[1] == 48 && s[2] == 120 && hex(s[3]) && hex(s[4]) && s[5] == 62
    }

    static func spaceless(_ s: String) -> String { replacing(" ", with: "\u{0120}", in: s) }

    static func replacing(_ old: Unicode.Scalar, with new: Unicode.Scalar, in s: String) -> String {
        var out = ""
        out.unicodeScalars.append(contentsOf: s.unicodeScalars.map { $0 == old ? new : $0 })
        return out
    }

    /// A score for each token that ranks it by the first merge producing it (0 for the first merge,
    /// -1 for the second …), so that llama.cpp's SentencePiece merging by score follows the merge order;
    /// tokens no merge produces score below every merge.
    static func scores(tokens: [String], merges: [(String, String)]) -> [Float] {
        var rank: [String: Int] = [:]
        for (i, m) in merges.enumerated() where rank[m.0 + m.1] == nil { rank[m.0 + m.1] = i }
        return tokens.map { t in
            if let r = rank[t] { return -Float(r) }
            return t.unicodeScalars.count > 1 ? -Float(merges.count) : 0
        }
    }

    /// The merges as pairs, from either tokenizer.json format ("a b" strings or [a, b] pairs).
    func merges(_ model: JSON) throws -> [(String, String)] {
        guard let list = model["merges"]?.arrayValue else { return [] }
        return try list.enumerated().map { i, m in
            if let s = m.stringValue {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("'model.merges[\(i)]'", "'\(s)' is not two tokens separated by one space") }
                return (String(parts[0]), String(parts[1]))
            }
            guard let pair = m.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue else {
                throw fail("'model.merges[\(i)]'", "is neither \"a b\" nor [\"a\", \"b\"]")
            }
            return (a, b)
        }
    }

    // MARK: special tokens (gguf-py's SpecialVocab)

    func specialEntries() -> [(key: String, value: GGUFValue)] {
        let addedTokens = json["added_tokens"]?.arrayValue ?? []
        func configToken(_ name: String) -> String? {
            guard let v = config?[name] else { return nil }
            return v.stringValue ?? v["content"]?.stringValue
        }
        var bos = configToken("bos_token"), eos = configToken("eos_token")
        let cls = configToken("cls_token"), sep = configToken("sep_token")
        if bos == nil, let cls { bos = cls }
        if eos == nil, let sep { eos = sep }
        var add: [(String, Bool)] = []
        func setAdd(_ kind: String, _ value: Bool) {
            if let i = add.firstIndex(where: { $0.0 == kind }) { add[i].1 = value } else { add.append((kind, value)) }
        }
        // What the post-processor adds (SpecialVocab's "crude parsing" of TemplateProcessing).
        let post = json["post_processor"]
        let processors = post?["processors"]?.arrayValue ?? post.map { [$0] } ?? []
        for processor in processors {
            switch processor["type"]?.stringValue {
            case "RobertaProcessing"?:
                setAdd("bos", true); setAdd("eos", true); setAdd("sep", true)
            case "BertProcessing"?:
                break
            case "TemplateProcessing"?:
                let single = processor["single"]?.arrayValue ?? []
                guard single.count > 1 else { continue }
                if let first = single.first?["SpecialToken"]?["id"]?.stringValue {
                    if config == nil { bos = first }
                    setAdd("bos", first == bos || first == cls)
                }
                if let last = single.last?["SpecialToken"]?["id"]?.stringValue {
                    if config == nil { eos = last }
                    setAdd("eos", last == eos)
                }
            default:
                break
            }
        }
        var entries: [(key: String, value: GGUFValue)] = []
        if let config {
            let names: [String: String?] = ["bos": bos, "eos": eos, "unk": configToken("unk_token"), "sep": sep,
                                            "pad": configToken("pad_token"), "mask": configToken("mask_token")]
            // The id of the first added token with that content (SpecialVocab looks nowhere else).
            for (kind, key) in K.specials {
                guard let content = names[kind] ?? nil,
                      let id = addedTokens.first(where: { $0["content"]?.stringValue == content })?["id"]?.intValue,
                      id >= 0, id < 1 << 24 else { continue }
                entries.append((key, .uint32(UInt32(id))))
            }
            for kind in ["bos", "eos", "unk", "sep", "pad", "cls", "mask"] {
                if let value = config["add_\(kind)_token"]?.boolValue { setAdd(kind, value) }
            }
        }
        for (kind, value) in add {
            switch kind {
            case "bos": entries.append((K.addBOS, .bool(value)))
            case "eos": entries.append((K.addEOS, .bool(value)))
            case "sep": entries.append((K.addSEP, .bool(value)))
            default: break
            }
        }
        if let template = config?["chat_template"]?.stringValue { entries.append((K.chatTemplate, .string(template))) }
        return entries
    }
}
