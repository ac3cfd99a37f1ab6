#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Checkpoint
import HDF5
import RecastCore

/// The HDF5 C library can crash on a corrupt file (segmentation faults inside `H5Dopen2`, `H5Aiterate2`
/// and the global heap were seen under fuzzing). Before a command touches an HDF5 file in this process,
/// a child copy of `recast` opens it (and, for commands that read tensor data, reads every dataset);
/// a crash or a hang there becomes a clean error here.
enum HDF5Guard {
    /// Structure walks that take longer than this are treated as hangs.
    static let walkTimeout = 30.0

    static func check(_ path: String, readData: Bool) throws {
        guard let file = Checkpoint.hdf5File(for: path) else { return }
        var args = ["recast", Probe.configuration.commandName!, file]
        if readData { args.append("--read") }
        // The child's stderr goes to a scratch file: its message is passed on if it fails cleanly, and a
        // crash dump is dropped in favour of one clear line.
        var template = Array("/tmp/recast-probe-XXXXXX".utf8CString)
        let errFD = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard errFD >= 0 else { return }
        let errPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { close(errFD); unlink(errPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, errFD, 2)
        var env: [UnsafeMutablePointer<CChar>?] = [strdup("SWIFT_BACKTRACE=enable=no")]
        var e = environ
        while let entry = e.pointee {
            if !String(cString: entry).hasPrefix("SWIFT_BACKTRACE=") { env.append(strdup(entry)) }
            e += 1
        }
        env.append(nil)
        var cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in cArgs + env { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/proc/self/exe", &actions, nil, &cArgs, &env)
        guard spawned == 0 else { return }  // Cannot isolate: fall back to reading in-process.
        var status: Int32 = 0
        let start = ProgressBar.now()
        // Reading the data may take as long as the file is large: allow 20 MB/s, far below any disk.
        let limit = walkTimeout + (readData ? Double(FileSystem.fileSize(file) ?? 0) / 20e6 : 0)
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { return }
            if ProgressBar.now() - start > limit {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw CheckpointError(file: file, "the HDF5 library did not finish reading the file within \(Int(limit)) s: the file is corrupt")
            }
            if r == 0 { usleep(readData ? 10_000 : 2000) }
        }
        let signal = status & 0x7F
        if signal != 0 {
            throw CheckpointError(file: file, "the HDF5 library crashed reading this file (signal \(signal)): the file is corrupt")
        }
        let code = (status >> 8) & 0xFF
        if code != 0 {
            // A clean failure: pass the child's own message on and exit the same way. Anything else (a
            // sanitizer's report of a crash it caught, say) is a crash too.
            let text = String(decoding: (try? FileSystem.readAll(errPath)) ?? [], as: UTF8.self)
            guard text.hasPrefix("recast: error: ") else {
                throw CheckpointError(file: file, "the HDF5 library failed abnormally reading this file (exit \(code)): the file is corrupt")
            }
            Terminal.writeStderr(text)
            throw ExitCode(code)
        }
    }
}

/// Opens an HDF5 file (and reads every dataset with --read) so a parent process can tell whether the
/// library survives it. Not for people: `recast` runs it on itself.
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "probe-hdf5", shouldDisplay: false)

    @Argument var file: String
    @Flag var read = false

    func run() throws {
        try reportingErrors {
            let store = try HDF5Store(path: file)
            if read {
                for t in store.tensors { try store.withBytes(of: t.name) { _ in } }
            }
        }
    }
}
