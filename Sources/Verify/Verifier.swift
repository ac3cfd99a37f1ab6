#if canImport(Glibc)
import Glibc
#endif
import ModelGraph
import RecastCore
import Runtime

/// Why a verification cannot run: the two models do not belong together.
public struct VerifyError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Compares a converted (linear-attention) model with its original.
public enum Verifier {
    public static func verify(original: String, converted: String, tokens given: [Int]?, length: Int, seed: UInt64) throws -> VerifyReport {
        let om = try Model(path: original), cm = try Model(path: converted)
        let og = try om.graph(), cg = try cm.graph()
        guard let la = cg.linearAttention else {
            throw VerifyError("\(converted): has no linear_attention block in its config.json: it is not a converted model (run `recast swap` first)")
        }
        guard og.family == cg.family, og.layerCount == cg.layerCount, og.hiddenSize == cg.hiddenSize, og.vocabSize == cg.vocabSize else {
            throw VerifyError("\(converted): is not a conversion of \(original) (\(cg.family.rawValue), \(cg.layerCount) layers, hidden \(cg.hiddenSize) against \(og.family.rawValue), \(og.layerCount) layers, hidden \(og.hiddenSize))")
        }
        // Both models' positions bound the sequence; checked before the tokens are built.
        try RunLimits.checkLength(given?.count ?? length, graph: og, file: om.configPath ?? original)
        try RunLimits.checkLength(given?.count ?? length, graph: cg, file: cm.configPath ?? converted)
        try RunLimits.checkRun(tokens: given?.count ?? length, models: [(og, om.store), (cg, cm.store)], modes: [.parallel, .recurrent],
                               file: om.store.files.first ?? original)
        let tokens = given ?? syntheticTokens(length: length, seed: seed, vocab: og.vocabSize)
        let orig = try Transformer(graph: og, store: om.store)
        let conv = try Transformer(graph: cg, store: cm.store)

        // Feed each converted layer the exact input its original layer saw.
        var layerErrors: [LayerError] = []
        let reference = try orig.forward(tokens: tokens) { layer, input, output in
            guard conv.isLinear(layer: layer) else {
                layerErrors.append(LayerError(layer: layer, linear: false, relativeError: 0))
                return
            }
            let y = conv.attentionOutput(layer: layer, input: input)
            layerErrors.append(LayerError(layer: layer, linear: true, relativeError: relativeError(y.data, output.data)))
        }
        let output = try conv.forward(tokens: tokens)
        var report = VerifyReport(
            original: original, converted: converted, family: og.family, featureMap: la.featureMap,
            tokens: tokens.count, layers: layerErrors,
            hiddenRelativeError: relativeError(output.hiddenStates.data, reference.hiddenStates.data),
            top1Agreement: nil, meanKL: nil, parallelRecurrentMaxAbs: nil, parallelRecurrentMaxRel: nil,
            state: state(og, cg, length: tokens.count), stateCurve: [])
        if let lo = reference.logits, let lc = output.logits {
            let (agree, kl) = compareDistributions(lo, lc)
            report.top1Agreement = agree
            report.meanKL = kl
        }
        if cg.causal {
            let rec = try conv.forwardRecurrent(tokens: tokens)
            var largest = maxAbsDiff(rec.hiddenStates.data, output.hiddenStates.data)
            var scale = maxAbs(output.hiddenStates.data)
            if let a = rec.logits, let b = output.logits {
                largest = max(largest, maxAbsDiff(a.data, b.data))
                scale = max(scale, maxAbs(b.data))
            }
            report.parallelRecurrentMaxAbs = largest
            report.parallelRecurrentMaxRel = largest / max(scale, 1e-30)
        }
        var lengths: [Int] = []
        var n = 64
        while n <= 65_536 { lengths.append(n); n *= 2 }
        report.stateCurve = lengths.map { state(og, cg, length: $0) }
        return report
    }

    /// Bytes of inference state for one sequence: a KV cache of f32 keys and values per softmax layer,
    /// (S, z) per head of each linear layer.
    public static func state(_ original: ModelGraph, _ converted: ModelGraph, length: Int) -> StatePoint {
        // The graph counts its softmax layers' KV caches, each bounded by its sliding window where it has one.
        let linear = Set(converted.linearAttention?.layers ?? [])
        var bytes = converted.kvCacheBytes(length: length)
        if let la = converted.linearAttention {
            let d = converted.headDim
            let m: Int
            switch FeatureMapKind(rawValue: la.featureMap) {
            case .elu: m = d
            case .hedgehog: m = 2 * la.featureDim
            default: m = la.featureDim
            }
            bytes += linear.count * converted.heads * (m * d + m) * 4
        }
        return StatePoint(length: length, kvCacheBytes: original.kvCacheBytes(length: length), convertedBytes: bytes)
    }

    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) {
            let d = Double(x) - Double(y)
            num += d * d
            den += Double(y) * Double(y)
        }
        return (num / max(den, 1e-300)).squareRoot()
    }

    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Double {
        zip(a, b).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) }
    }

    static func maxAbs(_ a: [Float]) -> Double { a.reduce(0.0) { max($0, abs(Double($1))) } }

    /// Top-1 agreement and mean KL(p‖q) of the next-token distributions, row by row.
    static func compareDistributions(_ p: Matrix, _ q: Matrix) -> (Double, Double) {
        var agree = 0, kl = 0.0
        for r in 0..<p.rows {
            let a = logSoftmax(Array(p.row(r))), b = logSoftmax(Array(q.row(r)))
            if argmax(a) == argmax(b) { agree += 1 }
            var s = 0.0
            for j in 0..<a.count { s += exp(a[j]) * (a[j] - b[j]) }
            kl += max(s, 0)
        }
        return (Double(agree) / Double(max(p.rows, 1)), kl / Double(max(p.rows, 1)))
    }

    static func logSoftmax(_ x: [Float]) -> [Double] {
        let m = Double(x.max() ?? 0)
        let lse = m + log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
        return x.map { Double($0) - lse }
    }

    static func argmax(_ x: [Double]) -> Int { x.indices.max { x[$0] < x[$1] } ?? 0 }
}
