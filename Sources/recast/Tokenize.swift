#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecastCore
import Tokenizer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode text to token ids, or decode ids to text, with a model's tokenizer.",
        discussion: """
            Reads the model's tokenizer.json (else vocab.txt, or vocab.json and merges.txt) and encodes as \
            Hugging Face `tokenizers` does, adding the post-processor's special tokens unless \
            --no-special-tokens. Padding and truncation stored in tokenizer.json are not applied.

            Prints one line of comma-separated ids per sequence: --text and --text-file are one sequence each, \
            --lines one per non-blank line. --decode prints the text of the ids, special tokens left out.

            --json prints one object instead: {"tokenizer": FILE, "sequences": [{"ids": [int], "tokens": \
            [string], "offsets": [[start, end]], "type_ids": [int]}]}, where offsets are UTF-8 byte ranges of \
            the sequence's own text (special tokens the post-processor adds have [0, 0]) and type_ids appear \
            with --pair; with --decode: {"tokenizer": FILE, "text": string}.
            """
    )

    @Argument(help: "A model folder, or a file in one (tokenizer.json, config.json, weights).")
    var model: String

    @Option(help: "One sequence of text.")
    var text: String?

    @Option(name: .customLong("text-file"), help: "A UTF-8 text file encoded whole, as one sequence.")
    var textFile: String?

    @Option(help: "A UTF-8 text file with one sequence per line (\\n or \\r\\n; blank lines skipped).")
    var lines: String?

    @Option(help: "A second text, encoded as the pair of --text (BERT-family token type ids 1).")
    var pair: String?

    @Option(help: "Comma-separated token ids to decode to text, e.g. 101,7592,102.")
    var decode: String?

    @Flag(help: "Print one JSON object: ids, token strings and byte offsets per sequence (see above).")
    var json = false

    @Flag(name: .customLong("no-special-tokens"), help: "Do not add the post-processor's special tokens ([CLS], <s>, …).")
    var noSpecialTokens = false

    func validate() throws {
        let sources = [text, textFile, lines, decode].compactMap { $0 }.count
        if sources != 1 { throw ValidationError("give exactly one of --text, --text-file, --lines or --decode") }
        if pair != nil && text == nil { throw ValidationError("--pair goes with --text") }
        if decode != nil && noSpecialTokens { throw ValidationError("--no-special-tokens is for encoding; --decode always leaves special tokens out") }
        if let decode { _ = try Tokenize.ids(decode) }
    }

    /// The ids of `--decode`: integers separated by commas (spaces around them allowed).
    static func ids(_ list: String) throws -> [Int] {
        try list.split(separator: ",", omittingEmptySubsequences: false).map { part in
            guard let id = Int(part.trimmingSpaces()) else {
                throw ValidationError("--decode holds '\(part)', which is not an integer token id")
            }
            return id
        }
    }

    func run() throws {
        try reportingErrors {
            let tokenizer = try Tokenizer.forModel(model)
            if let decode {
                try printDecoded(try Tokenize.ids(decode), tokenizer)
                return
            }
            let texts: [String]
            if let text {
                texts = [text]
            } else if let textFile {
                texts = [try TextInput.readText(textFile)]
            } else if let lines {
                texts = TextInput.lineTexts(try TextInput.readText(lines))
            } else {
                texts = []
            }
            let encodings = try texts.map { try tokenizer.encode($0, pair: pair, addSpecialTokens: !noSpecialTokens) }
            if json {
                let sequences = encodings.map { e in
                    var object = JSON.object([
                        ("ids", .array(e.ids.map(JSON.int))),
                        ("tokens", .array(e.tokens.map(JSON.string))),
                        ("offsets", .array(e.offsets.map { .array([.int($0.lowerBound), .int($0.upperBound)]) })),
                    ])
                    if pair != nil { object.set("type_ids", .array(e.typeIds.map(JSON.int))) }
                    return object
                }
                print(JSON.object([("tokenizer", .string(tokenizer.file)), ("sequences", .array(sequences))]).serialized(pretty: true))
            } else {
                for e in encodings { print(e.ids.map(String.init).joined(separator: ",")) }
            }
        }
    }

    /// The text of ids, after checking each against the vocabulary (`tokenizers` would skip unknown ids
    /// silently). Raw on a pipe; on a terminal each line is escaped (`Terminal.output`).
    func printDecoded(_ ids: [Int], _ tokenizer: Tokenizer) throws {
        if let bad = ids.first(where: { $0 < 0 || $0 >= tokenizer.vocabSize || tokenizer.token(of: $0) == nil }) {
            throw TokenizerError(file: tokenizer.file, "token id \(bad) is not in the vocabulary (ids 0..<\(tokenizer.vocabSize))")
        }
        let text = try tokenizer.decode(ids, skipSpecialTokens: true)
        if json {
            print(JSON.object([("tokenizer", .string(tokenizer.file)), ("text", .string(text))]).serialized(pretty: true))
        } else if Terminal.stdoutIsTerminal {
            Terminal.output(text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(Substring($0)) })
        } else {
            print(text)
        }
    }
}
