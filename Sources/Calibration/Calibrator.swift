#if canImport(Glibc)
import Glibc
#endif
import Checkpoint
import LinearAlgebra
import ModelGraph
import RecastCore
import Runtime
import SafeTensors

/// How `recast calibrate` trains.
public struct CalibrationOptions: Sendable {
    /// Optimiser steps per layer; nil: from `epochs`.
    public var steps: Int?
    /// Passes over the training windows per layer, when `steps` is nil.
    public var epochs: Double = 1
    public var learningRate: Double = 1e-2
    /// Training windows per step.
    public var batch: Int = 1
    /// The share of windows held out for validation, in (0, 1).
    public var validation: Double = 0.1
    /// The layers to train (each a swapped layer); nil: every swapped layer.
    public var layers: [Int]?
    public var seed: UInt64 = 0
    /// Replace the destination if it exists.
    public var force = false

    public init() {}

    /// Refuses values no calibration can use, naming the option.
    public func validate() throws(CalibrationError) {
        if let steps, steps <= 0 || steps > Self.maximumSteps {
            throw CalibrationError(file: "--steps", "must be a positive number of steps, at most \(Self.maximumSteps) (got \(steps))")
        }
        guard epochs.isFinite, epochs > 0 else { throw CalibrationError(file: "--epochs", "must be a positive number (got \(epochs))") }
        guard learningRate.isFinite, learningRate > 0 else {
            throw CalibrationError(file: "--lr", "must be a positive learning rate (got \(learningRate))")
        }
        guard batch > 0 else { throw CalibrationError(file: "--batch", "must be a positive number of windows (got \(batch))") }
        guard validation.isFinite, validation > 0, validation < 1 else {
            throw CalibrationError(file: "--validation", "must be a share of the windows strictly between 0 and 1 (got \(validation))")
        }
    }

    /// The most optimiser steps per layer a calibration takes (`--steps`, or what `--epochs` comes to): far more
    /// than any calibration needs, and small enough that step counts never overflow.
    public static let maximumSteps = 1 << 40

    /// Steps per layer for `trainWindows` training windows; nil when `--epochs` comes to more than `maximumSteps`.
    func steps(trainWindows: Int) -> Int? {
        if let steps { return steps }
        let wanted = (epochs * Double(trainWindows) / Double(batch)).rounded(.up)
        return wanted <= Double(Self.maximumSteps) ? max(1, Int(wanted)) : nil
    }
}

/// Where a calibration is, for a progress display.
public struct CalibrationProgress: Sendable {
    /// The layer being trained, and its place among the layers trained (from 0).
    public var layer: Int
    public var layerIndex: Int
    public var layerCount: Int
    public var step: Int
    public var steps: Int
    public var trainLoss: Double
    /// Query tokens trained on in this layer so far.
    public var tokens: Int
}

/// What a calibration did.
public struct CalibrationReport: Sendable {
    public struct Layer: Sendable {
        public var layer: Int
        public var result: LayerTrainingResult
        /// The validation attention error of the parameters as written (rounded to the stored dtype).
        public var errorAfter: Double
        public var seconds: Double
    }

    public var converted: String
    public var destination: String
    /// The files written into the destination, by name.
    public var files: [String]
    public var record: CalibrationRecord
    public var featureMap: FeatureMapKind
    public var window: Int?
    /// The hybrid's attention sinks (0: none).
    public var sinks: Int = 0
    public var trainWindows: Int
    public var validationWindows: Int
    public var trainTokens: Int
    public var validationTokens: Int
    public var layers: [Layer]
    /// Wall-clock time of the whole calibration (capture, training, writing).
    public var seconds: Double
    /// The process's peak resident memory.
    public var peakMemoryBytes: Int
    /// The memory the calibration was bounded by, worked out before it started.
    public var memoryBound: Int

