import CPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Publishes a file or directory by rename: everything is written under a temporary name beside the
/// destination, and only a complete result takes the destination's name. A failure (or a kill) leaves
/// nothing under that name; temporaries that a killed run left behind are removed by the next run.
public final class AtomicOutput {
    public let destination: String
    /// Where to write: a temporary path in the destination's directory.
    public let temporaryPath: String
    public let isDirectory: Bool
    private var finished = false

    static let marker = ".recast-tmp-"

    /// Prepares an output. Fails if `destination` exists and `force` is false.
    public init(destination: String, directory: Bool, force: Bool) throws {
        let dest = destination.hasSuffix("/") && destination.count > 1 ? String(destination.dropLast()) : destination
        self.destination = dest
        self.isDirectory = directory
        if FileSystem.exists(dest) && !force {
            throw CheckpointError(file: dest, "already exists; pass --force to replace it")
        }
        let (dir, base) = FileSystem.split(dest)
        guard FileSystem.isDirectory(dir) else {
            throw CheckpointError(file: dest, "the folder '\(dir)' does not exist")
        }
        AtomicOutput.removeStale(in: dir, base: base)
        var rnd = SystemRandomNumberGenerator()
        let tag = String(rnd.next() & 0xFFFF_FFFF, radix: 16)
        temporaryPath = FileSystem.join(dir, ".\(base)\(AtomicOutput.marker)\(getpid())-\(tag)")
        if directory {
            guard mkdir(temporaryPath, 0o755) == 0 else {
                throw CheckpointError(file: temporaryPath, "cannot create a temporary folder: \(errnoText())")
            }
        }
    }

    /// Moves the finished output into place, replacing an existing destination.
    public func commit() throws {
        if isDirectory, FileSystem.exists(destination) {
            // rename(2) cannot replace a non-empty folder. Exchange the two atomically where the kernel can,
            // so that a kill at any moment leaves either the old or the new folder under the name.
            if recast_exchange_paths(temporaryPath, destination) == 0 {
                FileSystem.removeTree(temporaryPath)
                finished = true
                return
            }
            let old = temporaryPath + "-old"
            guard rename(destination, old) == 0 else {
                throw CheckpointError(file: destination, "cannot replace: \(errnoText())")
            }
            guard rename(temporaryPath, destination) == 0 else {
                let e = errnoText()
                _ = rename(old, destination)
                throw CheckpointError(file: destination, "cannot move the finished output into place: \(e)")
            }
            FileSystem.removeTree(old)
        } else {
            guard rename(temporaryPath, destination) == 0 else {
                throw CheckpointError(file: destination, "cannot move the finished output into place: \(errnoText())")
            }
        }
        finished = true
    }

    /// Runs `body` (which writes to `temporaryPath`) and publishes the result. A failure names the
    /// destination, not the temporary, and leaves nothing behind.
    public func write(_ body: () throws -> Void) throws {
        do {
            try body()
            try commit()
        } catch {
            abandon()
            throw translated(error)
        }
    }

    /// An error that mentions the temporary path, restated for the destination the user named.
    public func translated(_ error: Error) -> Error {
        let text = "\(error)"
        guard text.contains(temporaryPath) else { return error }
        var rest = text.replacingAll(temporaryPath, with: destination)
        if rest.hasPrefix(destination + ": ") { rest = String(rest.dropFirst(destination.count + 2)) }
        return CheckpointError(file: destination, rest)
    }

    /// Removes the temporary output. Called automatically when the output is dropped uncommitted.
    public func abandon() {
        if !finished { FileSystem.removeTree(temporaryPath) }
        finished = true
    }

    deinit { abandon() }

    /// Removes `.<base>.recast-tmp-<pid>-*` entries whose writing process no longer runs.
    static func removeStale(in dir: String, base: String) {
        let prefix = ".\(base)\(marker)"
        for name in FileSystem.list(dir) where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                FileSystem.removeTree(FileSystem.join(dir, name))
            }
        }
    }
}

/// Small POSIX file-system helpers, so modules above need no C calls.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    public static func fileSize(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// Identifies a file by device and inode, so two spellings of one path compare equal.
    public static func identity(_ path: String) -> (UInt64, UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    public static func split(_ path: String) -> (dir: String, base: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    public static func join(_ a: String, _ b: String) -> String {
        if b.hasPrefix("/") { return b }
        return a.hasSuffix("/") ? a + b : a + "/" + b
    }

    public static func list(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in list(path) { removeTree(join(path, name)) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// The whole file (see `InputFile.readAll`: regular files only, never blocks, no mapping).
    public static func readAll(_ path: String) throws -> [UInt8] { try InputFile.readAll(path) }

    public static func writeAll(_ path: String, _ bytes: [UInt8]) throws {
        let out = try OutputFile(path: path)
        try bytes.withUnsafeBytes { raw in try out.write(raw) }
        try out.close()
    }
}

/// A file opened for writing, with a checked `write` that reports a full disk by name.
public final class OutputFile {
    public let path: String
    private var fd: Int32
    public private(set) var bytesWritten = 0

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointError(file: path, "cannot create: \(errnoText())") }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = Glibc.write(fd, p, min(left, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                let reason: String
                switch errno {
                case ENOSPC: reason = "no space left on the device"
                case EFBIG: reason = "the file is larger than this process may write (ulimit -f)"
                case EDQUOT: reason = "disk quota exceeded"
                default: reason = errnoText()
                }
                throw CheckpointError(file: path, offset: bytesWritten, "write failed: \(reason)")
            }
            p += n
            left -= n
            bytesWritten += n
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in try write(raw) }
    }

    public func close() throws {
        guard fd >= 0 else { return }
        let r = Glibc.close(fd)
        fd = -1
        if r != 0 { throw CheckpointError(file: path, "close failed: \(errnoText())") }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }
}

extension String {
    /// Every occurrence of `target` replaced.
    public func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
