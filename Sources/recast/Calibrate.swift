import ArgumentParser
import Calibration
import Checkpoint
import ModelGraph
import RecastCore
import Rewrite
import Verify

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a swapped model's feature maps to reproduce its original softmax attention (attention transfer).",
        discussion: """
            CONVERTED is a folder written by `recast swap`. Its feature maps (and window factors, with --window) are \
            trained layer by layer, with teacher forcing, to reproduce the original softmax attention outputs of \
            the same model (LoLCATs stage 1: mean squared error per head, AdamW, gradient clipping at norm 1, the \
            learning rate divided by 10 when the validation loss stalls, the best validation point kept). DST gets \
            every tensor of CONVERTED bit for bit except the trained ones, its companion files, and a \
            "calibration" record in config.json's linear_attention block (the data's SHA-256 and tokens, the \
            options, and per layer the validation attention error before and after).

            Memory (an upper bound of the peak, worked out before loading): the process, the f32 \
            weights, plus per calibration token about 4 × (4 × hidden + 5 × heads × head size) bytes (6 × with \
            --window: its hidden states, one layer's q, k, v and outputs, and the trainer's copies), plus one pass's \
            activations and the trainer's working set. Data that would not fit is refused with both figures. The \
            same data, options and seed give byte-identical output.
            """
    )

    @Argument(help: "The swapped model folder (written by `recast swap`).")
    var converted: String

    @Argument(help: "The folder to write.")
    var destination: String

    @Option(name: .customLong("text-file"), help: "One document, tokenized once and cut into windows of --max-length tokens (language models).")
    var textFile: String?

    @Option(help: "A text file with one window per line (blank lines skipped), each truncated to --max-length tokens (encoders: one sentence per line).")
    var lines: String?

    @Option(name: .customLong("tokens-file"), help: "A JSON array of arrays of token ids, or JSON lines of arrays; longer ones are cut into windows.")
    var tokensFile: String?

    @Option(help: "Layers to train: all (every swapped layer), indices such as 0,2,5, or ranges such as 0-5.")
    var layers: String = "all"

    @Option(help: "Seed of the validation split and the order of the training windows.")
    var seed: UInt64 = 0

    @OptionGroup var training: TrainingOptions

    @Flag(help: "Replace DST (and the --plot file) if they exist.")
    var force = false

    /// The data file and how it is read.
    var data: (file: String, format: CalibrationData.Format)? {
        if let textFile { return (textFile, .textFile) }
        if let lines { return (lines, .lines) }
        if let tokensFile { return (tokensFile, .tokensFile) }
        return nil
    }

    func validate() throws {
        let given = [textFile, lines, tokensFile].compactMap { $0 }
        guard given.count == 1 else {
            throw ValidationError(given.isEmpty ? "give the data: --text-file FILE, --lines FILE or --tokens-file FILE" : "give one data file, not \(given.count)")
        }
        _ = try training.options(layers: layers, seed: seed, force: force)
    }

    func run() throws {
        try reportingErrors {
            guard let data else { return }
            var options = try training.options(layers: layers, seed: seed, force: force)
            let model = try Model(path: converted)
            if layers != "all" {
                options.layers = try LayerSelection(layers).resolve(layerCount: try model.graph().layerCount, file: model.configPath ?? converted)
            }
            try training.calibrate(model: model, destination: destination, dataFile: data.file, format: data.format,
                                   options: options, force: force)
        }
    }
}

/// The options of a calibration that `calibrate` and `swap --calibrate-on` share.
struct TrainingOptions: ParsableArguments {
    @Option(name: .customLong("max-length"), help: "Tokens per window (default: 512, or the model's positions if fewer).", transform: parseCount)
    var maxLength: Int?

    @Option(help: "Use at most N tokens of the data.", transform: parseCount)
    var tokens: Int?

    @Option(help: "The share of windows held out for validation.")
    var validation: Double = 0.1

    @Option(help: "Optimiser steps per layer (default: one epoch).", transform: parseCount)
    var steps: Int?

    @Option(help: "Passes over the training windows per layer, instead of --steps.")
    var epochs: Double?

    @Option(help: "AdamW's initial learning rate.")
    var lr: Double = 1e-2

