import Foundation
import Testing
import TestSupport
import RecastCore
import SafeTensors
import Checkpoint
import ModelGraph
@testable import Verify

@Suite struct VerifyTests {
    /// The report's end-to-end figures against ones computed here from the NumPy reference's outputs
    /// for the same tokens (fixtures/expected, float64 reference).
    @Test func endToEndFiguresMatchTheReference() throws {
        let o = try SafeTensorsFile(path: fixture("expected/gpt2.safetensors"))
        let c = try SafeTensorsFile(path: fixture("expected/gpt2-t2r.safetensors"))
        let tokens = o.metadata.first { $0.key == "tokens" }!.value.split(separator: ",").map { Int($0)! }
        let report = try Verifier.verify(original: fixture("gpt2"), converted: fixture("gpt2-t2r"), tokens: tokens, length: 0, seed: 0)
        let ho = try o.loadFloat32("hidden_states"), hc = try c.loadFloat32("hidden_states")
        #expect(abs(report.hiddenRelativeError - Verifier.relativeError(hc, ho)) < 1e-4)
        let lo = try o.loadFloat32("logits"), lc = try c.loadFloat32("logits")
        let v = 64
        var agree = 0, kl = 0.0
        for r in 0..<tokens.count {
            let p = Verifier.logSoftmax(Array(lo[(r * v)..<((r + 1) * v)])), q = Verifier.logSoftmax(Array(lc[(r * v)..<((r + 1) * v)]))
            if Verifier.argmax(p) == Verifier.argmax(q) { agree += 1 }
            kl += zip(p, q).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
        }
        #expect(report.top1Agreement == Double(agree) / Double(tokens.count))
        #expect(abs(report.meanKL! - kl / Double(tokens.count)) < 1e-4)
        #expect(report.layers.count == 2 && report.layers.allSatisfy { $0.linear && $0.relativeError > 0 })
        #expect(report.parallelRecurrent!.maxRel < 1e-5)
    }

    @Test func aModelAgainstItselfHasNoError() throws {
        let r = try Verifier.verify(original: fixture("llama-hedgehog"), converted: fixture("llama-hedgehog"), tokens: nil, length: 20, seed: 1)
        #expect(r.layers.map(\.linear) == [false, true])
        #expect(r.layers.allSatisfy { $0.relativeError < 1e-6 })
        #expect(r.hiddenRelativeError == 0 && r.top1Agreement == 1 && r.meanKL! < 1e-9)
    }

    /// A sliding-window model keeps only the last W keys and values per layer: the state report counts
    /// the window, not the whole sequence (fixtures/mistral: W = 4, 2 layers, 2 KV heads of 8).
    @Test func slidingWindowStateIsTheWindow() throws {
        let g = try Model(path: fixture("mistral")).graph()
        let perPosition = 2 * 2 * 8 * 4 * 2  // keys and values, KV heads, head size, f32, layers
        let short = Verifier.state(g, g, length: 3), long = Verifier.state(g, g, length: 20)
        #expect(short.kvCacheBytes == 3 * perPosition && short.convertedBytes == 3 * perPosition)
        #expect(long.kvCacheBytes == 4 * perPosition && long.convertedBytes == 4 * perPosition)
    }

    @Test func stateMemory() throws {
        let r = try Verifier.verify(original: fixture("gpt2"), converted: fixture("gpt2-t2r"), tokens: nil, length: 32, seed: 0)
        // GPT-2 fixture: 2 layers, 4 heads of 8; KV cache = 2 (k, v) · T · 4 · 8 · 4 bytes · 2 layers.
        #expect(r.state.kvCacheBytes == 2 * 32 * 4 * 8 * 4 * 2)
        // T2R with 16 features: per head S [16×8] and z [16], f32, in 2 layers.
        #expect(r.state.convertedBytes == 2 * 4 * (16 * 8 + 16) * 4)
        #expect(Set(r.stateCurve.map(\.convertedBytes)).count == 1, "constant in the length")
        #expect(r.stateCurve.last!.kvCacheBytes == r.stateCurve.first!.kvCacheBytes * (r.stateCurve.last!.length / r.stateCurve.first!.length))
        // Hedgehog keeps layer 0 as softmax: its KV cache still grows.
        let h = try Verifier.verify(original: fixture("llama"), converted: fixture("llama-hedgehog"), tokens: nil, length: 8, seed: 0)
        #expect(h.stateCurve.last!.convertedBytes > h.stateCurve.first!.convertedBytes)
    }

    @Test func bidirectionalModelsHaveNoLanguageModelFigures() throws {
        let r = try Verifier.verify(original: fixture("bert"), converted: fixture("bert-elu"), tokens: nil, length: 12, seed: 2)
        #expect(r.top1Agreement == nil && r.meanKL == nil && r.parallelRecurrent == nil)
        #expect(r.layers.allSatisfy { $0.linear })
    }

    @Test func refusesModelsThatDoNotBelongTogether() throws {
        #expect(throws: VerifyError.self) { try Verifier.verify(original: fixture("gpt2"), converted: fixture("gpt2"), tokens: nil, length: 4, seed: 0) }
        #expect(throws: VerifyError.self) { try Verifier.verify(original: fixture("llama"), converted: fixture("gpt2-t2r"), tokens: nil, length: 4, seed: 0) }
    }

    @Test func jsonAndPlot() throws {
        let r = try Verifier.verify(original: fixture("gpt2"), converted: fixture("gpt2-t2r"), tokens: nil, length: 16, seed: 0)
        let j = try JSON.parse(r.json.serialized())
        #expect(j["layers"]?.arrayValue?.count == 2)
        #expect(j["end_to_end"]?["top1_agreement"]?.doubleValue == r.top1Agreement)
        let svg = ReportPlot.svg(r)
        #expect(svg.hasPrefix("<svg") && svg.contains("</svg>") && svg.contains("polyline"))
        // Well-formed XML, checked by an independent parser.
        let dir = TempDir()
        let path = dir.write("plot.svg", svg)
        let check = try python(["-c", "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])", path])
        #expect(check.status == 0, "\(check.stderr)")
    }
}
