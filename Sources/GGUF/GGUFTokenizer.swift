import RecastCore

/// The tokenizer of a GGUF file, as Hugging Face's `tokenizer.json`, and back.
///
/// llama.cpp's converter (`convert_hf_to_gguf.py`) stores a tokenizer as `tokenizer.ggml.*` metadata:
/// the token strings, one type per token, SentencePiece scores or BPE merges, the special token ids, and
/// the name of the pre-tokenizer (`tokenizer.ggml.pre`). Three models are read and written:
/// - `gpt2`: byte-level BPE with merges, split first by the pre-tokenizer `tokenizer.ggml.pre` names
///   (`gpt-2`, `smollm`, `llama-bpe` and its aliases for Llama 3, `qwen2`; see `GGUFPreTokenizer`);
/// - `llama`: SentencePiece BPE with byte fallback (`<0x0A>`) and the `▁` metaspace; the merges are
///   `tokenizer.ggml.merges` when present, else derived from the scores as `transformers` derives them
///   from a SentencePiece model;
/// - `bert`: WordPiece, whose tokens the converter respells (`##x` → `x`, other `x` → `▁x`, control
///   tokens kept), undone here.
///
/// Token types decide the added tokens: control and unknown tokens become special added tokens,
/// user-defined ones plain added tokens.
public enum GGUFTokenizer {
    /// tokenizer.json (as RecastCore's `JSON`) equivalent to the tokenizer the model was converted from.
    /// Throws CheckpointError naming `file` and the key for missing/inconsistent/unsupported metadata.
    public static func tokenizerJSON(from header: GGUFHeader, file: String) throws -> JSON {
        try GGUFVocabulary(header, file: file).tokenizerJSON()
    }

    /// tokenizer_config.json essentials (bos/eos/unk/pad tokens as strings, chat_template when present,
    /// add_bos/add_eos), or nil if nothing to say.
    public static func tokenizerConfig(from header: GGUFHeader, file: String) throws -> JSON? {
        try GGUFVocabulary(header, file: file).tokenizerConfig()
    }

    /// The `tokenizer.ggml.*` entries (model, pre, tokens, token_type, scores, merges, bos/eos/unk/pad/sep
    /// ids, add_bos_token/add_eos_token, chat_template when given) that llama.cpp's converter writes for
    /// this tokenizer.json (+ optional tokenizer_config.json), in the order it writes them.
    ///
    /// Two departures from the converter, both so that `tokenizerJSON` gives the same tokenizer back:
    /// for a `llama` tokenizer the scores rank each token by the first merge that makes it (the converter
    /// writes -1000 for every token when it has only tokenizer.json), and its merges are written too.
    public static func metadata(tokenizerJSON: JSON, tokenizerConfig: JSON?, file: String) throws -> [(key: String, value: GGUFValue)] {
        try GGUFTokenizerWriter(tokenizerJSON: tokenizerJSON, config: tokenizerConfig, file: file).metadata()
    }
}

/// llama.cpp's token types (`llama_token_type`, gguf-py's `TokenType`).
enum GGUFTokenType: Int {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// The `tokenizer.ggml.*` keys.
enum GGUFTokenizerKey {
    static let model = "tokenizer.ggml.model"
    static let pre = "tokenizer.ggml.pre"
    static let tokens = "tokenizer.ggml.tokens"
    static let tokenType = "tokenizer.ggml.token_type"
    static let scores = "tokenizer.ggml.scores"
    static let merges = "tokenizer.ggml.merges"
    static let bos = "tokenizer.ggml.bos_token_id"
    static let eos = "tokenizer.ggml.eos_token_id"
    static let unk = "tokenizer.ggml.unknown_token_id"
    /// Spelled as llama.cpp spells it.
    static let sep = "tokenizer.ggml.seperator_token_id"
    static let pad = "tokenizer.ggml.padding_token_id"
    static let mask = "tokenizer.ggml.mask_token_id"
    static let addBOS = "tokenizer.ggml.add_bos_token"
    static let addEOS = "tokenizer.ggml.add_eos_token"
    static let addSEP = "tokenizer.ggml.add_sep_token"
    static let addSpacePrefix = "tokenizer.ggml.add_space_prefix"
    static let chatTemplate = "tokenizer.chat_template"

