#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file. Unmaps and closes in `deinit`; views into it are
/// valid while the owner lives.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    private let base: UnsafeRawPointer?
    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(file: path, "cannot open: \(errnoText())") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errnoText()
            close(fd)
            throw CheckpointError(file: path, "cannot stat: \(e)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw CheckpointError(file: path, "is not a regular file")
        }
        let size = Int(st.st_size)
        if size > 0 {
            guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
                let e = errnoText()
                close(fd)
                throw CheckpointError(file: path, "cannot map into memory: \(e)")
            }
            base = UnsafeRawPointer(p)
        } else {
            base = nil
        }
        self.fd = fd
        self.size = size
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
        close(fd)
    }

    /// The whole mapping (empty for an empty file).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    /// A view of `range`, or nil when it does not lie inside the file.
    public func view(_ range: Range<Int>) -> UnsafeRawBufferPointer? {
        guard range.lowerBound >= 0, range.upperBound <= size else { return nil }
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// Tells the kernel a range will be read front to back soon.
    public func adviseSequential(_ range: Range<Int>) { advise(range, MADV_SEQUENTIAL) }

    /// Drops the pages of a range from this process's resident set once it has been consumed,
    /// so streaming a large file keeps memory bounded by the piece in flight.
    public func release(_ range: Range<Int>) { advise(range, MADV_DONTNEED) }

    private func advise(_ range: Range<Int>, _ advice: Int32) {
        guard let base, range.lowerBound >= 0, range.upperBound <= size, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, advice)
    }
}

/// The text of the current `errno`.
public func errnoText() -> String { String(cString: strerror(errno)) }
