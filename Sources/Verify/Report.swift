import ModelGraph
import RecastCore
import Runtime

/// Per-layer comparison of the converted attention against the original softmax attention, fed the same input.
public struct LayerError: Sendable {
    public var layer: Int
    /// Whether the converted model runs linear attention in this layer.
    public var linear: Bool
    /// ‖y_linear − y_softmax‖ / ‖y_softmax‖ over the whole sequence (0 for layers that kept softmax).
    public var relativeError: Double
}

/// Inference-state memory of one sequence at a length.
public struct StatePoint: Sendable {
    public var length: Int
    /// The original model's KV cache.
    public var kvCacheBytes: Int
    /// The converted model: (S, z) for linear layers plus a KV cache for the layers that kept softmax.
    public var convertedBytes: Int
}

/// How the sequences a verification ran on were given.
public enum VerifyInputKind: String, Sendable {
    /// Token ids (--tokens, or --length synthetic tokens): one sequence, the synthetic-token checks only.
    case ids
    /// One text (--text).
    case text
    /// Windows of one long document (--text-file).
    case document
    /// Independent sequences (--lines, --tokens-file).
    case lines
}

/// Language-model figures on real text, over the next-token predictions scored in every sequence.
public struct TextFigures: Sendable, Equatable {
    /// Next-token predictions scored (each has a target token in the text).
    public var tokens: Int
    public var sequences: Int
    /// exp of the mean negative log-likelihood of the targets, per model.
    public var perplexity: (original: Double, converted: Double)
    /// Share of predictions whose most likely token is the target, per model.
    public var nextTokenAccuracy: (original: Double, converted: Double)
    /// Share of predictions where the two models' most likely tokens agree.
    public var top1Agreement: Double
    /// Mean KL(p_original ‖ p_converted) over the predictions, in nats.
    public var meanKL: Double

    public static func == (a: TextFigures, b: TextFigures) -> Bool {
        a.tokens == b.tokens && a.sequences == b.sequences && a.perplexity == b.perplexity
            && a.nextTokenAccuracy == b.nextTokenAccuracy && a.top1Agreement == b.top1Agreement && a.meanKL == b.meanKL
    }
}

/// Encoder figures: the two models' sentence embeddings compared sentence by sentence.
public struct EmbeddingFigures: Sendable, Equatable {
    public var sequences: Int
    /// Cosine between the original's and the converted model's embedding of each sentence: mean and minimum.
    public var cosineMean: Double
    public var cosineMin: Double
    /// Share of sentences whose nearest neighbour among the others (by cosine) is the same under both
    /// models; nil with fewer than two sentences.
    public var neighbourAgreement: Double?
    /// How token states became sentence embeddings.
    public var pooling: Pooling
    /// Where the pooling came from: "sentence-transformers" (the original's modules.json and
    /// 1_Pooling/config.json) or "default" (mean pooling, no such files).
    public var poolingSource: String
}

/// The largest difference between one output of the parallel and the recurrent pass, absolute and
/// relative to that output's own largest magnitude.
public struct ModeDifference: Sendable, Equatable {
    public var maxAbs: Double
    public var maxRel: Double
}

/// Parallel against recurrent mode for the converted model on one sequence: each output on its own scale.
public struct ParallelRecurrent: Sendable, Equatable {
    /// Tokens in the sequence compared (the first one given).
    public var tokens: Int
    public var hiddenStates: ModeDifference
    public var logits: ModeDifference?
    /// The largest relative difference over the outputs.
    public var maxRel: Double { max(hiddenStates.maxRel, logits?.maxRel ?? 0) }
    public var maxAbs: Double { max(hiddenStates.maxAbs, logits?.maxAbs ?? 0) }
}

/// What `recast verify` reports: whether a converted model is sound before finetuning it.
public struct VerifyReport: Sendable {
    public var original: String
    public var converted: String
    public var family: FamilyName
    public var featureMap: String
    public var input: VerifyInputKind
    /// The file the text came from, if any.
    public var source: String?
    /// Sequences run, and tokens run over all of them.
    public var sequences: Int
    public var tokens: Int
    /// Per layer, the attention error averaged over the sequences.
    public var layers: [LayerError]
    /// ‖h_converted − h_original‖ / ‖h_original‖ of the final hidden states, over all sequences.
    public var hiddenRelativeError: Double
    /// Fraction of positions whose most likely next token agrees (language models only). On text, over
    /// the scored predictions (the same as `textFigures.top1Agreement`).
    public var top1Agreement: Double?
    /// Mean over positions of KL(p_original ‖ p_converted) of the next-token distributions, in nats.
    public var meanKL: Double?
    /// Language models on text.
    public var textFigures: TextFigures?
    /// Encoders: sentence embeddings.
    public var embeddings: EmbeddingFigures?
    /// The converted model's parallel and recurrent outputs on the first sequence (causal models only).
    public var parallelRecurrent: ParallelRecurrent?
    /// Memory at the longest sequence's length, and over a range of lengths for the plot.
    public var state: StatePoint
    public var stateCurve: [StatePoint]