    @Option(help: "Training windows per optimiser step (at most the training windows: the record keeps the batch used).", transform: parseCount)
    var batch: Int = 1

    @Flag(name: .customLong("no-special-tokens"), help: "Do not add the tokenizer's special tokens to the text.")
    var noSpecialTokens = false

    @Option(help: "Draw each layer's training and validation loss as an SVG file.")
    var plot: String?

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    /// Whether any option differs from its default (`swap` refuses them without --calibrate-on).
    var isGiven: Bool {
        maxLength != nil || tokens != nil || validation != 0.1 || steps != nil || epochs != nil || lr != 1e-2 || batch != 1
            || noSpecialTokens || plot != nil || json
    }

    func validate() throws {
        if steps != nil && epochs != nil { throw ValidationError("give --steps or --epochs, not both") }
        // Checked here, with the other options, so that a bad value is a usage error before any model is read.
        if let maxLength, maxLength <= 0 { throw ValidationError("--max-length: must be a positive number of tokens (got \(maxLength))") }
        if let tokens, tokens <= 0 { throw ValidationError("--tokens: must be a positive number of tokens (got \(tokens))") }
        if let plot, !plot.lowercased().hasSuffix(".svg") { throw ValidationError("--plot must name an .svg file") }
    }

    /// The library's options; bad values are usage errors naming the option.
    func options(layers: String, seed: UInt64, force: Bool) throws -> CalibrationOptions {
        var o = CalibrationOptions()
        o.steps = steps
        if let epochs { o.epochs = epochs }
        o.learningRate = lr
        o.batch = batch
        o.validation = validation
        o.seed = seed
        o.force = force
        do {
            // The syntax only: the layers are resolved against the model once it is open (`resolveLayers`), so a
            // range far beyond any model is refused by the model's layer count, not enumerated.
            if layers != "all" { _ = try LayerSelection(layers) }
            try o.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        return o
    }

    /// Reads the data with the model's tokenizer, calibrates, writes DST (and the plot), and prints the report.
    /// `name` is what the report and the plot call the model calibrated (default: its folder; `swap
    /// --calibrate-on` gives its source, since the swapped folder is a temporary one, gone when this returns).
    func calibrate(model: Model, destination: String, dataFile: String, format: CalibrationData.Format,
                   options: CalibrationOptions, force: Bool, before: [String] = [], name: String? = nil) throws {
        let (graph, _, _) = try Calibrator.check(model: model, options: options)
        let configFile = model.configPath ?? model.path
        // The plot is claimed before the slow part: it follows the rule of every output. It is written after DST is
        // published, so it may not lie inside DST (which --force replaces).
        if let plot, let dst = FileSystem.realPath(destination) {
            let folder = FileSystem.split(plot).dir
            if let inside = FileSystem.realPath(folder.isEmpty ? "." : folder), (inside + "/").hasPrefix(dst + "/") {
                throw CalibrationError(file: plot, "lies inside \(destination), which this command writes: write the plot outside it")
            }
        }
        let plotOutput = try plot.map {
            try AtomicOutput(destination: $0, directory: false, force: force, reads: try Checkpoint.inputs(of: model.path) + [dataFile])
        }
        let positions = graph.maxPositions.map { $0 - graph.embeddings.positionOffset }
        let window = maxLength ?? min(512, positions ?? 512)
        if let positions, window > positions {
            throw CalibrationError(file: configFile, "--max-length \(window) is more than the model's \(positions) positions")
        }
        // The text-input code of `run` and `verify`, given the one source.
        let option = ["--text-file", "--lines", "--tokens-file"][[.textFile, .lines, .tokensFile].firstIndex(of: format) ?? 0]
        var arguments = [option, dataFile]
        if format != .tokensFile { arguments += ["--max-length", String(window)] }
        if noSpecialTokens { arguments.append("--no-special-tokens") }
        let input = try InputOptions.parse(arguments)
        let sequences = try input.resolve(model: model.path, graph: graph, file: configFile).sequences
        let data = try CalibrationData.make(sequences: sequences, file: dataFile, format: format, maxLength: window, tokenCap: tokens)
        let bar = CalibrationBar.make()
        var report = try Calibrator.calibrate(model: model, destination: destination, data: data, options: options) { bar?.draw($0) }
        bar?.finish()
        if let name { report.converted = name }
        if let plotOutput {
            let panels = report.layers.map { l in
                LossPlot.Panel(title: "layer \(l.layer)", train: l.result.trainLoss.enumerated().map { ($0.offset + 1, $0.element) },
                               validation: l.result.validationLoss)
            }
            try plotOutput.write {
                try FileSystem.writeAll(plotOutput.temporaryPath, Array(LossPlot.svg(panels, title: "Attention transfer: \(report.converted)").utf8))
            }
        }
        if json {
            print(report.json.serialized(pretty: true))
        } else {
            Terminal.output(Self.lines(report, before: before))
        }
    }

    /// The human report: what was trained on, a table per layer, where it went.
    static func lines(_ r: CalibrationReport, before: [String]) -> [String] {
        var out = before
        let c = r.record
        out.append("calibrated \(r.layers.count) layer\(r.layers.count == 1 ? "" : "s") (\(r.featureMap.name)\(r.window.map { ", window \($0)" } ?? "")\(r.sinks > 0 ? ", \(r.sinks) sinks" : "")) on \(c.tokens) tokens in \(c.windows) windows of at most \(c.maxLength) (\(r.trainTokens) training, \(r.validationTokens) validation tokens); \(c.steps) steps per layer, batch \(c.batch), lr \(c.learningRate), seed \(c.seed)")
        out.append("layer  error before  error after  ratio  best step")
        for l in r.layers {
            let ratio = l.errorAfter > 0 ? l.result.errorBefore / l.errorAfter : .infinity
            out.append(pad(String(l.layer), 5) + "  " + pad(format(l.result.errorBefore), 12) + "  " + pad(format(l.errorAfter), 11) + "  "
                + pad(ratio.isFinite ? formatFixed(ratio, digits: 1) + "×" : "–", 5) + "  " + pad(String(l.result.bestStep), 9))
        }
        out.append("time \(formatFixed(r.seconds, digits: 1)) s, peak memory \(ByteSize.format(r.peakMemoryBytes)) (weights, hidden states and one layer's captures estimated at \(ByteSize.format(r.memoryBound)) before starting)")
        out.append("wrote \(r.destination): \(r.files.joined(separator: ", "))")
        return out
    }

    static func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }

