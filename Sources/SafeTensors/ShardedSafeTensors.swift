import RecastCore

/// A sharded checkpoint opened through its `model.safetensors.index.json`, seen as one store.
public final class ShardedSafeTensors: TensorStore {
    public let indexPath: String
    public let shards: [SafeTensorsFile]
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    private let owner: [String: (shard: Int, info: TensorInfo)]
    /// The SHA-256 of the index as it was read, so that provenance names the bytes this store used.
    private let indexSHA256: String

    public convenience init(indexPath: String) throws {
        try self.init(index: ShardIndex(path: indexPath, what: "a safetensors index"))
    }

    /// The store of an index already read (`Checkpoint.open` reads it once to tell the formats apart).
    public init(index: ShardIndex) throws {
        let indexPath = index.path
        self.indexPath = indexPath
        indexSHA256 = index.sha256
        self.metadata = index.metadata
        var shardIndex: [String: Int] = [:]
        var shards: [SafeTensorsFile] = []
        var owner: [String: (Int, TensorInfo)] = [:]
        var order: [(shard: String, offset: Int, info: TensorInfo)] = []
        for (name, file) in index.weightMap {
            let i: Int
            if let known = shardIndex[file] {
                i = known
            } else {
                shards.append(try SafeTensorsFile(path: try index.shardPath(file, tensor: name)))
                i = shards.count - 1
                shardIndex[file] = i
            }
            guard let info = shards[i].info(named: name) else {
                throw CheckpointError(file: shards[i].path, object: "tensor '\(name)'", "is listed in \(indexPath) but missing from this shard")
            }
            owner[name] = (i, info)
            order.append((file, shards[i].fileRange(of: name)?.lowerBound ?? 0, info))
        }
        order.sort { ($0.shard, $0.offset) < ($1.shard, $1.offset) }
        // Shards in file-name order, so `files` and `tensors` follow the data on disk.
        let byName = shardIndex.sorted { $0.key < $1.key }.map { shards[$0.value] }
        self.shards = byName
        owner = owner.mapValues { o in (byName.firstIndex { $0 === shards[o.0] }!, o.1) }
        self.owner = owner
        self.tensors = order.map(\.info)
    }

    public var format: CheckpointFormat { .safetensors }
    public var layout: String { "safetensors-sharded" }
    public var files: [String] { [indexPath] + shards.map(\.path) }

    public var releaseAfterRead: Bool {
        get { shards.first?.releaseAfterRead ?? false }
        set { for s in shards { s.releaseAfterRead = newValue } }
    }

    public func info(named name: String) -> TensorInfo? { owner[name]?.info }

    /// The SHA-256 of the index as read, or of a shard's mapping, without opening either again.
    public func sha256(of file: String) throws -> String {
        if file == indexPath { return indexSHA256 }
        if let shard = shards.first(where: { $0.path == file }) { return try shard.sha256(of: file) }
        return try SHA256.hex(file: file)
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let o = owner[name] else { throw CheckpointError.tensor(name, in: indexPath, "not in this checkpoint") }
        return try shards[o.shard].withBytes(of: name, body)
    }
}
