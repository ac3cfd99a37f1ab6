import Foundation
import Testing
import TestSupport
import RecastCore
import ModelGraph
@testable import Runtime

/// Causal softmax attention of one head, evaluated directly in f64 from the probed q, k, v.
func directSoftmax(q: Matrix, k: Matrix, v: Matrix, scale: Double, causal: Bool) -> [Float] {
    let t = q.rows, d = q.cols
    var out = [Float](repeating: 0, count: t * d)
    for n in 0..<t {
        let seen = causal ? 0...n : 0...(t - 1)
        let logits: [Double] = seen.map { i in
            var dot = 0.0
            for c in 0..<d { dot += Double(q.data[n * d + c]) * Double(k.data[i * d + c]) }
            return scale * dot
        }
        let top = logits.max()!
        let weights = logits.map { exp($0 - top) }, total = weights.reduce(0, +)
        for (j, i) in seen.enumerated() {
            let w = weights[j] / total
            for c in 0..<d { out[n * d + c] += Float(w * Double(v.data[i * d + c])) }
        }
    }
    return out
}

@Suite struct ProbeTests {
    /// Per head, the output is softmax attention of the probed q, k, v (so they are what the head attended
    /// with: after rotary and the grouped-query repeat); heads of one KV group see the same keys and values.
    @Test(arguments: ["llama", "gpt2", "bert"])
    func headsAttendWithTheProbedInputs(_ family: String) throws {
        let t = try loadModel(at: fixture(family))
        let tokens = syntheticTokens(length: 30, seed: 2, vocab: t.graph.vocabSize)
        var layers: [Int] = []
        _ = try t.forward(batch: [tokens], probe: Probe { c in
            layers.append(c.layer)
            let a = t.blocks[c.layer].attention
            #expect(c.heads == a.heads && c.headDim == a.headDim && c.input.rows == 30 && c.output.rows == 30)
            guard let q = c.queries, let k = c.keys else { Issue.record("no q or k"); return }
            for head in 0..<c.heads {
                let direct = directSoftmax(q: q[head], k: k[head], v: c.values[head], scale: Double(a.scale), causal: a.causal)
                #expect(maxRelativeError(c.outputs[head].data, direct) < 1e-5, "\(family) layer \(c.layer) head \(head)")
                let partner = (head / a.groups) * a.groups
                #expect(k[head].data == k[partner].data && c.values[head].data == c.values[partner].data)
            }
            // The layer's output is the output projection of the heads' outputs.
            #expect(maxRelativeError(t.attentionOutput(layer: c.layer, input: c.input).data, c.output.data) < 1e-6)
        })
        #expect(layers == Array(0..<t.graph.layerCount))
        if family == "llama" {
            // Grouped-query attention: 4 heads read 2 KV heads.
            #expect(t.blocks[0].attention.groups == 2)
        }
    }

    /// In a batch, each sequence's capture is the one it has alone; `layers` limits what is seen.
    @Test func batchCapturesEachSequenceAsAlone() throws {
        let t = try loadModel(at: fixture("llama"))
        let a = syntheticTokens(length: 12, seed: 1, vocab: 64), b = syntheticTokens(length: 20, seed: 2, vocab: 64)
        var batched: [AttentionCapture] = []
        _ = try t.forward(batch: [a, b], probe: Probe(layers: [1]) { batched.append($0) })
        #expect(batched.map(\.sequence) == [0, 1] && batched.allSatisfy { $0.layer == 1 })
        for (s, tokens) in [a, b].enumerated() {
            var alone: AttentionCapture?
            _ = try t.forward(batch: [tokens], probe: Probe(layers: [1]) { alone = $0 })
            guard let alone, let q = alone.queries, let bq = batched[s].queries else { Issue.record("no capture"); continue }
            for head in 0..<alone.heads {
                #expect(maxRelativeError(bq[head].data, q[head].data) < 1e-6)
                #expect(maxRelativeError(batched[s].outputs[head].data, alone.outputs[head].data) < 1e-6)
            }
        }
    }

    /// A swapped layer's probe shows its own output; a folded map without a window forms no q or k.
    @Test func foldedLayersHaveNoQueriesOrKeys() throws {
        let t = try loadModel(at: fixture("gpt2-t2r-folded"))
        var seen = 0
        _ = try t.forward(batch: [[1, 2, 3, 4]], probe: Probe { c in
            if t.isLinear(layer: c.layer) { #expect(c.queries == nil && c.keys == nil && c.values.count == c.heads) }
            seen += 1
        })
        #expect(seen == t.graph.layerCount)
    }
}
