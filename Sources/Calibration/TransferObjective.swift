#if canImport(Glibc)
import Glibc
#endif
import FeatureMaps
import LinearAlgebra
import Runtime

/// One head of one captured sequence, ready for the student: the inputs of its maps, its values with a column of
/// ones, its window terms (fixed: they depend on the teacher's q and k only) and its target.
struct PreparedHead: Sendable {
    let rows: Int
    /// What φ_q and φ_k read: q and k of the head `[T, d]`, or the layer input `[T, hidden]` for a folded map.
    let queryInput: [Float]
    let keyInput: [Float]
    /// v′ = [v, 1] `[T, d + 1]`.
    let values: [Float]
    /// E′_n = Σ_{i in n's window} exp(q_n·k_i·scale − c_n) v′_i `[T, d + 1]`, with c_n the largest logit of the
    /// window (the sinks count as inside it); nil without a window. γ_h times E′ is the hybrid's softmax part of
    /// numerator and denominator.
    let window: [Float]?
    /// The teacher's output `[T, d]`.
    let target: [Float]
}

/// The student of one layer: its maps' weights per q and k, its window factors, and how far its linear terms reach.
struct Student: Sendable {
    let layer: TransferLayer
    var query: FeatureMapWeights
    var key: FeatureMapWeights
    /// γ_h = sigmoid(g_h), per head (empty without a window).
    var gates: [Float]

    var features: Int { layer.map.map.featureCount(dimension: layer.layout.dimension, headDim: layer.layout.headDim) }

    var reach: LinearReach {
        guard let w = layer.window else { return layer.causal ? .before(delay: 0) : .all }
        return layer.causal ? .before(delay: w) : .outside(delay: w / 2 + 1)
    }
}

/// What one (sequence, head) gives: its squared error and, when asked, the gradients of the loss with respect to
/// the head's slice of every trained parameter (by role and key) and to its window factor g_h.
struct HeadResult: Sendable {
    var squaredError: Double
    var query: [String: [Float]] = [:]
    var key: [String: [Float]] = [:]
    var gate: Double = 0
}

enum TransferObjective {
    /// Rows of queries per block of the window terms.
    static let windowBlock = 64

    /// The student's output of head `h` on `x`, `[T, d]`, with what the backward pass reuses: φ_q, φ_k as the
    /// linear terms read it (the sinks' rows zero: those positions are softmax terms for every query) and the
    /// denominators.
    static func forward(_ student: Student, head h: Int, _ x: PreparedHead)
        -> (output: [Float], phiQ: [Float], phiK: [Float], numerator: [Float]) {
        let layout = student.layer.layout, t = x.rows, d = layout.headDim, e = d + 1, m = student.features
        let ldx = layout.inFeatures, map = student.layer.map.map
        var phiQ = [Float](repeating: 0, count: t * m), phiK = [Float](repeating: 0, count: t * m)
        x.queryInput.withUnsafeBufferPointer { xq in
            phiQ.withUnsafeMutableBufferPointer { map.forward(student.query, head: h, x: xq.baseAddress!, rows: t, ldx: ldx, into: $0.baseAddress!) }
        }
        x.keyInput.withUnsafeBufferPointer { xk in
            phiK.withUnsafeMutableBufferPointer { map.forward(student.key, head: h, x: xk.baseAddress!, rows: t, ldx: ldx, into: $0.baseAddress!) }
        }
        let sinks = min(student.layer.sinks, t)
        if sinks > 0 { phiK.replaceSubrange(0..<(sinks * m), with: repeatElement(0, count: sinks * m)) }
        var numerator = LinearTerms.forward(student.reach, phiQ: phiQ, phiK: phiK, values: x.values, rows: t, features: m, width: e)
        if let window = x.window {
            let gamma = student.gates[h]
            for i in numerator.indices { numerator[i] += gamma * window[i] }
        }
        var output = [Float](repeating: 0, count: t * d)
        let eps = student.layer.eps
        for n in 0..<t {
            let inv = 1 / (numerator[n * e + d] + eps)
            for j in 0..<d { output[n * d + j] = numerator[n * e + j] * inv }
        }
        return (output, phiQ, phiK, numerator)
    }

