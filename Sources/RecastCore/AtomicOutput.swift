import CPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Publishes a file or folder by rename: everything is written under a temporary name beside the
/// destination, and only a complete result, flushed to disk, takes the destination's name. Every output
/// of every command goes through it, and so through `OutputRule`: an output is never, contains or lies
/// inside anything the command reads, with or without `--force`.
///
/// Without `force` the destination is never replaced, even if it appears while the output is written:
/// the final rename refuses an existing name atomically, so of two writers racing for one name exactly
/// one succeeds. A failure, a kill or a signal (see `Temporaries.removeOnSignals`) leaves nothing under
/// the destination's name. A temporary is marked live by a lock its writer holds on a lock file beside it
/// (`.NAME.recast-tmp-PID-TAG.lock`); the next run removes temporaries whose lock nobody holds, however
/// the writer ended, and leaves alone those of a live writer, whether in another PID namespace or on
/// another host sharing the file system (the PID in the name is only for people).
public final class AtomicOutput {
    public let destination: String
    /// Where to write: a temporary path in the destination's folder (an empty file, or an empty folder).
    public let temporaryPath: String
    public let isDirectory: Bool
    let force: Bool
    let rule: OutputRule
    let lockPath: String
    private var lockFD: Int32
    private let token: Int
    private var finished = false
    /// `renameat2(…, RENAME_NOREPLACE)`; tests replace it to take the fallback paths.
    var renameWithoutReplacing: (String, String) -> Int32 = { recast_rename_noreplace($0, $1) }

    static let marker = ".recast-tmp-"

    /// Prepares an output. `reads` lists every file and folder the command reads (see `OutputRule`).
    /// Fails if the destination breaks the rule, or exists and `force` is false.
    public init(destination: String, directory: Bool, force: Bool, reads: [String]) throws {
        let dest = AtomicOutput.normalized(destination)
        let rule = OutputRule(reads: reads)
        try rule.check(destination: dest)
        if FileSystem.exists(dest) && !force {
            throw CheckpointError(file: dest, "already exists; pass --force to replace it")
        }
        let (dir, base) = FileSystem.split(dest)
        guard FileSystem.isDirectory(dir) else {
            throw CheckpointError(file: dest, "the folder '\(dir)' does not exist")
        }
        AtomicOutput.removeStale(in: dir, base: base)
        let (key, fd) = try AtomicOutput.claimLock(dir: dir, base: base, destination: dest)
        let temporary = FileSystem.join(dir, key)
        let lock = FileSystem.join(dir, key + ".lock")
        self.destination = dest
        self.isDirectory = directory
        self.force = force
        self.rule = rule
        self.lockPath = lock
        self.lockFD = fd
        self.temporaryPath = temporary
        self.token = Temporaries.register(.init(paths: [temporary], lock: lock))
        // Created here, exclusively, so that writers opening it (with O_TRUNC) write to a file of ours.
        let created: Bool
        if directory {
            created = mkdir(temporary, 0o755) == 0
        } else {
            let f = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            created = f >= 0
            if f >= 0 { close(f) }
        }
        guard created else {
            let e = errnoText()
            abandon()
            throw CheckpointError(file: dest, "cannot create a temporary \(directory ? "folder" : "file") in '\(dir)': \(e)")
        }
    }

    /// Flushes the finished output to disk and moves it into place. Without `force` an existing
    /// destination (one that appeared while the output was written) is left as it is and this fails; with
    /// `force` it is replaced (a folder atomically, by exchange, where the kernel can).
    public func commit() throws {
        guard !finished else { throw CheckpointError(file: destination, "was already published or abandoned") }
        // The paths may have changed since the start (a folder moved, a link made): check again.
        try rule.check(destination: destination)
        try sync(temporaryPath)
        var leftover: [String] = []
        try Temporaries.publish(token) {
            if force { leftover = try replace() } else { try publishWithoutReplacing() }
            return leftover
        }
        for path in leftover { FileSystem.removeTree(path) }
        release()
        // The rename itself reaches the disk with the folder that holds the name.
        let dir = FileSystem.split(destination).dir
        try syncPath(dir, directory: true, failure: "was written, but the folder '\(dir)' that holds it cannot be flushed to disk")
    }

