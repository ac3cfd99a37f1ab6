import Foundation
import Testing
import TestSupport
import RecastCore
import LinearAlgebra
import FeatureMaps

/// One head of a map with random parameters and inputs, for the kernel checks.
struct KernelCase {
    var kind: FeatureMapKind
    var weights: FeatureMapWeights
    var rows: Int
    /// Row stride of x, wider than the row to check strided reads.
    var ldx: Int
    var x: [Float]
    /// dL/dφ of L = Σ grad ⊙ φ.
    var grad: [Float]
    var head: Int

    var map: any FeatureMap { kind.map }
    var inFeatures: Int { weights.inFeatures }
    var features: Int { map.featureCount(dimension: weights.dimension, headDim: inFeatures) }

    /// Heads 2, head size 6 (k 5 for t2r and hedgehog, m 7 for performer); the second head is the one used.
    init(_ kind: FeatureMapKind, seed: UInt64) {
        self.kind = kind
        let heads = 2, d = 6, rows = 4
        let k = kind == .performer ? 7 : kind == .elu ? d : 5
        var rng = RandomStream(seed: seed, purpose: "feature-map-test/\(kind.name)", layer: 0, head: 0)
        let layout = FeatureMapLayout(heads: heads, headDim: d, dimension: k, sharedQK: true, hiddenSize: 16)
        var values: [String: [Float]] = [:]
        for p in kind.map.parameters(layout) {
            let n = p.shape.reduce(1, *)
            // Performer's ω are Gaussian rows; affine weights and biases are uniform in ±0.8.
            values[p.key] = (0..<n).map { _ in Float(kind == .performer ? rng.gaussian() * 0.7 : rng.uniform(-0.8, 0.8)) }
        }
        weights = FeatureMapWeights(values: values, dimension: k, inFeatures: d)
        self.rows = rows
        ldx = d + 3
        x = (0..<(rows * ldx)).map { _ in Float(rng.uniform(-1, 1)) }
        head = 1
        grad = []
        grad = (0..<(rows * features)).map { _ in Float(rng.uniform(-1, 1)) }
    }

    func forward(x: [Float], weights: FeatureMapWeights) -> [Float] {
        var out = [Float](repeating: .nan, count: rows * features)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { map.forward(weights, head: head, x: xp.baseAddress!, rows: rows, ldx: ldx, into: $0.baseAddress!) }
        }
        return out
    }

    func loss(x: [Float], weights: FeatureMapWeights) -> Double {
        zip(forward(x: x, weights: weights), grad).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    func backward() -> FeatureMapGradient {
        x.withUnsafeBufferPointer { xp in
            grad.withUnsafeBufferPointer { map.backward(weights, head: head, x: xp.baseAddress!, rows: rows, ldx: ldx, outputGradient: $0.baseAddress!) }
        }
    }

    /// One head's slice of a parameter.
    func slice(_ key: String) -> ArraySlice<Float> {
        let all = weights.values[key] ?? []
        let n = all.count / 2
        return all[(head * n)..<((head + 1) * n)]
    }

    /// The smallest |W_h x + b_h| over the rows, in Double: how far T2R's relu is from its kink.
    var affineMargin: Double {
        let k = weights.dimension, n = inFeatures
        let w = Array(slice("weight")), b = Array(slice("bias"))
        var margin = Double.infinity
        for r in 0..<rows {
            for j in 0..<k {
                var u = Double(b[j])
                for c in 0..<n { u += Double(w[j * n + c]) * Double(x[r * ldx + c]) }
                margin = min(margin, abs(u))
            }
        }
        return margin
    }

    /// x without the padding of its row stride.
    var denseX: [[Float]] { (0..<rows).map { r in Array(x[(r * ldx)..<(r * ldx + inFeatures)]) } }
}

/// ‖a − b‖ / ‖b‖.
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    var num = 0.0, den = 0.0
    for (p, q) in zip(a, b) { num += (p - q) * (p - q); den += q * q }
    return (num / max(den, 1e-300)).squareRoot()
}

@Suite struct KernelTests {
    init() throws { try BLAS.load(file: "FeatureMapTests") }

