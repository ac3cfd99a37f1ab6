import Foundation
import Testing
import TestSupport
import RecastCore
import FeatureMaps
@testable import Runtime
@testable import Calibration

/// A tiny layer with random parameters and random captures (q, k, v, layer input and targets), for the gradient
/// checks: 2 heads of size 4, k = 3 (t2r, hedgehog), m = 5 (performer), hidden size 6 for a folded map.
struct TransferCase: CustomStringConvertible {
    var layer: TransferLayer
    var parameters: LayerParameters
    var captures: [AttentionCapture]

    static let heads = 2, headDim = 4, hidden = 6

    init(_ map: FeatureMapKind, window: Int?, sinks: Int = 0, causal: Bool, sharedQK: Bool = true, folded: Bool = false,
         rows: [Int], seed: UInt64 = 1) {
        let h = Self.heads, d = Self.headDim
        let k = map == .performer ? 5 : map == .elu ? d : 3
        let layout = FeatureMapLayout(heads: h, headDim: d, dimension: k, sharedQK: sharedQK, folded: folded, hiddenSize: Self.hidden)
        layer = TransferLayer(map: map, layout: layout, window: window, sinks: sinks, causal: causal, eps: 1e-6, scale: 1 / Float(d).squareRoot())
        var rng = RandomStream(seed: seed, purpose: "calibration-test/\(map.name)", layer: 0, head: 0)
        parameters = [:]
        for p in map.map.parameters(layout) {
            let n = p.shape.reduce(1, *)
            parameters[p.suffix] = (0..<n).map { _ in Float(map == .performer ? rng.gaussian() * 0.7 : rng.uniform(-0.8, 0.8)) }
        }
        if window != nil { parameters[windowFactorsSuffix] = (0..<h).map { _ in Float(rng.uniform(-2, 1)) } }
        func matrices(_ t: Int, _ cols: Int, _ scale: Double) -> [Matrix] {
            (0..<h).map { _ in Matrix(rows: t, cols: cols, data: (0..<(t * cols)).map { _ in Float(rng.uniform(-scale, scale)) }) }
        }
        captures = rows.enumerated().map { s, t in
            AttentionCapture(layer: 0, sequence: s, heads: h, headDim: d, queries: matrices(t, d, 1.5), keys: matrices(t, d, 1.5),
                             values: matrices(t, d, 1), outputs: matrices(t, d, 0.5),
                             input: Matrix(rows: t, cols: Self.hidden, data: (0..<(t * Self.hidden)).map { _ in Float(rng.uniform(-1, 1)) }),
                             output: Matrix(rows: t, cols: Self.hidden))
        }
    }

    var description: String {
        "\(layer.map.name) window \(layer.window.map(String.init) ?? "none")\(layer.sinks > 0 ? " sinks \(layer.sinks)" : "") \(layer.causal ? "causal" : "bidirectional")"
            + (layer.layout.sharedQK ? "" : " separate q/k") + (layer.layout.folded ? " folded" : "")
    }

    /// The trained tensors, by suffix.
    var trainedSuffixes: [String] {
        layer.map.map.parameters(layer.layout).filter(\.trained).map(\.suffix) + (layer.window == nil ? [] : [windowFactorsSuffix])
    }

    /// Recast's loss and gradient by tensor suffix.
    func recastGradient() -> (loss: Double, gradients: [String: [Double]]) {
        let trained = TrainedParameters(layer)
        let data = TransferData(captures, layer: layer)
        let (loss, vector) = data.loss(trained.student(parameters), trained, gradient: true)
        var out: [String: [Double]] = [:]
        for entry in trained.entries {
            let n = entry.parameter.headCount * layer.layout.heads
            out[entry.parameter.suffix] = Array(vector[entry.offset..<(entry.offset + n)])
        }
        if let w = trained.windowOffset { out[windowFactorsSuffix] = Array(vector[w..<(w + layer.layout.heads)]) }
        return (loss, out)
    }
}

