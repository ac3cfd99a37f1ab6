import Foundation
import Testing
import TestSupport
import RecastCore
import Checkpoint

/// SIGKILL at moments spread across a write: DST either does not exist or is complete and valid, the next
/// run cleans up the temporaries, and SRC is byte-identical throughout.
@Suite(.serialized) struct CrashSafetyTests {
    static let work = TempDir()
    static let model: String = {
        let dir = work.file("model")
        try? writeSyntheticGPT2(to: dir, hidden: 256, layers: 4, vocab: 4096)
        return dir
    }()

    /// Starts a command, kills it with SIGKILL after `delay` seconds (if still running), and reports whether it finished first.
    func killed(_ args: [String], after delay: Double) throws -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: recastBinary)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        usleep(useconds_t(delay * 1e6))
        let wasRunning = p.isRunning
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return !wasRunning
    }

    func duration(_ args: [String]) throws -> Double {
        let start = Date()
        let r = try runProcess(recastBinary, args)
        #expect(r.status == 0, "\(r.stderr)")
        return Date().timeIntervalSince(start)
    }

    func killRepeatedly(command: [String], destination: String, valid: (String) throws -> Void) throws {
        let source = Self.model + "/model.safetensors"
        let before = try fileHash(source)
        // The shortest of three runs: one slow run (a busy disk's fsync, another process on the cores) would
        // spread the kill points past the end of a typical run.
        var full = Double.infinity
        for _ in 0..<3 {
            full = min(full, try duration(command))
            try valid(destination)
            FileSystem.removeTree(destination)
        }
        let points = 24
        var finished = 0
        for i in 0..<points {
            // Spread over the whole run, from process start-up to the final rename.
            let delay = full * (Double(i) + 0.5) / Double(points)
            if try killed(command, after: delay) { finished += 1 }
            if FileSystem.exists(destination) { try valid(destination) }
            #expect(try fileHash(source) == before, "SRC changed (kill point \(i))")
        }
        #expect(finished < points / 2, "most kills land mid-write (\(finished) of \(points) runs finished first)")
        // The next run completes and clears what killed runs left behind.
        let r = try runProcess(recastBinary, command)
        #expect(r.status == 0, "\(r.stderr)")
        try valid(destination)
        let dir = FileSystem.split(destination).dir
        #expect(FileSystem.list(dir).allSatisfy { !$0.contains(".recast-tmp-") }, "\(FileSystem.list(dir))")
    }

    @Test func convertSurvivesSIGKILL() throws {
        let dst = Self.work.file("converted.h5")
        let expectedCount = try Checkpoint.open(Self.model).tensors.count
        try killRepeatedly(command: ["convert", Self.model, dst, "--dtype", "bf16", "--force"], destination: dst) { path in
            let store = try Checkpoint.open(path)
            #expect(store.tensors.count == expectedCount && store.tensors.allSatisfy { $0.dtype == .bf16 })
        }
    }

    @Test func swapSurvivesSIGKILL() throws {
        let dst = Self.work.file("swapped")
        try killRepeatedly(command: ["swap", Self.model, dst, "--feature-map", "performer", "--feature-dim", "64", "--force"],
                           destination: dst) { path in
            let r = try runProcess(recastBinary, ["inspect", path, "--json"])
            #expect(r.status == 0, "a present DST is complete: \(r.stderr)")
            let json = try JSON.parse(r.stdout)
            #expect(json["architecture"]?["linear_attention"]?["feature_map"]?.stringValue == "performer")
        }
    }

    @Test func fullDiskGivesAClearErrorAndLeavesNothing() throws {
        let mnt = Self.work.file("small-disk")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let mount = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt])
        try #require(mount.status == 0, "mounting a 2 MB tmpfs needs root: \(mount.stderr)")
        defer { _ = try? runProcess("/bin/umount", [mnt]) }
        for dst in [mnt + "/out.safetensors", mnt + "/out.h5", mnt + "/outdir"] {
            let r = try runProcess(recastBinary, ["convert", Self.model, dst])
            #expect(r.status == 1, "\(dst): \(r.stderr)")
            #expect(r.stderr.contains("no space left") || r.stderr.contains("No space left"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
            #expect(FileSystem.list(mnt).isEmpty, "nothing left: \(FileSystem.list(mnt))")
        }
    }

    @Test func fileSizeLimitGivesAClearError() throws {
        let dst = Self.work.file("limited.safetensors")
        let r = try runProcess("/bin/bash", ["-c", "ulimit -f 1024; exec \"$0\" convert \"$1\" \"$2\"", recastBinary, Self.model, dst])
        #expect(r.status == 1 && !r.signalled, "\(r.stderr)")
        #expect(r.stderr.contains("ulimit -f"), "\(r.stderr)")
        #expect(!FileSystem.exists(dst))
        #expect(FileSystem.list(Self.work.path).allSatisfy { !$0.contains(".recast-tmp-") })
    }
}

/// Many processes at once on the same inputs: no interference and no shared temporary state.
@Suite struct ConcurrencyTests {
    @Test func parallelInspectAndRunMatchSequentialResults() throws {
        let dir = TempDir()
        let jobs: [[String]] = (0..<4).flatMap { i -> [[String]] in
            [["inspect", fixture(["gpt2", "llama", "bert-tf", "qwen2-performer"][i]), "--json"],
             ["run", fixture(["gpt2", "llama", "gpt2-t2r", "qwen2"][i]), "--length", "16", "--seed", "\(i)", "--out", dir.file("run\(i).safetensors"), "--force"]]
        }
        /// Each job's stdout (or its failure) and, for runs, the hash of the file it wrote.
        func runAll(concurrently: Bool) throws -> [(String, String)] {
            var started: [(Process, String)] = []
            var results: [(String, String)] = []
            func finish(_ p: Process, _ out: String, _ job: [String]) throws -> (String, String) {
                p.waitUntilExit()
                let stdout = String(decoding: FileManager.default.contents(atPath: out) ?? Data(), as: UTF8.self)
                let file = job[0] == "run" ? (try? fileHash(job[job.count - 2])) ?? "missing" : ""
                return (p.terminationStatus == 0 ? stdout : "failed: exit \(p.terminationStatus)", file)
            }
            for (i, job) in jobs.enumerated() {
                let out = dir.file("stdout\(i)")
                _ = FileManager.default.createFile(atPath: out, contents: nil)
                let p = Process()
                p.executableURL = URL(fileURLWithPath: recastBinary)
                p.arguments = job
                p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
                p.standardError = FileHandle.nullDevice
                try p.run()
                if concurrently { started.append((p, out)) } else { results.append(try finish(p, out, job)) }
            }
            for (i, (p, out)) in started.enumerated() { results.append(try finish(p, out, jobs[i])) }
            return results
        }
        let sequential = try runAll(concurrently: false)
        for _ in 0..<3 {
            let parallel = try runAll(concurrently: true)
            for (a, b) in zip(sequential, parallel) {
                #expect(a.0 == b.0 && a.1 == b.1)
                #expect(!a.0.hasPrefix("failed"))
            }
        }
        #expect(dir.entries().allSatisfy { !$0.contains(".recast-tmp-") })
    }
}
