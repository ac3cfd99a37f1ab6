import CPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file. Unmaps in `deinit`; views into it are valid while the
/// owner lives.
///
/// A file can change under a mapping: another program may cut it (truncate) or rewrite it while Recast
/// reads. Touching a page past the new end raises SIGBUS, which would kill the process and leave its
/// temporaries behind. Readers of a mapping therefore run inside `reading { }`:
///
/// - the mapping is registered with the SIGBUS guard of `CPosix/mapguard.c`, which answers a fault inside
///   it by mapping zero pages over the rest of the mapping and flagging it; the read goes on harmlessly;
/// - afterwards `reading` checks the flag, and the file's size and modification time, and throws
///   "changed while it was being read" instead of returning what was read.
///
/// Why a guard rather than `pread` into buffers: every reader of a checkpoint works on the mapping (the
/// safetensors header parser and tensor views, Recast's HDF5 parser, which walks the file's structures
/// in place, the runtime's weight loading, SHA-256 of the provenance). Copying each tensor with `pread`
/// would cover tensor data only, not the HDF5 parser's metadata reads, and would double the memory a
/// zero-copy view needs today. The guard covers every access to every mapping, at no cost until a fault,
/// and keeps memory bounded exactly as before (pages are given back with `release`).
///
/// The descriptor is closed as soon as the file is mapped (the mapping keeps the file's contents
/// reachable), so a model of any number of shards holds no descriptors open.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    private let base: UnsafeRawPointer?
    private let guardSlot: Int32
    /// Device, inode, size and modification time when mapped, for `checkUnchanged`.
    private let device: UInt64, inode: UInt64, modified: timespec

    public init(path: String) throws {
        self.path = path
        let (fd, st) = try InputFile.open(path)
        defer { close(fd) }
        let size = Int(st.st_size)
        if size > 0 {
            guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
                throw CheckpointError(file: path, "cannot map into memory: \(errnoText())")
            }
            base = UnsafeRawPointer(p)
            guardSlot = recast_guard_register(p, size)
            if guardSlot < 0 {
                munmap(p, size)
                throw CheckpointError(file: path, "cannot guard its mapping: more than 65,536 files are mapped at once")
            }
        } else {
            base = nil
            guardSlot = -1
        }
        self.size = size
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        modified = st.st_mtim
    }

    deinit {
        if let base {
            recast_guard_unregister(guardSlot)
            munmap(UnsafeMutableRawPointer(mutating: base), size)
        }
    }

    /// The whole mapping (empty for an empty file).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    /// A view of `range`, or nil when it does not lie inside the file.
    public func view(_ range: Range<Int>) -> UnsafeRawBufferPointer? {
        guard range.lowerBound >= 0, range.upperBound <= size else { return nil }
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// The error for a file that changed while Recast read it.
    public static func changed(_ path: String) -> CheckpointError {
        CheckpointError(file: path, "changed while it was being read (another program cut or rewrote it); nothing was written from it")
    }

    /// Throws when the file changed since it was mapped: a page fault past its end was absorbed, or its
    /// size or modification time differs. A file replaced by another under the same name (a new inode)
    /// does not count: the mapping still holds the old file, whole.
    public func checkUnchanged() throws {
        if guardSlot >= 0 && recast_guard_changed(guardSlot) != 0 { throw MappedFile.changed(path) }
        var st = stat()
        guard stat(path, &st) == 0, UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode else { return }
        if Int(st.st_size) != size || st.st_mtim.tv_sec != modified.tv_sec || st.st_mtim.tv_nsec != modified.tv_nsec {
            throw MappedFile.changed(path)
        }
    }

    /// Runs `body`, which reads the mapping, and checks afterwards that the file did not change meanwhile.
    /// When it did, the change is the error, whatever `body` returned or threw (zeros read from a cut file
    /// can make any parser fail with a misleading message).
    public func reading<R>(_ body: () throws -> R) throws -> R {
        let result: R
        do {
            result = try body()
        } catch {
            try checkUnchanged()
            throw error
        }
        try checkUnchanged()
        return result
    }

    /// Tells the kernel a range will be read front to back soon, and maps its pages in one call
    /// (`MADV_POPULATE_READ`, Linux 5.14; ignored where unknown). Without it, a `write` straight from a
    /// view takes one page fault per page inside the kernel's copy: populating first halved the system
    /// time of `convert` from `.h5` to safetensors (335 MB: 0.28 s → 0.14 s). The pages are the range's
    /// own, given back by `release`, so memory stays bounded by the range. On a file cut meanwhile it
    /// fails without a signal, and the read that follows meets the guard.
    public func adviseSequential(_ range: Range<Int>) {
        advise(range, MADV_SEQUENTIAL)
        #if os(Linux)
        advise(range, MADV_POPULATE_READ)
        #endif
    }


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