    /// Renames the temporary to the destination, refusing to replace anything.
    private func publishWithoutReplacing() throws {
        let appeared = CheckpointError(file: destination, "appeared while Recast was writing it (another process?) and was left as it is; pass --force to replace it")
        if renameWithoutReplacing(temporaryPath, destination) == 0 { return }
        let e = errno
        if e == EEXIST { throw appeared }
        guard e == EINVAL || e == ENOSYS else {
            throw CheckpointError(file: destination, "cannot move the finished output into place: \(String(cString: strerror(e)))")
        }
        // The file system (or kernel) cannot rename without replacing: renameat2's RENAME_NOREPLACE gives
        // EINVAL on older NFS, CIFS and some FUSE file systems, ENOSYS before Linux 3.15.
        if FileSystem.exists(destination) { throw appeared }
        if !isDirectory {
            // link(2) never replaces an existing name (EEXIST), so a file is still published atomically;
            // then the temporary name is dropped.
            if link(temporaryPath, destination) == 0 {
                unlink(temporaryPath)
                return
            }
            if errno == EEXIST { throw appeared }
            // No hard links either (FAT, some FUSE file systems): only the check above protects the name.
        }
        // For a folder, rename(2) could replace only an empty folder: a non-empty one (ENOTEMPTY, EEXIST)
        // or a file (ENOTDIR) makes it fail.
        guard rename(temporaryPath, destination) == 0 else {
            let e = errno
            if e == EEXIST || e == ENOTEMPTY || e == ENOTDIR || e == EISDIR { throw appeared }
            throw CheckpointError(file: destination, "cannot move the finished output into place: \(String(cString: strerror(e)))")
        }
    }

    /// Renames the temporary to the destination, replacing what is there. Returns paths left to remove.
    private func replace() throws -> [String] {
        guard isDirectory, FileSystem.exists(destination) else {
            guard rename(temporaryPath, destination) == 0 else {
                throw CheckpointError(file: destination, "cannot move the finished output into place: \(errnoText())")
            }
            return []
        }
        // rename(2) cannot replace a non-empty folder. Exchange the two atomically where the kernel can,
        // so that a kill at any moment leaves either the old or the new folder under the name.
        if recast_exchange_paths(temporaryPath, destination) == 0 { return [temporaryPath] }
        let old = temporaryPath + "-old"
        guard rename(destination, old) == 0 else {
            throw CheckpointError(file: destination, "cannot replace: \(errnoText())")
        }
        guard rename(temporaryPath, destination) == 0 else {
            let e = errnoText()
            if rename(old, destination) != 0 {
                throw CheckpointError(file: destination, "cannot move the finished output into place (\(e)), and the previous contents stay at \(old)")
            }
            throw CheckpointError(file: destination, "cannot move the finished output into place: \(e)")
        }
        return [old]
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
        guard !finished else { return }
        FileSystem.removeTree(temporaryPath)
        release()
    }

    /// Ends the writer's claim: unregisters the temporary and gives up (and removes) its lock file.
    private func release() {
        guard !finished else { return }
        finished = true
        Temporaries.unregister(token)
        unlink(lockPath)
        close(lockFD)
        lockFD = -1
    }

    deinit { abandon() }