    /// The special-token kinds in the order gguf-py's `SpecialVocab` writes their ids, with their keys
    /// and tokenizer_config.json names.
    static let specials: [(kind: String, key: String)] = [
        ("bos", bos), ("eos", eos), ("unk", unk), ("sep", sep), ("pad", pad), ("mask", mask),
    ]
}

/// The pre-tokenizers `tokenizer.ggml.pre` names that Recast reads and writes, with the tokenizer.json
/// components of the Hugging Face tokenizer each comes from. The regexes are those of the original
/// tokenizer.json files; llama.cpp's src/llama-vocab.cpp rewrites them (case-insensitive groups spelled
/// out) to the same effect.
enum GGUFPreTokenizer: String, CaseIterable {
    /// GPT-2: the byte-level regex.
    case gpt2 = "gpt-2"
    /// SmolLM (and StarCoder): each digit alone, then the GPT-2 byte-level regex.
    case smollm
    /// Llama 3: digits in runs of up to three, case-insensitive contractions; merges ignored for whole words.
    case llama3 = "llama-bpe"
    /// Qwen2: digits alone, NFC normalisation.
    case qwen2
    /// llama.cpp's own split when the file names none or `default` (src/llama-vocab.cpp): runs of
    /// punctuation, then GPT-2's regex, then runs of digits, then three ASCII digits, each isolating its
    /// matches in the pieces of the one before. No Hugging Face tokenizer has it; it is what llama.cpp runs.
    case llamaCppDefault = "default"

    /// Other names llama.cpp gives the same pre-tokenizer.
    static let aliases: [String: GGUFPreTokenizer] = ["llama3": .llama3, "llama-v3": .llama3]

    static let llama3Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The regexes of `llamaCppDefault`, in the order llama.cpp applies them.
    static let llamaCppDefaultRegexes = [#"[\p{P}\$\+<=>\^~\|]+"#, #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#,
                                         #"\p{N}+"#, #"[0-9][0-9][0-9]"#]

    init?(name: String) {
        if let known = GGUFPreTokenizer(rawValue: name) { self = known } else if let alias = Self.aliases[name] { self = alias } else { return nil }
    }

    static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    static func byteLevel(trimOffsets: Bool = true, useRegex: Bool) -> JSON {
        .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(trimOffsets)), ("use_regex", .bool(useRegex))])
    }

    static func split(_ regex: String) -> JSON {
        .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(regex))])), ("behavior", .string("Isolated")), ("invert", .bool(false))])
    }

    var normalizer: JSON {
        self == .qwen2 ? .object([("type", .string("NFC"))]) : .null
    }

    var preTokenizer: JSON {
        switch self {
        case .gpt2: Self.byteLevel(useRegex: true)
        case .smollm:
            .object([("type", .string("Sequence")), ("pretokenizers", .array([
                .object([("type", .string("Digits")), ("individual_digits", .bool(true))]), Self.byteLevel(useRegex: true)]))])
        case .llama3:
            .object([("type", .string("Sequence")), ("pretokenizers", .array([Self.split(Self.llama3Regex), Self.byteLevel(useRegex: false)]))])
        case .qwen2:
            .object([("type", .string("Sequence")), ("pretokenizers", .array([Self.split(Self.qwen2Regex), Self.byteLevel(trimOffsets: false, useRegex: false)]))])
        case .llamaCppDefault:
            .object([("type", .string("Sequence")), ("pretokenizers", .array(Self.llamaCppDefaultRegexes.map(Self.split) + [Self.byteLevel(useRegex: false)]))])
        }
    }

    /// llama.cpp matches a whole pre-tokenized word against the vocabulary before merging (`ignore_merges`).
    var ignoresMerges: Bool { self == .llama3 }

    /// The pre-tokenizer a tokenizer.json's `normalizer` and `pre_tokenizer` describe, compared by
    /// structure (keys that only change offsets, such as `trim_offsets`, are not compared).
    static func recognise(normalizer: JSON?, preTokenizer: JSON?) -> GGUFPreTokenizer? {
        allCases.first { candidate in
            sameShape(normalizer ?? .null, candidate.normalizer) && sameShape(preTokenizer ?? .null, candidate.preTokenizer)
        }
    }

    /// Equal, ignoring `trim_offsets` and treating absent booleans as their `tokenizers` defaults.
    static func sameShape(_ a: JSON, _ b: JSON) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)):
            let defaults: [String: JSON] = ["add_prefix_space": .bool(true), "use_regex": .bool(true), "invert": .bool(false),
                                            "individual_digits": .bool(false)]
            let keys = Set(x.map(\.0)).union(y.map(\.0)).subtracting(["trim_offsets"])
            return keys.allSatisfy { k in
                let u = a[k] ?? defaults[k] ?? .null, v = b[k] ?? defaults[k] ?? .null
                return sameShape(u, v)
            }
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { sameShape($0, $1) }
        default: return a == b
        }
    }
}

extension CheckpointError {
    /// An error about one `tokenizer.*` metadata key of a GGUF file.
    static func tokenizerKey(_ key: String, in file: String, _ reason: String) -> CheckpointError {
        CheckpointError(file: file, object: "key '\(key)'", reason)
    }
}
