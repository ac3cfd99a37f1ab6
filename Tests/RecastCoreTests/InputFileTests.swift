import Foundation
import Testing
import TestSupport
@testable import RecastCore

/// The file-access layer on its own, in this process: the SIGBUS guard, change detection, non-blocking
/// opens, `ModelFolder`'s rule for links, and `Background` without a thread.
@Suite(.serialized) struct InputFileTests {
    func sum(_ bytes: UnsafeRawBufferPointer) -> Int { bytes.reduce(0) { $0 &+ Int($1) } }

    /// Without the guard this test process would die of SIGBUS.
    @Test func aMappingOfAFileCutWhileReadThrowsInsteadOfCrashing() throws {
        let tmp = TempDir()
        let path = tmp.write("data", [UInt8](repeating: 7, count: 1 << 20))
        let mapping = try MappedFile(path: path)
        #expect(try mapping.reading { sum(mapping.bytes) } == 7 << 20)
        #expect(truncate(path, 4096) == 0)
        #expect(throws: CheckpointError.self) { try mapping.reading { sum(mapping.bytes) } }
        do {
            _ = try mapping.reading { sum(mapping.bytes) }
        } catch {
            #expect("\(error)" == "\(path): changed while it was being read (another program cut or rewrote it); nothing was written from it")
        }
        // Another mapping of another file is unaffected.
        let other = try MappedFile(path: tmp.write("other", [1, 2, 3]))
        #expect(try other.reading { sum(other.bytes) } == 6)
    }

    @Test func aFileRewrittenInPlaceIsReportedAsChanged() throws {
        let tmp = TempDir()
        let path = tmp.write("data", [UInt8](repeating: 1, count: 8192))
        let mapping = try MappedFile(path: path)
        try mapping.checkUnchanged()
        // Same size, new contents and modification time.
        let fd = open(path, O_WRONLY)
        #expect(fd >= 0)
        #expect(pwrite(fd, [UInt8](repeating: 9, count: 16), 16, 100) == 16)
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        #expect(futimens(fd, &times) == 0)
        close(fd)
        #expect(throws: CheckpointError.self) { try mapping.checkUnchanged() }
        // A file replaced under its name (a new inode) leaves the mapping whole: not a change.
        let replaced = tmp.write("data2", [UInt8](repeating: 1, count: 10))
        let fresh = try MappedFile(path: tmp.write("data3", [UInt8](repeating: 5, count: 10)))
        #expect(rename(replaced, fresh.path) == 0)
        try fresh.checkUnchanged()
    }

    @Test func readAllAndMappingsRefusePipesWithoutBlocking() throws {
        let tmp = TempDir()
        let fifo = tmp.file("fifo")
        #expect(mkfifo(fifo, 0o644) == 0)
        // A blocking open would wait here forever for a writer.
        #expect(throws: CheckpointError(file: fifo, "is a named pipe (FIFO), not a regular file: Recast reads only regular files")) {
            try FileSystem.readAll(fifo)
        }
        #expect(throws: CheckpointError.self) { try MappedFile(path: fifo) }
        #expect(throws: CheckpointError(file: tmp.path, "is a folder, not a regular file: Recast reads only regular files")) {
            try FileSystem.readAll(tmp.path)
        }
    }

    @Test func runningOutOfDescriptorsSaysSoAndGivesTheLimit() {
        var limit = rlimit()
        #expect(getrlimit(InputFile.RLIMIT_NOFILE_VALUE, &limit) == 0)
        let text = InputFile.openFailure(EMFILE)
        #expect(text.contains("limit of open files (\(limit.rlim_cur))"), "\(text)")
        #expect(text.contains("ulimit -n"))
    }

    @Test func modelFolderFollowsLinksOnlyInsideTheFolderOrItsCacheBlobs() throws {
        let tmp = TempDir()
        let fm = FileManager.default
        let repo = tmp.file("models--org--name"), snapshot = repo + "/snapshots/rev1"
        try fm.createDirectory(atPath: repo + "/blobs", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: snapshot + "/sub", withIntermediateDirectories: true)
        tmp.write("models--org--name/blobs/abc", "weights")
        tmp.write("secret", "key")
        tmp.write("models--org--name/snapshots/rev1/sub/real", "x")
        try fm.createSymbolicLink(atPath: snapshot + "/model.safetensors", withDestinationPath: "../../blobs/abc")
        try fm.createSymbolicLink(atPath: snapshot + "/inside", withDestinationPath: "sub/real")
        try fm.createSymbolicLink(atPath: snapshot + "/outside", withDestinationPath: "../../../secret")
        try fm.createSymbolicLink(atPath: snapshot + "/dangling", withDestinationPath: "nowhere")
        let folder = try ModelFolder(snapshot)
        #expect(folder.blobs != nil)
        #expect(try folder.file("model.safetensors") == snapshot + "/model.safetensors")
        #expect(try folder.file("inside") == snapshot + "/inside")
        #expect(try folder.file("missing") == snapshot + "/missing")
        #expect(throws: CheckpointError.self) { try folder.file("outside") }
        #expect(throws: CheckpointError.self) { try folder.file("dangling") }
        do {
            _ = try folder.file("outside")
        } catch {
            #expect("\(error)".contains("outside: is a symbolic link to '../../../secret' (\(tmp.path)/secret)"), "\(error)")
        }
        // The blobs of a cache are allowed only from a snapshot folder of the same repository.
        let plain = tmp.file("plain")
        try fm.createDirectory(atPath: plain, withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: plain + "/w", withDestinationPath: repo + "/blobs/abc")
        #expect(try ModelFolder(plain).blobs == nil)
        #expect(throws: CheckpointError.self) { try ModelFolder(plain).file("w") }
    }

    @Test func backgroundWorkGivesItsValueAndItsError() throws {
        let ok = Background { 6 * 7 }
        #expect(try ok.value() == 42)
        #expect(try ok.value() == 42)
        struct Failure: Error {}
        let failing = Background { () throws -> Int in throw Failure() }
        #expect(throws: Failure.self) { try failing.value() }
        // Work dropped uncollected is not waited for.
        let start = Date()
        do { _ = Background { usleep(2_000_000); return 1 } }
        #expect(Date().timeIntervalSince(start) < 1.5)
    }
}
