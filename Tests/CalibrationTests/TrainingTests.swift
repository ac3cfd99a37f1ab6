import Foundation
import Testing
import TestSupport
import RecastCore
import FeatureMaps
import LinearAlgebra
@testable import Runtime
@testable import Calibration

@Suite struct TrainingTests {
    init() throws { try BLAS.load(file: "CalibrationTests") }

    /// On fixture layers 0, training lowers the validation attention error (by at least 10% where feature maps
    /// train; performer trains only its 4 window factors), keeps the best point, leaves fixed tensors alone, and a
    /// second run with the same seed gives the same bits.
    @Test(arguments: [(SwapCase(family: "llama", map: .hedgehog, window: 8), 0.9), (SwapCase(family: "llama", map: .t2r, window: nil), 0.9),
                      (SwapCase(family: "bert", map: .performer, window: 8), 1.0)])
    func trainingLowersTheValidationError(_ s: SwapCase, _ factor: Double) throws {
        let dir = TempDir()
        let fixture = try SwappedLayer(s.family, s.map, window: s.window, in: dir)
        let train = try SwappedLayer.captures(fixture.teacher, (1...4).map { tokens(48, seed: $0) })
        let validation = try SwappedLayer.captures(fixture.teacher, [tokens(48, seed: 9)])
        let options = LayerTrainingOptions(steps: 40, learningRate: 1e-2, batch: 2, evaluateEvery: 5, seed: 7)
        var steps: [Int] = []
        let result = try trainLayer(fixture.layer, initial: fixture.parameters, train: train, validation: validation, options: options) {
            steps.append($0.step)
        }
        #expect(steps == Array(1...40))
        #expect(result.trainLoss.count == 40)
        #expect(abs(result.errorBefore - attentionError(fixture.layer, parameters: fixture.parameters, on: validation)) <= 1e-12 * result.errorBefore)
        #expect(result.errorAfter < factor * result.errorBefore, "\(s): \(result.errorBefore) → \(result.errorAfter)")
        #expect(abs(attentionError(fixture.layer, parameters: result.parameters, on: validation) - result.errorAfter) <= 1e-12 * result.errorAfter)
        #expect(result.validationLoss.map(\.step) == [0, 5, 10, 15, 20, 25, 30, 35, 40])
        #expect(result.validationLoss.min { $0.loss < $1.loss }?.step == result.bestStep)
        #expect(Set(result.parameters.keys) == Set(fixture.parameters.keys))
        for (suffix, values) in fixture.parameters where suffix.hasSuffix("projection") { #expect(result.parameters[suffix] == values) }
        let again = try trainLayer(fixture.layer, initial: fixture.parameters, train: train, validation: validation, options: options)
        #expect(again.parameters == result.parameters && again.trainLoss == result.trainLoss)
    }

    /// The optimiser against PyTorch's AdamW formula on a quadratic, by hand: the first step moves each parameter by
    /// lr·sign(g) (the bias corrections cancel), and clipping scales a long gradient to norm 1.
    @Test func adamFirstStepAndClipping() {
        var adam = AdamW(count: 3, learningRate: 0.1)
        var p = [1.0, -2.0, 0.5]
        adam.step(&p, gradient: [4, -0.001, 0])
        #expect(abs(p[0] - 0.9) < 1e-9 && abs(p[1] - (-1.9)) < 1e-6 && p[2] == 0.5)
        var g = [3.0, 4.0]
        #expect(clipGlobalNorm(&g, maxNorm: 1) == 5)
        #expect(abs(g[0] - 0.6) < 1e-6 && abs(g[1] - 0.8) < 1e-6)
        var small = [0.3, 0.4]
        clipGlobalNorm(&small, maxNorm: 1)
        #expect(small == [0.3, 0.4])
    }

    /// The learning rate drops tenfold after 4 evaluations in a row without a relative improvement of 1e-4.
    @Test func plateauDropsTheRate() {
        var schedule = PlateauSchedule()
        var lr = 1e-2, drops: [Int] = []
        for (i, loss) in [1.0, 0.5, 0.49999, 0.5, 0.6, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4].enumerated() {
            if let lowered = schedule.observe(loss, learningRate: lr) { lr = lowered; drops.append(i) }
        }
        #expect(drops == [5, 10] && abs(lr - 1e-4) < 1e-12)
    }
}
