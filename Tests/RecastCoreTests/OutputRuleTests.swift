import Foundation
import Testing
import TestSupport
@testable import RecastCore

/// The rule every output follows, checked in-process on every spelling of a path.
@Suite struct OutputRuleTests {
    let t = TempDir()

    /// models/m/{w.bin, config.json}, models/other.txt, link -> models, a hard link to w.bin.
    func layout() throws -> (model: String, weights: String, config: String) {
        let fm = FileManager.default
        try fm.createDirectory(atPath: t.file("models/m"), withIntermediateDirectories: true)
        let w = t.write("models/m/w.bin", "weights")
        let c = t.write("models/m/config.json", "{}")
        t.write("models/other.txt", "other")
        try fm.createSymbolicLink(atPath: t.file("link"), withDestinationPath: "models")
        try fm.linkItem(atPath: w, toPath: t.file("hard.bin"))
        return (t.file("models/m"), w, c)
    }

    func refusal(_ rule: OutputRule, _ destination: String) -> String? {
        do { try rule.check(destination: destination); return nil } catch { return "\(error)" }
    }

    @Test func refusesEverySpellingOfAnInputOrAFolderAboveOne() throws {
        let (model, weights, config) = try layout()
        let rule = OutputRule(reads: [model, weights, config])
        let cases: [(String, String)] = [
            (weights, "is an input"), (t.file("hard.bin"), "is an input"), (t.file("link/m/w.bin"), "is an input"),
            (model, "is an input"), (model + "/", "is an input"), (t.file("link/m"), "is an input"),
            (t.file("models"), "holds"), (t.file("link"), "holds"), (model + "/..", "holds"), (t.path, "holds"), ("/", "holds"),
            (model + "/new.safetensors", "lies inside"), (t.file("link/m/sub/x.h5"), "lies inside"),
        ]
        for (dst, phrase) in cases {
            let message = refusal(rule, AtomicOutput.normalized(dst))
            #expect(message?.contains(phrase) == true, "\(dst): \(message ?? "allowed")")
        }
    }

    @Test func allowsOutputsBesideTheInputs() throws {
        let (model, weights, config) = try layout()
        let rule = OutputRule(reads: [model, weights, config])
        for dst in [t.file("models/other.txt"), t.file("models/new"), t.file("link/new.safetensors"), t.file("out.h5")] {
            #expect(refusal(rule, dst) == nil, "\(dst)")
        }
        // A weights file named on its own: its folder is not read as a whole.
        let fileOnly = OutputRule(reads: [weights, config])
        #expect(refusal(fileOnly, model + "/out.safetensors") == nil)
        #expect(refusal(fileOnly, model)?.contains("holds") == true)
    }

    /// A file reached through a symlink: the folders above the link and above its target both hold it.
    @Test func aSymlinkedInputIsProtectedWhereItLivesAndWhereItIsLinked() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: t.file("repo/blobs"), withIntermediateDirectories: true)
        try fm.createDirectory(atPath: t.file("repo/snapshots/rev"), withIntermediateDirectories: true)
        t.write("repo/blobs/abc", "weights")
        try fm.createSymbolicLink(atPath: t.file("repo/snapshots/rev/model.safetensors"), withDestinationPath: "../../blobs/abc")
        let rule = OutputRule(reads: [t.file("repo/snapshots/rev"), t.file("repo/snapshots/rev/model.safetensors")])
        #expect(refusal(rule, t.file("repo/blobs"))?.contains("holds") == true)
        #expect(refusal(rule, t.file("repo/blobs/abc"))?.contains("is an input") == true)
        #expect(refusal(rule, t.file("repo/snapshots"))?.contains("holds") == true)
        #expect(refusal(rule, t.file("repo/other")) == nil)
    }

    @Test func forceDoesNotOverrideTheRule() throws {
        let (model, weights, config) = try layout()
        let before = try FileSystem.readAll(weights)
        for dst in [weights, t.file("models"), model + "/x.safetensors"] {
            #expect(throws: CheckpointError.self) {
                _ = try AtomicOutput(destination: dst, directory: dst.hasSuffix("models"), force: true, reads: [model, weights, config])
            }
        }
        #expect(try FileSystem.readAll(weights) == before)
        #expect(t.entries().allSatisfy { !$0.contains(".recast-tmp-") })
    }
}

/// Publishing without replacing, including the fallbacks for file systems that refuse RENAME_NOREPLACE.
@Suite struct PublishingTests {
    let t = TempDir()