    /// The report as `recast calibrate --json` prints it.
    public var json: JSON {
        .object([
            ("converted", .string(converted)),
            ("destination", .string(destination)),
            ("files", .array(files.map { .string($0) })),
            ("feature_map", .string(featureMap.rawValue)),
            ("window", window.map { .int($0) } ?? .null),
            ("sinks", .int(sinks)),
            ("train_windows", .int(trainWindows)),
            ("validation_windows", .int(validationWindows)),
            ("train_tokens", .int(trainTokens)),
            ("validation_tokens", .int(validationTokens)),
            ("calibration", record.json),
            ("layers", .array(layers.map { l in
                .object([
                    ("layer", .int(l.layer)),
                    ("error_before", .double(l.result.errorBefore)),
                    ("error_after", .double(l.errorAfter)),
                    ("best_step", .int(l.result.bestStep)),
                    ("learning_rate_drops", .array(l.result.learningRateDrops.map { .int($0) })),
                    ("train_loss", .array(l.result.trainLoss.map { .double($0) })),
                    ("validation_loss", .array(l.result.validationLoss.map { .array([.int($0.step), .double($0.loss)]) })),
                    ("seconds", .double(l.seconds)),
                ])
            })),
            ("seconds", .double(seconds)),
            ("peak_memory_bytes", .int(peakMemoryBytes)),
            ("memory_bound_bytes", .int(memoryBound)),
        ])
    }
}

/// Attention transfer (LoLCATs stage 1) over a swapped model, layer by layer with teacher forcing.
///
/// The teacher is the swapped model itself with every layer back to softmax attention (`ModelGraph.softmaxOnly`):
/// a swap keeps every original tensor bit for bit. The calibration tokens' hidden states go through the teacher
/// once, a layer at a time: before each trained layer, its attention is captured on every window (q, k, v and the
/// softmax outputs, the student's inputs and targets), the layer's feature maps (and window factors) are trained on
/// them (`trainLayer`), and the states move on through the original layer. Memory is therefore bounded by the
/// weights, the hidden states of the calibration tokens and one layer's captures (`memoryNeed`), not by the
/// number of layers.
public enum Calibrator {
    /// Calibrates the swapped model `converted` on `data` and writes the result to the folder `destination`
    /// through the model-folder writer: every tensor of `converted` bit for bit except the trained ones, its
    /// config.json with a `calibration` record in the `linear_attention` block, and its companion files.
    /// Nothing is written when anything fails.
    public static func calibrate(converted: String, destination: String, data: CalibrationData, options: CalibrationOptions,
                                 progress: (CalibrationProgress) -> Void = { _ in }) throws -> CalibrationReport {
        try calibrate(model: try Model(path: converted), destination: destination, data: data, options: options, progress: progress)
    }

