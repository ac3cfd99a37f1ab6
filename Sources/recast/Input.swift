import ArgumentParser
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

    @Option(name: .customLong("max-length"), help: "Tokens per window or line (default: the model's positions, at most 1024).", transform: parseCount)
    var maxLength: Int?

    @Option(help: "Tokens between window starts for --text-file (default: the window, so no overlap).", transform: parseCount)
    var stride: Int?

    @Option(help: "A second text for BERT-family pairs (token type ids 1), with --text.")
    var pair: String?

    @Flag(name: .customLong("no-special-tokens"), help: "Do not add the post-processor's special tokens ([CLS], <s>, …).")
    var noSpecialTokens = false
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
}
