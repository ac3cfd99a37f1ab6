import Checkpoint
import RecastCore

/// A checkpoint opened together with its config and, when it is a recognised transformer, its graph.
public final class Model {
    public let path: String
    public let store: TensorStore
    public let configPath: String?
    public let config: JSON?

    /// Opens the weights and reads `config.json` (inside a model folder or beside the weights file).
    public init(path: String) throws {
        self.path = path
        store = try Checkpoint.open(path)
        configPath = Checkpoint.configPath(for: path)
        if let configPath {
            config = try JSONFileLimit.read(configPath, limit: JSONFileLimit.config, what: "a config.json").root.json
        } else {
            config = nil
        }
    }

    /// The graph, validated; throws a `GraphError` listing every problem.
    public func graph() throws -> ModelGraph {
        guard let config, let configPath else {
            throw GraphError(file: path, "has no config.json beside it: Recast needs the model's config.json to map its tensors")
        }
        return try ModelGraph.build(config: config, configFile: configPath, store: store)
    }

    /// Whether the config names a family Recast knows (the graph may still fail validation).
    public var isRecognisedTransformer: Bool {
        guard let type = config?["model_type"]?.stringValue else { return false }
        return ModelGraph.family(forModelType: type) != nil
    }
}
