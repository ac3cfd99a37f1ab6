import ModelGraph
import RecastCore

/// What a generation is asked to do.
public struct GenerationOptions: Sendable {
    /// At most this many new tokens (the end-of-sequence token, when produced, counts as one).
    public var maxTokens: Int
    public var sampling: SamplingOptions
    /// Token ids that end the generation once produced.
    public var endOfSequence: Set<Int>

    public init(maxTokens: Int = 64, sampling: SamplingOptions = SamplingOptions(), endOfSequence: Set<Int> = []) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.endOfSequence = endOfSequence
    }
}

/// Why a generation ended.
public enum StopReason: String, Sendable {
    case endOfSequence = "end-of-sequence token"
    case maxTokens = "token limit"
    /// The next token would not fit in the model's positions.
    case positions = "model's positions"
    /// The caller stopped it (`--stop` text was produced).
    case stopString = "stop string"
}

/// Text generation over per-layer state (a KV cache for softmax layers, the constant (S, z) for linear
/// ones): the prompt is fed through a `Decoder` at once (in blocks, as in parallel mode), then each new
/// token is sampled from the last logits and fed back.
///
/// ```swift
/// let generation = try Generation(model: transformer, prompt: ids, options: options)
/// while let token = try generation.next() { … }
/// ```
public final class Generation {
    public let model: Transformer
    public let prompt: [Int]
    public let options: GenerationOptions
    let decoder: Decoder
    var sampler: Sampler
    /// Logits of the last token fed, not yet sampled from.
    var pending: [Float]?
    /// The tokens generated so far.
    public private(set) var tokens: [Int] = []
    /// Set once the generation has ended.
    public private(set) var stopReason: StopReason?
    /// Seconds spent feeding the prompt.
    public private(set) var promptSeconds = 0.0
    /// Seconds spent producing the generated tokens (feeding each back and sampling).
    public private(set) var generationSeconds = 0.0

    /// Checks the model and the prompt; nothing runs until the first `next()`.
    public init(model: Transformer, prompt: [Int], options: GenerationOptions) throws {
        let graph = model.graph
        try Generation.checkModel(graph, file: model.file)
        if let problem = options.sampling.problem { throw RuntimeError(file: model.file, problem) }
        guard options.maxTokens >= 0 else { throw RuntimeError(file: model.file, "max tokens must not be negative (got \(options.maxTokens))") }
        guard !prompt.isEmpty else { throw RuntimeError(file: model.file, "the prompt holds no tokens: give some text") }
        if let usable = Generation.positions(graph), prompt.count > usable {
            throw RuntimeError(file: model.file, "the prompt is \(prompt.count) tokens, longer than the model's \(usable) positions: shorten it")
        }
        for (i, t) in prompt.enumerated() where t < 0 || t >= graph.vocabSize {
            throw RuntimeError(file: model.file, "the prompt's token \(t) (position \(i)) is outside the model's vocabulary of \(graph.vocabSize): the tokenizer does not belong to this model")
        }
        var need = MemoryNeed()
        let longest = min(MemoryNeed.sum(prompt.count, options.maxTokens), Generation.positions(graph) ?? .max)
        need.add("KV cache of \(longest) tokens", [graph.kvCacheBytes(length: longest)], bytesEach: 1)
        need.add("logits", [graph.vocabSize, 4])
        try RunLimits.check(need, for: "generating \(options.maxTokens) tokens after a prompt of \(prompt.count)", file: model.file)
        self.model = model
        self.prompt = prompt
        self.options = options
        decoder = try model.makeDecoder()
        sampler = Sampler(options.sampling)
    }

    /// Refuses a model that cannot generate: a bidirectional encoder, or a model without an LM head.
    public static func checkModel(_ graph: ModelGraph, file: String) throws {
        guard graph.causal else {
            throw RuntimeError(file: file, "\(graph.modelType) is a bidirectional encoder: every token attends to the tokens after it, so it has no next-token prediction to generate from (use `recast run` for its hidden states or embeddings)")
        }
        guard graph.lmHead != nil else {
            throw RuntimeError(file: file, "the model has no LM head, so it produces no logits to sample from")
        }
    }

    /// The positions a sequence may use (nil: no limit from the model).
    static func positions(_ graph: ModelGraph) -> Int? {
        graph.maxPositions.map { $0 - graph.embeddings.positionOffset }
    }

    /// The next generated token, or nil once the generation has ended (see `stopReason`). The first call
    /// feeds the prompt.
    public func next() throws -> Int? {
        if stopReason != nil { return nil }
        guard tokens.count < options.maxTokens else {
            stopReason = .maxTokens
            return nil
        }
        let start = ContinuousClock.now
        if pending == nil {
            if let last = tokens.last {
                if let usable = Generation.positions(model.graph), decoder.position >= usable {
                    stopReason = .positions
                    return nil
                }
                pending = try decoder.step(last).logits?.data
            } else {
                pending = try decoder.feed(prompt).logits?.data
                promptSeconds = Generation.seconds(ContinuousClock.now - start)
            }
        }
        let sampleStart = tokens.isEmpty ? ContinuousClock.now : start
        let token = sampler.next(pending ?? [])
        pending = nil
        tokens.append(token)
        if options.endOfSequence.contains(token) { stopReason = .endOfSequence }
        generationSeconds += Generation.seconds(ContinuousClock.now - sampleStart)
        return token
    }

    /// Ends the generation (the caller found a stop string in the text).
    public func stop(_ reason: StopReason) {
        if stopReason == nil { stopReason = reason }
    }

    /// Runs to the end and returns the generated tokens.
    public func run() throws -> [Int] {
        while try next() != nil {}
        return tokens
    }

    /// Tokens the state holds now (the prompt and every generated token fed back).
    public var contextLength: Int { decoder.position }
    /// Bytes of inference state now: KV cache plus linear state.
    public var stateBytes: Int { decoder.stateBytes }
    /// Bytes of the softmax layers' KV cache now.
    public var kvCacheBytes: Int { decoder.kvCacheBytes }
    /// Bytes of the linear layers' (S, z) state (constant).
    public var linearStateBytes: Int { decoder.linearStateBytes }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
