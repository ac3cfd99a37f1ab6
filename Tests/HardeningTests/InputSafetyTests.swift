import Foundation
import Testing
import TestSupport
import RecastCore

/// What Recast reads from a model folder: links that leave it, files that are not regular files, files cut
/// while they are read, and descriptor and thread limits. Every case runs the real `recast` binary.
@Suite(.serialized) struct InputSafetyTests {
    static let work = TempDir()
    /// A GPT-2-shaped model of about 45 MB: reading it takes long enough to cut it mid-read.
    static let large: String = {
        let dir = work.file("large")
        try? writeSyntheticGPT2(to: dir, hidden: 256, layers: 4, vocab: 32768)
        return dir
    }()

    static let secret = "-----BEGIN OPENSSH PRIVATE KEY----- not really a key, but nothing may copy it\n"

    /// A copy of a fixture folder in a fresh temporary folder.
    func copyOf(_ fixtureName: String, in tmp: TempDir, as name: String = "model") throws -> String {
        let dir = tmp.file(name)
        try FileManager.default.copyItem(atPath: fixture(fixtureName), toPath: dir)
        return dir
    }

    func replaceWithLink(_ path: String, to target: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
    }

    func noTemporaries(in dir: String) -> Bool { FileSystem.list(dir).allSatisfy { !$0.contains(".recast-tmp-") } }

    /// Every byte under `dir` (files, recursively), to search outputs for leaked contents.
    func contents(under dir: String) -> String {
        var all = ""
        for name in FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? [] {
            if let d = FileManager.default.contents(atPath: dir + "/" + name) { all += String(decoding: d, as: UTF8.self) }
        }
        return all
    }

    // MARK: links

