import ModelGraph
import RecastCore

/// A checkpoint opened together with its config and, when it is a recognised transformer, its graph.
///
/// A GGUF file carries its config inside: `store` is then its Hugging Face view (names, layouts and
/// f32 values as the model was before llama.cpp converted it), `config` is built from its metadata,
/// and `embedded` holds the tokenizer files built from it. `stored` is always the file as stored.
public final class Model {
    public let path: String
    /// The tensors under the names and layouts the graph reads.
    public let store: TensorStore
    /// The checkpoint as stored (what `inspect` shows): `store` itself unless the file embeds its model.
    public let stored: TensorStore
    /// The config and companion files built from inside the weights file (GGUF); nil otherwise.
    public let embedded: EmbeddedModel?
    /// Why a file that embeds its model could not be mapped (thrown by `graph()`).
    private var embeddingError: Error?
    public let configPath: String?
    public let config: JSON?
    /// The SHA-256 (hex) of `config.json` as it was read: provenance hashes the bytes that were parsed,
    /// without reading the file a second time.
    public let configSHA256: String?

    /// Opens the weights and reads `config.json` (inside a model folder or beside the weights file).
    public init(path: String) throws {
        self.path = path
        stored = try Checkpoint.open(path)
        // A model's tensors are read once each, into the arrays that run it: their mapped pages are released
        // as they are read, so the file does not stay resident beside its f32 copy.
        CheckpointWriter.releasePagesAfterRead(of: stored)
        // A GGUF file Recast cannot map still opens, for `inspect`; the graph then gives the reason.
        var embedding: EmbeddedModel?
        do { embedding = try Checkpoint.embeddedModel(stored) } catch { embeddingError = error }
        if let e = embedding {
            embedded = e
            store = e.store
            config = e.config
            configPath = stored.files.first ?? path
            configSHA256 = Array(e.config.serialized(pretty: true).utf8).withUnsafeBytes { SHA256.hex($0) }
            return
        }
        embedded = nil
        store = stored
        let found = try Model.readConfig(path)
        configPath = found?.path
        config = found?.json
        configSHA256 = found?.sha256
    }

    /// The `config.json` inside a model folder or beside a weights file, parsed (within the size cap of
    /// a config), with the SHA-256 of the bytes that were parsed; nil when there is none.
    public static func readConfig(_ path: String) throws -> (path: String, json: JSON, sha256: String)? {
        guard let configPath = try Checkpoint.configPath(for: path) else { return nil }
        let document = try JSONFileLimit.read(configPath, limit: JSONFileLimit.config, what: "a config.json")
        return (configPath, document.root.json, document.sha256)
    }

    /// The graph, validated; throws a `GraphError` listing every problem.
    public func graph() throws -> ModelGraph {
        if let embeddingError { throw embeddingError }
        guard let config, let configPath else {
            let place = FileSystem.isDirectory(path) ? "in it" : "beside it"
            throw GraphError(file: path, "has no config.json \(place): Recast needs the model's config.json to map its tensors. Put the model's config.json \(place), or convert the original model folder to a folder (recast convert MODEL_DIR OUT_DIR/), which keeps config.json and the tokenizer files; a single weights file cannot hold them")
        }
        return try ModelGraph.build(config: config, configFile: configPath, store: store)
    }

    /// Whether the config names a family Recast knows (the graph may still fail validation).
    public var isRecognisedTransformer: Bool {
        if embeddingError != nil { return true }  // so that `inspect` says why it is not mapped
        guard let type = config?["model_type"]?.stringValue else { return false }
        return ModelGraph.family(forModelType: type) != nil
    }
}
