import FeatureMaps
import ModelGraph
import RecastCore
import Runtime

// CONTRACT (issue 13, 2026-12-01): the types below are the interface between the attention-transfer math
// (this file and its neighbours: the objective, gradients, optimiser) and the driver of `recast calibrate`
// (teacher forcing, data, the command). The math helper replaces the bodies marked "in progress"; the names
// and meanings stay as written here unless both sides agree.

/// What one swapped layer computes, as far as attention transfer is concerned: its map, sizes and kind.
public struct TransferLayer: Sendable {
    public var map: FeatureMapKind
    /// Heads, head size, feature dimension, shared q/k, folded, hidden size: as `LinearAttentionConfig.layout`.
    public var layout: FeatureMapLayout
    /// The hybrid's softmax window W (nil: linear attention only).
    public var window: Int?
    /// Causal (decoders) or bidirectional (encoders).
    public var causal: Bool
    /// ε of the shared normaliser.
    public var eps: Float
    /// The softmax scale of q·k (1/√d for every family Recast knows), used by the hybrid's window terms.
    public var scale: Float

    public init(map: FeatureMapKind, layout: FeatureMapLayout, window: Int?, causal: Bool, eps: Float, scale: Float) {
        self.map = map
        self.layout = layout
        self.window = window
        self.causal = causal
        self.eps = eps
        self.scale = scale
    }
}

/// The values trained in one layer, keyed by tensor suffix under the attention module, exactly as written:
/// `feature_map.weight`, `feature_map_q.bias`, … (`FeatureMapParameter.suffix`) and `window_factors` (the raw
/// g_h, `[H]`). Fixed parameters (performer's projection) are present too, and never change.
public typealias LayerParameters = [String: [Float]]

/// How a layer is trained.
public struct LayerTrainingOptions: Sendable {
    /// Optimiser steps (each over `batch` training windows, cycling through them in a seeded order).
    public var steps: Int
    /// AdamW's learning rate at the start (it drops tenfold when the validation loss stalls).
    public var learningRate: Double
    /// Training windows per step.
    public var batch: Int
    /// Validation loss is measured every this many steps (and at the start and end).
    public var evaluateEvery: Int
    public var seed: UInt64

    public init(steps: Int, learningRate: Double = 1e-2, batch: Int = 1, evaluateEvery: Int = 10, seed: UInt64 = 0) {
        self.steps = steps
        self.learningRate = learningRate
        self.batch = batch
        self.evaluateEvery = evaluateEvery
        self.seed = seed
    }
}

/// Where a layer's training is, for a progress bar.
public struct LayerProgress: Sendable {
    public var step: Int
    public var steps: Int
    /// The latest training loss (mean over the step's windows).
    public var trainLoss: Double
    /// Query tokens trained on so far in this layer.
    public var tokens: Int
}

/// What training one layer gave.
public struct LayerTrainingResult: Sendable {
    /// The parameters at the best validation point (all of them: trained and fixed).
    public var parameters: LayerParameters
    /// Validation attention error (the loss: mean squared error per head, averaged over heads and positions)
    /// before training and at the best point.
    public var errorBefore: Double
    public var errorAfter: Double
    /// Per step, the training loss.
    public var trainLoss: [Double]
    /// (step, validation loss) at each evaluation.
    public var validationLoss: [(step: Int, loss: Double)]
    /// The step whose parameters were kept.
    public var bestStep: Int
    /// The steps at which the learning rate dropped.
    public var learningRateDrops: [Int]
}

/// Trains one layer's feature maps (and window factors) to reproduce the teacher's softmax attention outputs.
///
/// `train` and `validation` are the teacher's captures of this layer (`AttentionCapture`, from the original model
/// with softmax attention): their q, k, v are the student's inputs and their `outputs` the targets. A folded map
/// reads `input` instead of q and k.
public func trainLayer(_ layer: TransferLayer, initial: LayerParameters, train: [AttentionCapture],
                       validation: [AttentionCapture], options: LayerTrainingOptions,
                       progress: (LayerProgress) -> Void = { _ in }) throws(CalibrationError) -> LayerTrainingResult {
    fatalError("in progress: the math helper implements this")
}

/// The attention error of a layer's student on captures (the training loss, without gradients).
public func attentionError(_ layer: TransferLayer, parameters: LayerParameters, on captures: [AttentionCapture]) -> Double {
    fatalError("in progress: the math helper implements this")
}

/// A calibration that cannot run: names the file (or option) and what is wrong.
public struct CalibrationError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var reason: String
    public init(file: String, _ reason: String) {
        self.file = file
        self.reason = reason
    }
    public var description: String { file.isEmpty ? reason : "\(file): \(reason)" }
}