    /// As `calibrate(converted:destination:data:options:progress:)`, on a model already opened.
    public static func calibrate(model: Model, destination: String, data: CalibrationData, options: CalibrationOptions,
                                 progress: (CalibrationProgress) -> Void = { _ in }) throws -> CalibrationReport {
        let clock = ContinuousClock(), started = clock.now
        let converted = model.path
        let (graph, la, layers) = try check(model: model, options: options)
        guard var config = model.config, var block = config["linear_attention"] else {
            throw CalibrationError(file: model.configPath ?? converted, "has no linear_attention block")
        }
        // Claims the destination before the slow part: it exists (without force), or overlaps what is read.
        let writer = try CheckpointWriter(destination: destination, folder: true, force: options.force, source: converted,
                                          store: model.store, alsoReads: [data.file])
        let split = data.split(validation: options.validation, seed: options.seed)
        // A batch of more than the training windows is all of them (not windows drawn twice in one step), and the
        // record keeps the batch used.
        var options = options
        options.batch = min(options.batch, max(1, split.train.count))
        guard let steps = options.steps(trainWindows: split.train.count) else {
            throw CalibrationError(file: "--epochs", "\(options.epochs) epochs of \(split.train.count) training windows come to more than \(CalibrationOptions.maximumSteps) steps per layer")
        }
        let need = memoryNeed(graph: graph, store: model.store, data: data)
        if let refusal = need.refusal(for: "calibrating on \(data.tokens) tokens") {
            throw CalibrationError(file: data.file, refusal + ": give fewer tokens (--tokens N)")
        }

        let teacher = try Transformer(graph: graph.softmaxOnly, store: model.store)
        var states = try teacher.embed(batch: data.windows)
        let isValidation = Set(split.validation)
        var parameters: [Int: LayerParameters] = [:]
        var reports: [CalibrationReport.Layer] = []
        for l in 0...(layers.last ?? 0) {
            guard let index = layers.firstIndex(of: l) else {
                try teacher.advance(&states)
                continue
            }
            let layerStart = clock.now
            var train: [AttentionCapture] = [], validation: [AttentionCapture] = []
            train.reserveCapacity(split.train.count)
            validation.reserveCapacity(split.validation.count)
            try teacher.advance(&states, probe: Probe(layers: [l]) { capture in
                if isValidation.contains(capture.sequence) { validation.append(capture) } else { train.append(capture) }
            })
            let a = graph.blocks[l].attention
            let transfer = TransferLayer(map: la.featureMap, layout: la.layout(a, hiddenSize: graph.hiddenSize), window: la.window,
                                         sinks: la.sinks, causal: a.causal, eps: Float(la.eps), scale: Float(a.scale))
            let refs = graph.linearAttentionTensors(la, layer: l)
            var initial: LayerParameters = [:]
            for (parameter, ref) in refs { initial[suffix(parameter)] = try model.store.loadFloat32(ref.name) }
            let training = LayerTrainingOptions(steps: steps, learningRate: options.learningRate, batch: options.batch,
                                                evaluateEvery: max(1, min(50, steps / 10)), seed: options.seed &+ UInt64(l))
            let result: LayerTrainingResult
            do {
                result = try trainLayer(transfer, initial: initial, train: train, validation: validation, options: training) { p in
                    progress(CalibrationProgress(layer: l, layerIndex: index, layerCount: layers.count, step: p.step, steps: p.steps,
                                                 trainLoss: p.trainLoss, tokens: p.tokens))
                }
            } catch {
                throw CalibrationError(file: error.file.isEmpty ? model.configPath ?? converted : error.file, "layer \(l): \(error.reason)")
            }
            // The values as they will be stored (a bf16 model keeps bf16 parameters), measured as such.
            var stored: LayerParameters = [:]
            for (parameter, ref) in refs {
                let name = suffix(parameter)
                let dtype = model.store.info(named: ref.name)?.dtype ?? .f32
                stored[name] = Cast.roundTrip(result.parameters[name] ?? initial[name] ?? [], through: dtype)
            }
            let after = attentionError(transfer, parameters: stored, on: validation)
            parameters[l] = stored
            reports.append(CalibrationReport.Layer(layer: l, result: result, errorAfter: after,
                                                   seconds: seconds(clock.now - layerStart)))
        }

        let record = CalibrationRecord(
            dataSHA256: data.sha256, dataFormat: data.format.rawValue, tokens: data.tokens, windows: data.windows.count,
            maxLength: data.maxLength, validation: options.validation, steps: steps, batch: options.batch,
            learningRate: options.learningRate, seed: options.seed,
            layers: reports.map { CalibrationRecord.Layer(layer: $0.layer, errorBefore: $0.result.errorBefore, errorAfter: $0.errorAfter) }
        ).following(try previousRecord(block, file: model.configPath ?? converted))
        block.set("calibration", record.json)
        config.set("linear_attention", block)

        var replaced: [String: [Float]] = [:]
        for (l, values) in parameters {
            for (parameter, ref) in graph.linearAttentionTensors(la, layer: l) { replaced[ref.name] = values[suffix(parameter)] }
        }
        CheckpointWriter.releasePagesAfterRead(of: model.store)
        try writer.write(weights: try weights(of: model.store, replacing: replaced), config: { .json(config) },
                         companions: model.configPath.map { .copies(of: $0) }) { dir in
            // The result must open as the same swapped model.
            let written = try Model(path: dir).graph()
            guard written.linearAttention?.layers == la.layers else {
                throw CalibrationError(file: destination, "the calibrated model does not read back as a swapped model, so nothing was written")
            }
        }
        let windowTokens = { (indices: [Int]) in indices.reduce(0) { $0 + data.windows[$1].count } }
        return CalibrationReport(converted: converted, destination: writer.destination, files: writer.files, record: record,
                                 featureMap: la.featureMap, window: la.window, sinks: la.sinks, trainWindows: split.train.count,
                                 validationWindows: split.validation.count, trainTokens: windowTokens(split.train),
                                 validationTokens: windowTokens(split.validation), layers: reports,
                                 seconds: seconds(clock.now - started), peakMemoryBytes: peakResidentBytes(), memoryBound: need.bytes)
    }

