import Foundation
import Testing
import TestSupport
import RecastCore
import Checkpoint

/// Outputs never destroy data: an output is never, holds or lies inside anything the command reads
/// (however the path is spelled, with or without --force); without --force nothing is ever replaced,
/// even by a writer racing for the same name; SIGINT, SIGTERM and SIGHUP leave no temporary; a live
/// writer's temporary survives other runs whatever its PID; outputs are flushed to disk before and
/// after the rename. Each test runs the real `recast` binary.
@Suite(.serialized) struct OutputSafetyTests {
    // MARK: helpers

    /// A folder `models/` holding a copy of the gpt2 fixture and a file of the user's beside it, plus a
    /// symlink `mlink` to `models`.
    struct Layout {
        let tmp = TempDir()
        var models: String { tmp.file("models") }
        var model: String { tmp.file("models/gpt2") }
        var weights: String { tmp.file("models/gpt2/model.safetensors") }

        init() throws {
            let fm = FileManager.default
            try fm.createDirectory(atPath: tmp.file("models"), withIntermediateDirectories: true)
            try fm.copyItem(atPath: fixture("gpt2"), toPath: tmp.file("models/gpt2"))
            tmp.write("models/notes.txt", "the user's own file")
            try fm.createSymbolicLink(atPath: tmp.file("mlink"), withDestinationPath: "models")
        }

        /// Every file under the work folder with its hash: what must not change.
        func snapshot() throws -> [String: String] {
            var out: [String: String] = [:]
            for rel in tree(tmp.path) where FileSystem.isRegularFile(tmp.file(rel)) {
                out[rel] = try fileHash(tmp.file(rel))
            }
            return out
        }
    }

    func expectRefused(_ r: ProcessResult, _ what: String, _ phrase: String) {
        #expect(r.status == 1 && !r.signalled, "\(what): exit \(r.status): \(r.stderr)")
        #expect(r.stderr.hasPrefix("recast: error: ") && r.stderr.contains(phrase), "\(what): \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(what): one line: \(r.stderr)")
    }

    /// A safetensors file of one F32 tensor of `megabytes` MB of zeros, sparse (made in an instant): a
    /// conversion with a cast takes seconds, long enough to act on a writer in the middle of its work.
    static func bigSafetensors(_ path: String, megabytes: Int) throws {
        let n = megabytes * 1_000_000 / 4
        var header = #"{"x":{"dtype":"F32","shape":[\#(n)],"data_offsets":[0,\#(4 * n)]}}"#
        while header.utf8.count % 8 != 0 { header += " " }
        let bytes = safetensorsBytes(header: header, data: [])
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.truncate(atOffset: UInt64(bytes.count + 4 * n))
        try h.close()
    }

    static let work = TempDir()
    static let big: String = {
        let p = work.file("big.safetensors")
        try? bigSafetensors(p, megabytes: 256)
        return p
    }()

