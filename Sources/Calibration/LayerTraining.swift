import FeatureMaps
import LinearAlgebra
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
    /// The hybrid's attention sinks: the first positions, softmax terms for every query and never linear ones.
    public var sinks: Int
    /// Causal (decoders) or bidirectional (encoders).
    public var causal: Bool
    /// ε of the shared normaliser.
    public var eps: Float
    /// The softmax scale of q·k (1/√d for every family Recast knows), used by the hybrid's window terms.
    public var scale: Float

    public init(map: FeatureMapKind, layout: FeatureMapLayout, window: Int?, sinks: Int = 0, causal: Bool, eps: Float, scale: Float) {
        self.map = map
        self.layout = layout
        self.window = window
        self.sinks = window == nil ? 0 : sinks
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
///
/// Each step takes `options.batch` training sequences (in a seeded order, reshuffled at each pass), computes the
/// loss and its gradient by hand (`TransferObjective`), clips the gradient to a global norm of 1 and takes an AdamW
/// step. The validation error is measured before the first step, every `evaluateEvery` steps and after the last;
/// the learning rate drops tenfold when it stalls (`PlateauSchedule`), and the parameters of its lowest point are
/// returned. Without validation captures, the training captures are measured instead. Sequences and heads run in
/// parallel (`BLAS.inParallel`); results are added in a fixed order, so the same inputs and seed give the same bits.
public func trainLayer(_ layer: TransferLayer, initial: LayerParameters, train: [AttentionCapture],
                       validation: [AttentionCapture], options: LayerTrainingOptions,
                       progress: (LayerProgress) -> Void = { _ in }) throws(CalibrationError) -> LayerTrainingResult {
    let trained = TrainedParameters(layer)
    guard trained.count > 0 else {
        throw CalibrationError(file: "", "the \(layer.map.name) feature map has no trained parameters and the layer has no window: nothing to calibrate (swap with --window W to train window factors, or use t2r or hedgehog)")
    }
    if let reason = trained.refusal(initial) { throw CalibrationError(file: "", reason) }
    guard !train.isEmpty else { throw CalibrationError(file: "", "no training sequences for the layer") }
    guard options.steps >= 0, options.batch > 0, options.evaluateEvery > 0, options.learningRate > 0 else {
        throw CalibrationError(file: "", "steps must be at least 0, and batch, evaluation interval and learning rate positive")
    }
    for capture in train + validation {
        if let reason = TransferData.refusal(capture, layer: layer) { throw CalibrationError(file: "", reason) }
    }
    do { try BLAS.load(file: "") } catch { throw CalibrationError(file: error.file, error.reason) }
    let trainData = TransferData(train, layer: layer)
    let checkData = validation.isEmpty ? trainData : TransferData(validation, layer: layer)
    var vector = trained.pack(initial)
    func validationError() -> Double { checkData.loss(trained.student(trained.unpack(vector, into: initial)), trained, gradient: false).loss }
    let before = validationError()
    var best = (loss: before, step: 0, vector: vector)
    var optimiser = AdamW(count: trained.count, learningRate: options.learningRate)
    var schedule = PlateauSchedule()
    var order = SequenceOrder(count: train.count, seed: options.seed)
    var trainLoss: [Double] = [], validationLoss = [(step: 0, loss: before)], drops: [Int] = [], tokens = 0
    for step in stride(from: 1, through: options.steps, by: 1) {
        let chosen = (0..<options.batch).map { _ in order.next() }
        let student = trained.student(trained.unpack(vector, into: initial))
        var (loss, gradient) = trainData.loss(student, trained, sequences: chosen, gradient: true)
        clipGlobalNorm(&gradient, maxNorm: 1)
        optimiser.step(&vector, gradient: gradient)
        trainLoss.append(loss)
        tokens += chosen.reduce(0) { $0 + train[$1].input.rows }
        progress(LayerProgress(step: step, steps: options.steps, trainLoss: loss, tokens: tokens))
        guard step % options.evaluateEvery == 0 || step == options.steps else { continue }
        let error = validationError()
        validationLoss.append((step, error))
        if error < best.loss { best = (error, step, vector) }
        if let lowered = schedule.observe(error, learningRate: optimiser.learningRate) {
            optimiser.learningRate = lowered
            drops.append(step)
        }
    }
    return LayerTrainingResult(parameters: trained.unpack(best.vector, into: initial), errorBefore: before, errorAfter: best.loss,
                               trainLoss: trainLoss, validationLoss: validationLoss, bestStep: best.step, learningRateDrops: drops)
}

/// The attention error of a layer's student on captures (the training loss, without gradients).
///
/// `parameters` must hold every tensor the layer's map lists (and the window factors with a window), and the
/// captures must fit the layer: `trainLayer` checks both and says what is wrong; here a mismatch is a programming
/// error. BLAS must be loaded (the captures come from a `Transformer`, which loads it).
public func attentionError(_ layer: TransferLayer, parameters: LayerParameters, on captures: [AttentionCapture]) -> Double {
    let trained = TrainedParameters(layer)
    precondition(trained.refusal(parameters) == nil, trained.refusal(parameters) ?? "")
    for capture in captures {
        if let reason = TransferData.refusal(capture, layer: layer) { preconditionFailure(reason) }
    }
    guard !captures.isEmpty else { return 0 }
    return TransferData(captures, layer: layer).loss(trained.student(parameters), trained, gradient: false).loss
}

/// The seeded order in which training sequences are visited: a shuffled pass over all of them, then another.
struct SequenceOrder {
    private var stream: RandomStream
    private var order: [Int] = []
    private var position = 0
    let count: Int

    init(count: Int, seed: UInt64) {
        self.count = count
        stream = RandomStream(seed: seed, purpose: "calibration/order", layer: 0, head: 0)
    }

    mutating func next() -> Int {
        if position == order.count {
            // Fisher–Yates with the seeded stream.
            order = Array(0..<count)
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(stream.nextWord() % UInt64(i + 1))
                order.swapAt(i, j)
            }
            position = 0
        }
        defer { position += 1 }
        return order[position]
    }
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