    /// The calibration record the linear_attention `block` already holds (a model calibrated before), nil if none.
    static func previousRecord(_ block: JSON, file: String) throws -> CalibrationRecord? {
        guard let c = block["calibration"], !c.isNull else { return nil }
        var reader = ConfigReader(json: c, file: file)
        guard let record = CalibrationRecord.read(c, reader: &reader) else {
            throw CalibrationError(file: file, reader.problems.joined(separator: "; "))
        }
        return record
    }

    /// Refuses a model calibration cannot train, before any data is read: one that is not a swapped model (no
    /// `linear_attention` block), a map with nothing to train and no window factors, layers that are not swapped,
    /// and bad options. Returns the graph, its linear-attention config, and the layers to train.
    public static func check(model: Model, options: CalibrationOptions) throws -> (ModelGraph, LinearAttentionConfig, [Int]) {
        try options.validate()
        let configFile = model.configPath ?? model.path
        guard model.config?["linear_attention"].map({ !$0.isNull }) ?? false else {
            throw CalibrationError(file: configFile, "has no linear_attention block: it is not a model written by `recast swap`, so it has no feature maps to calibrate (swap it first, or give `recast swap … --calibrate-on FILE`)")
        }
        let graph = try model.graph()
        guard let la = graph.linearAttention else {
            throw CalibrationError(file: configFile, "has no linear_attention block: it is not a model written by `recast swap`")
        }
        let layers = try trainedLayers(la, options: options, file: configFile)
        try refuseNothingToTrain(la, graph: graph, file: configFile)
        return (graph, la, layers)
    }

    /// Refuses a linear-attention config with nothing to train: a map without trained parameters (performer,
    /// elu) and no window factors. `file` names the model (or the options) in the message.
    public static func refuseNothingToTrain(_ la: LinearAttentionConfig, graph: ModelGraph, file: String) throws(CalibrationError) {
        guard la.window == nil, let first = la.layers.first, first < graph.blocks.count else { return }
        let layout = la.layout(graph.blocks[first].attention, hiddenSize: graph.hiddenSize)
        guard !la.featureMap.map.parameters(layout).contains(where: \.trained) else { return }
        throw CalibrationError(file: file, "the feature map \(la.featureMap.name) has no trained parameters and no window factors: there is nothing to calibrate; swap with --window W to train the window factors, or use a map with parameters (t2r, hedgehog)")
    }

    /// The layers to train: the options' (each a swapped layer), or every swapped layer; ascending.
    static func trainedLayers(_ la: LinearAttentionConfig, options: CalibrationOptions, file: String) throws(CalibrationError) -> [Int] {
        guard let asked = options.layers else { return la.layers.sorted() }
        let swapped = Set(la.layers)
        if let bad = asked.first(where: { !swapped.contains($0) }) {
            throw CalibrationError(file: file, "--layers names layer \(bad), which is not swapped (the swapped layers are \(la.layers.map(String.init).joined(separator: ","))): only linear-attention layers have feature maps to train")
        }
        guard !asked.isEmpty else { throw CalibrationError(file: "--layers", "names no layer") }
        return Array(Set(asked)).sorted()
    }

