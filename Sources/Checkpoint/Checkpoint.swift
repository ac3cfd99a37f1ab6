import GGUF
import HDF5
import RecastCore
import SafeTensors
import TorchPickle

/// Opens any checkpoint path Recast understands as one `TensorStore`.
public enum Checkpoint {
    /// Opens a `.safetensors` file, a sharded index `.json` (of safetensors or PyTorch shards), an HDF5 file,
    /// a GGUF file, a `torch.save` file (`pytorch_model.bin`, `.pt`, `.pth`, `.ckpt`), or a model directory.
    /// The content decides, not the extension: a file named `.safetensors` that holds HDF5 opens as HDF5.
    ///
    /// `path` itself is the user's choice and may be a link; the files found from it (the weights of a
    /// folder, the shards of an index) follow `ModelFolder`'s rule for links. Only regular files are
    /// opened, without blocking (see `InputFile`).
    public static func open(_ path: String) throws -> TensorStore {
        guard FileSystem.exists(path) else { throw CheckpointError(file: path, "does not exist") }
        if FileSystem.isDirectory(path) { return try open(weightsIn: path) }
        // Mapped once, and the mapping handed to the store that reads it.
        let mapping = try MappedFile(path: path)
        let head = try mapping.reading { Array(mapping.bytes.prefix(1024)) }
        if HDF5Store.hasSignature(in: mapping) { return try HDF5Store(mapping: mapping) }
        if head.starts(with: Array("GGUF".utf8)) || (head.count >= 4 && head[0..<4].elementsEqual(Array("FUGG".utf8))) {
            return try GGUFFile(mapping: mapping)
        }
        if TorchCheckpoint.hasSignature(head) { return try TorchCheckpoint(mapping: mapping) }
        if isBarePickle(head) {
            // Run through the same machine, so that a pickle that would call something is refused by name.
            _ = try mapping.reading { try PickleMachine.load(mapping.bytes, file: path) }
            throw CheckpointError(file: path, "is a plain pickle, not a torch.save checkpoint: it holds no tensor storages (save the tensors with torch.save or safetensors)")
        }
        if head.starts(with: Array("version https://git-lfs".utf8)) {
            throw CheckpointError(file: path, "is a Git LFS pointer file, not the weights: fetch the real file with `git lfs pull`")
        }
        if path.hasSuffix(".json") {
            let text = String(decoding: head, as: UTF8.self)
            if text.contains("\"weight_map\"") || !text.contains("\"model_type\"") {
                // Read once; the shards' extensions tell the formats apart (a `.bin` index names `.bin` files).
                let index = try ShardIndex(path: path, what: path.hasSuffix(".bin.index.json") ? "a PyTorch checkpoint index" : "a safetensors index")
                return namesPyTorchShards(index) ? try ShardedTorchCheckpoint(index: index) : try ShardedSafeTensors(index: index)
            }
            throw CheckpointError(file: path, "is a model config, not weights: pass the model's folder instead")
        }
        if path.hasSuffix(".gguf") {
            throw CheckpointError(file: path, "has the .gguf extension but does not start with the magic 'GGUF': the file is truncated or not GGUF")
        }
        if pyTorchExtensions.contains(where: { path.hasSuffix($0) }) {
            throw CheckpointError(file: path, "has a PyTorch extension but is neither a torch.save zip archive nor a legacy torch.save file: the file is truncated or not a PyTorch checkpoint")
        }
        if path.hasSuffix(".h5") || path.hasSuffix(".hdf5") || path.hasSuffix(".keras") {
            throw CheckpointError(file: path, "has an HDF5 extension but no HDF5 signature: the file is truncated or not HDF5")
        }
        return try SafeTensorsFile(mapping: mapping)
    }

    /// A pickle of protocol 2 to 5 on its own (`pickle.dump`): PROTO then the version. A safetensors file
    /// whose header length starts with the same two bytes has its JSON's `{` at byte 8.
    static func isBarePickle(_ head: [UInt8]) -> Bool {
        head.count > 8 && head[0] == 0x80 && (2...5).contains(head[1]) && head[8] != UInt8(ascii: "{")
    }

    /// The weights file a model directory holds, in order of preference, checked by `ModelFolder`'s rule.
    public static func weightsPath(in dir: String) throws -> String {
        let path = try candidateWeightsPath(in: dir)
        try ModelFolder(dir).check(path)
        return path
    }

