#if canImport(Glibc)
import Glibc
#endif
import RecastCore

/// How an encoder's token states become one sentence embedding, as sentence-transformers does it:
/// mean over the tokens (the default of `all-MiniLM-L6-v2`), the first token (`[CLS]`), or the maximum,
/// then L2 normalisation when a `Normalize` module is listed.
public struct Pooling: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        case mean, cls, max
    }

    public var mode: Mode
    public var normalize: Bool

    public init(mode: Mode, normalize: Bool) {
        self.mode = mode
        self.normalize = normalize
    }

    /// Pools one sequence's hidden states [T, H] (padding rows excluded) to [H].
    public func apply(_ hidden: Matrix) -> [Float] {
        let t = hidden.rows, h = hidden.cols
        var out = [Double](repeating: 0, count: h)
        switch mode {
        case .cls:
            if t > 0 { for j in 0..<h { out[j] = Double(hidden.data[j]) } }
        case .mean:
            for r in 0..<t { for j in 0..<h { out[j] += Double(hidden.data[r * h + j]) } }
            if t > 0 { for j in 0..<h { out[j] /= Double(t) } }
        case .max:
            if t > 0 {
                for j in 0..<h { out[j] = Double(hidden.data[j]) }
                for r in 1..<max(t, 1) { for j in 0..<h { out[j] = Swift.max(out[j], Double(hidden.data[r * h + j])) } }
            }
        }
        if normalize {
            // sentence-transformers: x / max(‖x‖, 1e-12).
            let norm = out.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let scale = 1 / Swift.max(norm, 1e-12)
            for j in 0..<h { out[j] *= scale }
        }
        return out.map(Float.init)
    }

    /// The longest input a sentence-transformers model folder embeds: `max_seq_length` of its
    /// `sentence_bert_config.json` (256 for all-MiniLM-L6-v2, where the model has 512 positions);
    /// sentence-transformers truncates to it. Without that key (sentence-transformers 5 and later save it as the
    /// tokenizer's), the tokenizer's `model_max_length` in `tokenizer_config.json`, which sentence-transformers
    /// then truncates to. nil without `sentence_bert_config.json` (not a sentence-transformers folder) or either key.
    public static func sentenceTransformersMaxLength(model path: String) throws -> Int? {
        let folder = try ModelFolder(FileSystem.isDirectory(path) ? path : FileSystem.split(path).dir)
        let configPath = try folder.file("sentence_bert_config.json")
        guard FileSystem.exists(configPath) else { return nil }
        let config = try JSONFileLimit.read(configPath, limit: JSONFileLimit.config, what: "a sentence-transformers config").root.json
        guard let value = config["max_seq_length"], !value.isNull else {
            let tokenizerPath = try folder.file("tokenizer_config.json")
            guard FileSystem.exists(tokenizerPath) else { return nil }
            let tokenizer = try JSONFileLimit.read(tokenizerPath, limit: JSONFileLimit.config, what: "a tokenizer config").root.json
            // transformers writes a huge sentinel (1e30) for "no limit".
            guard let n = tokenizer["model_max_length"]?.intValue, n > 0, n < 1 << 31 else { return nil }
            return n
        }
        guard let n = value.intValue, n > 0 else {
            throw RuntimeError(file: configPath, "max_seq_length is \(value.serialized()), not a positive whole number")
        }
        return n
    }

    /// The pooling a sentence-transformers model folder declares: `modules.json` lists a
    /// `sentence_transformers.models.Pooling` module whose folder's `config.json` sets one
    /// `pooling_mode_*_tokens` (mean, cls, max), and normalisation when a `Normalize` module is listed
    /// (it has no configuration, so its folder need not exist). nil when the folder has no `modules.json`.
    /// `path` is the model folder or a file inside it.
    public static func sentenceTransformers(model path: String) throws -> Pooling? {
        let folder = try ModelFolder(FileSystem.isDirectory(path) ? path : FileSystem.split(path).dir)
        let modulesPath = try folder.file("modules.json")
        guard FileSystem.exists(modulesPath) else { return nil }
        let modules = try JSONFileLimit.read(modulesPath, limit: JSONFileLimit.config, what: "a modules.json").root.json
        guard let list = modules.arrayValue else {
            throw RuntimeError(file: modulesPath, "is not a list of modules (sentence-transformers writes a JSON array)")
        }
        var pooling: Mode?
        var normalize = false
        for (i, module) in list.enumerated() {
            guard let type = module["type"]?.stringValue else {
                throw RuntimeError(file: modulesPath, "module \(i) has no \"type\" string")
            }
            switch type.split(separator: ".").last ?? "" {
            case "Normalize":
                normalize = true
            case "Pooling":
                guard pooling == nil else { throw RuntimeError(file: modulesPath, "lists two Pooling modules") }
                let configPath = try folder.file(FileSystem.join(module["path"]?.stringValue ?? "", "config.json"))
                guard FileSystem.exists(configPath) else {
                    throw RuntimeError(file: configPath, "does not exist: modules.json lists a Pooling module in this folder, and its config.json says how to pool")
                }
                pooling = try mode(config: JSONFileLimit.read(configPath, limit: JSONFileLimit.config, what: "a pooling config").root.json,
                                   file: configPath)
            case "Transformer":
                continue
            default:
                // A Dense, LayerNorm or other module changes the embedding after pooling: skipping it would
                // give vectors sentence-transformers never produces under the same name.
                throw RuntimeError(file: modulesPath, "module \(i) is \(type), which Recast does not run (only Transformer, Pooling and Normalize), so it cannot give this model's sentence embeddings (`recast run --pooling mean|cls|max` pools the hidden states without it)")
            }
        }
        guard let pooling else {
            throw RuntimeError(file: modulesPath, "lists no sentence_transformers.models.Pooling module: give --pooling mean|cls|max")
        }
        return Pooling(mode: pooling, normalize: normalize)
    }

    /// The one mode a sentence-transformers `1_Pooling/config.json` turns on: `"pooling_mode": "mean"` (or a list of
    /// one mode) as sentence-transformers 5 and later write it, or one of the `pooling_mode_*_tokens` flags of
    /// earlier versions.
    static func mode(config: JSON, file: String) throws -> Mode {
        let supported: [(String, Mode)] = [("pooling_mode_mean_tokens", .mean), ("pooling_mode_cls_token", .cls), ("pooling_mode_max_tokens", .max)]
        let unsupported = ["pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"]
        guard config.objectValue != nil else { throw RuntimeError(file: file, "is not a JSON object") }
        if let value = config["pooling_mode"], !value.isNull {
            let names = value.stringValue.map { [$0] } ?? value.arrayValue?.compactMap(\.stringValue)
            guard let names, !names.isEmpty, value.stringValue != nil || names.count == value.arrayValue?.count else {
                throw RuntimeError(file: file, "pooling_mode is \(value.serialized()), not a mode name (mean, cls, max, …) or a list of them")
            }
            guard names.count == 1 else {
                throw RuntimeError(file: file, "pooling_mode lists \(names.joined(separator: ", ")): sentence-transformers would concatenate them, which Recast does not support")
            }
            let named: [String: Mode] = ["mean": .mean, "cls": .cls, "max": .max]
            guard let mode = named[names[0]] else {
                let known = ["mean_sqrt_len_tokens", "weightedmean", "lasttoken"].contains(names[0])
                throw RuntimeError(file: file, "pooling_mode is \(names[0]), which \(known ? "Recast does not support" : "sentence-transformers does not know") (mean, cls and max only)")
            }
            // A file with both forms (hand-edited) must not say two things.
            let flagged = supported.filter { config[$0.0]?.boolValue == true }.map(\.1)
            if !flagged.isEmpty && flagged != [mode] {
                throw RuntimeError(file: file, "pooling_mode is \(names[0]), but its pooling_mode_*_tokens flags turn on another mode")
            }
            return mode
        }
        if let on = unsupported.first(where: { config[$0]?.boolValue == true }) {
            throw RuntimeError(file: file, "sets \(on), which Recast does not support (mean, cls and max only)")
        }
        let on = supported.filter { config[$0.0]?.boolValue == true }
        guard on.count == 1 else {
            throw RuntimeError(file: file, on.isEmpty ? "turns on no pooling mode (pooling_mode_mean_tokens, pooling_mode_cls_token or pooling_mode_max_tokens)"
                : "turns on \(on.map(\.0).joined(separator: " and ")): sentence-transformers would concatenate them, which Recast does not support")
        }
        return on[0].1
    }
}
