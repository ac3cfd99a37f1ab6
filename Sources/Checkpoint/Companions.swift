import RecastCore

/// A file that travels with a model's weights and config: its tokenizer, generation settings, the
/// sentence-transformers modules, the model card.
public struct Companion: Sendable, Equatable {
    /// Where it is read from (found in the model folder and checked by `ModelFolder`'s rule for links).
    public var source: String
    /// Its path relative to the model folder, the same in the output: `tokenizer.json`, `1_Pooling/config.json`.
    public var name: String
}

/// The companion files of a model folder, which `convert` (to a folder) and `swap` copy beside the
/// weights and config.json so that the output is as usable as the input.
///
/// Every file is found in the folder that holds the model's config.json and follows `ModelFolder`'s rule:
/// a link that leads out of the folder (or out of its Hugging Face cache's blobs) is refused, and so is
/// anything but a regular file; the command then fails and writes nothing, naming the link and its target.
public enum Companions {
    /// The files copied when present: tokenizers, generation settings, sentence-transformers
    /// descriptions, the model card.
    public static let fileNames = [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
        "vocab.txt", "vocab.json", "merges.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
        "generation_config.json", "chat_template.json", "chat_template.jinja",
        "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
        "README.md", RemoteCode.fileName,
    ]

    /// Size caps: JSON files as a tokenizer.json; other files (SentencePiece models, a model card, a
    /// sentence-transformers Dense layer's weights) at 1 GiB.
    public static let jsonLimit = JSONFileLimit.tokenizer
    public static let fileLimit = 1 << 30
    /// How deep a sentence-transformers module folder is walked.
    static let moduleDepth = 4

    /// Writes companion files built in memory (from a GGUF file's metadata) into `dir`; their names.
    public static func write(_ files: [(name: String, json: JSON)], into dir: String) throws -> [String] {
        for f in files {
            try FileSystem.writeAll(FileSystem.join(dir, f.name), Array((f.json.serialized(pretty: true) + "\n").utf8))
        }
        return files.map(\.name)
    }

    /// The companions of the model at `path` (a model folder, or a file in one: weights, config.json).
    public static func find(for path: String) throws -> [Companion] {
        try find(in: FileSystem.isDirectory(path) ? try ModelFolder(path) : try ModelFolder.holding(path))
    }

    /// The companions present in `folder`: the files of `fileNames`, then every file of each module folder
    /// that `modules.json` lists (`1_Pooling/`, `2_Normalize/`, …).
    public static func find(in folder: ModelFolder) throws -> [Companion] {
        var found: [Companion] = []
        for name in fileNames {
            let path = try folder.file(name)
            if FileSystem.exists(path) { found.append(Companion(source: path, name: name)) }
        }
        if found.contains(where: { $0.name == "modules.json" }) {
            for module in try moduleFolders(in: folder) {
                try collect(folder: folder, relative: module, depth: 0, into: &found)
            }
        }
        return found
    }

    /// The folders `modules.json` lists, relative to the model folder (the root module, path "", is the
    /// model itself). A path that is absolute or climbs out with `..` is refused.
    static func moduleFolders(in folder: ModelFolder) throws -> [String] {
        let file = try folder.file("modules.json")
        let modules = try JSONFileLimit.read(file, limit: JSONFileLimit.config, what: "a modules.json").root.json
        guard let list = modules.arrayValue else {
            throw CheckpointError(file: file, "is not a list of modules (sentence-transformers writes [{\"idx\", \"name\", \"path\", \"type\"}, …])")
        }
        var folders: [String] = []
        for (i, module) in list.enumerated() {
            guard let path = module["path"]?.stringValue else {
                throw CheckpointError(file: file, "module \(i) has no \"path\" string")
            }
            let parts = path.split(separator: "/", omittingEmptySubsequences: true)
            if parts.isEmpty { continue }
            guard !path.hasPrefix("/"), !parts.contains(".."), !parts.contains(".") else {
                throw CheckpointError(file: file, "module \(i) has the path '\(path)', which is not a folder inside the model folder")
            }
            let joined = parts.joined(separator: "/")
            if !folders.contains(joined) { folders.append(joined) }
        }
        return folders
    }

    /// Every file under `relative`, checked by the folder's rule. A listed folder that does not exist has
    /// nothing to copy (sentence-transformers writes no folder for a module without files, such as
    /// `Normalize`); one that is not a folder is an error.
    static func collect(folder: ModelFolder, relative: String, depth: Int, into found: inout [Companion]) throws {
        let path = try folder.file(relative)
        guard FileSystem.exists(path) else { return }
        guard FileSystem.isDirectory(path) else {
            throw CheckpointError(file: path, "is not a folder, but modules.json lists it as a sentence-transformers module folder")
        }
        guard depth < moduleDepth else {
            throw CheckpointError(file: path, "lies more than \(moduleDepth) folders deep in a module folder; Recast copies no deeper")
        }
        for entry in FileSystem.list(path) {
            let name = relative + "/" + entry
            let child = try folder.file(name)
            if FileSystem.isDirectory(child) {
                try collect(folder: folder, relative: name, depth: depth + 1, into: &found)
            } else if !found.contains(where: { $0.name == name }) {
                found.append(Companion(source: child, name: name))
            }
        }
    }

    /// Copies the companions into `directory` (the output's temporary folder), creating module folders;
    /// returns their names. Each file is streamed within its size cap; one that is not a regular file, or
    /// changes while it is read, fails the copy.
    @discardableResult
    public static func copy(_ companions: [Companion], into directory: String) throws -> [String] {
        for c in companions {
            let destination = FileSystem.join(directory, c.name)
            let parent = FileSystem.split(destination).dir
            if !FileSystem.isDirectory(parent) { try makeFolders(parent, under: directory) }
            try InputFile.copy(c.source, to: destination, limit: c.name.hasSuffix(".json") ? jsonLimit : fileLimit, what: c.name)
        }
        return companions.map(\.name)
    }

    /// Creates `path` and any missing folder between `root` and it.
    static func makeFolders(_ path: String, under root: String) throws {
        guard path != root, path.hasPrefix(root), !FileSystem.isDirectory(path) else { return }
        try makeFolders(FileSystem.split(path).dir, under: root)
        try FileSystem.makeDirectory(path)
    }

    /// The paths a command that copies the companions of `path` reads, for the overlap rule (an output must
    /// not replace or lie inside any of them): the companion files and the module folders, found without
    /// failing (a link or folder the rule refuses is reported when the copy is made).
    public static func paths(for path: String) -> [String] {
        let dir = FileSystem.isDirectory(path) ? path : FileSystem.split(path).dir
        var paths = fileNames.map { FileSystem.join(dir, $0) }
        if let folder = try? ModelFolder(dir), let modules = try? moduleFolders(in: folder) {
            paths += modules.map { FileSystem.join(dir, $0) }
        }
        return paths
    }
}