/// The loss evaluated directly in f64 from the formula of issues 12 and 13, one query at a time, with the maps'
/// published definitions: every sequence, head, query and key, no chunks, no prefix sums. `windowShift` is added
/// to c_n (0: the formula).
func directLoss(_ c: TransferCase, _ parameters: [String: [Double]], windowShift: Double = 0) -> Double {
    let layout = c.layer.layout, d = layout.headDim, k = layout.dimension, n = layout.inFeatures
    func role(_ query: Bool) -> String {
        let own = query ? "feature_map_q" : "feature_map_k"
        return parameters[own + ".weight"] != nil || parameters[own + ".projection"] != nil ? own : "feature_map"
    }
    func phi(_ x: [Double], head h: Int, query: Bool) -> [Double] {
        let p = role(query)
        func affine() -> [Double] {
            let w = parameters[p + ".weight"]!, b = parameters[p + ".bias"]!
            return (0..<k).map { j in (0..<n).reduce(b[h * k + j]) { $0 + w[h * k * n + j * n + $1] * x[$1] } }
        }
        func softmax(_ u: [Double]) -> [Double] {
            let top = u.max()!, e = u.map { exp($0 - top) }, s = e.reduce(0, +)
            return e.map { $0 / s }
        }
        switch c.layer.map {
        case .t2r: return affine().map { max($0, 0) }
        case .hedgehog: let u = affine(); return softmax(u) + softmax(u.map { -$0 })
        case .elu: return x.map { $0 > 0 ? $0 + 1 : exp($0) }
        default:
            let w = parameters[p + ".projection"]!, s = pow(Double(d), -0.25), xs = x.map { $0 * s }
            let half = xs.reduce(0) { $0 + $1 * $1 } / 2
            return (0..<k).map { j in exp((0..<d).reduce(0) { $0 + w[h * k * d + j * d + $1] * xs[$1] } - half) / Double(k).squareRoot() }
        }
    }
    var total = 0.0, count = 0
    for capture in c.captures {
        let t = capture.input.rows
        func rows(_ m: Matrix) -> [[Double]] { (0..<t).map { i in (0..<m.cols).map { Double(m.data[i * m.cols + $0]) } } }
        let input = rows(capture.input)
        for h in 0..<layout.heads {
            let q = capture.queries.map { rows($0[h]) }, k = capture.keys.map { rows($0[h]) }
            let v = rows(capture.values[h]), target = rows(capture.outputs[h])
            let fq = (layout.folded ? input : q!).map { phi($0, head: h, query: true) }
            let fk = (layout.folded ? input : k!).map { phi($0, head: h, query: false) }
            let gamma = parameters[windowFactorsSuffix].map { 1 / (1 + exp(-$0[h])) } ?? 0
            for n in 0..<t {
                func inWindow(_ i: Int) -> Bool {
                    guard let w = c.layer.window else { return false }
                    let sink = i < c.layer.sinks
                    return c.layer.causal ? i <= n && (i > n - w || sink) : abs(i - n) <= w / 2 || sink
                }
                func linear(_ i: Int) -> Bool {
                    guard let w = c.layer.window else { return c.layer.causal ? i <= n : true }
                    return c.layer.causal ? i <= n - w && i >= c.layer.sinks : !inWindow(i)
                }
                var logits = [Double](repeating: -.infinity, count: t)
                for i in 0..<t where inWindow(i) {
                    var dot = 0.0
                    for j in 0..<d { dot += q![n][j] * k![i][j] }
                    logits[i] = dot * Double(c.layer.scale)
                }
                let top = logits.max()! + windowShift
                var num = [Double](repeating: 0, count: d), den = Double(c.layer.eps)
                for i in 0..<t {
                    var weight = inWindow(i) ? gamma * exp(logits[i] - top) : 0
                    if linear(i) { for j in 0..<fq[n].count { weight += fq[n][j] * fk[i][j] } }
                    den += weight
                    for j in 0..<d { num[j] += weight * v[i][j] }
                }
                for j in 0..<d {
                    let r = num[j] / den - target[n][j]
                    total += r * r
                    count += 1
                }
            }
        }
    }
    return total / Double(count)
}

/// The cases the gradient checks run: every map with and without a window (performer and elu, which train only
/// their window factors, with one), causal and bidirectional, shared and separate t2r maps, folded t2r. Sequences
/// of `rows` (the PyTorch check takes one longer than a chunk of 64 rows).
func gradientCases(rows: [Int]) -> [TransferCase] {
    var cases: [TransferCase] = []
    for causal in [true, false] {
        for map in [FeatureMapKind.t2r, .hedgehog] {
            cases.append(TransferCase(map, window: nil, causal: causal, rows: rows))
            cases.append(TransferCase(map, window: 5, causal: causal, rows: rows))
        }
        cases.append(TransferCase(.t2r, window: 5, causal: causal, sharedQK: false, rows: rows))
        cases.append(TransferCase(.t2r, window: nil, causal: causal, sharedQK: false, folded: true, rows: rows))
        cases.append(TransferCase(.performer, window: 5, causal: causal, rows: rows))
        cases.append(TransferCase(.elu, window: 5, causal: causal, rows: rows))
        // Attention sinks: softmax terms for every query, never linear ones.
        cases.append(TransferCase(.hedgehog, window: 5, sinks: 2, causal: causal, rows: rows))
        cases.append(TransferCase(.t2r, window: 3, sinks: 3, causal: causal, sharedQK: false, rows: rows))
    }
    return cases
}

/// ‖a − b‖ / ‖b‖.
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    var num = 0.0, den = 0.0
    for (p, q) in zip(a, b) { num += (p - q) * (p - q); den += q * q }
    return (num / max(den, 1e-300)).squareRoot()
}
