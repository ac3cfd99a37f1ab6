import RecastCore

/// A sharded PyTorch checkpoint opened through its `pytorch_model.bin.index.json`, seen as one store:
/// the index's `weight_map` names, for each tensor, the `.bin` file beside it that holds it.
public final class ShardedTorchCheckpoint: TensorStore {
    public let indexPath: String
    public let shards: [TorchCheckpoint]
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    public let skipped: [SkippedObject]
    private let owner: [String: Int]
    private let indexSHA256: String

    public convenience init(indexPath: String) throws {
        try self.init(index: ShardIndex(path: indexPath, what: "a PyTorch checkpoint index"))
    }

    /// The store of an index already read (`Checkpoint.open` reads it once to tell the formats apart).
    public init(index: ShardIndex) throws {
        let indexPath = index.path
        self.indexPath = indexPath
        indexSHA256 = index.sha256
        var byFile: [String: Int] = [:]
        var shards: [TorchCheckpoint] = []
        var owner: [String: Int] = [:]
        var listed: [String: String] = [:]
        var namer: [String: String] = [:]
        for (name, file) in index.weightMap {
            listed[name] = file
            if namer[file] == nil { namer[file] = name }
        }
        // Shards opened in file-name order, so `files` and `tensors` follow the data on disk.
        for file in Set(listed.values).sorted() {
            byFile[file] = shards.count
            shards.append(try TorchCheckpoint(path: try index.shardPath(file, tensor: namer[file] ?? "")))
        }
        var tensors: [TensorInfo] = []
        for (i, shard) in shards.enumerated() {
            for info in shard.tensors where listed[info.name] != nil {
                guard byFile[listed[info.name] ?? ""] == i else { continue }
                owner[info.name] = i
                tensors.append(info)
            }
        }
        for (name, file) in listed.sorted(by: { $0.key < $1.key }) where owner[name] == nil {
            throw CheckpointError(file: shards[byFile[file] ?? 0].path, object: "tensor '\(name)'", "is listed in \(indexPath) but missing from this shard")
        }
        self.shards = shards
        self.metadata = index.metadata
        self.tensors = tensors
        self.owner = owner
        skipped = shards.flatMap { shard in shard.skipped.map { SkippedObject(name: $0.name, reason: "\($0.reason) (in \(shard.path))") } }
    }

    public var format: CheckpointFormat { .pytorch }
    public var layout: String { "pytorch-sharded" }
    public var files: [String] { [indexPath] + shards.map(\.path) }

    /// Groups of tensors sharing storage bytes, within each shard.
    public var tiedTensors: [[String]] {
        shards.flatMap { $0.tiedTensors.map { $0.filter { owner[$0] != nil } } }.filter { $0.count > 1 }
    }

    public var releaseAfterRead: Bool {
        get { shards.first?.releaseAfterRead ?? false }
        set { for s in shards { s.releaseAfterRead = newValue } }
    }

    public func info(named name: String) -> TensorInfo? { owner[name].flatMap { shards[$0].info(named: name) } }

    public func sha256(of file: String) throws -> String {
        if file == indexPath { return indexSHA256 }
        if let shard = shards.first(where: { $0.path == file }) { return try shard.sha256(of: file) }
        return try SHA256.hex(file: file)
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let i = owner[name] else { throw CheckpointError.tensor(name, in: indexPath, "not in this checkpoint") }
        return try shards[i].withBytes(of: name, body)
    }
}
