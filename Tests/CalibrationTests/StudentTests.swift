import Foundation
import Testing
import TestSupport
import RecastCore
import FeatureMaps
import LinearAlgebra
@testable import Runtime
@testable import Calibration

/// One swap of the runtime-agreement check.
struct SwapCase: CustomStringConvertible, Sendable {
    var family: String
    var map: FeatureMapKind
    var window: Int?
    var separateQK = false
    var fold = false
    /// Tokens per sequence beyond the fixture's 64 positions (llama only: rotary), else 64.
    var length = 64
    var description: String {
        "\(family) \(map.name) window \(window.map(String.init) ?? "none")" + (separateQK ? " separate q/k" : "") + (fold ? " folded" : "")
            + (length == 64 ? "" : " \(length) tokens")
    }
}

/// llama (causal, grouped-query, rotary) and bert (bidirectional), every map, without a window and with windows of
/// 5 and 40 (a band wider than half the sequence); t2r with separate maps; t2r folded on gpt2; and llama over 150
/// tokens (three of the runtime's blocks of 64, windows of 5 and 70 crossing them).
let swapCases: [SwapCase] = ["llama", "bert"].flatMap { family in
    FeatureMapKind.allCases.flatMap { map in [nil, 5, 40].map { SwapCase(family: family, map: map, window: $0) } }
        + [SwapCase(family: family, map: .t2r, window: 5, separateQK: true)]
} + [SwapCase(family: "gpt2", map: .t2r, window: nil, fold: true)]
    + [nil, 5, 70].map { SwapCase(family: "llama", map: .hedgehog, window: $0, length: 150) }

@Suite struct StudentTests {
    init() throws { try BLAS.load(file: "CalibrationTests") }

    /// The student's output, from the teacher's capture of layer 0, equals what the runtime computes for the
    /// swapped layer 0 (whose inputs are the teacher's), head by head.
    @Test(arguments: swapCases)
    func studentEqualsTheRuntime(_ s: SwapCase) throws {
        let dir = TempDir()
        let fixture = try SwappedLayer(s.family, s.map, window: s.window, separateQK: s.separateQK, fold: s.fold,
                                       positions: s.length > 64 ? 256 : nil, in: dir)
        let sequences = [tokens(s.length, seed: 1), tokens(23, seed: 2)]
        let teacher = try SwappedLayer.captures(fixture.teacher, sequences)
        let runtime = try SwappedLayer.captures(fixture.swapped, sequences)
        let trained = TrainedParameters(fixture.layer)
        #expect(trained.refusal(fixture.parameters) == nil)
        let student = trained.student(fixture.parameters)
        let data = TransferData(teacher, layer: fixture.layer)
        for (sequence, capture) in runtime.enumerated() {
            // Inputs of layer 0 are the same in both models.
            #expect(capture.input.data == teacher[sequence].input.data)
            for head in 0..<capture.heads {
                let y = TransferObjective.forward(student, head: head, data.sequences[sequence][head]).output
                #expect(maxRelativeError(y, capture.outputs[head].data) < 1e-5, "\(s) sequence \(sequence) head \(head)")
            }
        }
    }
}