    /// Flushes a written file, or a folder with every file and folder in it, to disk.
    private func sync(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            for name in FileSystem.list(path) { try sync(FileSystem.join(path, name)) }
            try syncPath(path, directory: true)
        case S_IFREG:
            try syncPath(path, directory: false)
        default:
            break
        }
    }

    private func syncPath(_ path: String, directory: Bool, failure: String = "cannot be flushed to disk") throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0))
        guard fd >= 0 else { throw CheckpointError(file: destination, "\(failure): cannot open \(path): \(errnoText())") }
        defer { close(fd) }
        // EINVAL: this kind of file cannot be synchronised; there is nothing to wait for.
        guard fsync(fd) == 0 || errno == EINVAL else {
            throw CheckpointError(file: destination, "\(failure): \(errnoText())")
        }
    }

    /// The destination without trailing slashes; `.` and `..` as a last component are resolved, so the
    /// output has a name of its own.
    static func normalized(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        let base = FileSystem.split(p).base
        if base == "." || base == "..", let real = FileSystem.realPath(p) { return real }
        return p
    }

    /// The start of every temporary's name for a destination named `base` (shortened so that the whole
    /// name stays within the 255 bytes a file name may have).
    static func prefix(base: String) -> String {
        let short = base.utf8.count > 180 ? String(decoding: base.utf8.prefix(180), as: UTF8.self) : base
        return ".\(short)\(marker)"
    }

    /// Creates and locks a fresh lock file; returns the temporary's name (the lock file's without `.lock`).
    static func claimLock(dir: String, base: String, destination: String) throws -> (String, Int32) {
        var rnd = SystemRandomNumberGenerator()
        for _ in 0..<16 {
            let key = prefix(base: base) + "\(getpid())-" + String(rnd.next() & 0xFFFF_FFFF, radix: 16)
            let lock = FileSystem.join(dir, key + ".lock")
            let fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if fd < 0 {
                if errno == EEXIST { continue }
                throw CheckpointError(file: destination, "cannot create a temporary in '\(dir)': \(errnoText())")
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK {
                // Another run, cleaning up, took it between the create and the lock: it will remove it.
                close(fd)
                continue
            }
            // (Any other failure means the file system has no locks: other runs then cannot tell whether
            // this writer is alive, and leave its temporary alone.)
            // The lock counts only if the file still has its name (a cleaner may have removed it).
            var mine = stat(), named = stat()
            guard fstat(fd, &mine) == 0, lstat(lock, &named) == 0, mine.st_ino == named.st_ino, mine.st_dev == named.st_dev else {
                close(fd)
                continue
            }
            return (key, fd)
        }
        throw CheckpointError(file: destination, "cannot claim a temporary name in '\(dir)'")
    }

    /// Whether a temporary's writer is alive, decided by its lock file.
    enum Liveness {
        /// Nobody holds the lock (the file descriptor holds it now), or there is no lock file at all:
        /// a writer creates its lock file before the temporary and removes it last.
        case dead(Int32?)
        /// A writer holds the lock, or it cannot be told (no permission, a file system without locks).
        case aliveOrUnknown
    }

    static func liveness(lock: String) -> Liveness {
        let fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 { return errno == ENOENT ? .dead(nil) : .aliveOrUnknown }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return .dead(fd) }
        close(fd)
        return .aliveOrUnknown
    }

    /// Removes the temporaries for a destination named `base` whose writer is gone (no lock holder).
    static func removeStale(in dir: String, base: String) {
        let start = prefix(base: base)
        var keys = Set<String>()
        for name in FileSystem.list(dir) where name.hasPrefix(start) {
            var key = name
            for suffix in [".lock", "-old"] where key.hasSuffix(suffix) { key.removeLast(suffix.count) }
            keys.insert(key)
        }
        for key in keys.sorted() {
            let lock = FileSystem.join(dir, key + ".lock")
            // This process's own writers (on NFS a second lock from the same process would not conflict).
            if Temporaries.isOurs(lock: lock) { continue }
            guard case .dead(let fd) = liveness(lock: lock) else { continue }
            FileSystem.removeTree(FileSystem.join(dir, key))
            FileSystem.removeTree(FileSystem.join(dir, key + "-old"))
            if let fd {
                unlink(lock)
                close(fd)
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

    /// The canonical absolute path (`realpath(3)`: every symlink and `..` resolved), or nil when it
    /// cannot be resolved (it does not exist).
    public static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
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
        OutputRule.identity(path, following: true).map { ($0.device, $0.inode) }
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

    /// Creates a folder (mode 0755); throws with the reason when it cannot.
    public static func makeDirectory(_ path: String) throws {
        guard mkdir(path, 0o755) == 0 else { throw CheckpointError(file: path, "cannot create the folder: \(errnoText())") }
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