    static func candidateWeightsPath(in dir: String) throws -> String {
        let names = FileSystem.list(dir)
        for preferred in [SafeTensorsWriter.indexName, "model.safetensors"] where names.contains(preferred) {
            return FileSystem.join(dir, preferred)
        }
        let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
        if indexes.count == 1 { return FileSystem.join(dir, indexes[0]) }
        let singles = names.filter { $0.hasSuffix(".safetensors") }
        if singles.count == 1 { return FileSystem.join(dir, singles[0]) }
        if singles.count > 1 {
            throw CheckpointError(file: dir, "holds several .safetensors files (\(singles.joined(separator: ", "))) but no index: open one of them")
        }
        // PyTorch after safetensors, as `transformers` prefers.
        for preferred in ["pytorch_model.bin.index.json", "pytorch_model.bin"] where names.contains(preferred) {
            return FileSystem.join(dir, preferred)
        }
        let torchIndexes = names.filter { $0.hasSuffix(".bin.index.json") }
        if torchIndexes.count == 1 { return FileSystem.join(dir, torchIndexes[0]) }
        for preferred in ["tf_model.h5", "model.weights.h5", "model.h5"] where names.contains(preferred) {
            return FileSystem.join(dir, preferred)
        }
        let h5 = names.filter { $0.hasSuffix(".h5") || $0.hasSuffix(".hdf5") }
        if h5.count == 1 { return FileSystem.join(dir, h5[0]) }
        let gguf = names.filter { $0.hasSuffix(".gguf") }
        if gguf.count == 1 { return FileSystem.join(dir, gguf[0]) }
        if gguf.count > 1 {
            throw CheckpointError(file: dir, "holds several .gguf files (\(gguf.joined(separator: ", "))): open one of them")
        }
        // A single torch.save file last: a trainer's folder also holds training_args.bin, optimizer.pt and
        // the like, which are not weights.
        let torchFiles = names.filter { n in pyTorchExtensions.contains { n.hasSuffix($0) } && !trainerFiles.contains { n.hasPrefix($0) } }
        if torchFiles.count == 1 { return FileSystem.join(dir, torchFiles[0]) }
        if torchFiles.count > 1 {
            throw CheckpointError(file: dir, "holds several PyTorch files (\(torchFiles.joined(separator: ", "))) but no pytorch_model.bin.index.json: open one of them")
        }
        let shown = names.prefix(12).joined(separator: ", ") + (names.count > 12 ? ", …" : "")
        throw CheckpointError(file: dir, "holds no weights Recast can read (model.safetensors, pytorch_model.bin, an index, a .pt/.pth/.ckpt/.bin file, an .h5 file or a .gguf file); it holds \(names.isEmpty ? "nothing" : shown)")
    }

    /// The extensions `torch.save` files go by.
    static let pyTorchExtensions = [".bin", ".pt", ".pth", ".ckpt"]
    /// What `transformers`' Trainer saves beside the weights: pickles of optimiser state and arguments.
    static let trainerFiles = ["training_args", "optimizer", "scheduler", "rng_state", "scaler"]

    /// Whether a checkpoint index's `weight_map` names PyTorch files (`.bin`, `.pt`, …) rather than safetensors.
    static func namesPyTorchShards(_ index: ShardIndex) -> Bool {
        !index.weightMap.isEmpty && index.weightMap.allSatisfy { entry in pyTorchExtensions.contains { entry.file.hasSuffix($0) } }
    }

    static func open(weightsIn dir: String) throws -> TensorStore {
        try open(weightsPath(in: dir))
    }

    /// The `config.json` that describes a checkpoint: inside a model directory, or beside a weights file;
    /// nil when there is none. Checked by `ModelFolder`'s rule for links; a `config.json` that is not a
    /// regular file is returned too, so that reading it gives the reason instead of silently ignoring it.
    public static func configPath(for path: String) throws -> String? {
        let folder = FileSystem.isDirectory(path) ? try ModelFolder(path) : try ModelFolder.holding(path)
        let candidate = FileSystem.join(folder.path, "config.json")
        guard FileSystem.exists(candidate) else { return nil }
        try folder.check(candidate)
        return candidate
    }
}
