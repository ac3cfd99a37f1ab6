import GGUF
import HDF5
import RecastCore
import SafeTensors
import TorchPickle

/// The weights of an output, in a format and layout.
public enum OutputWeights {
    /// Safetensors. In a folder: shards of at most `maxShardSize` data bytes, named and indexed as Hugging
    /// Face names them (`model-00001-of-00001.safetensors` and `model.safetensors.index.json` even for one
    /// shard); as a file: that one file, whatever `maxShardSize` says.
    case safetensors([OutputTensor], metadata: Metadata, maxShardSize: Int)
    /// Safetensors shards laid out by the caller (a rewrite keeps its source's layout), in a folder: one
    /// shard is `model.safetensors`; several are `model-0000k-of-0000n.safetensors` with
    /// `model.safetensors.index.json`, whose metadata is `indexMetadata` (besides `total_size`).
    case shards([SafeTensorsWriter.Shard], indexMetadata: Metadata)
    /// One HDF5 file: the file itself, or `model.h5` in a folder.
    case hdf5([OutputTensor], metadata: Metadata)
    /// One GGUF file (a file output only).
    case gguf([OutputTensor], metadata: [(key: String, value: GGUFValue)])

    /// Every tensor written, in order.
    public var tensors: [OutputTensor] {
        switch self {
        case .safetensors(let t, _, _), .hdf5(let t, _), .gguf(let t, _): t
        case .shards(let shards, _): shards.flatMap(\.tensors)
        }
    }

    /// The tensors' data bytes: what the writers report to a `ProgressSink`.
    var byteCount: Int {
        let tensors: [OutputTensor]
        switch self {
        case .safetensors(let t, _, _), .hdf5(let t, _), .gguf(let t, _): tensors = t
        case .shards(let shards, _): tensors = shards.flatMap(\.tensors)
        }
        return tensors.reduce(0) { $0 + $1.info.byteCount }
    }
}

/// Where an output folder's `config.json` comes from.
public enum OutputConfig {
    /// The source's `config.json`, copied byte for byte (within a config's size cap, under the folder's
    /// rule for links).
    case copy(String)
    /// A config built in memory (a GGUF file's, or a rewritten one), written as pretty-printed JSON.
    case json(JSON)
}

/// Where an output folder's companion files (`Companions`: tokenizer, generation settings,
/// sentence-transformers modules, model card) come from.
public enum OutputCompanions {
    /// The companions found beside this `config.json`, copied.
    case copies(of: String)
    /// Files built in memory (a GGUF file's tokenizer files), written as pretty-printed JSON.
    case built([(name: String, json: JSON)])
}

/// The model-folder writer: every output of `convert`, `swap` and `run` is written through it, and
/// so follows one set of rules.
///
/// - Claiming: `init` applies `OutputRule` to the destination against everything the command reads (the
///   source, its weights files, config.json and companion files: `Checkpoint.inputs`), and refuses an
///   existing destination unless `force` is set. This happens before any slow work.
/// - Writing: `write` streams the weights (tensor by tensor, in their format and layout), then
///   config.json, then the companion files, into a temporary folder (or file) beside the destination.
/// - Publishing: an optional check reads the temporary result back; then it is flushed and renamed into
///   place (`AtomicOutput`). A failure at any point (a tensor whose producer throws, a companion link the
///   rule refuses, a check) leaves nothing behind, and its error names the destination, not the temporary.
///
/// A file output holds the weights only: a single file cannot hold config.json or companion files.
public final class CheckpointWriter {
    /// The destination, as `AtomicOutput` normalised it.
    public var destination: String { output.destination }
    /// Whether the output is a folder (weights, config.json, companion files) rather than one weights file.
    public var isFolder: Bool { output.isDirectory }
    /// The files written into a folder output, by name: config.json, the companion files built in memory,
    /// the weights, then the companion files copied. Empty for a file output and until `write` succeeds.
    public private(set) var files: [String] = []
    /// The companion files written (built or copied), by name, in the order of `files`.
    public private(set) var companions: [String] = []
    let output: AtomicOutput

    /// Claims `destination` for the output of a command that reads the checkpoint at `source`, opened as
    /// `store`: fails if the destination is, holds or lies inside anything the command reads (with or
    /// without `force`), or exists and `force` is false.
    /// `alsoReads`: other files the command reads (a calibration's data), which the output must not replace either.
    public init(destination: String, folder: Bool, force: Bool, source: String, store: TensorStore, alsoReads: [String] = []) throws {
        output = try AtomicOutput(destination: destination, directory: folder, force: force,
                                  reads: Checkpoint.inputs(of: source, store: store) + alsoReads)
    }

