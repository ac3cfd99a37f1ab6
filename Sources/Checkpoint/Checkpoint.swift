import GGUF
import HDF5
import RecastCore
import SafeTensors

/// Opens any checkpoint path Recast understands as one `TensorStore`.
public enum Checkpoint {
    /// Opens a `.safetensors` file, a sharded index `.json`, an HDF5 file, a GGUF file, or a model directory.
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
        if head.starts(with: Array("version https://git-lfs".utf8)) {
            throw CheckpointError(file: path, "is a Git LFS pointer file, not the weights: fetch the real file with `git lfs pull`")
        }
        if path.hasSuffix(".json") {
            let text = String(decoding: head, as: UTF8.self)
            if text.contains("\"weight_map\"") || !text.contains("\"model_type\"") { return try ShardedSafeTensors(indexPath: path) }
            throw CheckpointError(file: path, "is a model config, not weights: pass the model's folder instead")
        }
        if path.hasSuffix(".gguf") {
            throw CheckpointError(file: path, "has the .gguf extension but does not start with the magic 'GGUF': the file is truncated or not GGUF")
        }
        if path.hasSuffix(".h5") || path.hasSuffix(".hdf5") || path.hasSuffix(".keras") {
            throw CheckpointError(file: path, "has an HDF5 extension but no HDF5 signature: the file is truncated or not HDF5")
        }
        return try SafeTensorsFile(mapping: mapping)
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
        throw CheckpointError(file: dir, "holds no weights Recast can read (model.safetensors, an index, an .h5 file or a .gguf file)")
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