    /// Starts `recast` with `args`. With `defaultSignals`, it starts the way a shell starts it: no signal
    /// blocked, none ignored (a process started from a test thread inherits that thread's mask, in which
    /// libdispatch blocks SIGINT, SIGTERM and SIGHUP).
    func start(_ args: [String], stderr: String? = nil, defaultSignals: Bool = false) throws -> Process {
        let p = Process()
        if defaultSignals {
            let exec = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); "
                + "[signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGXFSZ)]; "
                + "os.execv(sys.argv[1], sys.argv[1:])"
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", "-c", exec, recastBinary] + args
        } else {
            p.executableURL = URL(fileURLWithPath: recastBinary)
            p.arguments = args
        }
        p.standardOutput = FileHandle.nullDevice
        if let stderr {
            _ = FileManager.default.createFile(atPath: stderr, contents: nil)
            p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        } else {
            p.standardError = FileHandle.nullDevice
        }
        try p.run()
        return p
    }

    /// Waits (up to 60 s) until `condition` holds; false if it never did.
    func waitUntil(_ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if condition() { return true }
            usleep(5000)
        }
        return false
    }

    /// The temporaries (not their lock files) in a folder.
    func temporaries(_ dir: String) -> [String] {
        FileSystem.list(dir).filter { $0.contains(".recast-tmp-") && !$0.hasSuffix(".lock") }
    }

    /// Total bytes under a path (a file, or a folder's files).
    func bytes(_ path: String) -> Int {
        if !FileSystem.isDirectory(path) { return FileSystem.fileSize(path) ?? 0 }
        return tree(path).reduce(0) { $0 + (FileSystem.fileSize(path + "/" + $1) ?? 0) }
    }

    // MARK: 1. one rule for every output

    @Test func convertNeverReplacesAFolderThatHoldsTheSource() throws {
        let l = try Layout()
        let before = try l.snapshot()
        let t = l.tmp
        // The folder above the source, spelled directly, through a symlink, through `..`, and through a
        // symlinked folder on the source's side.
        for (src, dst) in [(l.model, l.models), (l.model, t.file("mlink")), (l.model, l.model + "/.."),
                           (t.file("mlink/gpt2"), l.models), (l.model, t.path), (l.model, l.model)] {
            let r = try recast(["convert", src, dst, "--force"])
            expectRefused(r, "convert \(src) \(dst)", dst == l.model ? "is an input" : "holds")
        }
        #expect(try l.snapshot() == before, "nothing changed")
        #expect(FileSystem.list(t.path).allSatisfy { !$0.contains(".recast-tmp-") })
    }

    @Test func convertNeverReplacesTheSourceFileHoweverItIsNamed() throws {
        let l = try Layout()
        let t = l.tmp
        try FileManager.default.linkItem(atPath: l.weights, toPath: t.file("hardlink.safetensors"))
        try FileManager.default.createSymbolicLink(atPath: t.file("symlink.safetensors"), withDestinationPath: l.weights)
        let before = try l.snapshot()
        for dst in [l.weights, t.file("hardlink.safetensors"), t.file("symlink.safetensors"), t.file("mlink/gpt2/model.safetensors")] {
            let r = try recast(["convert", l.model, dst, "--dtype", "bf16", "--force"])
            expectRefused(r, "convert to \(dst)", "is an input")
        }
        // Inside the model folder: the output would change the model it reads.
        let inside = try recast(["convert", l.model, l.model + "/model.h5"])
        expectRefused(inside, "convert into the model folder", "lies inside")
        #expect(try l.snapshot() == before, "nothing changed")
    }

    @Test func runOutNeverReplacesTheModelsWeights() throws {
        let l = try Layout()
        let t = l.tmp
        try FileManager.default.linkItem(atPath: l.weights, toPath: t.file("hardlink.safetensors"))
        let before = try l.snapshot()
        for out in [l.weights, t.file("mlink/gpt2/model.safetensors"), t.file("hardlink.safetensors")] {
            let r = try recast(["run", l.model, "--length", "4", "--out", out, "--force"])
            expectRefused(r, "run --out \(out)", "is an input")
        }
        let inside = try recast(["run", l.model, "--length", "4", "--out", l.model + "/outputs.safetensors"])
        expectRefused(inside, "run --out into the model folder", "lies inside")
        #expect(try l.snapshot() == before, "nothing changed")
        // Elsewhere it writes.
        let ok = try recast(["run", l.model, "--length", "4", "--out", t.file("out.safetensors")])
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    @Test func swapNeverWritesIntoOrOverTheModel() throws {
        let l = try Layout()
        let t = l.tmp
        let before = try l.snapshot()
        for (dst, phrase) in [(l.model + "/swapped", "lies inside"), (t.file("mlink"), "holds"), (t.file("mlink/gpt2"), "is an input")] {
            let r = try recast(["swap", l.model, dst, "--feature-map", "elu", "--force"])
            expectRefused(r, "swap to \(dst)", phrase)
        }
        #expect(try l.snapshot() == before, "nothing changed")
    }

    // MARK: 2. without --force, publishing never replaces

    @Test func aDestinationThatAppearsDuringTheWriteIsNotReplaced() throws {
        let dst = Self.work.file("appears.safetensors")
        let err = Self.work.file("appears.stderr")
        let p = try start(["convert", Self.big, dst, "--dtype", "bf16"], stderr: err)
        #expect(waitUntil { temporaries(Self.work.path).contains { $0.hasPrefix(".appears") } }, "the writer started")
        #expect(p.isRunning, "the file appears while the writer works")
        try Data("the user's file".utf8).write(to: URL(fileURLWithPath: dst))
        p.waitUntilExit()
        let stderr = String(decoding: FileManager.default.contents(atPath: err) ?? Data(), as: UTF8.self)
        #expect(p.terminationStatus == 1, "\(stderr)")
        #expect(stderr.hasPrefix("recast: error: \(dst): appeared while Recast was writing it"), "\(stderr)")
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: dst)), as: UTF8.self) == "the user's file")
        #expect(temporaries(Self.work.path).isEmpty && !FileSystem.list(Self.work.path).contains { $0.hasSuffix(".lock") })
        FileSystem.removeTree(dst)
    }

    /// Two real processes race for one file and for one folder: both get past the start (both temporaries
    /// exist at once), exactly one publishes, the other fails with a clear message and leaves nothing.
    @Test(arguments: ["race.safetensors", "race-folder"])
    func twoWritersRacingForOneDestination(_ name: String) throws {
        let dst = Self.work.file(name)
        let errs = [Self.work.file("race0.stderr"), Self.work.file("race1.stderr")]
        let writers = try errs.map { try start(["convert", Self.big, dst, "--dtype", "bf16"], stderr: $0) }
        let both = waitUntil { temporaries(Self.work.path).filter { $0.hasPrefix(".\(name).") }.count == 2 }
        #expect(both, "both writers got past the start: \(FileSystem.list(Self.work.path))")
        for w in writers { w.waitUntilExit() }
        let status = writers.map(\.terminationStatus)
        let stderr = errs.map { String(decoding: FileManager.default.contents(atPath: $0) ?? Data(), as: UTF8.self) }
        #expect(status.sorted() == [0, 1], "exactly one succeeds: \(status) \(stderr)")
        if let loser = status.firstIndex(of: 1) {
            #expect(stderr[loser].hasPrefix("recast: error: \(dst): appeared while Recast was writing it"), "\(stderr[loser])")
        }
        let store = try Checkpoint.open(dst)
        #expect(store.tensors.count == 1 && store.tensors[0].dtype == .bf16)
        #expect(FileSystem.list(Self.work.path).allSatisfy { !$0.contains(".recast-tmp-") }, "\(FileSystem.list(Self.work.path))")
        FileSystem.removeTree(dst)
    }

    // MARK: 3. verify --plot

    @Test func verifyPlotFollowsTheRuleOfEveryOutput() throws {
        let t = TempDir()
        try FileManager.default.copyItem(atPath: fixture("gpt2"), toPath: t.file("gpt2"))
        try FileManager.default.copyItem(atPath: fixture("gpt2-t2r"), toPath: t.file("gpt2-t2r"))
        let args = ["verify", t.file("gpt2"), t.file("gpt2-t2r"), "--length", "8", "--plot"]
        let plot = t.write("plot.svg", "the user's drawing")
        let kept = try recast(args + [plot])
        expectRefused(kept, "existing plot", "already exists; pass --force")
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: plot)), as: UTF8.self) == "the user's drawing")
        let replaced = try recast(args + [plot, "--force"])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: plot)), as: UTF8.self).contains("<svg"))
        // An input under another name, and a plot inside a model folder.
        try FileManager.default.linkItem(atPath: t.file("gpt2/config.json"), toPath: t.file("config.svg"))
        let config = try fileHash(t.file("gpt2/config.json"))
        expectRefused(try recast(args + [t.file("config.svg"), "--force"]), "plot over an input", "is an input")
        expectRefused(try recast(args + [t.file("gpt2-t2r/plot.svg")]), "plot inside a model", "lies inside")
        #expect(try fileHash(t.file("gpt2/config.json")) == config)
        #expect(!FileSystem.exists(t.file("gpt2-t2r/plot.svg")))
    }

    // MARK: 4. signals

    /// SIGINT, SIGTERM and SIGHUP in the middle of a large write (a file, a folder, an HDF5 file): the
    /// process removes its temporary and exits with 128 + the signal's number. Started as a shell starts
    /// it, and (the last case) with the signals blocked by its parent, which Recast undoes for them.
    @Test(arguments: [(SIGINT, "sig.safetensors", true), (SIGTERM, "sig-folder", true), (SIGHUP, "sig.h5", true),
                      (SIGTERM, "sig-blocked.safetensors", false)])
    func signalsRemoveTheTemporaryAndExitWithTheUsualStatus(_ signal: Int32, _ name: String, _ defaultSignals: Bool) throws {
        let dir = TempDir()
        let dst = dir.file(name)
        let p = try start(["convert", Self.big, dst, "--dtype", "bf16"], defaultSignals: defaultSignals)
        // Mid-write: the temporary holds data.
        let writing = waitUntil { temporaries(dir.path).contains { bytes(dir.file($0)) > 1_000_000 } }
        #expect(writing, "the writer is writing: \(dir.entries())")
        #expect(p.isRunning, "the signal arrives mid-write")
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 128 + signal,
                "signal \(signal): \(p.terminationReason == .exit ? "exit" : "killed by signal") \(p.terminationStatus)")
        #expect(dir.entries().isEmpty, "no temporary, no lock file, no output: \(dir.entries())")
    }

    // MARK: 5. liveness by lock, not by PID

    @Test func aLiveWritersTemporaryIsKeptWhateverItsPIDSays() throws {
        let dir = TempDir()
        // A PID that names no running process.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let pid = gone.processIdentifier
        let base = ".out.safetensors.recast-tmp-\(pid)"
        // A live writer (this process holds its lock; think of a recast in another PID namespace or on
        // another host), a dead one (its lock file is free) and one that died before it locked anything.
        let live = dir.write(base + "-aaaa", "live writer's partial output")
        let liveLock = dir.write(base + "-aaaa.lock", "")
        let fd = open(liveLock, O_RDWR)
        try #require(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        defer { close(fd) }
        let dead = dir.write(base + "-bbbb", "dead writer's partial output")
        let deadLock = dir.write(base + "-bbbb.lock", "")
        let noLock = dir.write(base + "-cccc", "partial output without a lock file")

        let r = try recast(["convert", fixture("gpt2"), dir.file("out.safetensors")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileSystem.exists(live) && FileSystem.exists(liveLock), "the live writer's temporary stays: \(dir.entries())")
        #expect(!FileSystem.exists(dead) && !FileSystem.exists(deadLock) && !FileSystem.exists(noLock),
                "temporaries nobody holds are removed: \(dir.entries())")
    }

    // MARK: 6. durability

    /// Traced with strace: every file of the output and its folder are flushed before the rename that
    /// publishes it, and the destination's folder after.
    @Test(arguments: ["durable.safetensors", "durable-folder"])
    func outputsReachTheDiskBeforeAndAfterTheRename(_ name: String) throws {
        let strace = "/usr/bin/strace"
        guard FileManager.default.isExecutableFile(atPath: strace),
              try runProcess(strace, ["-o", "/dev/null", "/bin/true"]).status == 0 else {
            print("SKIPPED outputsReachTheDiskBeforeAndAfterTheRename: strace is not installed or cannot trace here")
            return
        }
        let dir = TempDir()
        let dst = dir.file(name)
        let logs = TempDir()
        let log = logs.file("trace")
        let shards = name.hasSuffix("folder") ? ["--max-shard-size", "40KB"] : []
        let r = try runProcess(strace, ["-f", "-y", "-qq", "-o", log, "-e", "trace=fsync,fdatasync,rename,renameat,renameat2,link,linkat",
                                        recastBinary, "convert", fixture("gpt2"), dst] + shards)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = String(decoding: try Data(contentsOf: URL(fileURLWithPath: log)), as: UTF8.self).split(separator: "\n").map(String.init)
        guard let publish = lines.firstIndex(where: { $0.contains("rename") && $0.contains(".recast-tmp-") && $0.contains("\"\(dst)\"") }) else {
            Issue.record("no rename publishes \(dst): \(lines)")
            return
        }
        let synced = lines[..<publish].filter { $0.contains("fsync(") }
        if name.hasSuffix("folder") {
            for file in FileSystem.list(dst) {
                #expect(synced.contains { $0.contains(".recast-tmp-") && $0.contains("/\(file)>") }, "\(file) flushed before the rename: \(synced)")
            }
            #expect(synced.contains { $0.range(of: #"\.recast-tmp-[0-9]+-[0-9a-f]+>"#, options: .regularExpression) != nil },
                    "the folder flushed before the rename: \(synced)")
        } else {
            #expect(synced.contains { $0.range(of: #"\.recast-tmp-[0-9]+-[0-9a-f]+>"#, options: .regularExpression) != nil },
                    "the file flushed before the rename: \(synced)")
        }
        #expect(lines[publish...].contains { $0.contains("fsync(") && $0.contains("<\(dir.path)>") },
                "the destination's folder flushed after the rename: \(lines[publish...])")
    }
}
