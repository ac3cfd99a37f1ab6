import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
@testable import Rewrite

@Suite struct InitializerTests {
    /// nn.Linear's default: every weight and bias within ±1/√d, and filling that interval.
    @Test func t2rUniformBounds() throws {
        let model = try Model(path: fixture("gpt2"))
        let g = try model.graph()
        let tensors = try Swap.newTensors(graph: g, store: model.store, options: options(.t2r) { $0.seed = 1; $0.separateQK = true })
        #expect(tensors.count == 8)
        let bound = Float(1 / 8.0.squareRoot())
        var all: [Float] = []
        for t in tensors {
            let v = try floats(t)
            #expect(v.allSatisfy { abs($0) <= bound }, "\(t.info.name) exceeds ±1/√d")
            all += v
        }
        #expect(all.min()! < -0.95 * bound && all.max()! > 0.95 * bound)
        let mean = all.reduce(0, +) / Float(all.count)
        #expect(abs(mean) < 0.02)
        // Variance of U(−a, a) is a²/3.
        let variance = all.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(all.count)
        #expect(abs(variance / (bound * bound / 3) - 1) < 0.1)
        // q and k maps differ, as do heads.
        let q = try floats(tensors[0]), k = try floats(tensors[2])
        #expect(q != k)
        #expect(Array(q[0..<256]) != Array(q[256..<512]))
    }