    /// The squared error of head `h` on `x` and, when `gradientScale` is given (dL/d(squared error)), the gradients.
    static func evaluate(_ student: Student, head h: Int, _ x: PreparedHead, gradientScale: Double?) -> HeadResult {
        let (y, phiQ, phiK, numerator) = forward(student, head: h, x)
        let layout = student.layer.layout, t = x.rows, d = layout.headDim, e = d + 1, m = student.features
        var squared = 0.0
        for i in y.indices { let r = Double(y[i]) - Double(x.target[i]); squared += r * r }
        guard let scale = gradientScale else { return HeadResult(squaredError: squared) }
        // With u_n = 1/(den_n + ε): dL/dnum_n = G_n u_n and dL/dden_n = −u_n G_n·y_n, side by side as g′ `[T, e]`.
        var g = [Float](repeating: 0, count: t * e)
        let eps = student.layer.eps
        for n in 0..<t {
            let u = 1 / (Double(numerator[n * e + d]) + Double(eps))
            var dot = 0.0
            for j in 0..<d {
                let gj = 2 * scale * (Double(y[n * d + j]) - Double(x.target[n * d + j]))
                g[n * e + j] = Float(gj * u)
                dot += gj * Double(y[n * d + j])
            }
            g[n * e + d] = Float(-u * dot)
        }
        var result = HeadResult(squaredError: squared)
        if let window = x.window {
            // num′ = lin′ + γ E′: dL/dγ = Σ g′·E′, and dγ/dg = γ (1 − γ).
            var dGamma = 0.0
            for i in g.indices { dGamma += Double(g[i]) * Double(window[i]) }
            let gamma = Double(student.gates[h])
            result.gate = dGamma * gamma * (1 - gamma)
        }
        let map = student.layer.map.map
        guard map.parameters(layout).contains(where: \.trained) else { return result }
        var (dPhiQ, dPhiK) = LinearTerms.backward(student.reach, phiQ: phiQ, phiK: phiK, values: x.values, gradient: g,
                                                  rows: t, features: m, width: e)
        // The sinks' φ_k is multiplied by zero in the linear terms: no gradient reaches it (so the map's backward
        // pass gets zero rows there, whatever the features it is given).
        let sinks = min(student.layer.sinks, t)
        if sinks > 0 { dPhiK.replaceSubrange(0..<(sinks * m), with: repeatElement(0, count: sinks * m)) }
        // The maps' backward passes, from the features the forward pass computed where the map can take them.
        func mapBackward(_ weights: FeatureMapWeights, input: [Float], features: [Float], gradient: [Float]) -> [String: [Float]] {
            input.withUnsafeBufferPointer { xb in
                gradient.withUnsafeBufferPointer { gb in
                    guard let reusing = map as? any BackwardFromFeatures else {
                        return map.backward(weights, head: h, x: xb.baseAddress!, rows: t, ldx: layout.inFeatures, outputGradient: gb.baseAddress!).parameters
                    }
                    return features.withUnsafeBufferPointer {
                        reusing.backward(weights, head: h, x: xb.baseAddress!, rows: t, ldx: layout.inFeatures, features: $0.baseAddress!,
                                         outputGradient: gb.baseAddress!).parameters
                    }
                }
            }
        }
        result.query = mapBackward(student.query, input: x.queryInput, features: phiQ, gradient: dPhiQ)
        result.key = mapBackward(student.key, input: x.keyInput, features: phiK, gradient: dPhiK)
        return result
    }

