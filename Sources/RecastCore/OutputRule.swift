#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one rule every output follows, whatever command writes it: an output may never be, contain, or
/// lie inside a file or folder the command reads. Paths are compared by what they are (device and inode,
/// after resolving symlinks and `..`), not by how they are spelled, so a symlink, a hard link or a path
/// through a symlinked folder cannot get round it. `--force` does not override it: replacing an input
/// would destroy the data the output is made from.
public struct OutputRule: Sendable {
    /// A file or folder, independent of the path that names it.
    public struct Identity: Hashable, Sendable {
        public var device: UInt64
        public var inode: UInt64
    }

    /// Each input by identity, with the path the command names it by.
    let inputs: [Identity: String]
    /// Every folder above an input (along the path as given and along its resolved target), with one
    /// input it holds.
    let holders: [Identity: String]

    /// `reads`: every file and folder the command reads (the model folder, weights, shards, index, config,
    /// companion files). Paths that do not exist are skipped: nothing can be read from them.
    public init(reads: [String]) {
        var inputs: [Identity: String] = [:]
        var holders: [Identity: String] = [:]
        for path in reads where !path.isEmpty {
            guard let id = OutputRule.identity(path, following: true) else { continue }
            if inputs[id] == nil { inputs[id] = path }
            // The folders above the path as spelled (a symlink lives there) and above what it resolves to
            // (the data lives there, e.g. a Hugging Face cache's blobs/ folder).
            var starts = [FileSystem.split(path).dir]
            if let real = FileSystem.realPath(path) { starts.append(FileSystem.split(real).dir) }
            for start in starts {
                for folder in OutputRule.folders(from: start) where holders[folder] == nil { holders[folder] = path }
            }
        }
        self.inputs = inputs
        self.holders = holders
    }

    /// Throws if `destination` is an input, holds one, or lies inside an input folder.
    public func check(destination: String) throws {
        let (dir, _) = FileSystem.split(destination)
        let never = "choose another destination (--force never replaces what a command reads)"
        // Is, or holds: the destination itself, as a name (a hard link or a symlink to an input) and as
        // what it resolves to.
        for following in [false, true] {
            guard let id = OutputRule.identity(destination, following: following) else { continue }
            if let input = inputs[id] {
                let how = input == destination ? "" : " (the same file as \(input))"
                throw CheckpointError(file: destination, "is an input of this command\(how); \(never)")
            }
            if let input = holders[id] {
                throw CheckpointError(file: destination, "holds \(input), which this command reads; \(never)")
            }
        }
        // Lies inside: any folder above the destination's name.
        for folder in OutputRule.folders(from: dir) {
            if let input = inputs[folder] {
                throw CheckpointError(file: destination, "lies inside \(input), which this command reads; write the output outside it")
            }
        }
    }

    /// `stat` (following symlinks) or `lstat` identity of a path.
    static func identity(_ path: String, following: Bool) -> Identity? {
        var st = stat()
        guard (following ? stat(path, &st) : lstat(path, &st)) == 0 else { return nil }
        return Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// The identities of a folder and of every folder above it, up to the root, following the folder's
    /// real location (symlinks and `..` resolved). A folder that does not exist starts from the nearest
    /// one above it that does.
    static func folders(from dir: String) -> [Identity] {
        var start = dir
        var resolved = FileSystem.realPath(start)
        for _ in 0..<4096 where resolved == nil && start != "/" && start != "." {
            start = FileSystem.split(start).dir
            resolved = FileSystem.realPath(start)
        }
        guard var path = resolved else { return [] }
        var out: [Identity] = []
        while true {
            if let id = identity(path, following: true) { out.append(id) }
            if path == "/" || path.isEmpty { break }
            path = FileSystem.split(path).dir
        }
        return out
    }
}
