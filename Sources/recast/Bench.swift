#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Checkpoint
import ModelGraph
import RecastCore
import Runtime

/// Timing harness for the benchmark scripts in tools/ (they generate inputs, run the peers and print
/// ratios). Hidden from help: `recast bench forward|decode`.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Timing harness used by tools/bench_model.py.",
        shouldDisplay: false,
        subcommands: [Forward.self, Decode.self]
    )
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Loads a model after checking that `tokens` tokens in `mode` fit the memory the process may use (and,
/// for `checkLength`, the model's positions), as `run` does: a huge length is refused, not a trap.
func loadTransformer(_ path: String, tokens: Int, mode: ForwardMode, checkLength: Bool) throws -> Transformer {
    let m = try Model(path: path)
    let graph = try m.graph()
    if checkLength { try RunLimits.checkLength(tokens, graph: graph, file: m.configPath ?? path) }
    try RunLimits.checkRun(tokens: tokens, models: [(graph, m.store)], modes: [mode], file: m.configPath ?? path)
    return try Transformer(graph: graph, store: m.store)
}

struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Parallel forward pass: best seconds over --repeat runs (weights loaded once).")
    @Argument var model: String
    @Option var length = 512
    @Option(name: .customLong("repeat")) var repetitions = 3
    @Option var seed: UInt64 = 0
    @Option(help: "Logits computed: all (every position) or last (the prefill of a generation: the last position only).")
    var logits = "all"
    @Flag(help: """
        Lockstep with a peer: after loading, print 'ready', then run one pass per line read from standard input \
        ('all' or 'last' chooses the logits; an empty line keeps --logits) and print 'pass_seconds S' after each, \
        until end of input.
        """)
    var paced = false

    func validate() throws {
        guard ["all", "last"].contains(logits) else { throw ValidationError("--logits must be all or last (got \(logits))") }
        guard length > 0 else { throw ValidationError("--length must be positive (got \(length))") }
        guard repetitions > 0 else { throw ValidationError("--repeat must be positive (got \(repetitions))") }
    }

    func run() throws {
        let t = try loadTransformer(model, tokens: length, mode: .parallel, checkLength: true)
        let tokens = syntheticTokens(length: length, seed: seed, vocab: t.graph.vocabSize)
        if paced { return try lockstep(t, tokens) }
        var best = Double.infinity
        for _ in 0..<max(repetitions, 1) {
            let start = now()
            _ = try t.forward(batch: [tokens], logits: logits == "last" ? .last : .all)
            best = min(best, now() - start)
        }
        print("forward_seconds \(best) tokens_per_second \(Double(length) / best)")
    }

    /// One pass per line of standard input, so that a script can alternate passes with a peer's (the machine's
    /// speed drifts over seconds, and a ratio of passes run side by side in time is steadier than one of runs).
    func lockstep(_ t: Transformer, _ tokens: [Int]) throws {
        print("ready")
        fflush(nil)  // every output stream (naming `stdout` is not concurrency-safe in Swift 6)
        while let line = readLine() {
            let word = line.filter { !$0.isWhitespace }
            guard ["", "all", "last"].contains(word) else {
                throw ValidationError("bench forward --paced reads 'all', 'last' or an empty line (got '\(word)')")
            }
            let start = now()
            _ = try t.forward(batch: [tokens], logits: (word.isEmpty ? logits : word) == "last" ? .last : .all)
            print("pass_seconds \(now() - start)")
            fflush(nil)  // every output stream (naming `stdout` is not concurrency-safe in Swift 6)
        }
    }
}

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Per-token decoding time and state memory at several context lengths.")
    @Argument var model: String
    @Option(help: "Context lengths, comma-separated.") var lengths = "256,1024,4096,16384"
    @Option(help: "Tokens decoded (and timed) at each length.") var steps = 16

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be positive (got \(steps))") }
        for part in lengths.split(separator: ",", omittingEmptySubsequences: false) where (Int(part) ?? 0) <= 0 {
            throw ValidationError("--lengths holds '\(part)', which is not a positive length")
        }
    }

    func run() throws {
        // Decoding past the model's positions is what this benchmark measures (a synthetic history), so
        // only the memory of the longest history is checked.
        let longest = lengths.split(separator: ",").compactMap { Int($0) }.max() ?? 0
        let t = try loadTransformer(model, tokens: MemoryNeed.sum(longest, steps), mode: .recurrent, checkLength: false)
        for part in lengths.split(separator: ",") {
            guard let length = Int(part), length > 0 else { throw ValidationError("bad length \(part)") }
            let decoder = try t.makeDecoder()
            decoder.simulateHistory(length: length)
            let tokens = syntheticTokens(length: steps, seed: UInt64(length), vocab: t.graph.vocabSize)
            _ = try decoder.step(tokens[0])  // warm-up
            let start = now()
            for tok in tokens.dropFirst() { _ = try decoder.step(tok) }
            let perToken = (now() - start) / Double(max(steps - 1, 1))
            print("length \(length) ms_per_token \(perToken * 1000) state_bytes \(decoder.stateBytes)")
        }
    }
}
