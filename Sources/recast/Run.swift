import ArgumentParser
import Checkpoint
import ModelGraph
import RecastCore
import Runtime
import SafeTensors

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

/// What `recast run` writes.
enum RunOutput: String, CaseIterable {
    case hiddenStates = "hidden_states", logits, embeddings, lastLogits = "last_logits"
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a CPU forward pass in f32 and write hidden states, logits or sentence embeddings.",
        discussion: """
            Writes into OUT (F32): `hidden_states` [T, hidden_size] (the last layer's output, after the final \
            norm where the family has one), `logits` [T, vocab_size] for language models, `last_logits` \
            [vocab_size] (the last position's only), `embeddings` [hidden_size] (pooled sentence embeddings). \
            With several sequences (--lines, --tokens-file, --text-file windows) every output gains a leading \
            batch dimension N, sequences are padded with zeros to the longest T, and `attention_mask` [N, T] \
            (U8, 1 for real tokens) says which positions are real; padding never changes a result. \
            --mode recurrent feeds one token at a time (a KV cache for softmax layers, a constant-size state \
            for linear-attention layers).
            """
    )

    @Argument(help: "A model folder (config.json and weights) or a weights file with config.json beside it.")
    var model: String

    @OptionGroup var input: InputOptions

    @Option(help: "Where to write the outputs (.safetensors).")
    var out: String

    @Option(help: "parallel (whole sequence at once) or recurrent (one token at a time).")
    var mode: String = "parallel"

    @Option(help: "Comma-separated outputs: hidden_states, logits, embeddings, last_logits (default: hidden_states, and logits for language models).")
    var outputs: String?

    @Option(help: "Pooling for embeddings: mean, cls or max (default: the model's sentence-transformers modules.json; required without it).")
    var pooling: String?

    @Flag(help: "L2-normalise embeddings (implied when the pooling comes from a modules.json that lists a Normalize module; with --pooling, give it yourself).")
    var normalize = false

    @Flag(help: "Replace OUT if it exists.")
    var force = false

    func validate() throws {
        guard ForwardMode(rawValue: mode) != nil else { throw ValidationError("--mode must be parallel or recurrent (got '\(mode)')") }
        guard out.hasSuffix(".safetensors") else { throw ValidationError("--out must name a .safetensors file") }
        _ = try requestedOutputs()
        if let pooling, Pooling.Mode(rawValue: pooling) == nil {
            throw ValidationError("--pooling must be mean, cls or max (got '\(pooling)')")
        }
        if (pooling != nil || normalize), !(try requestedOutputs()?.contains(.embeddings) ?? false) {
            throw ValidationError("--pooling and --normalize apply to --outputs embeddings")
        }
    }

    /// The outputs named by --outputs, in the order given; nil for the default.
    func requestedOutputs() throws -> [RunOutput]? {
        guard let outputs else { return nil }
        var list: [RunOutput] = []
        for name in outputs.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingSpaces() }) {
            guard let o = RunOutput(rawValue: name) else {
                throw ValidationError("--outputs holds '\(name)': choose from \(RunOutput.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if !list.contains(o) { list.append(o) }
        }
        return list
    }

    /// The outputs this model can give, with the reason when one cannot.
    func outputs(for graph: ModelGraph, file: String) throws -> [RunOutput] {
        guard let list = try requestedOutputs() else { return graph.lmHead == nil ? [.hiddenStates] : [.hiddenStates, .logits] }
        if graph.lmHead == nil, let o = list.first(where: { $0 == .logits || $0 == .lastLogits }) {
            throw RuntimeError(file: file, "\(graph.modelType) here has no LM head, so it gives no \(o.rawValue): ask for hidden_states or embeddings")
        }
        return list
    }

    /// How embeddings are pooled: --pooling, else the model's sentence-transformers files. A causal model
    /// has no pooling of its own (its last token, not a mean, usually stands for the sequence), so it needs --pooling.
    func embeddingPooling(graph: ModelGraph, file: String) throws -> Pooling {
        if let pooling, let mode = Pooling.Mode(rawValue: pooling) { return Pooling(mode: mode, normalize: normalize) }
        if let found = try Pooling.sentenceTransformers(model: model) {
            return Pooling(mode: found.mode, normalize: found.normalize || normalize)
        }
        throw RuntimeError(file: file, "has no sentence-transformers modules.json to say how to pool embeddings: give --pooling mean|cls|max (and --normalize for unit vectors)")
    }

    func run() throws {
        try reportingErrors {
            let loaded = try Model(path: model)
            let graph = try loaded.graph()
            let file = loaded.configPath ?? model
            let forwardMode = ForwardMode(rawValue: mode) ?? .parallel
            let wanted = try outputs(for: graph, file: file)
            let pool = wanted.contains(.embeddings) ? try embeddingPooling(graph: graph, file: file) : nil
            let weightsFile = loaded.store.files.first ?? model
            let logitRows: LogitRows = wanted.contains(.logits) ? .all : wanted.contains(.lastLogits) ? .last : .none
            func checkFits(sequences: Int, tokens: Int, longest: Int) throws {
                try checkMemory(sequences: sequences, tokens: tokens, longest: longest, graph: graph, store: loaded.store,
                                     mode: forwardMode, logits: logitRows, file: weightsFile)
            }
            // Ids (--tokens, --length) are checked before they are built: a huge --length is refused with the
            // memory it needs, not aborted by the allocation of its ids. Text is checked once tokenized.
            let input = try input.resolve(model: model, graph: graph, file: file) { count in
                try checkFits(sequences: 1, tokens: count, longest: count)
            }
            if self.input.idCount == nil {
                try checkFits(sequences: input.sequences.count, tokens: input.tokenCount, longest: input.longest)
            }
            let output = try CheckpointWriter(destination: out, folder: false, force: force, source: model, store: loaded.store)
            let transformer = try Transformer(graph: graph, store: loaded.store)
            let results: [ForwardOutput]
            switch forwardMode {
            case .parallel:
                results = try transformer.forward(batch: input.sequences, typeIds: input.typeIds, logits: logitRows)
            case .recurrent:
                results = try input.sequences.map { try transformer.forwardRecurrent(tokens: $0) }
            }
            let tensors = RunTensors(results: results, lengths: input.sequences.map(\.count), graph: graph)
            var written: [OutputTensor] = []
            for o in wanted {
                switch o {
                case .hiddenStates: written.append(tensors.hiddenStates)
                case .logits: if let t = tensors.logits { written.append(t) }
                case .lastLogits: if let t = tensors.lastLogits { written.append(t) }
                case .embeddings: if let pool { written.append(tensors.embeddings(pool)) }
                }
            }
            if input.sequences.count > 1 { written.append(tensors.attentionMask) }
            var meta: Metadata = [("model", model), ("mode", mode), ("input", input.kind.rawValue)]
            if let source = input.source { meta.append(("source", source)) }
            if let pool { meta.append(("pooling", pool.mode.rawValue + (pool.normalize ? ",normalize" : ""))) }
            if input.sequences.count == 1 {
                meta.append(("tokens", input.sequences[0].map(String.init).joined(separator: ",")))
            } else {
                meta.append(("sequences", "\(input.sequences.count)"))
            }
            try output.write(weights: .safetensors(written, metadata: meta, maxShardSize: .max))
            let shapes = written.map { "\($0.info.name) [\($0.info.shape.map(String.init).joined(separator: ", "))]" }
            Terminal.output("wrote \(out): \(shapes.joined(separator: ", ")) (\(mode)\(input.sequences.count > 1 ? ", \(input.sequences.count) sequences, \(input.tokenCount) tokens" : ""))")
        }
    }

    /// Refuses, before the weights load, a run whose weights, pass and outputs would not fit in memory.
    func checkMemory(sequences n: Int, tokens: Int, longest: Int, graph: ModelGraph, store: TensorStore, mode: ForwardMode,
                     logits: LogitRows, file: String) throws {
        if n == 1 {
            try RunLimits.checkRun(tokens: longest, models: [(graph, store)], modes: [mode], file: file)
            return
        }
        var need = RunLimits.weightsNeed(graph: graph, store: store)
        need.add("token ids", [tokens], bytesEach: 8)
        switch mode {
        case .parallel:
            need.add(RunLimits.batchNeed(graph: graph, sequences: n, tokens: tokens, longest: longest,
                                         passRows: min(tokens, max(longest, 4096)), logits: logits))
        case .recurrent:
            need.add(RunLimits.passNeed(graph: graph, tokens: longest, mode: .recurrent))
            need.add("outputs", [tokens, MemoryNeed.sum(graph.hiddenSize, graph.lmHead == nil ? 0 : graph.vocabSize)])
        }
        try RunLimits.check(need, for: "a \(mode.rawValue) batch of \(n) sequences (\(tokens) tokens)", file: file)
    }
}

