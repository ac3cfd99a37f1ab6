import ArgumentParser
import Checkpoint
import ModelGraph
import RecastCore

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a checkpoint holds: format, layout, metadata, tensors and totals.",
        discussion: "Reads headers and metadata only, so a multi-gigabyte checkpoint inspects as fast as a small one."
    )

    @Argument(help: "A .safetensors file, a sharded index .json, an HDF5 file (.h5, .hdf5, .weights.h5), a GGUF file, a PyTorch file (pytorch_model.bin, .pt, .pth, .ckpt), or a model folder.")
    var path: String

    @Flag(help: "Print one JSON object (schemas/inspect.schema.json) instead of the table.")
    var json = false

    @Flag(help: "List every tensor instead of summarising repeated layers.")
    var all = false

    func run() throws {
        try reportingErrors {
            let model = try Model(path: path)
            let summary = CheckpointSummary(model.stored)
            // A recognised transformer whose checkpoint fails validation still inspects: the tensors are
            // shown, the architecture is null, and the problems go to stderr.
            var graph: ModelGraph?
            if model.isRecognisedTransformer {
                do { graph = try model.graph() } catch {
                    Terminal.warning("not mapped onto a transformer graph: ", error)
                }
            }
            if json {
                var object = summary.json
                object.set("architecture", graph?.json ?? .null)
                print(object.serialized(pretty: true))
            } else {
                Terminal.output(InspectText.lines(summary, graph: graph, all: all))
            }
        }
    }
}

/// The text form of `inspect`, one string per line; names from the file are escaped when the lines are
/// printed (`Terminal.output`), and table columns are measured in escaped text so they stay aligned.
enum InspectText {
    static func lines(_ s: CheckpointSummary, graph: ModelGraph?, all: Bool) -> [String] {
        var lines: [String] = []
        lines.append("format:     \(s.format.rawValue) (\(s.layout))")
        lines.append(s.files.count == 1 ? "file:       \(s.files[0])" : "files:      \(s.files.count): " + s.files.joined(separator: ", "))
        if let g = graph {
            lines.append("model:      \(g.modelType) (\(g.family.rawValue) family), \(g.causal ? "causal decoder" : "bidirectional encoder")")
            let heads = g.kvHeads == g.heads ? "\(g.heads) heads" : "\(g.heads) heads, \(g.kvHeads) key/value heads"
            lines.append("            \(g.layerCount) layers, \(heads) of size \(g.headDim), hidden \(g.hiddenSize), MLP \(g.intermediateSize), vocabulary \(g.vocabSize)")
            var extras: [String] = []
            if let r = g.blocks.first?.attention.rotary { extras.append("rotary θ=\(formatFixed(r.theta, digits: 0))") }
            if let p = g.maxPositions, g.embeddings.position != nil { extras.append("\(p) learned positions") }
            if g.lmHead != nil { extras.append(g.tiedEmbeddings ? "LM head tied to the embedding" : "separate LM head") }
            if !extras.isEmpty { lines.append("            " + extras.joined(separator: ", ")) }
            if let la = g.linearAttention {
                let features = la.featureMap.map.featureCount(dimension: la.featureDim, headDim: g.headDim)
                let count = features == la.featureDim ? "\(features) features" : "\(features) features (feature dim \(la.featureDim))"
                let window = (la.window.map { ", softmax window \($0)" } ?? "") + (la.sinks > 0 ? ", \(la.sinks) sink\(la.sinks == 1 ? "" : "s")" : "")
                lines.append("linear:     \(la.featureMap.name) feature map, \(count), layers \(la.layers.map(String.init).joined(separator: ","))\(la.folded ? ", folded" : "")\(window)")
            }
            lines.append("parameters: " + g.parameterCounts().map { "\($0.0) \(grouped($0.1))" }.joined(separator: ", "))
        }
        if !s.metadata.isEmpty {
            lines.append("metadata:")
            for (k, v) in s.metadata {
                let shown = v.count > 120 ? String(v.prefix(117)) + "..." : v
                lines.append("  \(k): \(shown)")
            }
        }
        lines.append("")
        var rows: [[String]] = [["tensor", "dtype", "shape", "parameters", "bytes"]]
        if all {
            for t in s.tensors {
                rows.append([t.name, t.dtype.rawValue, shapeText(t.shape), grouped(t.elementCount), ByteSize.format(t.byteCount)])
            }
        }
        let groups = all ? [] : TensorGroup.group(s.tensors)
        if !all {
            for g in groups {
                let name = g.count > 1 ? "\(g.displayName)  ×\(g.count)" : g.displayName
                rows.append([name, g.dtype.rawValue, shapeText(g.shape), grouped(g.parameterCount), ByteSize.format(g.byteCount)])
            }
        }
        lines.append(contentsOf: table(rows))
        lines.append("")
        lines.append("total: \(s.tensors.count) tensors, \(grouped(s.parameterCount)) parameters, \(ByteSize.format(s.byteCount)) (\(grouped(s.byteCount)) bytes)")
        if !s.tiedTensors.isEmpty {
            lines.append("")
            lines.append("tied tensors (sharing bytes of one storage; converted to separate copies) (\(s.tiedTensors.count) groups):")
            lines.append(contentsOf: CheckpointSummary.tiedLines(s.tiedTensors))
        }
        if !s.skipped.isEmpty {
            lines.append("")
            lines.append("not tensors (\(s.skipped.count)):")
            for k in s.skipped { lines.append("  \(k.name): \(k.reason)") }
        }
        if !all && groups.count < s.tensors.count {
            lines.append("(repeated layers summarised; --all lists every tensor)")
        }
        return lines
    }

    static func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

    /// 124439808 → 124,439,808
    static func grouped(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, c) in s.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    /// Left-aligned text columns, right-aligned numbers, measured as they will be shown (escaped).
    static func table(_ rows: [[String]]) -> [String] {
        guard let first = rows.first else { return [] }
        let shown = rows.map { $0.map { $0.escapedForTerminal.count } }
        var widths = [Int](repeating: 0, count: first.count)
        for r in shown { for (i, w) in r.enumerated() { widths[i] = max(widths[i], w) } }
        return zip(rows, shown).map { r, w in
            r.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - w[i])
                return i >= 3 ? pad + c : c + pad
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
