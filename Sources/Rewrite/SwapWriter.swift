import Checkpoint
import ModelGraph
import RecastCore
import SafeTensors

/// What a swap wrote.
public struct SwapSummary: Sendable {
    public var destination: String
    /// Files written inside the destination folder, by name: config.json, the weights, copied files.
    public var files: [String]
    /// Source files copied unchanged (`Companions`: tokenizer, generation and sentence-transformers files, model card).
    public var copiedFiles: [String]
    public var plan: SwapPlan
    /// Layers of the model, swapped or not.
    public var layerCount: Int
    public var newTensors: [TensorInfo]
    public var newParameterCount: Int
    public var copiedTensorCount: Int
    public var bytesWritten: Int
}

extension Swap {
    /// Swaps `source` (a model folder, or a weights file with config.json beside it) into the folder
    /// `destination`: config.json with the `linear_attention` block, every original tensor copied bit for
    /// bit, the new feature-map tensors, and the source's companion files (`Companions`). The weights are sharded like the
    /// source (safetensors) or one `model.h5`. Everything is written beside `destination` and renamed into
    /// place once the result is complete and maps back onto its graph; on failure nothing is left behind.
    public static func write(source: String, destination: String, options: SwapOptions,
                             progress: ProgressSink? = nil) throws -> SwapSummary {
        try options.validate()
        return try write(model: try Model(path: source), destination: destination, options: options, progress: progress)
    }

