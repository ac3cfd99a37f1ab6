import ArgumentParser
import Checkpoint
import ModelGraph
import RecastCore
import Runtime
import Tokenizer

/// Where a command's token sequences come from. Shared by every command that runs a model (run, verify,
/// and later calibrate). Exactly one source is given.
struct InputOptions: ParsableArguments {
    @Option(help: "Comma-separated token ids, e.g. 1,2,3: one sequence.")
    var tokens: String?

    @Option(help: "Run N synthetic tokens instead (the same formula as tools/reference.py).", transform: parseCount)
    var length: Int?

    @Option(help: "Seed for --length.")
    var seed: UInt64 = 0

    @Option(help: "One sequence of text, tokenized with the model's tokenizer.")
    var text: String?

    @Option(name: .customLong("text-file"), help: "One long document, evaluated in windows of --max-length tokens.")
    var textFile: String?

    @Option(help: "A text file with one sequence per line (blank lines skipped), each truncated to --max-length.")
    var lines: String?

    @Option(name: .customLong("tokens-file"), help: "A JSON array of arrays of token ids, or JSON lines of arrays.")
    var tokensFile: String?

    @Option(name: .customLong("max-length"), help: "Tokens per --text-file window, --lines line or --text, special tokens included: longer lines and --text are truncated, keeping the special tokens (default: the model's positions, at most 1024; --text longer than the positions is refused).", transform: parseCount)
    var maxLength: Int?

    @Option(help: "Tokens between window starts for --text-file (default: the window, so no overlap).", transform: parseCount)
    var stride: Int?

    @Option(help: "A second text for BERT-family pairs (token type ids 1), with --text.")
    var pair: String?

    @Flag(name: .customLong("no-special-tokens"), help: "Do not add the post-processor's special tokens ([CLS], <s>, …).")
    var noSpecialTokens = false

    /// The sources given, by option name.
    var sources: [String] {
        [("--tokens", tokens != nil), ("--length", length != nil), ("--text", text != nil), ("--text-file", textFile != nil),
         ("--lines", lines != nil), ("--tokens-file", tokensFile != nil)].filter(\.1).map(\.0)
    }

    func validate() throws {
        let given = sources
        guard given.count == 1 else {
            throw ValidationError(given.isEmpty ? "give the input: --tokens 1,2,3, --length N, --text STRING, --text-file FILE, --lines FILE or --tokens-file FILE"
                : "give one input, not \(given.joined(separator: " and "))")
        }
        if let length, length <= 0 { throw ValidationError("--length must be positive") }
        if let tokens {
            for part in tokens.split(separator: ",", omittingEmptySubsequences: false) where Int(part.trimmingSpaces()) == nil {
                throw ValidationError("--tokens holds '\(part)', which is not an integer token id")
            }
        }
        if let maxLength {
            guard maxLength > 0 else { throw ValidationError("--max-length must be positive") }
            guard textFile != nil || lines != nil || text != nil else { throw ValidationError("--max-length applies to --text, --text-file and --lines") }
        }
        if let stride {
            guard stride > 0 else { throw ValidationError("--stride must be positive") }
            guard textFile != nil else { throw ValidationError("--stride applies to --text-file") }
            if let maxLength, stride > maxLength {
                throw ValidationError("--stride \(stride) is longer than --max-length \(maxLength): the tokens between windows would never be seen")
            }
        }
        if pair != nil && text == nil { throw ValidationError("--pair goes with --text") }
        if noSpecialTokens && text == nil && textFile == nil && lines == nil {
            throw ValidationError("--no-special-tokens applies to text inputs (--text, --text-file, --lines)")
        }
    }

    /// The number of tokens of an id input (--tokens, --length), known before any is built; nil for
    /// the other inputs.
    var idCount: Int? {
        if let tokens { return tokens.split(separator: ",", omittingEmptySubsequences: false).count }
        return length
    }