    @Test func swapRefusesACompanionFileLinkedOutsideTheModelFolder() throws {
        let tmp = TempDir()
        let secret = tmp.write("id_rsa", Self.secret)
        let model = try copyOf("gpt2", in: tmp)
        try replaceWithLink(model + "/vocab.json", to: secret)
        let out = tmp.file("out")
        let r = try recast(["swap", model, out, "--feature-map", "elu"])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.hasPrefix("recast: error: \(model)/vocab.json: is a symbolic link to '\(secret)'"), "\(r.stderr)")
        #expect(r.stderr.contains("outside the model folder"), "\(r.stderr)")
        #expect(!FileSystem.exists(out))
        #expect(noTemporaries(in: tmp.path), "\(tmp.entries())")
    }

    @Test func convertRefusesAConfigLinkedOutsideTheModelFolder() throws {
        let tmp = TempDir()
        // A JSON "secret", so that a copy would be accepted as a config by every later step.
        let outside = tmp.write("private.json", "{\"model_type\": \"gpt2\", \"api_token\": \"hunter2-secret\"}")
        let model = try copyOf("gpt2", in: tmp)
        try replaceWithLink(model + "/config.json", to: outside)
        let out = tmp.file("out")
        let r = try recast(["convert", model, out])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.hasPrefix("recast: error: \(model)/config.json: is a symbolic link to '\(outside)'"), "\(r.stderr)")
        #expect(!FileSystem.exists(out))
        #expect(!contents(under: tmp.path + "/out").contains("hunter2"))
        #expect(noTemporaries(in: tmp.path), "\(tmp.entries())")
    }

    @Test func weightsAndShardsLinkedOutsideTheModelFolderAreRefused() throws {
        let tmp = TempDir()
        let elsewhere = TempDir()
        // The weights of a folder.
        let model = try copyOf("gpt2", in: tmp)
        let weights = elsewhere.file("weights.safetensors")
        try FileManager.default.moveItem(atPath: model + "/model.safetensors", toPath: weights)
        try replaceWithLink(model + "/model.safetensors", to: weights)
        let r = try recast(["inspect", model])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("recast: error: \(model)/model.safetensors: is a symbolic link to '\(weights)'"), "\(r.stderr)")
        // A shard named by an index, also when the index itself is named on the command line.
        let llama = try copyOf("llama", in: tmp, as: "llama")
        let shard = elsewhere.file("shard.safetensors")
        try FileManager.default.moveItem(atPath: llama + "/model-00002-of-00002.safetensors", toPath: shard)
        try replaceWithLink(llama + "/model-00002-of-00002.safetensors", to: "../../" + FileSystem.split(elsewhere.path).base + "/shard.safetensors")
        for target in [llama, llama + "/model.safetensors.index.json"] {
            let s = try recast(["inspect", target])
            #expect(s.status == 1)
            #expect(s.stderr.contains("model-00002-of-00002.safetensors: is a symbolic link to '../../"), "\(s.stderr)")
            #expect(s.stderr.contains("(\(shard))"), "\(s.stderr)")
        }
        // The user's own link, named on the command line, is the user's choice.
        let own = tmp.file("mine.safetensors")
        try replaceWithLink(own, to: weights)
        #expect(try recast(["inspect", own]).status == 0)
    }

    /// `models--ORG--NAME/snapshots/REV/FILE` → `../../blobs/HASH`, as huggingface_hub writes its cache.
    @Test func huggingFaceCacheLayoutKeepsWorking() throws {
        let tmp = TempDir()
        let repo = tmp.file("hub/models--org--tiny-gpt2")
        let blobs = repo + "/blobs", snapshot = repo + "/snapshots/0123abcd"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
        let vocab = tmp.write("vocab.json", "{\"hello\": 0}")
        for (k, path) in [fixture("gpt2/config.json"), fixture("gpt2/model.safetensors"), vocab].enumerated() {
            let hash = "blob\(k)"
            try FileManager.default.copyItem(atPath: path, toPath: blobs + "/" + hash)
            try replaceWithLink(snapshot + "/" + FileSystem.split(path).base, to: "../../blobs/" + hash)
        }
        #expect(try recast(["inspect", snapshot]).status == 0)
        let swapped = tmp.file("swapped")
        let s = try recast(["swap", snapshot, swapped, "--feature-map", "elu"])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(FileManager.default.contents(atPath: swapped + "/vocab.json") == FileManager.default.contents(atPath: vocab))
        let converted = tmp.file("converted")
        let c = try recast(["convert", snapshot + "/model.safetensors", converted])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(FileManager.default.contents(atPath: converted + "/config.json") == FileManager.default.contents(atPath: fixture("gpt2/config.json")))
        // A link inside the folder to a file inside the folder is fine too.
        let plain = try copyOf("gpt2", in: tmp, as: "plain")
        try FileManager.default.moveItem(atPath: plain + "/config.json", toPath: plain + "/real-config.json")
        try replaceWithLink(plain + "/config.json", to: "real-config.json")
        #expect(try recast(["swap", plain, tmp.file("plain-out"), "--feature-map", "elu"]).status == 0)
    }

    // MARK: messages

    @Test func aRefusedFilesContentsNeverReachTheMessage() throws {
        let tmp = TempDir()
        // Any file's first 8 bytes read as a safetensors header length; the message must not print them.
        let file = tmp.write("model.safetensors", "SECRET42 and the rest of a private file that is not safetensors\n")
        let number = String(Array("SECRET42".utf8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        let r = try recast(["inspect", file])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("recast: error: \(file)"), "\(r.stderr)")
        #expect(!r.stderr.contains(number), "\(r.stderr)")
        #expect(!r.stderr.contains("SECRET"), "\(r.stderr)")
        // A short header-length value (under the limit, past the end) is not shown either.
        let short = tmp.write("short.safetensors", [0x41, 0x42, 0, 0, 0, 0, 0, 0] + Array("not json at all".utf8))
        let s = try recast(["inspect", short])
        #expect(s.status == 1)
        #expect(!s.stderr.contains(String(0x4241)), "\(s.stderr)")
    }

    // MARK: files that are not regular files

    @Test func pipesSocketsAndDevicesAreRefusedWithoutHanging() throws {
        let tmp = TempDir()
        let fifo = tmp.file("pipe.safetensors")
        #expect(mkfifo(fifo, 0o644) == 0)
        // A weights file named directly.
        var r = try runProcess(recastBinary, ["inspect", fifo], timeout: 20)
        #expect(!r.timedOut && r.status == 1, "inspect of a FIFO: \(r.stderr)")
        #expect(r.stderr.contains("is a named pipe (FIFO), not a regular file"), "\(r.stderr)")
        // A shard named by an index.
        let llama = try copyOf("llama", in: tmp, as: "llama")
        try FileManager.default.removeItem(atPath: llama + "/model-00002-of-00002.safetensors")
        #expect(mkfifo(llama + "/model-00002-of-00002.safetensors", 0o644) == 0)
        r = try runProcess(recastBinary, ["convert", llama, tmp.file("out"), "--dtype", "bf16"], timeout: 20)
        #expect(!r.timedOut && r.status == 1, "convert with a FIFO shard: \(r.stderr)")
        #expect(r.stderr.contains("model-00002-of-00002.safetensors: is a named pipe"), "\(r.stderr)")
        // A config.json.
        let gpt2 = try copyOf("gpt2", in: tmp, as: "gpt2")
        try FileManager.default.removeItem(atPath: gpt2 + "/config.json")
        #expect(mkfifo(gpt2 + "/config.json", 0o644) == 0)
        r = try runProcess(recastBinary, ["run", gpt2, "--tokens", "1,2", "--out", tmp.file("run.safetensors")], timeout: 20)
        #expect(!r.timedOut && r.status == 1, "run with a FIFO config: \(r.stderr)")
        #expect(r.stderr.contains("config.json: is a named pipe"), "\(r.stderr)")
        // A socket (bound by this process, so it exists for real).
        let socketPath = tmp.file("sock.safetensors")
        let sock = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(sock) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in socketPath.utf8.enumerated() where i < raw.count - 1 { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        r = try runProcess(recastBinary, ["inspect", socketPath], timeout: 20)
        #expect(!r.timedOut && r.status == 1, "inspect of a socket: \(r.stderr)")
        #expect(r.stderr.contains("is a socket, not a regular file"), "\(r.stderr)")
        // A character device as the weights inside a folder (made with mknod where this process may).
        let device = try copyOf("gpt2", in: tmp, as: "device")
        try FileManager.default.removeItem(atPath: device + "/model.safetensors")
        if mknod(device + "/model.safetensors", S_IFCHR | 0o644, dev_t(0x105)  /* 1:5, /dev/zero */) == 0 {
            r = try runProcess(recastBinary, ["inspect", device], timeout: 20)
            #expect(!r.timedOut && r.status == 1, "inspect of a device: \(r.stderr)")
            #expect(r.stderr.contains("is a character device, not a regular file"), "\(r.stderr)")
        } else {
            print("InputSafetyTests: skipped the device case: mknod is not permitted here (\(String(cString: strerror(errno))))")
        }
    }

    // MARK: files cut while they are read

    /// Runs recast, stops it once `ready` says so, cuts `source` to `keep` bytes and lets it go on.
    /// Returns the result and whether the cut happened while the process still ran.
    struct Outcome {
        var status: Int32
        var stderr: String
        var signalled: Bool
    }

    func runCutting(_ arguments: [String], source: String, keep: Int = 4096, when ready: (Int32) -> Bool) throws -> (Outcome, Bool) {
        let tmp = TempDir()
        let outPath = tmp.write("stdout", ""), errPath = tmp.write("stderr", "")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: recastBinary)
        p.arguments = arguments
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try p.run()
        let pid = p.processIdentifier
        var cut = false
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning && Date() < deadline {
            if ready(pid) {
                kill(pid, SIGSTOP)
                // A stopped process still counts as running; one that finished in between is a zombie.
                cut = p.isRunning
                #expect(truncate(source, off_t(keep)) == 0)
                kill(pid, SIGCONT)
                break
            }
            usleep(300)
        }
        while p.isRunning && Date() < deadline { usleep(2000) }
        if p.isRunning { kill(pid, SIGKILL) }
        p.waitUntilExit()
        let result = Outcome(
            status: p.terminationStatus,
            stderr: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self),
            signalled: p.terminationReason == .uncaughtSignal)
        return (result, cut)
    }

    /// Whether process `pid` has `path` mapped.
    func maps(_ pid: Int32, _ path: String) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else { return false }
        return text.contains(path)
    }

    /// Cuts `source` while `arguments` run (retrying with a fresh copy if the run finished before it could be
    /// stopped), and checks the clean error: exit 1, the message naming the file, no output, no temporaries.
    func expectCleanChange(_ arguments: [String], source: String, fresh: () throws -> Void, output: String?, scratch: String,
                           when ready: (Int32) -> Bool) throws {
        for attempt in 1...3 {
            try fresh()
            let (r, cut) = try runCutting(arguments, source: source, when: ready)
            // Stopped too late: finished, or stopped after its last read of the source (then it succeeds, rightly).
            guard cut && !(r.status == 0 && !r.signalled) else {
                print("InputSafetyTests: \(arguments[0]) finished its reading before it could be stopped (attempt \(attempt)); trying again")
                if let output { FileSystem.removeTree(output) }
                continue
            }
            #expect(!r.signalled, "\(arguments[0]) died of a signal: \(r.stderr)")
            #expect(r.status == 1, "\(arguments[0]): status \(r.status): \(r.stderr)")
            #expect(r.stderr.hasPrefix("recast: error: \(source): changed while it was being read"), "\(r.stderr)")
            if let output { #expect(!FileSystem.exists(output)) }
            #expect(noTemporaries(in: scratch), "\(FileSystem.list(scratch))")
            return
        }
        Issue.record("\(arguments[0]) always finished before the test could cut its source")
    }

    func copyLarge(to dir: String) throws {
        FileSystem.removeTree(dir)
        try FileManager.default.copyItem(atPath: Self.large, toPath: dir)
    }

    func temporaryAppears(in dir: String) -> (Int32) -> Bool {
        { _ in FileSystem.list(dir).contains { $0.contains(".recast-tmp-") } }
    }

    @Test func convertWithACastReportsASourceCutWhileRead() throws {
        let tmp = TempDir()
        let model = tmp.file("model"), out = tmp.file("out.safetensors")
        try expectCleanChange(["convert", model + "/model.safetensors", out, "--dtype", "bf16"], source: model + "/model.safetensors",
                              fresh: { try copyLarge(to: model) }, output: out, scratch: tmp.path, when: temporaryAppears(in: tmp.path))
    }

    @Test func convertFromHDF5ReportsASourceCutWhileRead() throws {
        let tmp = TempDir()
        let h5 = tmp.file("model.h5"), out = tmp.file("out.safetensors")
        let master = Self.work.file("large.h5")
        if !FileSystem.exists(master) {
            let r = try recast(["convert", Self.large + "/model.safetensors", master])
            #expect(r.status == 0, "\(r.stderr)")
        }
        for extra in [[String](), ["--dtype", "bf16"]] {
            try expectCleanChange(["convert", h5, out] + extra, source: h5,
                                  fresh: { FileSystem.removeTree(h5); try FileManager.default.copyItem(atPath: master, toPath: h5) },
                                  output: out, scratch: tmp.path, when: temporaryAppears(in: tmp.path))
        }
    }

    /// Chunked, compressed datasets are streamed slab by slab (`HDF5Store.streamBytes`), not viewed in
    /// place: the same clean error when the file is cut meanwhile.
    @Test func convertFromChunkedHDF5ReportsASourceCutWhileRead() throws {
        let tmp = TempDir()
        let h5 = tmp.file("chunked.h5"), out = tmp.file("out.safetensors")
        let master = Self.work.file("chunked.h5")
        if !FileSystem.exists(master) {
            let r = try python(["-c", """
                import sys, h5py, numpy as np
                rng = np.random.default_rng(0)
                with h5py.File(sys.argv[1], "w") as f:
                    for i in range(6):
                        f.create_dataset(f"w{i}", data=rng.standard_normal((2048, 4096), dtype=np.float32),
                                         chunks=(64, 4096), compression="gzip", compression_opts=1)
                """, master])
            try #require(r.status == 0, "h5py: \(r.stderr)")
        }
        try expectCleanChange(["convert", h5, out], source: h5,
                              fresh: { FileSystem.removeTree(h5); try FileManager.default.copyItem(atPath: master, toPath: h5) },
                              output: out, scratch: tmp.path, when: temporaryAppears(in: tmp.path))
    }

    @Test func swapReportsASourceCutWhileRead() throws {
        let tmp = TempDir()
        let model = tmp.file("model"), out = tmp.file("out")
        try expectCleanChange(["swap", model, out, "--feature-map", "elu"], source: model + "/model.safetensors",
                              fresh: { try copyLarge(to: model) }, output: out, scratch: tmp.path, when: temporaryAppears(in: tmp.path))
    }

    @Test func runReportsWeightsCutWhileRead() throws {
        let tmp = TempDir()
        let model = tmp.file("model"), out = tmp.file("run.safetensors")
        let weights = model + "/model.safetensors"
        try expectCleanChange(["run", model, "--tokens", "1,2,3", "--out", out], source: weights,
                              fresh: { try copyLarge(to: model) }, output: out, scratch: tmp.path, when: { maps($0, weights) })
    }

    @Test func verifyReportsWeightsCutWhileRead() throws {
        let tmp = TempDir()
        let model = tmp.file("model"), swapped = tmp.file("swapped")
        let weights = model + "/model.safetensors"
        try copyLarge(to: model)
        let s = try recast(["swap", model, swapped, "--feature-map", "elu"])
        #expect(s.status == 0, "\(s.stderr)")
        // The converted model is mapped after the original: cut the original then, before its weights load.
        try expectCleanChange(["verify", model, swapped, "--tokens", "1,2,3"], source: weights,
                              fresh: { try copyLarge(to: model) }, output: nil, scratch: tmp.path,
                              when: { maps($0, swapped + "/model.safetensors") })
    }

    // MARK: descriptors and threads

    @Test func swapWorksUnderEightOpenFiles() throws {
        let tmp = TempDir()
        let model = try copyOf("llama", in: tmp)
        let out = tmp.file("out")
        let r = try runProcess("/bin/sh", ["-c", "ulimit -n 8; exec \"$0\" swap \"$1\" \"$2\" --feature-map elu", recastBinary, model, out], timeout: 60)
        #expect(!r.timedOut && !r.signalled && r.status == 0, "status \(r.status): \(r.stderr)")
        #expect(try recast(["inspect", out]).status == 0)
    }

    @Test func swapOfFourHundredShardsUnderALowDescriptorLimit() throws {
        let tmp = TempDir()
        let model = tmp.file("model"), sharded = tmp.file("sharded"), out = tmp.file("out")
        // 33 layers of 12 tensors plus 4: 400 tensors, one shard each.
        try writeSyntheticGPT2(to: model, hidden: 16, layers: 33, vocab: 64)
        let c = try recast(["convert", model, sharded, "--max-shard-size", "1"])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(FileSystem.list(sharded).filter { $0.hasSuffix(".safetensors") }.count == 400)
        let r = try runProcess("/bin/sh", ["-c", "ulimit -n 64; exec \"$0\" swap \"$1\" \"$2\" --feature-map elu", recastBinary, sharded, out], timeout: 300)
        #expect(!r.timedOut && !r.signalled && r.status == 0, "status \(r.status): \(r.stderr)")
        #expect(FileSystem.list(out).filter { $0.hasSuffix(".safetensors") }.count == 400)
        #expect(try recast(["inspect", out]).status == 0)
    }

    /// A thread stack larger than the address space allowed: no thread can start, so hashing runs inline.
    @Test(.disabled(if: recastBinary.contains(".build-asan"),
                    "needs `ulimit -v`, which cannot apply under AddressSanitizer (it reserves terabytes of address space); the plain stage runs it"))
    func swapFinishesWhenNoThreadCanStart() throws {
        let tmp = TempDir()
        let model = try copyOf("gpt2", in: tmp)
        let out = tmp.file("out")
        let r = try runProcess("/bin/sh", ["-c", "ulimit -s 16000000; ulimit -v 8000000; exec \"$0\" swap \"$1\" \"$2\" --feature-map elu",
                                           recastBinary, model, out],
                               environment: ["OPENBLAS_NUM_THREADS": "1"], timeout: 60)
        #expect(!r.timedOut && !r.signalled && r.status == 0, "status \(r.status) timed out \(r.timedOut): \(r.stderr)")
        #expect(try recast(["inspect", out]).status == 0)
    }
}
