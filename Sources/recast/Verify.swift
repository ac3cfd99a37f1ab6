import ArgumentParser
import Checkpoint
import RecastCore
import Verify

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Compare a converted (linear-attention) model with its original before finetuning it.",
        discussion: """
            Reports, per layer, the relative error of the linear attention output against the original softmax \
            attention fed the same input (averaged over the sequences); end to end, the relative error of the \
            hidden states and, for language models, top-1 next-token agreement and the mean KL divergence; the \
            largest difference between parallel and recurrent modes (first sequence); and the inference state \
            per sequence against the original KV cache.

            On text (--text, --text-file, --lines) or --tokens-file, language models also get each model's \
            perplexity and next-token accuracy on the text, and encoders the cosine between the two models' \
            sentence embeddings (mean and minimum) and how often each sentence's nearest neighbour is the same. \
            Text is tokenized with the original model's tokenizer.
            """
    )

    @Argument(help: "The original model (folder, or weights with config.json beside them).")
    var original: String

    @Argument(help: "The converted model written by `recast swap`.")
    var converted: String

    @OptionGroup var input: InputOptions

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    @Option(help: "Also draw the per-layer errors and state memory against sequence length as an SVG file.")
    var plot: String?

    @Flag(help: "Replace the --plot file if it exists.")
    var force = false

    func validate() throws {
        if let plot, !plot.lowercased().hasSuffix(".svg") { throw ValidationError("--plot must name an .svg file") }
    }

    func run() throws {
        try reportingErrors {
            // The plot is claimed before the (slow) comparison: it follows the rule of every output.
            let output = try plot.map {
                try AtomicOutput(destination: $0, directory: false, force: force,
                                 reads: try Checkpoint.inputs(of: original) + Checkpoint.inputs(of: converted))
            }
            let report = try Verifier.verify(original: original, converted: converted) { graph, file in
                // The converted model shares the original's vocabulary (checked): its tokenizer is the original's.
                let resolved = try input.resolve(model: original, graph: graph, file: file)
                return VerifyInput(kind: resolved.kind.verifyKind, sequences: resolved.sequences, scoredFrom: resolved.scoredFrom,
                                   typeIds: resolved.typeIds, source: resolved.source)
            }
            if let output {
                try output.write { try FileSystem.writeAll(output.temporaryPath, Array(ReportPlot.svg(report).utf8)) }
            }
            if json {
                print(report.json.serialized(pretty: true))
            } else {
                Terminal.output(report.lines)
            }
        }
    }
}

extension InputSequences.Kind {
    var verifyKind: VerifyInputKind {
        switch self {
        case .ids: .ids
        case .text: .text
        case .document: .document
        case .lines: .lines
        }
    }
}
