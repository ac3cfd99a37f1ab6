#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The folder a model's files are found in, and the rule for reading them.
///
/// Every file Recast finds by itself (the weights of a folder, shards named by an index, `config.json`,
/// tokenizer and other companion files) is read only when its real location, after following every
/// symbolic link, lies inside the model folder, or inside the `blobs/` folder of the same Hugging Face
/// cache repository (`models--ORG--NAME/snapshots/REV/file` → `../../blobs/HASH`). A stranger's folder
/// could otherwise hold a link to `~/.ssh/id_rsa` named `tokenizer.json`, and `swap` would copy the key
/// into an output the user then uploads. The folder itself, and a file the user names on the command
/// line, are the user's choice and may be links.
public struct ModelFolder: Sendable {
    /// The folder as it was named.
    public let path: String
    /// Its real location (links resolved).
    public let realPath: String
    /// The real location of the Hugging Face cache's `blobs/` folder when this is a snapshot folder.
    public let blobs: String?

    /// The folder that holds a file the user named (its companions are found beside it).
    public static func holding(_ file: String) throws -> ModelFolder {
        try ModelFolder(FileSystem.split(file).dir)
    }

    public init(_ path: String) throws {
        self.path = path
        guard let real = FileSystem.realPath(path) else {
            throw CheckpointError(file: path, "cannot resolve the folder's location: \(errnoText())")
        }
        realPath = real
        // models--ORG--NAME/snapshots/REV
        let (snapshots, _) = FileSystem.split(real)
        let (repository, snapshotsName) = FileSystem.split(snapshots)
        if snapshotsName == "snapshots", FileSystem.split(repository).base.hasPrefix("models--"),
           let blobs = FileSystem.realPath(FileSystem.join(repository, "blobs")) {
            self.blobs = blobs
        } else {
            self.blobs = nil
        }
    }

    static func isInside(_ path: String, _ folder: String) -> Bool {
        folder == "/" ? path.hasPrefix("/") : path.hasPrefix(folder + "/")
    }

    /// The path of `name` in this folder, checked by the rule (see the type's description). Throws when
    /// `name` is, or passes through, a link that leads elsewhere; the message names the link and its
    /// target. A file that does not exist is returned unchecked (the caller reports it as missing).
    public func file(_ name: String) throws -> String {
        let joined = FileSystem.join(path, name)
        try check(joined)
        return joined
    }

    /// Checks a path found inside this folder by the rule (see `file`).
    public func check(_ file: String) throws {
        var st = stat()
        guard lstat(file, &st) == 0 else { return }
        guard let target = FileSystem.realPath(file) else {
            throw CheckpointError(file: file, "is a symbolic link to '\(ModelFolder.linkText(file) ?? "?")', which does not exist")
        }
        if ModelFolder.isInside(target, realPath) { return }
        if let blobs, ModelFolder.isInside(target, blobs) { return }
        let text = ModelFolder.linkText(file)
        let shown = text.map { $0 == target ? "'\(target)'" : "'\($0)' (\(target))" } ?? "'\(target)'"
        throw CheckpointError(file: file, "is a symbolic link to \(shown), outside the model folder \(realPath)\(blobs == nil ? "" : " and its Hugging Face cache's blobs/"); Recast does not follow links that leave the model folder")
    }

    /// The text of a symbolic link, or nil when `path` is not one.
    static func linkText(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buffer, 4096)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
