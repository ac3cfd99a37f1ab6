import Foundation
import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
import Rewrite
import SafeTensors
@testable import Runtime

/// A swapped fixture made a sliding-window hybrid: `linear_attention.window` = W in config.json and a
/// `{P}.window_factors` [H] per swapped layer, with g_h spread around LoLCATs' −2.1972 (γ = 0.1) so that the
/// heads differ. Built here until `recast swap --window` exists.
func hybridModel(_ family: String, _ map: FeatureMapKind, window: Int, sinks: Int = 0, in dir: TempDir, fold: Bool = false) throws -> String {
    var o = SwapOptions(featureMap: map)
    o.seed = 3
    if map == .t2r || map == .hedgehog { o.featureDim = 12 }
    if map == .performer { o.featureDim = 24 }
    o.fold = fold
    let swapped = dir.file("\(family)-\(map.rawValue)-swapped")
    _ = try Swap.write(source: fixture(family), destination: swapped, options: o)
    let model = try Model(path: swapped)
    let graph = try model.graph()
    var tensors = model.store.tensors.map { OutputTensor.copy($0, from: model.store) }
    for i in graph.linearAttention?.layers ?? [] {
        let a = graph.blocks[i].attention
        let g = (0..<a.heads).map { Float(-2.1972 + 0.9 * Double($0) - 0.3 * Double(i)) }
        let bytes = g.withUnsafeBytes { Array($0) }
        tensors.append(OutputTensor(info: TensorInfo(name: a.modulePath + ".window_factors", dtype: .f32, shape: [a.heads], byteCount: bytes.count)) { consume in
            try bytes.withUnsafeBytes { try consume($0) }
        })
    }
    let dst = dir.file("\(family)-\(map.rawValue)-w\(window)-s\(sinks)")
    try FileManager.default.createDirectory(atPath: dst, withIntermediateDirectories: true)
    try SafeTensorsWriter.write(tensors, metadata: [("format", "pt")], to: dst + "/model.safetensors")
    var config = try JSON.parse(try FileSystem.readAll(swapped + "/config.json"))
    guard case var .object(block)? = config.objectValue?.first(where: { $0.0 == "linear_attention" })?.1 else {
        throw RuntimeError(file: swapped, "no linear_attention block")
    }
    block.append(("window", .int(window)))
    if sinks > 0 { block.append(("sinks", .int(sinks))) }
    config.set("linear_attention", .object(block))
    // Room for sequences past one block of the parallel path on rotary fixtures (64 positions).
    if graph.embeddings.position == nil { config.set("max_position_embeddings", .int(256)) }
    dir.write((dst as NSString).lastPathComponent + "/config.json", config.serialized(pretty: true))
    return dst
}

/// The hybrid y_n = [Σ_win γ·exp(s·q·k − c_n)·v + φ(q)ᵀS] / [Σ_win γ·exp(s·q·k − c_n) + φ(q)ᵀz + ε], evaluated
/// directly, one query at a time, from the q, k and v a `Probe` saw and the layer's own φ.
func directHybrid(_ capture: AttentionCapture, head: Int, attention a: LoadedAttention, window w: Int, sinks: Int = 0) -> [Float] {
    let q = capture.queries![head], k = capture.keys![head], v = capture.values[head]
    let t = q.rows, d = a.headDim
    guard let fm = a.featureMap else { return [] }
    let m = fm.featureCount(headDim: d)
    let pq = q.data.withUnsafeBufferPointer { fm.apply(head: head, isQuery: true, x: $0.baseAddress!, rows: t, ldx: d, headDim: d) }
    let pk = k.data.withUnsafeBufferPointer { fm.apply(head: head, isQuery: false, x: $0.baseAddress!, rows: t, ldx: d, headDim: d) }
    let gamma = Double(a.windowGates[head])
    var out = [Float](repeating: 0, count: t * d)
    for n in 0..<t {
        func inWindow(_ i: Int) -> Bool { a.causal ? (i <= n && (i > n - w || i < sinks)) : (abs(i - n) <= w / 2 || i < sinks) }
        func linear(_ i: Int) -> Bool { a.causal ? i <= n - w && i >= sinks : !inWindow(i) }
        var logits = [Double](repeating: -.infinity, count: t)
        for i in 0..<t where inWindow(i) {
            var dot = 0.0
            for c in 0..<d { dot += Double(q.data[n * d + c]) * Double(k.data[i * d + c]) }
            logits[i] = dot * Double(a.scale)
        }
        let top = logits.max()!
        var num = [Double](repeating: 0, count: d), den = Double(a.eps)
        for i in 0..<t {
            var weight = 0.0
            if inWindow(i) { weight = gamma * exp(logits[i] - top) }
            if linear(i) { for j in 0..<m { weight += Double(pq[n * m + j]) * Double(pk[i * m + j]) } }
            den += weight
            for c in 0..<d { num[c] += weight * Double(v.data[i * d + c]) }
        }
        for c in 0..<d { out[n * d + c] = Float(num[c] / den) }
    }
    return out
}

