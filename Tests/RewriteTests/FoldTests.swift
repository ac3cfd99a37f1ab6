import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
@testable import Rewrite

@Suite struct FoldTests {
    /// relu(Ŵx + b̂) == relu(W_φ(W_q x + b_q) + b_φ) for random x, per layer, head and role.
    @Test(arguments: ["gpt2", "gpt2-prefixed", "bert", "bert-tf"], [false, true])
    func foldEquivalence(fixtureName: String, separate: Bool) throws {
        let model = try Model(path: fixture(fixtureName))
        let g = try model.graph()
        let opts = options(.t2r) { $0.seed = 17; $0.featureDim = 12; $0.separateQK = separate }
        var foldOpts = opts
        foldOpts.fold = true
        let plan = try Swap.plan(graph: g, options: foldOpts)
        #expect(plan.folded && !plan.sharedQK)
        let unfolded = Dictionary(uniqueKeysWithValues: try Swap.newTensors(graph: g, store: model.store, options: opts).map { ($0.info.name, $0) })
        let folded = try Swap.newTensors(graph: g, store: model.store, options: foldOpts)
        #expect(folded.count == 8)
        let e = g.hiddenSize, d = g.headDim, k = 12
        var rng = RandomStream(seed: 99)
        var checked = 0
        for layer in 0..<g.layerCount {
            let a = g.blocks[layer].attention
            for (role, projection) in [("q", a.query), ("k", a.key)] {
                let p = a.modulePath
                let mapBase = separate ? "feature_map_\(role)" : "feature_map"
                guard let fw = folded.first(where: { $0.info.name == "\(p).feature_map_\(role).weight" }),
                      let fb = folded.first(where: { $0.info.name == "\(p).feature_map_\(role).bias" }),
                      let mw = unfolded["\(p).\(mapBase).weight"], let mb = unfolded["\(p).\(mapBase).bias"] else {
                    Issue.record("missing tensors for layer \(layer) \(role)")
                    continue
                }
                #expect(fw.info.shape == [4, k, e] && fb.info.shape == [4, k] && fw.info.dtype == .f32)
                let hatW = try floats(fw).map(Double.init), hatB = try floats(fb).map(Double.init)
                let phiW = try floats(mw).map(Double.init), phiB = try floats(mb).map(Double.init)
                let (wq, bq) = try projection.load(from: model.store)
                for head in 0..<4 {
                    let rows = Array(wq[(head * d * e)..<((head + 1) * d * e)]).map(Double.init)
                    let bias = bq.map { Array($0[(head * d)..<((head + 1) * d)]).map(Double.init) }
                    let hw = Array(hatW[(head * k * e)..<((head + 1) * k * e)]), hb = Array(hatB[(head * k)..<((head + 1) * k)])
                    let pw = Array(phiW[(head * k * d)..<((head + 1) * k * d)]), pb = Array(phiB[(head * k)..<((head + 1) * k)])
                    for _ in 0..<6 {
                        let x = (0..<e).map { _ in rng.uniform(-2, 2) }
                        let direct = affine(hw, hb, x, rows: k, cols: e).map { Float(max($0, 0)) }
                        let q = affine(rows, bias, x, rows: d, cols: e)
                        let twoStep = affine(pw, pb, q, rows: k, cols: d).map { Float(max($0, 0)) }
                        #expect(maxRelativeError(direct, twoStep) < 1e-4)
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == g.layerCount * 2 * 4 * 6)
    }

    /// With one shared map, q and k fold the same φ into different projections.
    @Test func sharedMapFoldsIntoBoth() throws {
        let model = try Model(path: fixture("gpt2"))
        let g = try model.graph()
        let t = try Swap.newTensors(graph: g, store: model.store, options: options(.t2r) { $0.fold = true; $0.featureDim = 4 })
        #expect(t.map(\.info.name) == ["q.weight", "q.bias", "k.weight", "k.bias"].map { "h.0.attn.feature_map_" + $0 }
            + ["q.weight", "q.bias", "k.weight", "k.bias"].map { "h.1.attn.feature_map_" + $0 })
        #expect(try floats(t[0]) != floats(t[2]))
    }

    @Test(arguments: ["llama", "qwen2"])
    func refusedWithRotary(fixtureName: String) throws {
        let g = try Model(path: fixture(fixtureName)).graph()
        do {
            _ = try Swap.plan(graph: g, options: options(.t2r) { $0.fold = true }, file: fixture(fixtureName))
            Issue.record("fold accepted on \(fixtureName)")
        } catch {
            #expect(error.description.contains("rotary"), "\(error)")
            #expect(error.description.contains("--fold is refused"), "\(error)")
            #expect(error.file == fixture(fixtureName))
        }
    }

    @Test(arguments: [FeatureMapKind.performer, .elu, .hedgehog])
    func refusedWithoutLinearStage(map: FeatureMapKind) throws {
        do {
            try options(map) { $0.fold = true }.validate()
            Issue.record("fold accepted for \(map)")
        } catch {
            #expect(error.description.contains("--fold is refused for \(map.rawValue)"), "\(error)")
        }
        let g = try Model(path: fixture("gpt2")).graph()
        #expect(throws: SwapError.self) { try Swap.plan(graph: g, options: options(map) { $0.fold = true }) }
    }
}