    func unsupported(_ a: String, _ b: String) -> Int32 {
        errno = EINVAL
        return -1
    }

    @Test(arguments: [false, true])
    func neverReplacesWithoutForce(fallback: Bool) throws {
        for directory in [false, true] {
            let dst = t.file(directory ? "dir-\(fallback)" : "file-\(fallback)")
            let out = try AtomicOutput(destination: dst, directory: directory, force: false, reads: [])
            if fallback { out.renameWithoutReplacing = unsupported }
            if directory { t.write(FileSystem.split(out.temporaryPath).base + "/data", "new") } else { t.write(FileSystem.split(out.temporaryPath).base, "new") }
            // Someone else's output appears while this one is written.
            if directory {
                try FileManager.default.createDirectory(atPath: dst, withIntermediateDirectories: false)
                t.write(FileSystem.split(dst).base + "/theirs", "theirs")
            } else {
                t.write(FileSystem.split(dst).base, "theirs")
            }
            do {
                try out.write {}
                Issue.record("\(dst) was replaced")
            } catch {
                #expect("\(error)".contains("appeared while Recast was writing it"), "\(error)")
            }
            let kept = directory ? dst + "/theirs" : dst
            #expect(try FileSystem.readAll(kept) == Array("theirs".utf8))
        }
        #expect(t.entries().allSatisfy { !$0.contains(".recast-tmp-") }, "\(t.entries())")
    }

    @Test(arguments: [false, true])
    func publishesWhenTheNameIsFree(fallback: Bool) throws {
        for directory in [false, true] {
            let dst = t.file(directory ? "dir-\(fallback)" : "file-\(fallback)")
            let out = try AtomicOutput(destination: dst, directory: directory, force: false, reads: [])
            if fallback { out.renameWithoutReplacing = unsupported }
            let data = directory ? out.temporaryPath + "/data" : out.temporaryPath
            try out.write { try FileSystem.writeAll(data, Array("new".utf8)) }
            #expect(try FileSystem.readAll(directory ? dst + "/data" : dst) == Array("new".utf8))
        }
        #expect(t.entries().allSatisfy { !$0.contains(".recast-tmp-") }, "\(t.entries())")
    }

    @Test func forceReplacesFilesAndFolders() throws {
        for directory in [false, true] {
            let dst = t.file(directory ? "d" : "f")
            if directory {
                try FileManager.default.createDirectory(atPath: dst, withIntermediateDirectories: false)
                t.write("d/old", "old")
            } else {
                t.write("f", "old")
            }
            let out = try AtomicOutput(destination: dst, directory: directory, force: true, reads: [])
            let data = directory ? out.temporaryPath + "/data" : out.temporaryPath
            try out.write { try FileSystem.writeAll(data, Array("new".utf8)) }
            #expect(try FileSystem.readAll(directory ? dst + "/data" : dst) == Array("new".utf8))
            if directory { #expect(FileSystem.list(dst) == ["data"]) }
        }
        #expect(t.entries() == ["d", "f"])
    }

    /// A name near the 255-byte limit still gets a temporary beside it (its name is shortened).
    @Test func aLongDestinationNameStillGetsATemporary() throws {
        let dst = t.file(String(repeating: "a", count: 240) + ".safetensors")
        let out = try AtomicOutput(destination: dst, directory: false, force: false, reads: [])
        try out.write { try FileSystem.writeAll(out.temporaryPath, Array("new".utf8)) }
        #expect(try FileSystem.readAll(dst) == Array("new".utf8))
        #expect(t.entries() == [FileSystem.split(dst).base])
    }

    /// The lock, not the PID, decides: a temporary whose lock this process holds through another output
    /// survives a second output's clean-up; a free one does not.
    @Test func staleTemporariesAreThoseNobodyLocks() throws {
        let dst = t.file("x.safetensors")
        let first = try AtomicOutput(destination: dst, directory: false, force: false, reads: [])
        let free = t.write(".x.safetensors.recast-tmp-1-dead", "partial")
        t.write(".x.safetensors.recast-tmp-1-dead.lock", "")
        let second = try AtomicOutput(destination: dst, directory: false, force: false, reads: [])
        #expect(FileSystem.exists(first.temporaryPath) && FileSystem.exists(first.lockPath))
        #expect(!FileSystem.exists(free) && !FileSystem.exists(free + ".lock"))
        second.abandon()
        first.abandon()
        #expect(t.entries().isEmpty, "\(t.entries())")
    }
}
