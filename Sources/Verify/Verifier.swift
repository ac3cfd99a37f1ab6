#if canImport(Glibc)
import Glibc
#endif
import Checkpoint
import ModelGraph
import RecastCore
import Runtime

/// Why a verification cannot run: the two models do not belong together.
public struct VerifyError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The token sequences a verification runs on, resolved from ids, text or files by the caller.
public struct VerifyInput: Sendable {
    public var kind: VerifyInputKind
    public var sequences: [[Int]]
    /// Per sequence, the first position whose next-token prediction is scored on text (nil: 0 for all).
    /// Overlapping windows of a document score only the predictions the previous window did not, so
    /// that every token of the text is a target once.
    public var scoredFrom: [Int]?
    /// Per sequence and token, BERT-family token types (nil: all 0).
    public var typeIds: [[Int]]?
    /// The file the sequences came from, for the report.
    public var source: String?

    public init(kind: VerifyInputKind, sequences: [[Int]], scoredFrom: [Int]? = nil, typeIds: [[Int]]? = nil, source: String? = nil) {
        self.kind = kind
        self.sequences = sequences
        self.scoredFrom = scoredFrom
        self.typeIds = typeIds
        self.source = source
    }

    /// One sequence of ids: the given tokens, or `length` synthetic ones (the formula of tools/reference.py).
    public static func ids(_ tokens: [Int]?, length: Int, seed: UInt64, vocab: Int) -> VerifyInput {
        VerifyInput(kind: .ids, sequences: [tokens ?? syntheticTokens(length: length, seed: seed, vocab: vocab)])
    }
}

/// Compares a converted (linear-attention) model with its original.
public enum Verifier {
    /// One sequence of ids (given, or `length` synthetic tokens from `seed`): the synthetic-token checks.
    public static func verify(original: String, converted: String, tokens given: [Int]?, length: Int, seed: UInt64) throws -> VerifyReport {
        try verify(original: original, converted: converted) { graph, file in
            // Both models' positions bound the sequence; checked before the tokens are built.
            try RunLimits.checkLength(given?.count ?? length, graph: graph, file: file)
            return .ids(given, length: length, seed: seed, vocab: graph.vocabSize)
        }
    }

    /// Runs both models on every sequence and compares them: per-layer attention errors (each converted
    /// layer fed the original layer's exact input) averaged over the sequences, the final hidden states,
    /// and, on text, perplexity, next-token accuracy, agreement and KL for language models, or the
    /// sentence embeddings for encoders. `pooling` overrides the encoder pooling the original's
    /// sentence-transformers files give (mean pooling without them).
    public static func verify(original: String, converted: String, input: VerifyInput, pooling: Pooling? = nil) throws -> VerifyReport {
        try verify(original: original, converted: converted, pooling: pooling) { _, _ in input }
    }

