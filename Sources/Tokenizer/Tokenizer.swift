import RecastCore

/// One encoded sequence, as Hugging Face `tokenizers` returns it.
public struct Encoding: Sendable, Equatable {
    /// Token ids.
    public var ids: [Int]
    /// Token strings, as the vocabulary spells them (`Ġthe`, `##ing`, `<s>`).
    public var tokens: [String]
    /// Per token, the UTF-8 byte range of the original text it came from. Tokens the post-processor adds
    /// (`[CLS]`, `<s>`) have the empty range 0..<0, as in `tokenizers`.
    public var offsets: [Range<Int>]
    /// Per token: 0 for the first sequence, 1 for the pair's second (as the post-processor assigns them).
    public var typeIds: [Int]
    /// Per token: true where the post-processor added a special token.
    public var specialTokensMask: [Bool]

    public init(ids: [Int] = [], tokens: [String] = [], offsets: [Range<Int>] = [], typeIds: [Int] = [], specialTokensMask: [Bool] = []) {
        self.ids = ids
        self.tokens = tokens
        self.offsets = offsets
        self.typeIds = typeIds
        self.specialTokensMask = specialTokensMask
    }

    public var count: Int { ids.count }
}

/// Why a tokenizer cannot be built or used. Names the file and the component.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String
    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
}

/// A tokenizer read from a Hugging Face `tokenizer.json` (or, failing that, from `vocab.txt`, or from
/// `vocab.json` + `merges.txt`), that encodes and decodes exactly as the `tokenizers` library does.
///
/// The padding and truncation settings stored in `tokenizer.json` are read and reported, but never applied
/// by `encode`: callers ask for them explicitly.
public final class Tokenizer: @unchecked Sendable {
    /// The file the tokenizer was read from.
    public let file: String

    /// Reads the tokenizer of a model: PATH is a model folder, or a file inside one (weights, config.json).
    /// Looks for `tokenizer.json`, then `vocab.txt` (WordPiece), then `vocab.json` + `merges.txt` (byte-level BPE).
    public static func load(model path: String) throws -> Tokenizer {
        throw TokenizerError(file: path, "no tokenizer: not implemented yet")
    }

    /// Reads one `tokenizer.json`.
    public init(file: String) throws {
        self.file = file
        throw TokenizerError(file: file, "not implemented yet")
    }

    /// Encodes one text (and optionally a pair): added tokens, normalizer, pre-tokenizer, model, and, when
    /// `addSpecialTokens`, the post-processor.
    public func encode(_ text: String, pair: String? = nil, addSpecialTokens: Bool = true) throws -> Encoding {
        throw TokenizerError(file: file, "not implemented yet")
    }

    /// Decodes ids to text through the decoder; special tokens are dropped when `skipSpecialTokens`.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) throws -> String {
        throw TokenizerError(file: file, "not implemented yet")
    }

    /// The vocabulary size, added tokens included (the largest id + 1).
    public var vocabSize: Int { 0 }

    /// The id of a token string (vocabulary or added token).
    public func id(of token: String) -> Int? { nil }

    /// The token string of an id.
    public func token(of id: Int) -> String? { nil }

    /// The end-of-sequence token id(s) generation stops at: `generation_config.json`'s `eos_token_id`, else
    /// `tokenizer_config.json`'s `eos_token`, else `</s>`, `<|endoftext|>`, `<|im_end|>` when present.
    public var endOfSequence: [Int] { [] }

    /// The padding id to use when batching: `tokenizer.json`'s padding `pad_id`, else the `[PAD]`/`<pad>` token, else 0.
    public var paddingID: Int { 0 }

    /// The padding and truncation settings stored in tokenizer.json (`nil` when absent). Never applied implicitly.
    public var storedPadding: (strategy: String, length: Int?)? { nil }
    public var storedTruncation: Int? { nil }
}
