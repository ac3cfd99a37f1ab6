import RecastCore

/// Writes safetensors files tensor by tensor: the header first (it only needs the infos), then each
/// tensor's bytes straight from its producer, so memory stays bounded by the largest chunk in flight.
public enum SafeTensorsWriter {
    /// Writes one file at `path` (the caller publishes it, see `AtomicOutput`).
    public static func write(_ tensors: [OutputTensor], metadata: Metadata, to path: String, progress: ProgressSink? = nil) throws {
        try checkNames(tensors.map(\.info), file: path)
        let out = try OutputFile(path: path)
        try out.write(SafeTensorsHeader.encode(tensors.map(\.info), metadata: metadata))
        for t in tensors {
            var written = 0
            try t.produce { chunk in
                written += chunk.count
                guard written <= t.info.byteCount else {
                    throw CheckpointError.tensor(t.info.name, in: path, "its source produced more than the \(t.info.byteCount) bytes declared")
                }
                try out.write(chunk)
                progress?.advance(by: chunk.count)
            }
            guard written == t.info.byteCount else {
                throw CheckpointError.tensor(t.info.name, in: path, "its source produced \(written) bytes; \(t.info.byteCount) were declared")
            }
        }
        try out.close()
    }

    /// The name of shard `i` (from 1) of `n`, as Hugging Face names them.
    public static func shardName(_ i: Int, of n: Int) -> String {
        func pad(_ v: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, 5 - s.count)) + s }
        return "model-\(pad(i))-of-\(pad(n)).safetensors"
    }

    public static let indexName = "model.safetensors.index.json"

    /// Splits tensors into shards of at most `maxShardSize` data bytes (a tensor larger than that gets
    /// a shard of its own), in order.
    public static func plan(_ infos: [TensorInfo], maxShardSize: Int) -> [[Int]] {
        var shards: [[Int]] = []
        var current: [Int] = []
        var size = 0
        for (i, info) in infos.enumerated() {
            if !current.isEmpty && size + info.byteCount > maxShardSize {
                shards.append(current)
                current = []
                size = 0
            }
            current.append(i)
            size += info.byteCount
        }
        if !current.isEmpty || shards.isEmpty { shards.append(current) }
        return shards
    }

    /// One file of a sharded output: its tensors, in order, and its header metadata.
    public struct Shard {
        public var tensors: [OutputTensor]
        public var metadata: Metadata
        public init(tensors: [OutputTensor], metadata: Metadata) {
            self.tensors = tensors
            self.metadata = metadata
        }
    }

    /// Writes `model-0000i-of-0000n.safetensors` shards of at most `maxShardSize` data bytes and
    /// `model.safetensors.index.json` into `directory`, every shard with the same `metadata`.
    /// Returns the file names written.
    @discardableResult
    public static func writeSharded(_ tensors: [OutputTensor], metadata: Metadata, directory: String,
                                    maxShardSize: Int, progress: ProgressSink? = nil) throws -> [String] {
        let groups = plan(tensors.map(\.info), maxShardSize: maxShardSize)
        return try writeShards(groups.map { Shard(tensors: $0.map { tensors[$0] }, metadata: metadata) },
                               indexMetadata: metadata, directory: directory, progress: progress)
    }

    /// Writes the given shards as `model-0000i-of-0000n.safetensors` (in order, each with its own header
    /// metadata) and `model.safetensors.index.json` (with `indexMetadata` and `total_size`) into `directory`.
    /// Returns the file names written.
    @discardableResult
    public static func writeShards(_ shards: [Shard], indexMetadata: Metadata, directory: String,
                                   progress: ProgressSink? = nil) throws -> [String] {
        let infos = shards.flatMap { $0.tensors.map(\.info) }
        try checkNames(infos, file: directory)
        var weightMap: [(String, JSON)] = []
        var names: [String] = []
        for (k, shard) in shards.enumerated() {
            let name = shardName(k + 1, of: shards.count)
            names.append(name)
            try write(shard.tensors, metadata: shard.metadata, to: FileSystem.join(directory, name), progress: progress)
            for t in shard.tensors { weightMap.append((t.info.name, .string(name))) }
        }
        try writeIndex(weightMap: weightMap, totalSize: infos.reduce(0) { $0 + $1.byteCount }, metadata: indexMetadata, directory: directory)
        return names + [indexName]
    }

    /// Writes `model.safetensors.index.json`: `{"metadata": {"total_size": …, …}, "weight_map": {tensor: shard}}`.
    public static func writeIndex(weightMap: [(String, JSON)], totalSize: Int, metadata: Metadata, directory: String) throws {
        var indexMeta: [(String, JSON)] = [("total_size", .int(totalSize))]
        for (k, v) in metadata where k != "total_size" { indexMeta.append((k, .string(v))) }
        let index = JSON.object([("metadata", .object(indexMeta)), ("weight_map", .object(weightMap))])
        try FileSystem.writeAll(FileSystem.join(directory, indexName), Array((index.serialized(pretty: true) + "\n").utf8))
    }

    static func checkNames(_ infos: [TensorInfo], file: String) throws {
        var seen = Set<String>()
        for info in infos {
            if info.name.isEmpty { throw CheckpointError(file: file, "cannot write a tensor with an empty name") }
            if info.name == "__metadata__" { throw CheckpointError.tensor(info.name, in: file, "is a reserved name in safetensors") }
            if info.name.utf8.contains(0) { throw CheckpointError.tensor(info.name, in: file, "name contains a NUL byte") }
            if !seen.insert(info.name).inserted { throw CheckpointError.tensor(info.name, in: file, "appears twice") }
        }
    }
}
