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

    public init(indexPath: String) throws {
        self.indexPath = indexPath
        let document = try JSONFileLimit.read(indexPath, limit: JSONFileLimit.index, what: "a PyTorch checkpoint index")
        indexSHA256 = document.sha256
        let json = document.root
        guard json.kind == .object else { throw CheckpointError(file: indexPath, "is not a JSON object") }
        guard let map = json["weight_map"]?.objectValue else {
            throw CheckpointError(file: indexPath, "has no 'weight_map' object: not a checkpoint index")
        }
        var metadata: Metadata = []
        if let meta = json["metadata"]?.objectValue {
            for (k, v) in meta { metadata.append((k, v.stringValue ?? v.numberText ?? v.serialized())) }
        }
        let folder = try ModelFolder.holding(indexPath)
        var byFile: [String: Int] = [:]
        var shards: [TorchCheckpoint] = []
        var owner: [String: Int] = [:]
        // Shards opened in file-name order, so `files` and `tensors` follow the data on disk.
        var listed: [String: String] = [:]
        for (name, fileValue) in map {
            guard let file = fileValue.stringValue else {
                throw CheckpointError(file: indexPath, object: "tensor '\(name)'", "weight_map entry is not a file name")
            }
            guard !file.contains("/"), !file.contains("\\"), file != "..", file != "." else {
                throw CheckpointError(file: indexPath, object: "tensor '\(name)'", "weight_map names '\(file)', which is not a file beside the index")
            }
            listed[name] = file
        }
        for file in Set(listed.values).sorted() {
            let path = try folder.file(file)
            guard FileSystem.exists(path) else {
                throw CheckpointError(file: indexPath, "weight_map names shard '\(file)', which does not exist")
            }
            byFile[file] = shards.count
            shards.append(try TorchCheckpoint(path: path))
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
        self.metadata = metadata
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