/// The outputs of a run as tensors: without a batch dimension for one sequence, with one (padded with zeros
/// to the longest sequence) for several.
struct RunTensors {
    var results: [ForwardOutput]
    var lengths: [Int]
    var graph: ModelGraph

    var batched: Bool { results.count > 1 }
    var longest: Int { lengths.max() ?? 0 }

    /// Rows of `cols` values per sequence, each padded with zero rows to the longest.
    func padded(_ name: String, cols: Int, rows: @escaping (ForwardOutput) -> Matrix) -> OutputTensor {
        let t = longest, results = results
        let shape = batched ? [results.count, t, cols] : [t, cols]
        let info = TensorInfo(name: name, dtype: .f32, shape: shape, byteCount: shape.reduce(4, *))
        return OutputTensor(info: info) { consume in
            let zeros = [Float](repeating: 0, count: batched ? t * cols : 0)
            for r in results {
                let m = rows(r)
                try m.data.withUnsafeBytes { try consume($0) }
                if batched, m.rows < t { try zeros.withUnsafeBytes { try consume(UnsafeRawBufferPointer(rebasing: $0[0..<((t - m.rows) * cols * 4)])) } }
            }
        }
    }

    /// One vector per sequence: [cols] for one sequence, [N, cols] for several.
    func vectors(_ name: String, cols: Int, _ values: [[Float]]) -> OutputTensor {
        .values(name, values.flatMap { $0 }, shape: batched ? [values.count, cols] : [cols])
    }

