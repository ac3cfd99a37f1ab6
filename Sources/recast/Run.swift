import ArgumentParser
import Checkpoint
import ModelGraph
import RecastCore
import Runtime
import SafeTensors

/// How the tokens of a run are given: a list, or a length and seed for a reproducible sequence.
struct TokenOptions: ParsableArguments {
    @Option(help: "Comma-separated token ids, e.g. 1,2,3.")
    var tokens: String?

    @Option(help: "Run N synthetic tokens instead (the same formula as tools/reference.py).", transform: parseCount)
    var length: Int?

    @Option(help: "Seed for --length.")
    var seed: UInt64 = 0

    func validate() throws {
        if tokens != nil && length != nil { throw ValidationError("give either --tokens or --length, not both") }
        if tokens == nil && length == nil { throw ValidationError("give --tokens 1,2,3 or --length N") }
        if let length, length <= 0 { throw ValidationError("--length must be positive") }
        if let tokens {
            for part in tokens.split(separator: ",", omittingEmptySubsequences: false) where Int(part.trimmingSpaces()) == nil {
                throw ValidationError("--tokens holds '\(part)', which is not an integer token id")
            }
        }
    }

    /// How many tokens were asked for, known before any is built.
    var count: Int {
        if let tokens { return tokens.split(separator: ",", omittingEmptySubsequences: false).count }
        return length ?? 0
    }

    func resolve(vocab: Int) -> [Int] {
        if let tokens { return tokens.split(separator: ",").compactMap { Int($0.trimmingSpaces()) } }
        return syntheticTokens(length: length ?? 0, seed: seed, vocab: vocab)
    }
}

/// A count from the command line: digits, or an exact power-of-ten form such as `1e9`, so that a large
/// value reaches the checks that explain it (positions, memory) instead of a parse error.
func parseCount(_ text: String) throws -> Int {
    if let n = Int(text) { return n }
    let parts = text.lowercased().split(separator: "e", omittingEmptySubsequences: false)
    if parts.count == 2, let mantissa = Int(parts[0]), let exponent = Int(parts[1]), exponent >= 0 {
        var n = mantissa
        for _ in 0..<min(exponent, 40) {
            let (m, o) = n.multipliedReportingOverflow(by: 10)
            if o { throw ValidationError("'\(text)' is larger than \(Int.max)") }
            n = m
        }
        return n
    }
    throw ValidationError("'\(text)' is not a whole number")
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a CPU forward pass in f32 and write hidden states and logits.",
        discussion: """
            Writes `hidden_states` [T, hidden_size] (the last layer's output, after the final norm where the \
            family has one) and, for language models, `logits` [T, vocab_size], both F32, into OUT. \
            --mode recurrent feeds one token at a time (a KV cache for softmax layers, a constant-size state \
            for linear-attention layers).
            """
    )

    @Argument(help: "A model folder (config.json and weights) or a weights file with config.json beside it.")
    var model: String

    @OptionGroup var input: TokenOptions

    @Option(help: "Where to write the outputs (.safetensors).")
    var out: String

    @Option(help: "parallel (whole sequence at once) or recurrent (one token at a time).")
    var mode: String = "parallel"

    @Flag(help: "Replace OUT if it exists.")
    var force = false

    func validate() throws {
        guard ForwardMode(rawValue: mode) != nil else { throw ValidationError("--mode must be parallel or recurrent (got '\(mode)')") }
        guard out.hasSuffix(".safetensors") else { throw ValidationError("--out must name a .safetensors file") }
    }

    func run() throws {
        try reportingErrors {
            let loaded = try Model(path: model)
            let graph = try loaded.graph()
            try RunLimits.checkLength(input.count, graph: graph, file: loaded.configPath ?? model)
            try RunLimits.checkRun(tokens: input.count, models: [(graph, loaded.store)], modes: [ForwardMode(rawValue: mode) ?? .parallel],
                                   file: loaded.store.files.first ?? model)
            let tokens = input.resolve(vocab: graph.vocabSize)
            let output = try AtomicOutput(destination: out, directory: false, force: force,
                                          reads: Checkpoint.inputs(of: model, store: loaded.store))
            let transformer = try Transformer(graph: graph, store: loaded.store)
            let result = try transformer.run(tokens: tokens, mode: ForwardMode(rawValue: mode) ?? .parallel)
            var tensors = [OutputTensor.values("hidden_states", result.hiddenStates.data, shape: [tokens.count, graph.hiddenSize])]
            if let logits = result.logits {
                tensors.append(.values("logits", logits.data, shape: [tokens.count, graph.vocabSize]))
            }
            let meta: Metadata = [("model", model), ("mode", mode), ("tokens", tokens.map(String.init).joined(separator: ","))]
            try output.write { try SafeTensorsWriter.write(tensors, metadata: meta, to: output.temporaryPath) }
            Terminal.output("wrote \(out): hidden_states [\(tokens.count), \(graph.hiddenSize)]" + (result.logits == nil ? "" : ", logits [\(tokens.count), \(graph.vocabSize)]") + " (\(mode))")
        }
    }
}