    public var json: JSON {
        func num(_ v: Double?) -> JSON { v.map(JSON.double) ?? .null }
        func pair(_ p: (original: Double, converted: Double)) -> JSON {
            .object([("original", num(p.original)), ("converted", num(p.converted))])
        }
        func difference(_ d: ModeDifference?) -> JSON {
            d.map { .object([("max_abs", num($0.maxAbs)), ("max_rel", num($0.maxRel))]) } ?? .null
        }
        return .object([
            ("original", .string(original)),
            ("converted", .string(converted)),
            ("family", .string(family.rawValue)),
            ("feature_map", .string(featureMap)),
            ("input", .string(input.rawValue)),
            ("source", source.map(JSON.string) ?? .null),
            ("sequences", .int(sequences)),
            ("tokens", .int(tokens)),
            ("layers", .array(layers.map { l in
                .object([("layer", .int(l.layer)), ("linear", .bool(l.linear)), ("attention_relative_error", num(l.relativeError))])
            })),
            ("end_to_end", .object([
                ("hidden_relative_error", num(hiddenRelativeError)),
                ("top1_agreement", num(top1Agreement)),
                ("mean_kl", num(meanKL)),
            ])),
            ("text", textFigures.map { t in
                .object([
                    ("tokens", .int(t.tokens)),
                    ("sequences", .int(t.sequences)),
                    ("perplexity", pair(t.perplexity)),
                    ("next_token_accuracy", pair(t.nextTokenAccuracy)),
                    ("top1_agreement", num(t.top1Agreement)),
                    ("mean_kl", num(t.meanKL)),
                ])
            } ?? .null),
            ("embeddings", embeddings.map { e in
                .object([
                    ("sequences", .int(e.sequences)),
                    ("cosine_mean", num(e.cosineMean)),
                    ("cosine_min", num(e.cosineMin)),
                    ("neighbour_agreement", num(e.neighbourAgreement)),
                    ("pooling", .object([("mode", .string(e.pooling.mode.rawValue)), ("normalize", .bool(e.pooling.normalize)),
                                         ("from", .string(e.poolingSource))])),
                ])
            } ?? .null),
            ("parallel_vs_recurrent", parallelRecurrent.map { p in
                .object([
                    ("tokens", .int(p.tokens)),
                    ("max_abs", num(p.maxAbs)),
                    ("max_rel", num(p.maxRel)),
                    ("hidden_states", difference(p.hiddenStates)),
                    ("logits", difference(p.logits)),
                ])
            } ?? .null),
            ("state", .object([
                ("length", .int(state.length)),
                ("kv_cache_bytes", .int(state.kvCacheBytes)),
                ("converted_bytes", .int(state.convertedBytes)),
                ("curve", .array(stateCurve.map { p in
                    .object([("length", .int(p.length)), ("kv_cache_bytes", .int(p.kvCacheBytes)), ("converted_bytes", .int(p.convertedBytes))])
                })),
            ])),
        ])
    }