    /// What a calibration holds at its peak resident set, worked out before anything is loaded, as an upper bound:
    /// the process itself (runtime, libraries and OpenBLAS's buffers: `processBaseline`); the teacher's weights in f32
    /// (the model's mapped pages are given back as each tensor is read, `Model.init`); the hidden states of
    /// every calibration token (one row of the hidden size each, and one pass's copy); the captures of one layer
    /// (q, k, v and the attention output per query head, and the layer's input and output: 4·H·d + 2·hidden values
    /// per token); the trainer's copies of them (per head v′ = [v, 1] and, with a window, the window terms, d + 1
    /// values each per token); the activations of one forward pass; and the trainer's working set, per thread, on
    /// the longest window (per head φ(q), φ(k), their shifted copies and gradients, and the head's values,
    /// outputs, gradients and masks; only that many heads are worked on at once, whatever `--batch`).
    public static func memoryNeed(graph: ModelGraph, store: TensorStore, data: CalibrationData) -> MemoryNeed {
        var need = MemoryNeed()
        need.add("the process (runtime, libraries, BLAS buffers)", [processBaseline], bytesEach: 1)
        need.add(RunLimits.weightsNeed(graph: graph.softmaxOnly, store: store))
        let n = data.tokens, longest = data.windows.map(\.count).max() ?? 0
        need.add(RunLimits.batchNeed(graph: graph.softmaxOnly, sequences: data.windows.count, tokens: n, longest: longest,
                                     passRows: min(n, max(longest, 4096)), logits: .none))
        let qkvo = MemoryNeed.product([4, graph.heads, graph.headDim])
        need.add("one layer's captures", [n, MemoryNeed.sum(qkvo, MemoryNeed.product([2, graph.hiddenSize]))])
        if let la = graph.linearAttention {
            need.add("the trainer's copies of the captures", [n, graph.heads, graph.headDim + 1, la.window == nil ? 1 : 2])
            let m = la.featureMap.map.featureCount(dimension: la.featureDim, headDim: graph.headDim)
            let perToken = [MemoryNeed.product([8, m]), MemoryNeed.product([8, graph.headDim + 1]), LinearTerms.chunk]
                .reduce(0, MemoryNeed.sum)
            need.add("training working set", [BLAS.expectedThreads(), longest, perToken])
        }
        return need
    }

    /// The resident memory of a calibrating process before any data: the Swift runtime, the binary and its
    /// libraries, and OpenBLAS once loaded with its per-thread buffers (measured at about 40 MB with 2 threads on
    /// Debian 12; this adds a margin).
    static let processBaseline = 64 << 20

    /// The name a layer's trained tensor goes by in `LayerParameters`.
    static func suffix(_ parameter: FeatureMapParameter?) -> String { parameter?.suffix ?? "window_factors" }

    /// The tensors of `store` in its own layout (its shards, or one HDF5 file), those named in `replaced` holding
    /// the new values in their stored dtype, every other one copied byte for byte.
    static func weights(of store: TensorStore, replacing replaced: [String: [Float]]) throws -> OutputWeights {
        func output(_ info: TensorInfo) throws -> OutputTensor {
            guard let values = replaced[info.name] else { return .copy(info, from: store) }
            guard values.count == info.elementCount else {
                throw CalibrationError(file: store.files.first ?? "", "tensor '\(info.name)' holds \(info.elementCount) values, but training gave \(values.count)")
            }
            let bytes = Cast.encode(values, as: info.dtype)
            return OutputTensor(info: info) { consume in try bytes.withUnsafeBytes { try consume($0) } }
        }
        if let sharded = store as? ShardedSafeTensors {
            let shards = try sharded.shards.map { SafeTensorsWriter.Shard(tensors: try $0.tensors.map(output), metadata: $0.metadata) }
            return .shards(shards, indexMetadata: store.metadata)
        }
        let tensors = try store.tensors.map(output)
        if store.format == .hdf5 { return .hdf5(tensors, metadata: store.metadata) }
        return .shards([SafeTensorsWriter.Shard(tensors: tensors, metadata: store.metadata)], indexMetadata: store.metadata)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// This program's peak resident set size: VmHWM of /proc/self/status, else `ru_maxrss`. Not `ru_maxrss` first: a
    /// process started by fork and exec keeps the parent's peak there when it was larger (Linux carries it across exec).
    static func peakResidentBytes() -> Int {
        if let file = fopen("/proc/self/status", "r") {
            defer { fclose(file) }
            var line = [CChar](repeating: 0, count: 512)
            while fgets(&line, Int32(line.count), file) != nil {
                let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                guard text.hasPrefix("VmHWM:") else { continue }
                let fields = text.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
                if let kilobytes = fields.first.flatMap({ Int($0) }) { return kilobytes * 1024 }
            }
        }
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        return usage.ru_maxrss * 1024
    }
}