    /// The sequences to run on a model: ids as given, or text tokenized with the model's tokenizer.
    /// `model` is the path the user gave (its folder holds the tokenizer), `file` names the model in errors.
    /// `checkIds` sees the number of ids of --tokens or --length once it is known to fit the model's
    /// positions and before the ids are built, so that a command refuses a huge --length with the memory
    /// its run needs (without it, the ids themselves are checked).
    func resolve(model: String, graph: ModelGraph, file: String,
                 checkIds: ((_ count: Int) throws -> Void)? = nil) throws -> InputSequences {
        if let count = idCount {
            try RunLimits.checkLength(count, graph: graph, file: file)
            if let checkIds {
                try checkIds(count)
            } else {
                var need = MemoryNeed()
                need.add("token ids", [count], bytesEach: 8)
                try RunLimits.check(need, for: "\(count) token ids", file: file)
            }
        }
        if let tokens {
            return InputSequences(kind: .ids, sequences: [tokens.split(separator: ",").compactMap { Int($0.trimmingSpaces()) }])
        }
        if let length {
            return InputSequences(kind: .ids, sequences: [syntheticTokens(length: length, seed: seed, vocab: graph.vocabSize)])
        }
        if let tokensFile {
            return InputSequences(kind: .lines, sequences: try TextInput.readTokens(tokensFile, vocab: graph.vocabSize), source: tokensFile)
        }
        let positions = graph.maxPositions.map { $0 - graph.embeddings.positionOffset }
        if let maxLength, let positions, maxLength > positions {
            throw RuntimeError(file: file, "--max-length \(maxLength) is more than the model's \(positions) positions")
        }
        // Lines of an encoder are cut where sentence-transformers cuts them, when the model says so.
        let sentenceLimit = lines != nil && !graph.causal ? try Pooling.sentenceTransformersMaxLength(model: model) : nil
        let window = maxLength ?? min(positions ?? 1024, 1024, sentenceLimit ?? .max)
        if let stride, stride > window {
            throw RuntimeError(file: file, "--stride \(stride) is longer than the window of \(window) tokens: the tokens between windows would never be seen")
        }
        let tokenizer = try Tokenizer.forModel(model)
        let special = !noSpecialTokens
        let typed = graph.embeddings.tokenType != nil
        if let text {
            let encoding = try encodeText(text, tokenizer: tokenizer, positions: positions, file: file)
            return InputSequences(kind: .text, sequences: [encoding.ids], typeIds: typed && pair != nil ? [encoding.typeIds] : nil)
        }
        if let textFile {
            // A document is tokenized once, so only its first window would hold [CLS] and only its last
            // [SEP]: encoders read sentences, not windows of a document.
            guard graph.causal else {
                throw RuntimeError(file: file, "\(graph.modelType) is a bidirectional encoder: --text-file cuts one document into windows for language models, and its windows would lack the special tokens an encoder expects; give --lines FILE, one sentence or passage per line")
            }
            let document = try TextInput.document(try TextInput.readText(textFile), tokenizer: tokenizer, maxLength: window,
                                                  stride: stride ?? window, addSpecialTokens: special)
            guard !document.windows.isEmpty else { throw TokenizerError(file: textFile, "holds no text to tokenize") }
            return InputSequences(kind: .document, sequences: document.windows.map { Array(document.ids[$0.range]) },
                                  scoredFrom: document.windows.map(\.scoredFrom), source: textFile)
        }
        let path = lines ?? ""
        let encodings = try TextInput.lines(try TextInput.readText(path), tokenizer: tokenizer, maxLength: window,
                                            addSpecialTokens: special, file: path)
        guard !encodings.isEmpty else { throw TokenizerError(file: path, "holds no lines of text (blank lines are skipped)") }
        return InputSequences(kind: .lines, sequences: encodings.map(\.ids), source: path)
    }
}