    /// The report as a person reads it, one string per line (the CLI escapes each line for the terminal).
    public var lines: [String] {
        var out: [String] = []
        out.append("original:  \(original)")
        out.append("converted: \(converted) (\(featureMap) feature map, \(layers.filter(\.linear).count) of \(layers.count) layers linear)")
        switch input {
        case .ids: out.append("tokens:    \(tokens)")
        case .text: out.append("text:      \(tokens) tokens")
        case .document: out.append("text:      \(source ?? "document"), \(sequences) window\(sequences == 1 ? "" : "s"), \(tokens) tokens")
        case .lines: out.append("sequences: \(source.map { "\($0), " } ?? "")\(sequences), \(tokens) tokens")
        }
        out.append("")
        let largest = layers.filter(\.linear).map(\.relativeError).filter(\.isFinite).max() ?? 0
        let averaged = sequences > 1 ? "; mean over \(sequences) sequences" : ""
        out.append("attention output, linear vs softmax on the same input (relative error\(averaged)"
            + (largest > 0 ? "; full bar = \(format(largest)))" : ")") + ":")
        for l in layers {
            let bar = ReportBar.draw(l.relativeError, largest: largest)
            out.append("  layer \(pad(String(l.layer), 3))  " + (l.linear ? "\(pad(format(l.relativeError), 10))  \(bar)" : "   softmax kept"))
        }
        out.append("")
        out.append("end to end:")
        out.append("  hidden states relative error  \(format(hiddenRelativeError))")
        if textFigures == nil {
            if let top1Agreement { out.append("  top-1 next-token agreement    \(percent(top1Agreement))") }
            if let meanKL { out.append("  mean KL(original ‖ converted)  \(format(meanKL)) nats") }
        }
        if let p = parallelRecurrent {
            let first = sequences > 1 ? " (first sequence, \(p.tokens) tokens)" : ""
            out.append("  parallel vs recurrent\(first), max |Δ| and relative to each output's largest magnitude:")
            out.append("    hidden states  \(format(p.hiddenStates.maxAbs)) (relative \(format(p.hiddenStates.maxRel)))")
            if let l = p.logits { out.append("    logits         \(format(l.maxAbs)) (relative \(format(l.maxRel)))") }
        }
        if let t = textFigures {
            out.append("")
            out.append("next-token prediction (\(t.tokens) predictions in \(t.sequences) sequence\(t.sequences == 1 ? "" : "s")):")
            out.append("                                  original   converted")
            out.append("  perplexity                    \(pad(format(t.perplexity.original), 10))  \(pad(format(t.perplexity.converted), 10))")
            out.append("  next-token accuracy           \(pad(percent(t.nextTokenAccuracy.original), 10))  \(pad(percent(t.nextTokenAccuracy.converted), 10))")
            out.append("  top-1 agreement               \(pad(percent(t.top1Agreement), 10))")
            out.append("  mean KL(original ‖ converted)  \(format(t.meanKL)) nats")
        }
        if let e = embeddings {
            out.append("")
            let normalized = e.pooling.normalize ? ", normalised" : ""
            let from = e.poolingSource == "sentence-transformers" ? "as the original's sentence-transformers files say" : "the default: no sentence-transformers files"
            out.append("sentence embeddings (\(e.sequences) sequences; \(e.pooling.mode.rawValue) pooling\(normalized), \(from)):")
            out.append("  cosine, mean                  \(formatFixed(e.cosineMean, digits: 6))")
            out.append("  cosine, minimum               \(formatFixed(e.cosineMin, digits: 6))")
            out.append("  same nearest neighbour        " + (e.neighbourAgreement.map(percent) ?? "n/a (one sequence)"))
        }
        out.append("")
        out.append("inference state per sequence at \(state.length) tokens:")
        out.append("  original KV cache   \(ByteSize.format(state.kvCacheBytes))")
        out.append("  converted           \(ByteSize.format(state.convertedBytes))" + (layers.allSatisfy(\.linear) ? " (constant in the length)" : ""))
        return out
    }

    /// The report as text for a terminal: the lines, each escaped.
    public var text: String { TerminalText.lines(lines) }

    func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }

    func percent(_ v: Double) -> String { formatFixed(v * 100, digits: 1) + "%" }
}

/// Horizontal bars drawn to scale: the largest value fills `width` cells, and eighth-cell blocks keep
/// values a fraction of a cell apart distinguishable (0.98 and 0.99 of the largest differ by a third of a
/// cell), where a bar of whole cells on a fixed 0–1 scale made every value from about 0.98 up look full.
enum ReportBar {
    static let width = 40
    static let eighths = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]

    /// The bar of `value` when `largest` fills the width; at least one eighth for any value above zero,
    /// nothing for zero, a negative or a non-finite value.
    static func draw(_ value: Double, largest: Double) -> String {
        guard value > 0, value.isFinite, largest > 0, largest.isFinite else { return "" }
        let n = max(1, Int((min(value / largest, 1) * Double(width * 8)).rounded()))
        return String(repeating: "█", count: n / 8) + eighths[n % 8]
    }
}

/// Short scientific or fixed notation for report numbers.
func format(_ v: Double) -> String {
    if v.isNaN || v.isInfinite { return "\(v)" }
    if v == 0 { return "0" }
    let a = abs(v)
    if a >= 1e-3 && a < 1e4 { return formatFixed(v, digits: a >= 100 ? 1 : 4) }
    var e = 0, m = a
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 { m *= 10; e -= 1 }
    return (v < 0 ? "-" : "") + formatFixed(m, digits: 3) + "e" + (e < 0 ? "-" : "+") + (abs(e) < 10 ? "0" : "") + String(abs(e))
}