@Suite struct HybridTests {
    static let causalFamilies = ["gpt2", "llama", "qwen2"]
    static let causalCases: [(String, FeatureMapKind)] = causalFamilies.flatMap { f in FeatureMapKind.allCases.map { (f, $0) } }

    /// Parallel mode (blocks of 64 over the state) equals recurrent mode (one token at a time) within 1e-5,
    /// with a window shorter than a block and one longer, on every causal family and map.
    @Test(arguments: causalCases)
    func parallelEqualsRecurrent(_ family: String, _ map: FeatureMapKind) throws {
        for window in [5, 70] {
            let dir = TempDir()
            let t = try loadModel(at: try hybridModel(family, map, window: window, in: dir))
            #expect(t.blocks.contains { $0.attention.hybridWindow == window })
            let tokens = syntheticTokens(length: min(150, t.graph.maxPositions ?? 150), seed: 4, vocab: t.graph.vocabSize)
            let parallel = try t.forward(tokens: tokens), recurrent = try t.forwardRecurrent(tokens: tokens)
            #expect(maxRelativeError(recurrent.hiddenStates.data, parallel.hiddenStates.data) < 1e-5, "\(family) \(map) W=\(window)")
            if let l = parallel.logits, let r = recurrent.logits {
                #expect(maxRelativeError(r.data, l.data) < 1e-5, "\(family) \(map) W=\(window) logits")
            }
        }
    }

    /// With attention sinks: parallel equals recurrent, with the sinks parked beside the ring (W = 5) and still
    /// inside it when the second block starts (W = 70).
    @Test(arguments: causalCases)
    func parallelEqualsRecurrentWithSinks(_ family: String, _ map: FeatureMapKind) throws {
        for window in [5, 70] {
            let dir = TempDir()
            let t = try loadModel(at: try hybridModel(family, map, window: window, sinks: 3, in: dir))
            #expect(t.blocks.contains { $0.attention.hybridSinks == 3 })
            let tokens = syntheticTokens(length: min(150, t.graph.maxPositions ?? 150), seed: 4, vocab: t.graph.vocabSize)
            let parallel = try t.forward(tokens: tokens), recurrent = try t.forwardRecurrent(tokens: tokens)
            #expect(maxRelativeError(recurrent.hiddenStates.data, parallel.hiddenStates.data) < 1e-5, "\(family) \(map) W=\(window) sinks")
        }
    }

    /// Every swapped layer's output, per head, against the formula evaluated directly from the probed q, k, v:
    /// causal and bidirectional (BERT's band |i − n| ≤ ⌊W/2⌋), every map, without and with sinks.
    @Test(arguments: ["gpt2", "llama", "bert"].flatMap { f in FeatureMapKind.allCases.flatMap { [(f, $0, 0), (f, $0, 2)] } })
    func layersMatchTheFormula(_ family: String, _ map: FeatureMapKind, _ sinks: Int) throws {
        let dir = TempDir()
        let window = 6
        let t = try loadModel(at: try hybridModel(family, map, window: window, sinks: sinks, in: dir))
        var checked = 0
        let tokens = syntheticTokens(length: min(90, t.graph.maxPositions ?? 90), seed: 5, vocab: t.graph.vocabSize)
        _ = try t.forward(batch: [tokens], probe: Probe { capture in
            let a = t.blocks[capture.layer].attention
            guard a.hybridWindow != nil else { return }
            for head in 0..<capture.heads {
                let ours = capture.outputs[head].data, direct = directHybrid(capture, head: head, attention: a, window: window, sinks: sinks)
                #expect(maxRelativeError(ours, direct) < 1e-4, "\(family) \(map) sinks \(sinks) layer \(capture.layer) head \(head)")
                checked += 1
            }
        })
        #expect(checked > 0)
    }

