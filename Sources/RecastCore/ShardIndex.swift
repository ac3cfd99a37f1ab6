/// The index of a sharded checkpoint (`model.safetensors.index.json`, `pytorch_model.bin.index.json`): which
/// shard file beside the index holds each tensor (`weight_map`), and its `metadata`. Read under the index size
/// limit and checked before any shard is opened: every shard is a plain file name beside the index, reached by
/// `ModelFolder`'s rule for links. The stores of each format open the shards.
public struct ShardIndex {
    public let path: String
    /// The SHA-256 of the index as it was read, so that provenance names the bytes the store used.
    public let sha256: String
    public let metadata: Metadata
    /// Tensor names and their shard files, in the index's order.
    public let weightMap: [(name: String, file: String)]
    private let folder: ModelFolder

    /// Reads the index at `path`; `what` names the kind in messages ("a safetensors index").
    public init(path: String, what: String) throws {
        self.path = path
        let document = try JSONFileLimit.read(path, limit: JSONFileLimit.index, what: what)
        sha256 = document.sha256
        let json = document.root
        guard json.kind == .object else { throw CheckpointError(file: path, "is not a JSON object") }
        guard let mapField = json["weight_map"] else { throw CheckpointError(file: path, "has no 'weight_map': not \(what)") }
        guard let map = mapField.objectValue else { throw CheckpointError(file: path, "'weight_map' is not an object") }
        var metadata: Metadata = []
        if let meta = json["metadata"] {
            guard let pairs = meta.objectValue else { throw CheckpointError(file: path, "'metadata' is not an object") }
            for (k, v) in pairs { metadata.append((k, v.stringValue ?? v.numberText ?? v.serialized())) }
        }
        self.metadata = metadata
        weightMap = try map.map { name, value in
            guard let file = value.stringValue else {
                throw CheckpointError(file: path, object: "tensor '\(name)'", "weight_map entry is not a file name")
            }
            guard !file.contains("/"), !file.contains("\\"), file != "..", file != "." else {
                throw CheckpointError(file: path, object: "tensor '\(name)'", "weight_map names '\(file)', which is not a file beside the index")
            }
            return (name, file)
        }
        folder = try ModelFolder.holding(path)
    }

    /// The path of shard `file` beside the index; throws naming `tensor` (the first that names it) when the
    /// shard does not exist.
    public func shardPath(_ file: String, tensor: String) throws -> String {
        let shard = try folder.file(file)
        guard FileSystem.exists(shard) else {
            throw CheckpointError(file: path, object: "tensor '\(tensor)'", "weight_map names shard '\(file)', which does not exist")
        }
        return shard
    }
}