    /// Central differences of L = Σ grad ⊙ φ in every input and trained parameter, against the backward kernel.
    @Test(arguments: FeatureMapKind.allCases)
    func backwardMatchesFiniteDifferences(kind: FeatureMapKind) throws {
        let step: Float = 1e-2
        // relu has a kink at 0, where a difference quotient is meaningless: for t2r, the first seed whose
        // W x + b stays clear of it by more than any step moves it (|W|, |x| ≤ 1, so by 0.02).
        let seeds: [UInt64] = kind == .t2r ? Array(0..<64) : [3]
        let c = try #require(seeds.lazy.map { KernelCase(kind, seed: $0) }.first { kind != .t2r || $0.affineMargin > 0.02 })
        let g = c.backward()
        #expect(g.input.count == c.rows * c.inFeatures)
        var numeric: [Double] = [], analytic: [Double] = []
        for r in 0..<c.rows {
            for j in 0..<c.inFeatures {
                var plus = c.x, minus = c.x
                plus[r * c.ldx + j] += step
                minus[r * c.ldx + j] -= step
                numeric.append((c.loss(x: plus, weights: c.weights) - c.loss(x: minus, weights: c.weights)) / Double(2 * step))
                analytic.append(Double(g.input[r * c.inFeatures + j]))
            }
        }
        #expect(relativeError(analytic, numeric) < 2e-3, "dL/dx of \(kind)")
        let layout = FeatureMapLayout(heads: 2, headDim: c.inFeatures, dimension: c.weights.dimension, sharedQK: true, hiddenSize: 16)
        let trained = kind.map.parameters(layout).filter(\.trained).map(\.key)
        #expect(Set(g.parameters.keys) == Set(trained))
        for key in trained {
            let grads = try #require(g.parameters[key])
            let perHead = c.slice(key).count
            #expect(grads.count == perHead)
            var numeric: [Double] = [], analytic: [Double] = []
            for i in 0..<perHead {
                var plus = c.weights, minus = c.weights
                plus.values[key]![c.head * perHead + i] += step
                minus.values[key]![c.head * perHead + i] -= step
                numeric.append((c.loss(x: c.x, weights: plus) - c.loss(x: c.x, weights: minus)) / Double(2 * step))
                analytic.append(Double(grads[i]))
            }
            #expect(relativeError(analytic, numeric) < 2e-3, "dL/d\(key) of \(kind)")
        }
    }

    /// φ, dL/dx and dL/dparameters against PyTorch autograd on the published definitions
    /// (tools/feature_map_reference.py).
    @Test(arguments: FeatureMapKind.allCases)
    func matchesTorchAutograd(kind: FeatureMapKind) throws {
        let c = KernelCase(kind, seed: 11)
        func matrix(_ v: [Float], columns: Int) -> JSON {
            .array(stride(from: 0, to: v.count, by: columns).map { s in .array(v[s..<(s + columns)].map { .double(Double($0)) }) })
        }
        let layout = FeatureMapLayout(heads: 2, headDim: c.inFeatures, dimension: c.weights.dimension, sharedQK: true, hiddenSize: 16)
        let parameters = kind.map.parameters(layout)
        let params: [(String, JSON)] = parameters.map { p in
            let v = Array(c.slice(p.key))
            return (p.key, p.shape.count == 3 ? matrix(v, columns: p.shape[2]) : .array(v.map { .double(Double($0)) }))
        }
        let spec = JSON.object([
            ("map", .string(kind.name)),
            ("x", .array(c.denseX.map { .array($0.map { .double(Double($0)) }) })),
            ("params", .object(params)),
            ("grad", matrix(c.grad, columns: c.features)),
        ])
        let dir = TempDir()
        let input = dir.write("spec.json", spec.serialized())
        let torch = try pythonJSON("feature_map_reference.py", [input])
        func flat(_ j: JSON?) -> [Double] {
            guard let a = j?.arrayValue else { return j?.doubleValue.map { [$0] } ?? [] }
            return a.flatMap { flat($0) }
        }
        let phi = c.forward(x: c.x, weights: c.weights).map(Double.init)
        #expect(phi.count == flat(torch["phi"]).count)
        #expect(relativeError(phi, flat(torch["phi"])) < 1e-5, "φ of \(kind)")
        let g = c.backward()
        #expect(relativeError(g.input.map(Double.init), flat(torch["input"])) < 1e-5, "dL/dx of \(kind)")
        let torchParams = torch["params"]?.objectValue ?? []
        #expect(Set(torchParams.map(\.0)) == Set(g.parameters.keys))
        for (key, value) in torchParams {
            #expect(relativeError((g.parameters[key] ?? []).map(Double.init), flat(value)) < 1e-5, "dL/d\(key) of \(kind)")
        }
    }

    /// The kernels read only the head they are given and honour the row stride: head 0's result is
    /// unchanged when head 1's parameters and the padding of x change.
    @Test(arguments: FeatureMapKind.allCases)
    func readsOnlyItsHead(kind: FeatureMapKind) {
        var c = KernelCase(kind, seed: 5)
        c.head = 0
        let before = c.forward(x: c.x, weights: c.weights)
        var other = c.weights
        for (key, v) in other.values { other.values[key] = v.enumerated().map { $0.offset >= v.count / 2 ? $0.element + 1 : $0.element } }
        var padded = c.x
        for r in 0..<c.rows { for j in c.inFeatures..<c.ldx { padded[r * c.ldx + j] = 1e6 } }
        #expect(c.forward(x: padded, weights: other) == before)
    }
}