    static func format(_ v: Double) -> String {
        guard v.isFinite, v != 0 else { return v == 0 ? "0" : "\(v)" }
        var e = 0, m = abs(v)
        while m >= 10 { m /= 10; e += 1 }
        while m < 1 { m *= 10; e -= 1 }
        return (v < 0 ? "-" : "") + formatFixed(m, digits: 2) + "e" + (e < 0 ? "-" : "+") + (abs(e) < 10 ? "0" : "") + String(abs(e))
    }
}

/// The progress of a calibration on stderr, on a terminal only: layer, step, loss, tokens/s, time left.
final class CalibrationBar {
    private let start = ProgressBar.now()
    private var lastDraw = 0.0
    private var layerStart = ProgressBar.now()
    private var layer = -1

    static func make() -> CalibrationBar? { Terminal.stderrIsTerminal ? CalibrationBar() : nil }

    func draw(_ p: CalibrationProgress) {
        let t = ProgressBar.now()
        if p.layer != layer { layer = p.layer; layerStart = t }
        if t - lastDraw < 0.1 && p.step < p.steps { return }
        lastDraw = t
        let done = Double(p.layerIndex) * Double(p.steps) + Double(p.step), total = Double(p.layerCount) * Double(p.steps)
        let elapsed = t - start
        let left = done > 0 ? elapsed / done * (total - done) : 0
        let rate = t > layerStart ? Double(p.tokens) / (t - layerStart) : 0
        Terminal.writeStderr("\rlayer \(p.layer) (\(p.layerIndex + 1)/\(p.layerCount))  step \(p.step)/\(p.steps)  loss \(TrainingOptions.format(p.trainLoss))  \(formatFixed(rate, digits: 0)) tokens/s  \(formatFixed(left, digits: 0)) s left   ")
    }

    func finish() { Terminal.writeStderr("\n") }
}
