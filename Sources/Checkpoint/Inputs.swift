import RecastCore

extension Checkpoint {
    /// Every file and folder a command reads when it opens `path`: the path itself (a model folder or a
    /// weights file), the store's files (weights, index, shards), the `config.json` that describes it and
    /// the companion files beside it (`Companions`: tokenizer, sentence-transformers modules, model card).
    /// An output must stay clear of all of them (`OutputRule`).
    public static func inputs(of path: String, store: TensorStore) -> [String] {
        var all = [path] + store.files
        // A config that the link rule refuses is not read, and the command fails on it elsewhere.
        if let config = (try? configPath(for: path)) ?? nil {
            all.append(config)
            all += Companions.paths(for: config)
        }
        return all
    }

    /// The same, opening the checkpoint to find its files.
    public static func inputs(of path: String) throws -> [String] {
        try inputs(of: path, store: open(path))
    }
}
