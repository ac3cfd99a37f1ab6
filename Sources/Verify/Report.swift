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

/// What `recast verify` reports: whether a converted model is sound before finetuning it.
public struct VerifyReport: Sendable {
    public var original: String
    public var converted: String
    public var family: FamilyName
    public var featureMap: String
    public var tokens: Int
    public var layers: [LayerError]
    /// ‖h_converted − h_original‖ / ‖h_original‖ of the final hidden states.
    public var hiddenRelativeError: Double
    /// Fraction of positions whose most likely next token agrees (language models only).
    public var top1Agreement: Double?
    /// Mean over positions of KL(p_original ‖ p_converted) of the next-token distributions, in nats.
    public var meanKL: Double?
    /// Largest |parallel − recurrent| of the converted model's outputs, and relative to their scale (causal models only).
    public var parallelRecurrentMaxAbs: Double?
    public var parallelRecurrentMaxRel: Double?
    /// Memory at the verified length, and over a range of lengths for the plot.
    public var state: StatePoint
    public var stateCurve: [StatePoint]

    public var json: JSON {
        func num(_ v: Double?) -> JSON { v.map { JSON.number(format($0)) } ?? .null }
        return .object([
            ("original", .string(original)),
            ("converted", .string(converted)),
            ("family", .string(family.rawValue)),
            ("feature_map", .string(featureMap)),
            ("tokens", .int(tokens)),
            ("layers", .array(layers.map { l in
                .object([("layer", .int(l.layer)), ("linear", .bool(l.linear)), ("attention_relative_error", num(l.relativeError))])
            })),
            ("end_to_end", .object([
                ("hidden_relative_error", num(hiddenRelativeError)),
                ("top1_agreement", num(top1Agreement)),
                ("mean_kl", num(meanKL)),
            ])),
            ("parallel_vs_recurrent", .object([("max_abs", num(parallelRecurrentMaxAbs)), ("max_rel", num(parallelRecurrentMaxRel))])),
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
        out.append("tokens:    \(tokens)")
        out.append("")
        let largest = layers.filter(\.linear).map(\.relativeError).filter(\.isFinite).max() ?? 0
        out.append("attention output, linear vs softmax on the same input (relative error"
            + (largest > 0 ? "; full bar = \(format(largest)))" : ")") + ":")
        for l in layers {
            let bar = ReportBar.draw(l.relativeError, largest: largest)
            out.append("  layer \(pad(String(l.layer), 3))  " + (l.linear ? "\(pad(format(l.relativeError), 10))  \(bar)" : "   softmax kept"))
        }
        out.append("")
        out.append("end to end:")
        out.append("  hidden states relative error  \(format(hiddenRelativeError))")
        if let top1Agreement { out.append("  top-1 next-token agreement    \(formatFixed(top1Agreement * 100, digits: 1))%") }
        if let meanKL { out.append("  mean KL(original ‖ converted)  \(format(meanKL)) nats") }
        if let a = parallelRecurrentMaxAbs, let r = parallelRecurrentMaxRel {
            out.append("  parallel vs recurrent         max |Δ| \(format(a)) (relative \(format(r)))")
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