    /// Writes the output and publishes it. `config` is called once the weights are written (a swap's
    /// provenance hashes are computed while the weights are); `check` receives the temporary path of the
    /// complete output before it is published, and refuses it by throwing.
    public func write(weights: OutputWeights, config: () throws -> OutputConfig? = { nil }, companions: OutputCompanions? = nil,
                      progress: ProgressSink? = nil, check: ((String) throws -> Void)? = nil) throws {
        try output.write {
            let path = output.temporaryPath
            let single = CheckpointError(file: destination, "is a single weights file, which cannot hold config.json or companion files: write a folder")
            guard isFolder || companions == nil else { throw single }
            progress?.expect(total: weights.byteCount)
            let weightFiles = try Self.write(weights, to: path, folder: isFolder, progress: progress)
            let configSource = try config()
            guard isFolder || configSource == nil else { throw single }
            var configFiles: [String] = [], built: [String] = [], copied: [String] = []
            switch configSource {
            case .copy(let source)?:
                try InputFile.copy(source, to: FileSystem.join(path, "config.json"), limit: JSONFileLimit.config, what: "a config.json")
                configFiles = ["config.json"]
            case .json(let json)?:
                configFiles = try Companions.write([("config.json", json)], into: path)
            case nil:
                break
            }
            // Companion files follow the rule for links (see `ModelFolder`); one that exists but is not a
            // regular file is refused rather than skipped without a word.
            switch companions {
            case .copies(let config)?: copied = try Companions.copy(Companions.find(for: config), into: path)
            case .built(let files)?: built = try Companions.write(files, into: path)
            case nil: break
            }
            try check?(path)
            if isFolder { files = configFiles + built + weightFiles + copied }
            self.companions = built + copied
        }
    }

    /// Writes the weights into the folder `path` (their file names returned) or as the file `path` (none).
    static func write(_ weights: OutputWeights, to path: String, folder: Bool, progress: ProgressSink?) throws -> [String] {
        func inFolder(_ name: String, _ write: (String) throws -> Void) throws -> [String] {
            try write(folder ? FileSystem.join(path, name) : path)
            return folder ? [name] : []
        }
        switch weights {
        case .safetensors(let tensors, let metadata, _) where !folder:
            try SafeTensorsWriter.write(tensors, metadata: metadata, to: path, progress: progress)
            return []
        case .safetensors(let tensors, let metadata, let maxShardSize):
            return try SafeTensorsWriter.writeSharded(tensors, metadata: metadata, directory: path, maxShardSize: maxShardSize, progress: progress)
        case .shards(let shards, _) where shards.count == 1:
            return try inFolder("model.safetensors") {
                try SafeTensorsWriter.write(shards[0].tensors, metadata: shards[0].metadata, to: $0, progress: progress)
            }
        case .shards(let shards, let indexMetadata):
            guard folder else { throw CheckpointError(file: path, "is a single file, which cannot hold \(shards.count) shards: write a folder") }
            return try SafeTensorsWriter.writeShards(shards, indexMetadata: indexMetadata, directory: path, progress: progress)
        case .hdf5(let tensors, let metadata):
            return try inFolder("model.h5") { try HDF5Writer.write(tensors, metadata: metadata, to: $0, progress: progress) }
        case .gguf(let tensors, let metadata):
            return try inFolder("model.gguf") { try GGUFWriter.write(metadata: metadata, tensors: tensors, to: $0, progress: progress) }
        }
    }

    /// Lets `store` give back each tensor's pages once it has been read, so that streaming a checkpoint
    /// through memory does not keep all of it resident.
    public static func releasePagesAfterRead(of store: TensorStore) {
        if let s = store as? SafeTensorsFile { s.releaseAfterRead = true }
        if let s = store as? ShardedSafeTensors { s.releaseAfterRead = true }
        if let s = store as? GGUFFile { s.releaseAfterRead = true }
        if let s = store as? GGUFHuggingFaceStore { s.file.releaseAfterRead = true }
        if let s = store as? TorchCheckpoint { s.releaseAfterRead = true }
        if let s = store as? ShardedTorchCheckpoint { s.releaseAfterRead = true }
    }
}
