import GGUF
import RecastCore

/// A model whose config and companion files live inside its weights file, as a GGUF file's metadata
/// holds them: the store under Hugging Face's names, the `config.json` built from the metadata, and the
/// companion files built from it (`tokenizer.json`, `tokenizer_config.json`), by name.
public struct EmbeddedModel {
    public var store: TensorStore
    public var config: JSON
    let gguf: GGUFFile

    /// Companion files, by their name in a model folder, built when asked for (a tokenizer the metadata
    /// describes badly fails only the commands that need it); written out by convert and swap.
    public func companions() throws -> [(name: String, json: JSON)] { try Checkpoint.embeddedCompanions(of: gguf) }

    /// The names `companions()` would give, without building them.
    public var companionNames: [String] {
        gguf.header.value("tokenizer.ggml.model") == nil ? [] : ["tokenizer.json", "tokenizer_config.json"]
    }
}

extension Checkpoint {
    /// The model a store carries inside itself: for a GGUF file, its Hugging Face view with config.json
    /// and the tokenizer files built from its metadata; nil for stores whose config lies beside them.
    public static func embeddedModel(_ store: TensorStore) throws -> EmbeddedModel? {
        guard let gguf = store as? GGUFFile else { return nil }
        let view = try GGUFHuggingFaceStore(file: gguf)
        return EmbeddedModel(store: view, config: view.config, gguf: gguf)
    }

    /// The GGUF file at `path`, by content: a GGUF file under any name, or a folder whose weights are one
    /// (see `weightsPath`); nil for anything else, including paths that are not checkpoints at all.
    public static func ggufFile(at path: String) throws -> GGUFFile? {
        let weights = FileSystem.isDirectory(path) ? try? weightsPath(in: path) : path
        guard let weights, FileSystem.exists(weights), !FileSystem.isDirectory(weights),
              let mapping = try? MappedFile(path: weights),
              (try? mapping.reading { mapping.bytes.starts(with: Array("GGUF".utf8)) }) == true else { return nil }
        return try GGUFFile(mapping: mapping)
    }

    /// The tokenizer files a GGUF file's metadata describes (`tokenizer.json`, and `tokenizer_config.json`
    /// when there are special tokens or a chat template); empty when it holds no tokenizer.
    public static func embeddedCompanions(of gguf: GGUFFile) throws -> [(name: String, json: JSON)] {
        var files: [(name: String, json: JSON)] = []
        guard gguf.header.value("tokenizer.ggml.model") != nil else { return files }
        files.append(("tokenizer.json", try GGUFTokenizer.tokenizerJSON(from: gguf.header, file: gguf.path)))
        if let c = try GGUFTokenizer.tokenizerConfig(from: gguf.header, file: gguf.path) {
            files.append(("tokenizer_config.json", c))
        }
        return files
    }
}