    @Test func t2rDefaultFeatureDim() throws {
        let model = try Model(path: fixture("bert"))
        let g = try model.graph()
        let t = try Swap.newTensors(graph: g, store: model.store, options: options(.t2r))
        #expect(t.map(\.info.name) == [
            "bert.encoder.layer.0.attention.self.feature_map.weight", "bert.encoder.layer.0.attention.self.feature_map.bias",
            "bert.encoder.layer.1.attention.self.feature_map.weight", "bert.encoder.layer.1.attention.self.feature_map.bias",
        ])
        #expect(t[0].info.shape == [4, 32, 8] && t[1].info.shape == [4, 32])
    }

    @Test(arguments: [(16, 8), (8, 8), (4, 8)])
    func hedgehogIdentity(k: Int, d: Int) {
        let layout = FeatureMapLayout(heads: 1, headDim: d, dimension: k, sharedQK: false, hiddenSize: d)
        let p = Hedgehog().parameters(layout)
        let weight = Hedgehog().initialValues(p[0], layout: layout, seed: 0, layer: 0, head: 0)
        for i in 0..<k { for j in 0..<d { #expect(weight[i * d + j] == (i == j ? 1 : 0)) } }
        #expect(Hedgehog().initialValues(p[1], layout: layout, seed: 0, layer: 0, head: 0) == [Double](repeating: 0, count: k))
    }

    @Test func hedgehogTensors() throws {
        let model = try Model(path: fixture("llama"))
        let g = try model.graph()
        let t = try Swap.newTensors(graph: g, store: model.store, options: options(.hedgehog) { $0.layers = .ranges([1...1]) })
        #expect(t.map(\.info.name) == ["q.weight", "q.bias", "k.weight", "k.bias"].map { "model.layers.1.self_attn.feature_map_" + $0 })
        // Default k = d = 8; BF16 like the model.
        #expect(t[0].info.shape == [4, 8, 8] && t[0].info.dtype == .bf16)
        let one = Cast.bf16Bits(fromF32Bits: Float(1).bitPattern)
        let w = try produced(t[0]).withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        for h in 0..<4 { for i in 0..<8 { for j in 0..<8 { #expect(w[(h * 8 + i) * 8 + j] == (i == j ? one : 0)) } } }
        #expect(try produced(t[1]).allSatisfy { $0 == 0 })
    }

    /// Within each block of d rows, the normalised rows are orthonormal (Gram ≈ I).
    @Test(arguments: [(20, 8), (8, 8), (5, 8), (64, 16)])
    func performerBlocksOrthogonal(m: Int, d: Int) {
        var s = RandomStream(seed: 9, purpose: "test", layer: 0, head: 0)
        let w = Performer.orthogonalFeatures(features: m, headDim: d, stream: &s)
        #expect(w.count == m * d)
        var worst = 0.0
        for start in stride(from: 0, to: m, by: d) {
            let rows = (start..<min(start + d, m)).map { r -> [Double] in
                let row = Array(w[(r * d)..<((r + 1) * d)])
                let n = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
                return row.map { $0 / n }
            }
            for i in rows.indices { for j in rows.indices {
                let dot = zip(rows[i], rows[j]).reduce(0) { $0 + $1.0 * $1.1 }
                worst = max(worst, abs(dot - (i == j ? 1 : 0)))
            } }
        }
        #expect(worst < 1e-12, "Gram matrix off the identity by \(worst)")
        // Rows of different blocks are not orthogonal in general (independent draws).
        if m > d {
            let dot = (0..<d).reduce(0.0) { $0 + w[$1] * w[d * d + $1] }
            #expect(abs(dot) > 1e-9)
        }
    }

    /// The written F32 tensor keeps orthogonality to f32 precision.
    @Test func performerTensorOrthogonal() throws {
        let model = try Model(path: fixture("gpt2"))
        let g = try model.graph()
        let t = try Swap.newTensors(graph: g, store: model.store, options: options(.performer) { $0.featureDim = 16 })
        #expect(t.map(\.info.name) == ["h.0.attn.feature_map.projection", "h.1.attn.feature_map.projection"])
        #expect(t[0].info.shape == [4, 16, 8])
        let v = try floats(t[0]).map(Double.init)
        var worst = 0.0
        for head in 0..<4 { for block in 0..<2 {
            let base = (head * 16 + block * 8) * 8
            let rows = (0..<8).map { r -> [Double] in
                let row = Array(v[(base + r * 8)..<(base + r * 8 + 8)])
                let n = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
                return row.map { $0 / n }
            }
            for i in 0..<8 { for j in 0..<8 {
                worst = max(worst, abs(zip(rows[i], rows[j]).reduce(0) { $0 + $1.0 * $1.1 } - (i == j ? 1 : 0)))
            } }
        } }
        #expect(worst < 1e-6, "\(worst)")
    }

    /// Row norms follow chi(d): E‖w‖² = d and Var‖w‖² = 2d, over many independent heads.
    @Test func performerNormsChi() {
        let d = 8, m = 16
        var squares: [Double] = []
        for head in 0..<400 {
            var s = RandomStream(seed: 2, purpose: "performer/projection", layer: 0, head: head)
            let w = Performer.orthogonalFeatures(features: m, headDim: d, stream: &s)
            for r in 0..<m { squares.append((0..<d).reduce(0) { $0 + w[r * d + $1] * w[r * d + $1] }) }
        }
        let n = Double(squares.count)
        let mean = squares.reduce(0, +) / n
        let variance = squares.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        // Standard errors: √(2d/n) ≈ 0.05 for the mean, ≈ 0.6 for the variance (n = 6400).
        #expect(abs(mean - Double(d)) < 0.3, "mean ‖w‖² = \(mean)")
        #expect(abs(variance - Double(2 * d)) < 3, "var ‖w‖² = \(variance)")
    }

    @Test func performerDifferentPerLayerAndHead() throws {
        let model = try Model(path: fixture("qwen2"))
        let g = try model.graph()
        let t = try Swap.newTensors(graph: g, store: model.store, options: options(.performer) { $0.featureDim = 16 })
        #expect(t[0].info.dtype == .f16)
        let a = try produced(t[0]), b = try produced(t[1])
        #expect(a != b)
        let per = a.count / 4
        #expect(Array(a[0..<per]) != Array(a[per..<(2 * per)]))
    }

    @Test func eluAddsNothing() throws {
        let model = try Model(path: fixture("gpt2"))
        let g = try model.graph()
        #expect(try Swap.newTensors(graph: g, store: model.store, options: options(.elu)).isEmpty)
        let plan = try Swap.plan(graph: g, options: options(.elu))
        #expect(plan.featureDim == 8 && plan.sharedQK && !plan.folded)
        #expect(throws: SwapError.self) { try Swap.plan(graph: g, options: options(.elu) { $0.featureDim = 4 }) }
        #expect(throws: SwapError.self) { try Swap.plan(graph: g, options: options(.elu) { $0.separateQK = true }) }
    }

    @Test func planDefaultsAndRefusals() throws {
        let g = try Model(path: fixture("gpt2")).graph()
        #expect(try Swap.plan(graph: g, options: options(.t2r)).featureDim == 32)
        #expect(try Swap.plan(graph: g, options: options(.performer)).featureDim == 256)
        #expect(try Swap.plan(graph: g, options: options(.hedgehog)).featureDim == 8)
        let hedgehog = try Swap.plan(graph: g, options: options(.hedgehog))
        #expect(!hedgehog.sharedQK)
        #expect(try !Swap.plan(graph: g, options: options(.t2r) { $0.separateQK = true }).sharedQK)
        for bad in [0, -3] {
            #expect(throws: SwapError.self) { try Swap.plan(graph: g, options: options(.t2r) { $0.featureDim = bad }) }
        }
        #expect(throws: SwapError.self) { try Swap.plan(graph: g, options: options(.t2r) { $0.eps = 0 }) }
        #expect(throws: SwapError.self) { try Swap.plan(graph: g, options: options(.performer) { $0.separateQK = true }) }
        #expect(throws: SwapError.self) { try Swap.plan(graph: g, options: options(.t2r) { $0.layers = .ranges([0...2]) }) }
        let swapped = try Model(path: fixture("gpt2-t2r")).graph()
        do {
            _ = try Swap.plan(graph: swapped, options: options(.t2r), file: "fixtures/gpt2-t2r")
            Issue.record("an already swapped model was accepted")
        } catch {
            #expect(error.description.contains("already uses linear attention"))
        }
    }
}
