import RecastCore

/// Reading a tokenizer from a model folder: `tokenizer.json`, else `vocab.txt`, else `vocab.json` + `merges.txt`,
/// with the companion files that say more (`tokenizer_config.json`, `generation_config.json`,
/// `special_tokens_map.json`). Every file found in the folder follows `ModelFolder`'s rule for links.
extension Tokenizer {
    /// Reads the tokenizer of a model: PATH is a model folder, or a file inside one (weights, config.json).
    /// Looks for `tokenizer.json`, then `vocab.txt` (WordPiece), then `vocab.json` + `merges.txt` (byte-level BPE).
    public static func load(model path: String) throws -> Tokenizer {
        let folder = try converting { FileSystem.isDirectory(path) ? try ModelFolder(path) : try ModelFolder.holding(path) }
        let configFiles = try ConfigFiles(folder: folder)
        let json = try converting { try folder.file("tokenizer.json") }
        if FileSystem.exists(json) { return try Tokenizer(file: json, configFiles: configFiles) }
        let vocabTxt = try converting { try folder.file("vocab.txt") }
        if FileSystem.exists(vocabTxt) { return try bertWordPiece(vocabTxt, configFiles: configFiles) }
        let vocabJSON = try converting { try folder.file("vocab.json") }
        let merges = try converting { try folder.file("merges.txt") }
        if FileSystem.exists(vocabJSON) && FileSystem.exists(merges) {
            return try gpt2ByteLevel(vocabJSON, merges: merges, configFiles: configFiles)
        }
        throw TokenizerError(file: folder.path, "no tokenizer.json, vocab.txt or vocab.json+merges.txt in \(folder.path)")
    }

    /// Reads one `tokenizer.json` (and the companion files beside it).
    public convenience init(file: String) throws {
        let folder = try converting { try ModelFolder.holding(file) }
        try self.init(file: file, configFiles: try ConfigFiles(folder: folder))
    }

    /// A tokenizer described by JSON built in memory (from a GGUF file's metadata): `tokenizerJSON` as a
    /// tokenizer.json holds it, `tokenizerConfig` as a tokenizer_config.json. `file` names the source in
    /// messages.
    public convenience init(tokenizerJSON: JSON, tokenizerConfig: JSON?, file: String) throws {
        func view(_ json: JSON) throws -> JSONDocument {
            do { return try JSONDocument.parse(Array(json.serialized().utf8)) } catch {
                throw TokenizerError(file: file, "the tokenizer built from it is not valid JSON: \(error)")
            }
        }
        var configFiles = ConfigFiles()
        if let tokenizerConfig { configFiles.tokenizerConfig = try view(tokenizerConfig).root }
        try self.init(document: try view(tokenizerJSON), file: file, configFiles: configFiles)
    }

    convenience init(file: String, configFiles: ConfigFiles) throws {
        try self.init(document: try readJSON(file, what: "a tokenizer"), file: file, configFiles: configFiles)
    }

    convenience init(document: JSONDocument, file: String, configFiles: ConfigFiles) throws {
        let root = document.root
        guard root.kind == .object else { throw TokenizerError(file: file, "is not a tokenizer.json: the top level is not an object") }
        func component<T>(_ key: String, _ make: (JSONView, String) throws -> T) throws -> T? {
            guard let v = root[key], !v.isNull else { return nil }
            guard v.kind == .object else { throw TokenizerError(file: file, "'\(key)' is not an object") }
            return try make(v, file)
        }
        guard let modelJSON = root["model"] else { throw TokenizerError(file: file, "has no 'model'") }
        let model = try Models.make(modelJSON, file: file)
        var addedTokens: [AddedToken] = []
        if let list = root["added_tokens"], !list.isNull {
            guard let items = list.arrayValue else { throw TokenizerError(file: file, "'added_tokens' is not an array") }
            for (i, item) in items.enumerated() {
                let r = ComponentReader(json: item, file: file, component: "added_tokens[\(i)]")
                guard let id = try r.int("id") else { throw r.fail("'id' is missing") }
                let special = try r.bool("special", default: false)
                let normalized = try item["normalized"].flatMap { $0.isNull ? nil : $0 }.map { _ in try r.bool("normalized", default: false) }
                addedTokens.append(AddedToken(id: id, content: try r.requiredString("content"), singleWord: try r.bool("single_word", default: false),
                                              leftStrip: try r.bool("lstrip", default: false), rightStrip: try r.bool("rstrip", default: false),
                                              normalized: normalized, special: special))
            }
        }
        try self.init(file: file,
                      normalizer: try component("normalizer", Normalizers.make),
                      preTokenizer: try component("pre_tokenizer", PreTokenizers.make),
                      model: model, addedTokens: addedTokens,
                      postProcessor: try component("post_processor", PostProcessors.make),
                      decoder: try component("decoder", Decoders.make),
                      settings: try StoredSettings(root, file: file), configFiles: configFiles)
    }