    var hiddenStates: OutputTensor { padded("hidden_states", cols: graph.hiddenSize) { $0.hiddenStates } }

    var logits: OutputTensor? {
        guard results.allSatisfy({ $0.logits?.rows == $0.hiddenStates.rows }) else { return nil }
        return padded("logits", cols: graph.vocabSize) { $0.logits ?? Matrix(rows: 0, cols: 0) }
    }

    var lastLogits: OutputTensor? {
        let rows = results.compactMap { r in r.logits.map { Array($0.row($0.rows - 1)) } }
        guard rows.count == results.count else { return nil }
        return vectors("last_logits", cols: graph.vocabSize, rows)
    }

    func embeddings(_ pooling: Pooling) -> OutputTensor {
        vectors("embeddings", cols: graph.hiddenSize, results.map { pooling.apply($0.hiddenStates) })
    }

    var attentionMask: OutputTensor {
        let t = longest
        var mask = [UInt8](repeating: 0, count: lengths.count * t)
        for (s, n) in lengths.enumerated() { for j in 0..<n { mask[s * t + j] = 1 } }
        let info = TensorInfo(name: "attention_mask", dtype: .u8, shape: [lengths.count, t], byteCount: mask.count)
        return OutputTensor(info: info) { consume in try mask.withUnsafeBytes { try consume($0) } }
    }
}
