import Foundation
import Testing
import TestSupport
import RecastCore
import FeatureMaps
import LinearAlgebra
@testable import Runtime
@testable import Calibration

@Suite struct GradientTests {
    init() throws { try BLAS.load(file: "CalibrationTests") }

    /// The loss equals the formula evaluated directly in f64, and each trained tensor's hand-written gradient equals
    /// central differences of that f64 loss (step 1e-5: f64 rounding stays near 1e-11 relative, far below f32's).
    /// Short sequences (13 and 5 rows, windows of 5) keep the direct f64 evaluation fast.
    @Test(arguments: gradientCases(rows: [13, 5]))
    func gradientsMatchFiniteDifferences(_ c: TransferCase) throws {
        let (loss, gradients) = c.recastGradient()
        var parameters = c.parameters.mapValues { $0.map(Double.init) }
        let direct = directLoss(c, parameters)
        #expect(abs(loss - direct) / direct < 1e-5, "loss of \(c)")
        #expect(abs(attentionError(c.layer, parameters: c.parameters, on: c.captures) - direct) / direct < 1e-5)
        #expect(Set(gradients.keys) == Set(c.trainedSuffixes))
        let step = 1e-5
        for suffix in c.trainedSuffixes {
            let analytic = try #require(gradients[suffix])
            var numeric: [Double] = []
            for i in analytic.indices {
                let value = parameters[suffix]![i]
                parameters[suffix]![i] = value + step
                let plus = directLoss(c, parameters)
                parameters[suffix]![i] = value - step
                let minus = directLoss(c, parameters)
                parameters[suffix]![i] = value
                numeric.append((plus - minus) / (2 * step))
            }
            #expect(numeric.contains { $0 != 0 }, "\(suffix) of \(c) has no effect on the loss")
            #expect(relativeError(analytic, numeric) < 1e-3, "d loss / d \(suffix) of \(c)")
        }
    }

    /// Loss and gradients against PyTorch autograd on the same inputs (tools/attention_transfer_reference.py, written
    /// from the issues' formulas and the maps' published definitions), every case in one run of Python, on a
    /// sequence longer than one chunk of 64 rows and a short one.
    @Test func gradientsMatchTorchAutograd() throws {
        let cases = gradientCases(rows: [70, 6])
        func tensor(_ shape: [Int], _ values: [Float]) -> JSON {
            .object([("shape", .array(shape.map { .int($0) })), ("data", .array(values.map { .double(Double($0)) }))])
        }
        func heads(_ m: [Matrix]?) -> JSON {
            guard let m else { return .null }
            return tensor([m.count, m[0].rows, m[0].cols], m.flatMap(\.data))
        }
        let specs: [JSON] = cases.map { c in
            let layout = c.layer.layout
            var shapes: [String: [Int]] = [windowFactorsSuffix: [layout.heads]]
            for p in c.layer.map.map.parameters(layout) { shapes[p.suffix] = p.shape }
            return .object([
                ("map", .string(c.layer.map.name)), ("causal", .bool(c.layer.causal)),
                ("window", c.layer.window.map { .int($0) } ?? .null), ("sinks", .int(c.layer.sinks)), ("eps", .double(Double(c.layer.eps))),
                ("scale", .double(Double(c.layer.scale))), ("folded", .bool(layout.folded)), ("heads", .int(layout.heads)),
                ("params", .object(c.parameters.sorted { $0.key < $1.key }.map { ($0.key, tensor(shapes[$0.key]!, $0.value)) })),
                ("sequences", .array(c.captures.map { s in
                    .object([("q", heads(s.queries)), ("k", heads(s.keys)), ("v", heads(s.values)), ("target", heads(s.outputs)),
                             ("input", tensor([s.input.rows, s.input.cols], s.input.data))])
                })),
            ])
        }
        let dir = TempDir()
        let torch = try pythonJSON("attention_transfer_reference.py", [dir.write("cases.json", JSON.array(specs).serialized())])
        let results = try #require(torch.arrayValue)
        #expect(results.count == cases.count)
        for (c, result) in zip(cases, results) {
            let (loss, gradients) = c.recastGradient()
            let torchLoss = try #require(result["loss"]?.doubleValue)
            #expect(abs(loss - torchLoss) / torchLoss < 1e-5, "loss of \(c)")
            let torchGradients = result["grads"]?.objectValue ?? []
            #expect(Set(torchGradients.map(\.0)) == Set(c.trainedSuffixes), "\(c)")
            for (suffix, values) in torchGradients {
                let expected = (values.arrayValue ?? []).compactMap(\.doubleValue)
                #expect(relativeError(gradients[suffix] ?? [], expected) < 1e-4, "d loss / d \(suffix) of \(c)")
            }
        }
    }

    /// c_n, the largest logit of the window, depends on the teacher's q and k alone, which nothing trains, so it
    /// has no gradient of its own (the finite differences above recompute it and agree); but it is part of the
    /// function, not a stabiliser: ε and the linear terms do not scale with it, so another constant (c_n − 1)
    /// gives another loss, and the student matches the formula with c_n only.
    @Test func windowMaximumIsPartOfTheFunction() throws {
        let c = TransferCase(.hedgehog, window: 5, causal: true, rows: [12])
        let parameters = c.parameters.mapValues { $0.map(Double.init) }
        let loss = c.recastGradient().loss
        let exact = directLoss(c, parameters), shifted = directLoss(c, parameters, windowShift: -1)
        #expect(abs(loss - exact) / exact < 1e-5)
        #expect(abs(loss - shifted) / shifted > 1e-3)
    }

    /// A map with nothing to train and no window is refused, with the reason.
    @Test(arguments: [FeatureMapKind.performer, .elu])
    func nothingToTrainIsRefused(_ map: FeatureMapKind) {
        let c = TransferCase(map, window: nil, causal: true, rows: [8])
        #expect {
            _ = try trainLayer(c.layer, initial: c.parameters, train: c.captures, validation: [], options: LayerTrainingOptions(steps: 2))
        } throws: { error in
            "\(error)".contains("nothing to calibrate") && "\(error)".contains(map.name)
        }
    }

    /// Parameters that do not fit the layer are refused, naming the tensor.
    @Test func missingParametersAreRefused() {
        let c = TransferCase(.t2r, window: 5, causal: true, rows: [8])
        var initial = c.parameters
        initial[windowFactorsSuffix] = nil
        #expect {
            _ = try trainLayer(c.layer, initial: initial, train: c.captures, validation: [], options: LayerTrainingOptions(steps: 2))
        } throws: { "\($0)".contains(windowFactorsSuffix) }
    }
}