    /// BERT's tokenizer as `transformers` builds it from `vocab.txt`: BertNormalizer (lowercasing per
    /// tokenizer_config.json's `do_lower_case`, default true), BertPreTokenizer, WordPiece with `[UNK]`,
    /// `[CLS] … [SEP]` around sequences, and the WordPiece decoder.
    static func bertWordPiece(_ path: String, configFiles: ConfigFiles) throws -> Tokenizer {
        let text = try readText(path, what: "a vocabulary")
        var pairs: [(String, Int)] = []
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        if lines.last == "" { lines.removeLast() }
        for (i, line) in lines.enumerated() { pairs.append((line, i)) }
        let vocabulary = try Vocabulary(pairs, file: path, component: "vocab.txt")
        let config = configFiles.tokenizerConfig
        let lowercase = config?["do_lower_case"]?.boolValue ?? true
        let chinese = config?["tokenize_chinese_chars"]?.boolValue ?? true
        let stripAccents = config?["strip_accents"]?.boolValue
        func special(_ key: String, _ fallback: String) -> String { configFiles.tokenString(key) ?? fallback }
        let unk = special("unk_token", "[UNK]"), sep = special("sep_token", "[SEP]"), cls = special("cls_token", "[CLS]")
        let pad = special("pad_token", "[PAD]"), mask = special("mask_token", "[MASK]")
        func id(_ token: String) throws -> Int {
            guard let id = vocabulary.id(of: token) else { throw TokenizerError(file: path, "vocab.txt has no '\(token)' token, which BERT's post-processor needs") }
            return id
        }
        let normalizerJSON = "{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":\(chinese),\"strip_accents\":\(stripAccents.map { "\($0)" } ?? "null"),\"lowercase\":\(lowercase)}"
        let added = [pad, unk, cls, sep, mask].compactMap { t in vocabulary.id(of: t).map { AddedToken(id: $0, content: t, normalized: false, special: true) } }
        return try Tokenizer(file: path,
                             normalizer: try Normalizers.make(try parseBuiltIn(normalizerJSON), file: path),
                             preTokenizer: try PreTokenizers.make(try parseBuiltIn("{\"type\":\"BertPreTokenizer\"}"), file: path),
                             model: WordPiece(vocabulary: vocabulary, unkToken: unk, file: path),
                             addedTokens: added,
                             postProcessor: BertProcessing(sep: (try id(sep), sep), cls: (try id(cls), cls)),
                             decoder: WordPieceDecoder(prefix: "##", cleanup: true), configFiles: configFiles)
    }

    /// GPT-2's tokenizer as `transformers` builds it from `vocab.json` + `merges.txt`: byte-level BPE
    /// (`add_prefix_space` from tokenizer_config.json, default false), the ByteLevel decoder, and the
    /// special tokens the config names (`<|endoftext|>`) as added tokens.
    static func gpt2ByteLevel(_ vocabPath: String, merges mergesPath: String, configFiles: ConfigFiles) throws -> Tokenizer {
        let vocabulary = try Vocabulary(object: try readJSON(vocabPath, what: "a vocabulary").root, file: vocabPath, component: "vocab.json")
        var merges: [(String, String)] = []
        for (n, line) in try readText(mergesPath, what: "a merges list").split(separator: "\n").enumerated() {
            let line = line.hasSuffix("\r") ? line.dropLast() : line
            if line.hasPrefix("#version") || line.isEmpty { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw TokenizerError(file: mergesPath, "line \(n + 1) '\(line)' is not two tokens separated by one space") }
            merges.append((String(parts[0]), String(parts[1])))
        }
        let prefixSpace = configFiles.tokenizerConfig?["add_prefix_space"]?.boolValue ?? false
        var added: [AddedToken] = []
        for key in ["bos_token", "eos_token", "unk_token", "pad_token"] {
            if let t = configFiles.tokenString(key), let id = vocabulary.id(of: t), !added.contains(where: { $0.id == id }) {
                added.append(AddedToken(id: id, content: t, normalized: false, special: true))
            }
        }
        let model = try BPE(vocabulary: vocabulary, merges: merges, file: mergesPath)
        return try Tokenizer(file: vocabPath, normalizer: nil,
                             preTokenizer: try PreTokenizers.make(try parseBuiltIn("{\"type\":\"ByteLevel\",\"add_prefix_space\":\(prefixSpace),\"trim_offsets\":true,\"use_regex\":true}"), file: vocabPath),
                             model: model, addedTokens: added,
                             postProcessor: ByteLevelProcessing(trimOffsets: false, addPrefixSpace: prefixSpace),
                             decoder: ByteLevelDecoder(), configFiles: configFiles)
    }
}

