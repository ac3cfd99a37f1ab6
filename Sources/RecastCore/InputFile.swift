#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one way Recast opens a file it reads: never blocks, and refuses anything but a regular file.
///
/// Opening a named pipe for reading blocks until a writer appears, and opening a device can have side
/// effects, so the path is checked with `stat` first and opened with `O_NONBLOCK` (a FIFO then opens at
/// once, a socket fails with ENXIO); `fstat` on the open descriptor then confirms a regular file, so a
/// file swapped for a pipe between the two checks is refused too.
public enum InputFile {
    /// What a file type is called in messages.
    static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a named pipe (FIFO)"
        case S_IFSOCK: "a socket"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFDIR: "a folder"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }

    /// The refusal of a file that is not a regular file.
    static func notRegular(_ path: String, _ mode: mode_t) -> CheckpointError {
        let kind = kindName(mode)
        let what = kind.hasPrefix("not ") ? kind : "is \(kind), not a regular file"
        return CheckpointError(file: path, what + ": Recast reads only regular files")
    }

    /// The reason an `open` failed, with the limit when descriptors ran out.
    public static func openFailure(_ code: Int32) -> String {
        switch code {
        case EMFILE:
            var limit = rlimit()
            let shown = getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 ? " (\(limit.rlim_cur))" : ""
            return "too many open files: this process reached its limit of open files\(shown); raise it with `ulimit -n`"
        case ENFILE: return "too many open files in the system"
        default: return String(cString: strerror(code))
        }
    }

    #if canImport(Glibc)
    static let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    static let RLIMIT_NOFILE_VALUE = RLIMIT_NOFILE
    #endif

    /// Opens `path` read-only. Returns the descriptor (the caller closes it) and its `fstat`.
    public static func open(_ path: String) throws -> (fd: Int32, status: stat) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let e = errno
            throw CheckpointError(file: path, e == ENOENT ? "does not exist" : "cannot open: \(openFailure(e))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw notRegular(path, st.st_mode) }
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw CheckpointError(file: path, "cannot open: \(openFailure(errno))") }
        guard fstat(fd, &st) == 0 else {
            let e = errnoText()
            close(fd)
            throw CheckpointError(file: path, "cannot stat: \(e)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw notRegular(path, st.st_mode)
        }
        return (fd, st)
    }

    /// Reads up to `limit` bytes from `offset` with `pread` (fewer at the end of the file).
    static func read(_ fd: Int32, path: String, offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError(file: path, offset: offset + done, "read failed: \(errnoText())")
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// The whole file, read with `pread` (no mapping, so a file cut meanwhile cannot fault). A file
    /// whose size changes while it is read is refused.
    public static func readAll(_ path: String) throws -> [UInt8] {
        let (fd, st) = try open(path)
        defer { close(fd) }
        let size = Int(st.st_size)
        var out = [UInt8](repeating: 0, count: size)
        let got = try out.withUnsafeMutableBytes { try read(fd, path: path, offset: 0, into: $0) }
        var after = stat()
        guard got == size, fstat(fd, &after) == 0, after.st_size == st.st_size else {
            throw MappedFile.changed(path)
        }
        return out
    }

    /// Copies a file to `destination` in pieces of `pieceBytes` with `pread`, so memory stays bounded
    /// whatever the file's size. A file larger than `limit` is refused (naming `what`), and one whose size
    /// changes while it is read is an error.
    public static func copy(_ path: String, to destination: String, limit: Int = .max, what: String = "a file",
                            pieceBytes: Int = 8 << 20) throws {
        let (fd, st) = try open(path)
        defer { close(fd) }
        let size = Int(st.st_size)
        guard size <= limit else {
            throw CheckpointError(file: path, "is \(ByteSize.format(size)) (\(size) bytes), over the limit of \(ByteSize.format(limit)) (\(limit) bytes) for \(what): it is not a real \(what) or it is damaged")
        }
        let out = try OutputFile(path: destination)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, min(size, pieceBytes)), alignment: 16)
        defer { buffer.deallocate() }
        var offset = 0
        while offset < size {
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(buffer.count, size - offset)])
            let got = try read(fd, path: path, offset: offset, into: piece)
            guard got == piece.count else { throw MappedFile.changed(path) }
            try out.write(UnsafeRawBufferPointer(piece))
            offset += got
        }
        var after = stat()
        guard fstat(fd, &after) == 0, after.st_size == st.st_size else { throw MappedFile.changed(path) }
        try out.close()
    }
}