    /// A window longer than the sequence leaves nothing to the linear part: the layer is softmax attention
    /// with the same γ on every term, which cancels, so it equals the original model's layer.
    @Test func windowLongerThanTheSequenceIsSoftmax() throws {
        let dir = TempDir()
        let hybrid = try loadModel(at: try hybridModel("llama", .hedgehog, window: 100, in: dir))
        let original = try loadModel(at: fixture("llama"))
        let tokens = syntheticTokens(length: 40, seed: 2, vocab: hybrid.graph.vocabSize)
        let a = try hybrid.forward(tokens: tokens), b = try original.forward(tokens: tokens)
        // ε = 1e-6 in the denominator is the only difference.
        #expect(maxRelativeError(a.hiddenStates.data, b.hiddenStates.data) < 1e-4)
    }

    /// A window far longer than any sequence (10⁹) costs what the sequence costs: the ring grows with the
    /// tokens, and the bidirectional band is cut at the sequence. Both modes, causal and bidirectional, equal
    /// the original softmax model.
    @Test(arguments: ["llama", "bert"])
    func hugeWindowAllocatesOnlyWhatTheSequenceNeeds(_ family: String) throws {
        let dir = TempDir()
        let hybrid = try loadModel(at: try hybridModel(family, .elu, window: 1_000_000_000, in: dir))
        let original = try loadModel(at: fixture(family))
        let tokens = syntheticTokens(length: 40, seed: 2, vocab: hybrid.graph.vocabSize)
        let a = try hybrid.forward(tokens: tokens), b = try original.forward(tokens: tokens)
        #expect(maxRelativeError(a.hiddenStates.data, b.hiddenStates.data) < 1e-4)
        if hybrid.graph.causal {
            let decoder = try hybrid.makeDecoder()
            for t in tokens { _ = try decoder.step(t) }
            #expect(decoder.kvCacheBytes < 1 << 20)
            #expect(maxRelativeError(try hybrid.forwardRecurrent(tokens: tokens).hiddenStates.data, a.hiddenStates.data) < 1e-5)
        }
    }

    /// The hybrid's state is the ring of W tokens plus (S, z): the same at 60 tokens as at 20.
    @Test func stateStaysFlatPastTheWindow() throws {
        let dir = TempDir()
        let t = try loadModel(at: try hybridModel("gpt2", .t2r, window: 8, in: dir))
        let decoder = try t.makeDecoder()
        for token in 0..<20 { _ = try decoder.step(token % t.graph.vocabSize) }
        let at20 = decoder.stateBytes
        for token in 0..<40 { _ = try decoder.step(token % t.graph.vocabSize) }
        #expect(decoder.stateBytes == at20 && decoder.linearStateBytes > 0)
    }

    /// With sinks, the state also holds the sinks' keys and values once they leave the ring, and no more.
    @Test func stateWithSinksStaysFlatPastTheWindow() throws {
        let dir = TempDir(), plainDir = TempDir()
        let t = try loadModel(at: try hybridModel("gpt2", .t2r, window: 8, sinks: 3, in: dir))
        let plain = try loadModel(at: try hybridModel("gpt2", .t2r, window: 8, in: plainDir))
        let decoder = try t.makeDecoder(), reference = try plain.makeDecoder()
        for token in 0..<20 { _ = try decoder.step(token % t.graph.vocabSize); _ = try reference.step(token % t.graph.vocabSize) }
        let at20 = decoder.stateBytes
        for token in 0..<40 { _ = try decoder.step(token % t.graph.vocabSize) }
        let swapped = t.blocks.filter { $0.attention.hybridWindow != nil }.count
        let kvWidth = t.blocks[0].attention.kvWidth
        #expect(decoder.stateBytes == at20)
        #expect(at20 == reference.stateBytes + swapped * 3 * 2 * kvWidth * 4, "three sinks' keys and values per swapped layer")
    }

    /// A folded T2R map with a window keeps q and k for the softmax window and still matches recurrent mode.
    @Test func foldedHybridParallelEqualsRecurrent() throws {
        let dir = TempDir()
        let t = try loadModel(at: try hybridModel("gpt2", .t2r, window: 5, in: dir, fold: true))
        #expect(t.blocks.contains { $0.attention.featureMap?.isFolded == true && $0.attention.hybridWindow == 5 })
        let tokens = syntheticTokens(length: min(100, t.graph.maxPositions ?? 100), seed: 4, vocab: t.graph.vocabSize)
        let p = try t.forward(tokens: tokens), r = try t.forwardRecurrent(tokens: tokens)
        #expect(maxRelativeError(r.hiddenStates.data, p.hiddenStates.data) < 1e-5)
    }
}