extension InputOptions {
    /// --text (with --pair): truncated to --max-length with the special tokens kept, as --lines are; without
    /// --max-length, a text longer than the model's positions is refused with the way out.
    func encodeText(_ text: String, tokenizer: Tokenizer, positions: Int?, file: String) throws -> Encoding {
        let special = !noSpecialTokens
        if let pair {
            let encoding = try tokenizer.encode(text, pair: pair, addSpecialTokens: special)
            if let maxLength, encoding.count > maxLength {
                throw RuntimeError(file: file, "--text and --pair make \(encoding.count) tokens, more than --max-length \(maxLength): pairs are not truncated, shorten the texts")
            }
            try checkPositions(encoding.count, positions: positions, file: file)
            return encoding
        }
        if let maxLength {
            return try TextInput.encode(text, tokenizer: tokenizer, maxLength: maxLength, addSpecialTokens: special, file: "--text")
        }
        let encoding = try tokenizer.encode(text, addSpecialTokens: special)
        try checkPositions(encoding.count, positions: positions, file: file)
        return encoding
    }

    /// Refuses a --text longer than the model's positions, naming --max-length.
    private func checkPositions(_ count: Int, positions: Int?, file: String) throws {
        if let positions, count > positions {
            throw RuntimeError(file: file, "--text\(pair == nil ? "" : " and --pair") make\(pair == nil ? "s" : "") \(count) tokens, more than the model's \(positions) positions: \(pair == nil ? "give --max-length \(positions) to truncate it" : "shorten the texts")")
        }
    }
}

/// The sequences a command runs, resolved from `InputOptions`.
struct InputSequences {
    enum Kind: String {
        /// --tokens or --length: one sequence of ids.
        case ids
        /// --text: one sequence of text.
        case text
        /// --text-file: windows of one document.
        case document
        /// --lines or --tokens-file: independent sequences.
        case lines
    }

    var kind: Kind
    var sequences: [[Int]]
    /// Per sequence, BERT-family token type ids (nil: all zero).
    var typeIds: [[Int]]?
    /// Per sequence, the first position whose next-token prediction is scored (perplexity): 0 except for
    /// --text-file windows that overlap the previous one (--stride < --max-length), which score only the
    /// positions not scored before, as Hugging Face's strided perplexity does. nil: all 0.
    var scoredFrom: [Int]?
    /// The file the text came from, for reports.
    var source: String?

    init(kind: Kind, sequences: [[Int]], typeIds: [[Int]]? = nil, scoredFrom: [Int]? = nil, source: String? = nil) {
        self.kind = kind
        self.sequences = sequences
        self.typeIds = typeIds
        self.scoredFrom = scoredFrom
        self.source = source
    }

    /// Tokens over all sequences.
    var tokenCount: Int { sequences.reduce(0) { $0 + $1.count } }
    /// The longest sequence's length.
    var longest: Int { sequences.map(\.count).max() ?? 0 }
}

extension Tokenizer {
    /// The tokenizer of the model at `path`: the one built from a GGUF file's metadata (`model`, when the
    /// caller has it open already, saves reading the file again), else the folder's tokenizer files.
    static func forModel(_ path: String, opened model: Model? = nil) throws -> Tokenizer {
        let files: [(name: String, json: JSON)]
        if let embedded = model?.embedded {
            files = try embedded.companions()
        } else if model == nil, let gguf = try Checkpoint.ggufFile(at: path) {
            files = try Checkpoint.embeddedCompanions(of: gguf)
        } else {
            return try Tokenizer.load(model: path)
        }
        guard let json = files.first(where: { $0.name == "tokenizer.json" })?.json else {
            throw TokenizerError(file: path, "holds no tokenizer (no tokenizer.ggml.* metadata)")
        }
        return try Tokenizer(tokenizerJSON: json, tokenizerConfig: files.first { $0.name == "tokenizer_config.json" }?.json, file: path)
    }
}