extension Tokenizer.StoredSettings {
    init(_ root: JSONView, file: String) throws {
        self.init()
        if let p = root["padding"], !p.isNull {
            let r = ComponentReader(json: p, file: file, component: "padding")
            if let s = p["strategy"]?.stringValue {
                padding = (s, nil)
            } else if let fixed = p["strategy"]?["Fixed"] {
                guard let n = fixed.intValue, n >= 0 else { throw r.fail("'strategy' Fixed length is not a non-negative integer") }
                padding = ("Fixed", n)
            } else {
                throw r.fail("'strategy' is neither \"BatchLongest\" nor {\"Fixed\": n}")
            }
            padID = try r.int("pad_id")
        }
        if let t = root["truncation"], !t.isNull {
            let r = ComponentReader(json: t, file: file, component: "truncation")
            guard let n = try r.int("max_length"), n >= 0 else { throw r.fail("'max_length' is missing or negative") }
            truncation = n
        }
    }
}

/// The files beside a tokenizer that say which tokens end a sequence and how a tokenizer without
/// tokenizer.json is built. Each is optional; a present one that is malformed is an error.
struct ConfigFiles: Sendable {
    var generationConfig: JSONView?
    var tokenizerConfig: JSONView?
    var specialTokensMap: JSONView?
    var generationConfigPath = ""

    init(folder: ModelFolder) throws {
        func read(_ name: String) throws -> (JSONView, String)? {
            let path = try converting { try folder.file(name) }
            guard FileSystem.exists(path) else { return nil }
            let root = try readJSON(path, what: "a config", limit: JSONFileLimit.config).root
            guard root.kind == .object else { throw TokenizerError(file: path, "is not a JSON object") }
            return (root, path)
        }
        if let (g, path) = try read("generation_config.json") {
            generationConfig = g
            generationConfigPath = path
        }
        tokenizerConfig = try read("tokenizer_config.json")?.0
        specialTokensMap = try read("special_tokens_map.json")?.0
    }

    init() {}

    /// A special token named in tokenizer_config.json or special_tokens_map.json: a string or `{"content": …}`.
    func tokenString(_ key: String) -> String? {
        for source in [tokenizerConfig, specialTokensMap] {
            guard let v = source?[key] else { continue }
            if let s = v.stringValue { return s }
            if let s = v["content"]?.stringValue { return s }
        }
        return nil
    }

    func endOfSequence(added: AddedVocabulary, model: Vocabulary) throws -> [Int] {
        func id(_ t: String) -> Int? { added.byContent[TokenKey(t)] ?? model.id(of: t) }
        if let v = generationConfig?["eos_token_id"], !v.isNull {
            if let one = v.intValue { return [one] }
            if let list = v.arrayValue {
                let ids = list.compactMap(\.intValue)
                guard ids.count == list.count else { throw TokenizerError(file: generationConfigPath, "'eos_token_id' is not an integer or a list of integers") }
                return ids
            }
            throw TokenizerError(file: generationConfigPath, "'eos_token_id' is not an integer or a list of integers")
        }
        if let t = tokenString("eos_token"), let i = id(t) { return [i] }
        return ["</s>", "<|endoftext|>", "<|im_end|>"].compactMap(id).sorted()
    }
}

/// Runs `body`, turning RecastCore's file errors into `TokenizerError`s with the same file and message.
func converting<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as CheckpointError {
        var message = e.reason
        if let offset = e.offset { message = "(byte \(offset)) " + message }
        throw TokenizerError(file: e.file, message)
    }
}

func readJSON(_ path: String, what: String, limit: Int = JSONFileLimit.tokenizer) throws -> JSONDocument {
    try converting { try JSONFileLimit.read(path, limit: limit, what: what) }
}

/// A text file of at most the tokenizer limit, as UTF-8.
func readText(_ path: String, what: String) throws -> String {
    let limit = JSONFileLimit.tokenizer
    if let size = FileSystem.fileSize(path), size > limit {
        throw TokenizerError(file: path, "is \(ByteSize.format(size)), over the limit of \(ByteSize.format(limit)) for \(what): it is not a real \(what) or it is damaged")
    }
    let bytes = try converting { try FileSystem.readAll(path) }
    guard let text = String(validating: bytes, as: UTF8.self) else { throw TokenizerError(file: path, "is not UTF-8 text") }
    return text
}

/// A component description written in code (for tokenizers built from vocab.txt or vocab.json).
func parseBuiltIn(_ text: String) throws -> JSONView {
    do {
        return try JSONDocument.parse(Array(text.utf8)).root
    } catch {
        throw TokenizerError(file: "(built-in)", "invalid component description: \(error)")
    }
}