    /// E′ of one head: the softmax terms of each query's window (causal: n − W < i ≤ n; bidirectional:
    /// |i − n| ≤ ⌊W/2⌋) and of the sinks i < `sinks` (causal: i ≤ n), by blocks of rows over the keys their
    /// windows span plus the sinks before them; c_n is each row's largest logit over both.
    static func windowTerms(queries q: [Float], keys k: [Float], values v: [Float], rows t: Int, headDim d: Int, window w: Int,
                            sinks: Int = 0, causal: Bool, scale: Float) -> [Float] {
        let e = d + 1, half = w / 2, b = windowBlock
        var out = [Float](repeating: 0, count: t * e)
        let span = causal ? b + w - 1 : b + 2 * half
        var scores = [Float](repeating: 0, count: b * min(t, span))
        var early = [Float](repeating: 0, count: b * max(sinks, 1))
        q.withUnsafeBufferPointer { qb in
            k.withUnsafeBufferPointer { kb in
                v.withUnsafeBufferPointer { vb in
                    out.withUnsafeMutableBufferPointer { ob in
                        scores.withUnsafeMutableBufferPointer { sb in
                            early.withUnsafeMutableBufferPointer { eb in
                                let p = sb.baseAddress!, pe = eb.baseAddress!
                                for r0 in stride(from: 0, to: t, by: b) {
                                    let c = min(b, t - r0)
                                    let low = causal ? max(0, r0 - w + 1) : max(0, r0 - half)
                                    let high = causal ? r0 + c : min(t, r0 + c + half), n = high - low
                                    // The sinks before the span (every row sees them), then the span.
                                    let parked = min(sinks, low)
                                    BLAS.gemm(m: c, n: parked, k: d, a: qb.baseAddress! + r0 * d, lda: d, b: kb.baseAddress!, ldb: d,
                                              transposeB: true, c: pe, ldc: max(parked, 1), alpha: scale)
                                    BLAS.gemm(m: c, n: n, k: d, a: qb.baseAddress! + r0 * d, lda: d, b: kb.baseAddress! + low * d, ldb: d,
                                              transposeB: true, c: p, ldc: n, alpha: scale)
                                    for i in 0..<c {
                                        let position = r0 + i, row = p + i * n, sinkRow = pe + i * parked
                                        let first = (causal ? position - w + 1 : position - half) - low
                                        let last = (causal ? position : position + half) - low
                                        let lo = max(0, first), hi = min(n - 1, last)
                                        func sees(_ j: Int) -> Bool {
                                            (j >= lo && j <= hi) || (low + j < sinks && (!causal || low + j <= position))
                                        }
                                        var largest = -Float.infinity
                                        for j in 0..<n where sees(j) { largest = max(largest, row[j]) }
                                        for j in 0..<parked { largest = max(largest, sinkRow[j]) }
                                        for j in 0..<n { row[j] = sees(j) ? expf(row[j] - largest) : 0 }
                                        for j in 0..<parked { sinkRow[j] = expf(sinkRow[j] - largest) }
                                    }
                                    BLAS.gemm(m: c, n: e, k: n, a: p, lda: n, b: vb.baseAddress! + low * e, ldb: e, transposeB: false,
                                              c: ob.baseAddress! + r0 * e, ldc: e)
                                    if parked > 0 {
                                        BLAS.gemm(m: c, n: e, k: parked, a: pe, lda: parked, b: vb.baseAddress!, ldb: e, transposeB: false,
                                                  c: ob.baseAddress! + r0 * e, ldc: e, beta: 1)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// A feature map whose backward pass can start from φ(x) as its forward pass computed it.
protocol BackwardFromFeatures {
    func backward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int,
                  features: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>) -> FeatureMapGradient
}

extension Hedgehog: BackwardFromFeatures {}

/// Runs `body` for 0..<count over Recast's threads (`BLAS.inParallel`: products inside run on their calling
/// thread) and returns the results in index order, so that any reduction over them is the same on every run.
func inParallel<T: Sendable>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    let slots = ResultSlots<T>(count)
    BLAS.inParallel(tasks: count) { i in slots.set(i, body(i)) }
    return slots.values
}

/// Results written by parallel workers, each to its own slot (raw memory: no exclusivity check across threads).
private final class ResultSlots<T>: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<T?>
    private let count: Int
    init(_ count: Int) {
        self.count = count
        slots = UnsafeMutablePointer<T?>.allocate(capacity: max(count, 1))
        slots.initialize(repeating: nil, count: count)
    }
    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }
    func set(_ i: Int, _ value: T) { slots[i] = value }
    var values: [T] { (0..<count).map { slots[$0]! } }
}
