import ArgumentParser
import Checkpoint
import ModelGraph
import RecastCore
import Runtime
import Tokenizer

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a prompt, token by token, and stream it to stdout.",
        discussion: """
            Tokenizes the prompt with the model's tokenizer, feeds it through the recurrent path (a KV cache \
            for softmax layers, the constant (S, z) state for linear-attention layers) and samples one token \
            at a time: greedy at temperature 0 (the default), else temperature, then top-k, then top-p, as \
            transformers applies them, drawn from Recast's own seeded generator (the same --seed gives the \
            same text). Stops at the tokenizer's end-of-sequence token, a --stop string (printed up to it), \
            --max-tokens, or the model's positions. At the end, stderr shows the prompt and generation speed \
            and the state memory: a KV cache that grows with every token, or a linear state that stays flat.
            """
    )

    @Argument(help: "A model folder with config.json, weights and tokenizer files.")
    var model: String

    @Option(help: "The text to continue.")
    var prompt: String

    @Option(name: .customLong("max-tokens"), help: "Generate at most N tokens.", transform: parseCount)
    var maxTokens: Int = 64

    @Option(help: "0 (greedy: the most likely token) or positive (sampling; 1 is the model's own distribution).")
    var temperature: Double = 0

    @Option(name: .customLong("top-k"), help: "Sample among the K most likely tokens only.", transform: parseCount)
    var topK: Int?

    @Option(name: .customLong("top-p"), help: "Sample among the most likely tokens that together reach probability P.")
    var topP: Double?

    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 0

    @Option(name: .customLong("stop"), help: "Stop when this text is produced (it is not printed). Repeatable.")
    var stop: [String] = []

    @Flag(name: .customLong("no-special-tokens"), help: "Do not add the post-processor's special tokens (<s>, …) to the prompt.")
    var noSpecialTokens = false

    var sampling: SamplingOptions {
        SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed)
    }

    func validate() throws {
        if let problem = sampling.problem { throw ValidationError(problem) }
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must not be negative (got \(maxTokens))") }
        if stop.contains("") { throw ValidationError("--stop needs a non-empty string (an empty one would stop before the first token)") }
    }

    func run() throws {
        try reportingErrors {
            if temperature == 0, topK != nil || topP != nil {
                Terminal.warning("--top-k and --top-p apply when sampling (--temperature above 0); at temperature 0 the most likely token is taken")
            }
            let loaded = try Model(path: model)
            let graph = try loaded.graph()
            try Generation.checkModel(graph, file: loaded.configPath ?? model)
            let tokenizer = try Tokenizer.forModel(model, opened: loaded)
            let prompt = try tokenizer.encode(self.prompt, addSpecialTokens: !noSpecialTokens).ids
            let transformer = try Transformer(graph: graph, store: loaded.store)
            let options = GenerationOptions(maxTokens: maxTokens, sampling: sampling,
                                            endOfSequence: Generate.endOfSequence(tokenizer: tokenizer, config: loaded.config))
            let generation = try Generation(model: transformer, prompt: prompt, options: options)
            var stream = TextStream(stopStrings: stop) { try tokenizer.decode($0, skipSpecialTokens: true) }
            while let token = try generation.next() {
                Terminal.stream(try stream.append(token))
                if stream.stopped { generation.stop(.stopString) }
            }
            Terminal.stream(try stream.finish())
            if Terminal.stdoutIsTerminal { Terminal.stream("\n") }
            Terminal.status(Generate.summary(generation))
        }
    }

    /// The ids that end generation: the tokenizer's (generation_config.json, tokenizer_config.json, the usual
    /// end tokens) and config.json's `eos_token_id` (a number or a list), which transformers falls back on
    /// when there is no generation_config.json.
    static func endOfSequence(tokenizer: Tokenizer, config: JSON?) -> Set<Int> {
        var ids = Set(tokenizer.endOfSequence)
        if let eos = config?["eos_token_id"] {
            if let id = eos.intValue { ids.insert(id) }
            for item in eos.arrayValue ?? [] { if let id = item.intValue { ids.insert(id) } }
        }
        return ids
    }

    /// The lines stderr shows at the end: speeds, why it stopped, the state memory.
    static func summary(_ g: Generation) -> [String] {
        func rate(_ n: Int, _ seconds: Double) -> String {
            "\(n) tokens in \(formatFixed(seconds, digits: 2)) s (\(seconds > 0 ? formatFixed(Double(n) / seconds, digits: 1) : "–") tokens/s)"
        }
        var lines = ["prompt: " + rate(g.prompt.count, g.promptSeconds),
                     "generated: " + rate(g.tokens.count, g.generationSeconds) + (g.stopReason.map { ", stopped at the \($0.rawValue)" } ?? "")]
        var state = "state: \(ByteSize.format(g.stateBytes)) (KV cache \(ByteSize.format(g.kvCacheBytes)), linear state \(ByteSize.format(g.linearStateBytes)))"
        if g.linearStateBytes > 0 {
            var original = g.model.graph
            original.linearAttention = nil
            let length = g.contextLength
            state += "; softmax attention in every layer would hold a KV cache of \(ByteSize.format(original.kvCacheBytes(length: length))) at \(length) tokens"
        }
        lines.append(state)
        return lines
    }
}