    /// As `verify(original:converted:input:pooling:)`, with the input made once both models are known to
    /// belong together, from the original's graph (its vocabulary and positions) and the file that names
    /// the original in errors (its config.json).
    public static func verify(original: String, converted: String, pooling given: Pooling? = nil,
                              input makeInput: (ModelGraph, String) throws -> VerifyInput) throws -> VerifyReport {
        let om = try Model(path: original), cm = try Model(path: converted)
        let og = try om.graph(), cg = try cm.graph()
        guard let la = cg.linearAttention else {
            throw VerifyError("\(converted): has no linear_attention block in its config.json: it is not a converted model (run `recast swap` first)")
        }
        guard og.family == cg.family, og.layerCount == cg.layerCount, og.hiddenSize == cg.hiddenSize, og.vocabSize == cg.vocabSize else {
            throw VerifyError("\(converted): is not a conversion of \(original) (\(cg.family.rawValue), \(cg.layerCount) layers, hidden \(cg.hiddenSize) against \(og.family.rawValue), \(og.layerCount) layers, hidden \(og.hiddenSize))")
        }
        let input = try makeInput(og, om.configPath ?? original)
        try check(input, vocab: og.vocabSize)
        let longest = input.sequences.map(\.count).max() ?? 0
        try RunLimits.checkLength(longest, graph: og, file: om.configPath ?? original)
        try RunLimits.checkLength(longest, graph: cg, file: cm.configPath ?? converted)
        try RunLimits.checkRun(tokens: longest, models: [(og, om.store), (cg, cm.store)], modes: [.parallel, .recurrent],
                               file: om.store.files.first ?? original)
        let isLanguageModel = og.lmHead != nil && cg.lmHead != nil
        let onText = input.kind != .ids
        // Encoders on text only: a language model's folder need not hold sentence-transformers files.
        let pooling = onText && !isLanguageModel ? try given.map { ($0, "given") } ?? sentencePooling(model: original) : nil
        // The weights both models hold unchanged are loaded once.
        let shared = SharedWeights()
        let orig = try Transformer(graph: og, store: om.store, sharing: shared)
        let conv = try Transformer(graph: cg, store: cm.store, sharing: shared)

        var layerSums = [Double](repeating: 0, count: og.layerCount)
        var hidden = (difference: 0.0, reference: 0.0)
        var scores = NextTokenScores()
        var embeddings: (original: [[Float]], converted: [[Float]]) = ([], [])
        var parallelRecurrent: ParallelRecurrent?
        for (index, tokens) in input.sequences.enumerated() {
            // Feed each converted layer the exact input its original layer saw.
            // One sequence per pass, so that the probe sees this sequence's rows alone.
            let types = input.typeIds.map { [$0[index]] }
            let linearLayers = Set((0..<og.layerCount).filter(conv.isLinear(layer:)))
            let probe = Probe(layers: linearLayers) { capture in
                layerSums[capture.layer] += relativeError(conv.attentionOutput(layer: capture.layer, input: capture.input).data,
                                                          capture.output.data)
            }
            let reference = try orig.forward(batch: [tokens], typeIds: types, probe: probe)[0]
            let output = try conv.forward(batch: [tokens], typeIds: types)[0]
            let (d, r) = squaredDifference(output.hiddenStates.data, reference.hiddenStates.data)
            hidden.difference += d
            hidden.reference += r
            if let lo = reference.logits, let lc = output.logits {
                if onText {
                    let from = input.scoredFrom?[index] ?? 0
                    scores.add(lo, lc, positions: from..<max(from, tokens.count - 1), targets: tokens)
                } else {
                    scores.add(lo, lc, positions: 0..<tokens.count, targets: nil)
                }
            }
            if let pooling {
                embeddings.original.append(pooling.0.apply(reference.hiddenStates))
                embeddings.converted.append(pooling.0.apply(output.hiddenStates))
            }
            // Slow (one token at a time): on the first sequence only.
            if index == 0 && cg.causal {
                parallelRecurrent = compareModes(recurrent: try conv.forwardRecurrent(tokens: tokens), parallel: output, tokens: tokens.count)
            }
        }

        let count = Double(max(input.sequences.count, 1))
        let layers = (0..<og.layerCount).map { l in
            LayerError(layer: l, linear: conv.isLinear(layer: l), relativeError: conv.isLinear(layer: l) ? layerSums[l] / count : 0)
        }
        var report = VerifyReport(
            original: original, converted: converted, family: og.family, featureMap: la.featureMap.name,
            input: input.kind, source: input.source, sequences: input.sequences.count,
            tokens: input.sequences.reduce(0) { $0 + $1.count }, layers: layers,
            hiddenRelativeError: (hidden.difference / max(hidden.reference, 1e-300)).squareRoot(),
            top1Agreement: nil, meanKL: nil, textFigures: nil, embeddings: nil, parallelRecurrent: parallelRecurrent,
            state: state(og, cg, length: longest), stateCurve: [])
        if isLanguageModel {
            if onText {
                guard scores.predictions > 0 else {
                    throw VerifyError("\(input.source ?? original): no next-token prediction to score: every sequence holds a single token (perplexity needs at least two)")
                }
                report.textFigures = scores.textFigures(sequences: input.sequences.count)
            }
            report.top1Agreement = scores.agreement
            report.meanKL = scores.meanKL
        } else if let pooling {
            report.embeddings = EmbeddingComparison.figures(embeddings.original, embeddings.converted, pooling: pooling.0, source: pooling.1)
        }
        var lengths: [Int] = []
        var n = 64
        while n <= 65_536 { lengths.append(n); n *= 2 }
        report.stateCurve = lengths.map { state(og, cg, length: $0) }
        return report
    }