    /// Swaps a model already opened (its files are read through this one opening: the copy, the hashes
    /// and the config all use the same mappings and bytes).
    public static func write(model: Model, destination: String, options: SwapOptions,
                             progress: ProgressSink? = nil) throws -> SwapSummary {
        try options.validate()
        let source = model.path
        let graph = try model.graph()
        guard var config = model.config, let configPath = model.configPath else {
            throw SwapError(file: source, "has no config.json beside it")
        }
        let store = model.store
        let plan = try Swap.plan(graph: graph, options: options, file: source)
        let fresh = try newTensors(graph: graph, store: store, plan: plan)
        // Claims the destination before the slow part, or fails: it exists, or it is, holds or lies inside
        // something the swap reads (the model, its config, the companion files copied below).
        let writer = try CheckpointWriter(destination: destination, folder: true, force: options.force, source: source, store: store)
        // A GGUF source's tokenizer files, built before the slow part: a tokenizer its metadata describes
        // badly fails at once. A GGUF source carries them inside: they are written from its metadata.
        let companions: OutputCompanions = try model.embedded.map { .built(try $0.companions()) } ?? .copies(of: configPath)
        let shards = try layout(store: store, graph: graph, plan: plan, newTensors: fresh, format: options.format)
        let weights: OutputWeights = options.format == .hdf5
            ? .hdf5(shards[0].tensors, metadata: shards[0].metadata)
            : .shards(shards, indexMetadata: store.metadata)

        // The provenance hashes read every source byte once more: do it on the other core while writing.
        // The store hashes its own mappings and the model the config bytes it parsed, so no source file
        // is opened a second time (a model of any number of shards needs no descriptor per shard).
        let configHash = model.configSHA256 ?? ""
        let hashing = Background { [files = store.files, store = UncheckedStore(store)] in
            try files.map { SourceFile(name: FileSystem.split($0).base, sha256: try store.value.sha256(of: $0)) }
                + [SourceFile(name: "config.json", sha256: configHash)]
        }
        CheckpointWriter.releasePagesAfterRead(of: store)
        // A safetensors folder is also a `transformers` model: the Python file of its architecture beside
        // the weights and `auto_map` pointing at it (`RemoteCode`).
        let architectures = config["architectures"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let autoMap = options.format == .safetensors
            ? config["model_type"]?.stringValue.flatMap { RemoteCode.autoMap(modelType: $0, architectures: architectures) } : nil
        var remoteCode: [String] = []
        do {
            try writer.write(weights: weights, config: {
                config.set("linear_attention", linearAttentionBlock(plan: plan, sourceFiles: try hashing.value()))
                if let autoMap, let type = config["model_type"]?.stringValue {
                    config.set("auto_map", autoMap)
                    config.set("model_type", .string(RemoteCode.swappedModelType(type)))
                }
                return .json(config)
            }, companions: companions, progress: progress) { dir in
                if autoMap != nil { remoteCode = [try RemoteCode.write(into: dir)] }
                try verify(written: dir, destination: destination, plan: plan)
            }
        } catch {
            // The hashing thread reads the source through libcrypto: wait for it, so that the process
            // does not exit (and libcrypto clean up) under it, which crashed after the error was printed.
            _ = try? hashing.value()
            throw error
        }
        let all = shards.flatMap(\.tensors)
        return SwapSummary(destination: writer.destination, files: writer.files + remoteCode, copiedFiles: writer.companions, plan: plan, layerCount: graph.layerCount,
                           newTensors: fresh.map(\.info), newParameterCount: fresh.reduce(0) { $0 + $1.info.elementCount },
                           copiedTensorCount: all.count - fresh.count, bytesWritten: all.reduce(0) { $0 + $1.info.byteCount })
    }

    /// A store handed to the hashing thread. Stores are read-only once open and their mappings may be
    /// read from several threads; `TensorStore` is not `Sendable` because it is a protocol of classes.
    struct UncheckedStore: @unchecked Sendable {
        let value: TensorStore
        init(_ value: TensorStore) { self.value = value }
    }

    typealias Shard = SafeTensorsWriter.Shard

    /// Places every tensor: the originals in the source's shards and order, each layer's new tensors in the
    /// shard that holds its query weight, right after the last tensor of its attention module. HDF5 output
    /// is one file.
    static func layout(store: TensorStore, graph: ModelGraph, plan: SwapPlan, newTensors: [OutputTensor],
                       format: SwapFormat) throws -> [Shard] {
        var shards: [Shard]
        var shardOf: [String: Int] = [:]
        if format == .safetensors, let sharded = store as? ShardedSafeTensors {
            shards = sharded.shards.map { Shard(tensors: [], metadata: $0.metadata) }
            for (k, file) in sharded.shards.enumerated() { for t in file.tensors { shardOf[t.name] = k } }
        } else if let sharded = store as? ShardedSafeTensors {
            // One file from shards: the shards' own header metadata, not the index's (`total_size`).
            shards = [Shard(tensors: [], metadata: sharded.shards.first?.metadata ?? [])]
        } else {
            shards = [Shard(tensors: [], metadata: store.metadata)]
        }
        for info in store.tensors {
            shards[shardOf[info.name] ?? 0].tensors.append(.copy(info, from: store))
        }
        var pending = newTensors[...]
        for layer in plan.layers {
            let a = graph.blocks[layer].attention
            let prefix = a.modulePath + "."
            var batch: [OutputTensor] = []
            while let t = pending.first, t.info.name.hasPrefix(prefix) {
                batch.append(t)
                pending = pending.dropFirst()
            }
            guard !batch.isEmpty else { continue }
            let k = shardOf[a.query.weight.name] ?? 0
            let at = (shards[k].tensors.lastIndex { $0.info.name.hasPrefix(prefix) }).map { $0 + 1 } ?? shards[k].tensors.count
            shards[k].tensors.insert(contentsOf: batch, at: at)
        }
        // Anything not matched to a layer prefix (never expected) still gets written.
        if !pending.isEmpty { shards[shards.count - 1].tensors += pending }
        return shards
    }

    /// Reads the written folder back as a model and checks that its graph finds every swapped layer.
    static func verify(written dir: String, destination: String, plan: SwapPlan) throws {
        let graph: ModelGraph
        do {
            graph = try Model(path: dir).graph()
        } catch let error as GraphError {
            let shown = error.problems.prefix(3).joined(separator: "; ")
            let more = error.problems.count > 3 ? " (and \(error.problems.count - 3) more)" : ""
            throw SwapError(file: destination, "the swapped model does not map back onto its graph, so nothing was written: \(shown)\(more)")
        } catch {
            throw SwapError(file: destination, "the swapped model cannot be read back, so nothing was written: \(error)")
        }
        let found = graph.blocks.filter { $0.attention.featureMap != nil }.map(\.index)
        guard graph.linearAttention != nil, found == plan.layers else {
            throw SwapError(file: destination, "the swapped model's graph finds linear attention in layers \(found), not \(plan.layers), so nothing was written")
        }
    }
}
