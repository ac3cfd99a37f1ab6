import RecastCore

/// One encoded sequence, as Hugging Face `tokenizers` returns it.
public struct Encoding: Sendable, Equatable {
    /// Token ids.
    public var ids: [Int]
    /// Token strings, as the vocabulary spells them (`Ġthe`, `##ing`, `<s>`); an added token's is the text it
    /// matched, with the spaces its `lstrip`/`rstrip` took (` <mask>`), as in `tokenizers`.
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

    let normalizer: (any Normalizer)?
    let preTokenizer: (any PreTokenizer)?
    let model: any TokenModel
    let added: AddedVocabulary
    let postProcessor: (any PostProcessor)?
    let decoder: (any Decoder)?
    let settings: StoredSettings
    private let endOfSequenceIDs: [Int]

    /// What tokenizer.json says beyond the pipeline: padding and truncation (never applied here).
    struct StoredSettings: Sendable {
        var padding: (strategy: String, length: Int?)?
        var padID: Int?
        var truncation: Int?
    }

    init(file: String, normalizer: (any Normalizer)?, preTokenizer: (any PreTokenizer)?, model: any TokenModel,
         addedTokens: [AddedToken], postProcessor: (any PostProcessor)?, decoder: (any Decoder)?,
         settings: StoredSettings = StoredSettings(), configFiles: ConfigFiles) throws {
        self.file = file
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.added = try AddedVocabulary(addedTokens, model: model.vocabulary, normalizer: normalizer, file: file)
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.settings = settings
        endOfSequenceIDs = try configFiles.endOfSequence(added: added, model: model.vocabulary)
    }

    /// Encodes one text (and optionally a pair): added tokens, normalizer, pre-tokenizer, model, and, when
    /// `addSpecialTokens`, the post-processor.
    public func encode(_ text: String, pair: String? = nil, addSpecialTokens: Bool = true) throws -> Encoding {
        var encodings = [try encodeSequence(text, typeID: 0)]
        if let pair { encodings.append(try encodeSequence(pair, typeID: 1)) }
        postProcessor?.process(&encodings, texts: pair.map { [text, $0] } ?? [text], addSpecialTokens: addSpecialTokens)
        guard encodings.count > 1 else { return encodings[0] }
        var out = Encoding()
        for e in encodings { out.append(e) }
        return out
    }

    private func encodeSequence(_ text: String, typeID: Int) throws -> Encoding {
        var e = Encoding()
        e.ids.reserveCapacity(text.utf8.count / 3)
        func add(_ id: Int, _ token: String, _ range: Range<Int>) {
            e.ids.append(id)
            e.tokens.append(token)
            e.offsets.append(range)
        }
        for piece in try added.extract(text, normalizer: normalizer) {
            if let id = piece.token {
                // As in `tokenizers`, the token is the matched text, with the spaces `lstrip`/`rstrip` took.
                add(id, piece.text.string, piece.text.originalRange(0..<piece.text.scalars.count))
                continue
            }
            for word in try preTokenizer?.split(piece.text) ?? [piece.text] {
                let tokens = try model.tokenize(word.scalars)
                if tokens.isEmpty { continue }
                // Byte offsets in the word → the scalars that hold those bytes → the original text.
                var scalarOfByte: [Int32] = []
                scalarOfByte.reserveCapacity(word.scalars.count * 2)
                for (i, c) in word.scalars.enumerated() {
                    for _ in 0..<UTF8.width(c) { scalarOfByte.append(Int32(i)) }
                }
                for t in tokens {
                    let lo = min(t.range.lowerBound, scalarOfByte.count), hi = min(t.range.upperBound, scalarOfByte.count)
                    let scalars = lo < hi ? Int(scalarOfByte[lo])..<(Int(scalarOfByte[hi - 1]) + 1)
                                          : (lo < scalarOfByte.count ? Int(scalarOfByte[lo]) : word.scalars.count)..<(lo < scalarOfByte.count ? Int(scalarOfByte[lo]) : word.scalars.count)
                    add(t.id, model.vocabulary.token(of: t.id) ?? "", word.originalRange(scalars))
                }
            }
        }
        e.typeIds = [Int](repeating: typeID, count: e.ids.count)
        e.specialTokensMask = [Bool](repeating: false, count: e.ids.count)
        return e
    }

    /// Decodes ids to text through the decoder; special tokens are dropped when `skipSpecialTokens`.
    /// Without a decoder the tokens are joined with spaces, as `tokenizers` does.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) throws -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if let a = added.byID[id] {
                if skipSpecialTokens && a.special { continue }
                tokens.append(a.content)
            } else if let t = model.vocabulary.token(of: id) {
                tokens.append(t)
            } else {
                throw TokenizerError(file: file, "cannot decode id \(id): no token has it (the vocabulary has \(vocabSize) ids)")
            }
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens)
    }

    /// The vocabulary size, added tokens included (the largest id + 1).
    public var vocabSize: Int { max(model.vocabulary.size, (added.byID.keys.max() ?? -1) + 1) }

    /// The id of a token string (vocabulary or added token).
    public func id(of token: String) -> Int? { added.byContent[TokenKey(token)] ?? model.vocabulary.id(of: token) }

    /// The token string of an id.
    public func token(of id: Int) -> String? { added.byID[id]?.content ?? model.vocabulary.token(of: id) }

    /// The added tokens (`added_tokens`), in file order.
    public var addedTokens: [AddedToken] { added.tokens }

    /// The end-of-sequence token id(s) generation stops at: `generation_config.json`'s `eos_token_id`, else
    /// `tokenizer_config.json`'s `eos_token`, else those of `</s>`, `<|endoftext|>`, `<|im_end|>` that exist, in id order.
    public var endOfSequence: [Int] { endOfSequenceIDs }

    /// The padding id to use when batching: `tokenizer.json`'s padding `pad_id`, else the `[PAD]`/`<pad>` token, else 0.
    public var paddingID: Int { settings.padID ?? id(of: "[PAD]") ?? id(of: "<pad>") ?? 0 }

    /// The padding and truncation settings stored in tokenizer.json (`nil` when absent). Never applied implicitly.
    /// The strategy is `BatchLongest` or `Fixed` (with its length).
    public var storedPadding: (strategy: String, length: Int?)? { settings.padding }
    /// The truncation's `max_length`.
    public var storedTruncation: Int? { settings.truncation }
}