    /// Refuses an input with no sequence, an empty sequence, or a token outside the vocabulary, naming
    /// the sequence and position (before any model runs).
    static func check(_ input: VerifyInput, vocab: Int) throws {
        let place = input.source ?? "the input"
        guard !input.sequences.isEmpty else { throw VerifyError("\(place): no sequences to verify") }
        if let s = input.scoredFrom, s.count != input.sequences.count {
            throw VerifyError("\(place): \(s.count) scored-from positions for \(input.sequences.count) sequences")
        }
        if let t = input.typeIds, t.count != input.sequences.count || zip(t, input.sequences).contains(where: { $0.count != $1.count }) {
            throw VerifyError("\(place): the token types do not match the sequences, one per token")
        }
        for (i, tokens) in input.sequences.enumerated() {
            guard !tokens.isEmpty else { throw VerifyError("\(place): sequence \(i + 1) is empty") }
            if let bad = tokens.firstIndex(where: { $0 < 0 || $0 >= vocab }) {
                throw VerifyError("\(place): sequence \(i + 1): token \(tokens[bad]) at position \(bad) is outside the vocabulary of \(vocab)")
            }
            if let from = input.scoredFrom?[i], from < 0 {
                throw VerifyError("\(place): sequence \(i + 1): scored-from position \(from) is negative")
            }
        }
    }

    /// The encoder pooling of the original model's sentence-transformers files, else mean pooling.
    static func sentencePooling(model: String) throws -> (Pooling, String) {
        if let p = try Pooling.sentenceTransformers(model: model) { return (p, "sentence-transformers") }
        return (Pooling(mode: .mean, normalize: false), "default")
    }

    /// Parallel against recurrent outputs, each on the scale of its own largest magnitude.
    static func compareModes(recurrent: ForwardOutput, parallel: ForwardOutput, tokens: Int) -> ParallelRecurrent {
        func difference(_ a: Matrix, _ b: Matrix) -> ModeDifference {
            let largest = maxAbsDiff(a.data, b.data)
            return ModeDifference(maxAbs: largest, maxRel: largest / max(maxAbs(b.data), 1e-30))
        }
        var logits: ModeDifference?
        if let a = recurrent.logits, let b = parallel.logits { logits = difference(a, b) }
        return ParallelRecurrent(tokens: tokens, hiddenStates: difference(recurrent.hiddenStates, parallel.hiddenStates), logits: logits)
    }

    /// Bytes of inference state for one sequence: a KV cache of f32 keys and values per softmax layer,
    /// (S, z) per head of each linear layer, plus the window's ring in a hybrid layer.
    public static func state(_ original: ModelGraph, _ converted: ModelGraph, length: Int) -> StatePoint {
        // The graph counts its softmax layers' KV caches, each bounded by its sliding window where it has one.
        let linear = Set(converted.linearAttention?.layers ?? [])
        var bytes = converted.kvCacheBytes(length: length)
        if let la = converted.linearAttention {
            let d = converted.headDim
            let m = la.featureMap.map.featureCount(dimension: la.featureDim, headDim: d)
            bytes += linear.count * converted.heads * (m * d + m) * 4
            // The window hybrid also keeps the last W tokens' keys, values and φ(k) (the runtime's ring).
            if let w = la.window {
                bytes += linear.count * min(w, length) * (2 * converted.kvHeads * d + converted.heads * m) * 4
            }
        }
        return StatePoint(length: length, kvCacheBytes: original.kvCacheBytes(length: length), convertedBytes: bytes)
    }

    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        let (num, den) = squaredDifference(a, b)
        return (num / max(den, 1e-300)).squareRoot()
    }

    /// ‖a − b‖² and ‖b‖², in double precision.
    static func squaredDifference(_ a: [Float], _ b: [Float]) -> (Double, Double) {
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) {
            let d = Double(x) - Double(y)
            num += d * d
            den += Double(y) * Double(y)
        }
        return (num, den)
    }

    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Double {
        zip(a, b).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) }
    }

    static func maxAbs(_ a: [Float]) -> Double { a.reduce(0.0) { max($0, abs(Double($1))) } }
}
