import ArgumentParser
import Checkpoint
import ModelGraph
import RecastCore
import Rewrite
import Calibration

struct Swap: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Swap softmax attention for linear attention with per-head feature maps.",
        usage: "recast swap <source> <destination> --feature-map <feature-map> [<options>] [--calibrate-on <file> [<calibration options>]]",
        discussion: """
            Writes DST as a model folder: config.json (the source config plus a "linear_attention" block, \
            schemas/linear-attention.schema.json), every original tensor copied bit for bit, and the new \
            feature-map tensors {P}.feature_map*.* under each swapped layer's attention module P. Weights are \
            sharded like the source, or one model.h5 with --format hdf5; tokenizer files are copied. The same \
            command and seed give byte-identical files on any machine. The output is written beside DST and \
            renamed into place when complete.

            Feature maps (d = head size): \(knownFeatureMaps.map { "\($0.name) \($0.map.formula)" }.joined(separator: "; ")).

            With --window W (LoLCATs uses 64), each swapped layer keeps softmax attention over the last W \
            positions and uses linear attention beyond them, mixed with a learned factor per head \
            {P}.window_factors (g_h = -2.1972 at first, so sigmoid(g_h) = 0.1). With --sinks N as well, the \
            first N positions stay in every query's softmax terms as if inside its window, and never enter the \
            linear sums (attention sinks: many models put a large share of their attention on the first token).
            """
    )

    @Argument(help: "The model to swap: a model folder, or a weights file with config.json beside it.")
    var source: String

    @Argument(help: "The folder to write.")
    var destination: String

    @Option(help: ArgumentHelp("The feature map: \(FeatureMapKind.knownNames)."))
    var featureMap: String

    @Option(help: "Features per head: k for t2r (default 32) and hedgehog (default d), m for performer (default 256).",
            transform: parseCount)
    var featureDim: Int?

    @Option(help: "Layers to swap: all, indices such as 0,2,5, ranges such as 0-5, or a mix such as 0-2,5.")
    var layers: String = "all"

    @Option(help: "Seed of the random initialisation.")
    var seed: UInt64 = 0

    @Flag(name: .customLong("separate-qk"), help: "t2r: one feature map for queries and one for keys instead of a shared one (hedgehog's are always separate).")
    var separateQK = false

    @Flag(help: "t2r: multiply the feature maps into the query and key projections (not with rotary embeddings).")
    var fold = false

    @Option(help: "Keep softmax attention over the last W positions and use linear attention beyond (LoLCATs uses 64); not with --fold.",
            transform: parseCount)
    var window: Int?

    @Option(help: "With --window W: keep the first N positions (N ≤ W) in every query's softmax terms (attention sinks; 4 is usual).",
            transform: parseCount)
    var sinks: Int = 0

    @Option(help: "The linear-attention denominator's epsilon.")
    var eps: Double = LinearAttentionConfig.defaultEps

    @Option(help: "Weights format: safetensors or hdf5.")
    var format: String = "safetensors"

    @Flag(help: "Replace DST if it exists.")
    var force = false

    @Option(name: .customLong("calibrate-on"), help: ArgumentHelp("Also calibrate the swapped layers on this data before writing DST, as `recast calibrate` does (its options below apply): token ids in a .json or .jsonl file, else text: one document for a language model, one sentence per line for an encoder.", valueName: "file"))
    var calibrateOn: String?

    @OptionGroup(title: "Calibration (with --calibrate-on)") var training: TrainingOptions

    func options() throws -> SwapOptions {
        guard let kind = FeatureMapKind(rawValue: featureMap) else {
            throw ValidationError("--feature-map must be one of \(FeatureMapKind.knownNames) (got '\(featureMap)')")
        }
        guard let weights = SwapFormat(rawValue: format) else {
            throw ValidationError("--format must be safetensors or hdf5 (got '\(format)')")
        }
        var o = SwapOptions(featureMap: kind)
        o.featureDim = featureDim
        o.seed = seed
        o.separateQK = separateQK
        o.fold = fold
        o.eps = eps
        o.window = window
        o.sinks = sinks
        o.format = weights
        o.force = force
        do {
            o.layers = try LayerSelection(layers)
            try o.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return o
    }

    func validate() throws {
        _ = try options()
        if calibrateOn == nil && training.isGiven {
            throw ValidationError("the calibration options (--steps, --epochs, --lr, --batch, --validation, --tokens, --max-length, --plot, --json, --no-special-tokens) apply with --calibrate-on FILE")
        }
    }

    func run() throws {
        try reportingErrors {
            let options = try options()
            for w in options.warnings { Terminal.warning(w) }
            let model = try Model(path: source)
            if let calibrateOn {
                return try swapAndCalibrate(model: model, options: options, data: calibrateOn)
            }
            let bar = ProgressBar.make(total: model.store.byteCount, label: "swapping")
            let summary = try Rewrite.Swap.write(model: model, destination: destination, options: options, progress: bar)
            bar?.finish()
            Terminal.output(try lines(summary, model: model))
        }
    }

    /// `--calibrate-on`: the swap goes to a temporary folder beside DST (removed in every case, and on a
    /// signal), the calibration from there to DST. DST is checked first, and only the calibrated model is
    /// ever written there.
    func swapAndCalibrate(model: Model, options: SwapOptions, data: String) throws {
        let calibration = try training.options(layers: "all", seed: seed, force: force)
        let graph = try model.graph()
        try Calibrator.refuseNothingToTrain(try Rewrite.Swap.plan(graph: graph, options: options, file: source).config, graph: graph,
                                            file: "--feature-map \(options.featureMap.name)")
        // Claimed and released: refuses an existing DST (without --force), or one the swap would read, at once.
        _ = try CheckpointWriter(destination: destination, folder: true, force: force, source: source, store: model.store,
                                 alsoReads: [data])
        let (dir, base) = FileSystem.split(destination.hasSuffix("/") ? String(destination.dropLast()) : destination)
        let scratch = try AtomicOutput(destination: FileSystem.join(dir.isEmpty ? "." : dir, ".\(base).uncalibrated"), directory: true,
                                       force: true, reads: try Checkpoint.inputs(of: source) + [data])
        defer { scratch.abandon() }
        let swapped = FileSystem.join(scratch.temporaryPath, "swapped")
        var swapOptions = options
        swapOptions.force = false
        let bar = ProgressBar.make(total: model.store.byteCount, label: "swapping")
        let summary = try Rewrite.Swap.write(model: model, destination: swapped, options: swapOptions, progress: bar)
        bar?.finish()
        let lower = data.lowercased()
        let format: CalibrationData.Format = lower.hasSuffix(".json") || lower.hasSuffix(".jsonl") ? .tokensFile
            : graph.causal ? .textFile : .lines
        let swappedModel = try Model(path: swapped)
        try training.calibrate(model: swappedModel, destination: destination, dataFile: data, format: format, options: calibration,
                               force: force, before: try lines(summary, model: model), name: source)
    }

    /// What a swap did, for people.
    func lines(_ summary: SwapSummary, model: Model) throws -> [String] {
        let plan = summary.plan
        var how = "\(plan.featureMap.name), feature dim \(plan.featureDim)"
        let features = plan.featureCount(headDim: try model.graph().headDim)
        if features != plan.featureDim { how += " (\(features) features)" }
        if plan.featureMap.map.qkSharing == .optional {
            how += plan.folded ? ", folded" : plan.sharedQK ? ", shared q/k" : ", separate q/k"
        }
        if [.t2r, .performer].contains(plan.featureMap) { how += ", seed \(plan.seed)" }
        if let w = plan.window { how += ", window \(w)" }
        if plan.sinks > 0 { how += ", \(plan.sinks) sink\(plan.sinks == 1 ? "" : "s")" }
        return [
            "swapped layer\(plan.layers.count == 1 ? "" : "s") \(LayerSelection.text(plan.layers)) (\(plan.layers.count) of \(summary.layerCount)) to linear attention: \(how)",
            "new parameters: \(InspectText.grouped(summary.newParameterCount)) in \(summary.newTensors.count) tensors; \(summary.copiedTensorCount) tensors copied unchanged",
        ] + (calibrateOn == nil ? ["wrote \(summary.destination): \(summary.files.joined(separator: ", ")) (\(ByteSize.format(summary.bytesWritten)) of weights)"] : [])
    }
}
