import Foundation
import Testing
import TestSupport
import RecastCore

/// Hand-built HDF5 files that try to make the reader spend far more than their size (`tools/make_hostile_hdf5.py`
/// builds them at run time), and a tiny file declaring gigabytes that were never written. Each runs the
/// real `recast` under `ulimit -t` (CPU seconds, so the bound holds however loaded the machine is) and,
/// outside AddressSanitizer, `ulimit -v`: the old reader spent minutes or gigabytes on these files.
@Suite(.serialized) struct HDF5CostTests {
    static let work = TempDir()
    /// AddressSanitizer reserves terabytes of address space, so `ulimit -v` cannot apply to its builds.
    static let sanitized = recastBinary.contains(".build-asan")
    static let cpuSeconds = 30

    func make(_ kind: String, scale: Int = 1) throws -> String {
        let path = Self.work.file("\(kind)-\(scale).h5")
        if FileManager.default.fileExists(atPath: path) { return path }
        let r = try python([repoRoot + "/tools/make_hostile_hdf5.py", kind, path, "--scale", "\(scale)"])
        try #require(r.status == 0, "make_hostile_hdf5.py \(kind): \(r.stderr)")
        return path
    }

    /// Runs recast with a CPU-time limit and, when it can apply, an address-space limit (in KiB).
    func limited(_ arguments: [String], memoryKiB: Int) throws -> ProcessResult {
        var limits = "ulimit -t \(Self.cpuSeconds)"
        if Self.sanitized {
            print("HDF5CostTests: no `ulimit -v \(memoryKiB)` for \(arguments.first ?? "") under AddressSanitizer, which reserves terabytes of address space; the CPU limit still applies")
        } else {
            limits += "; ulimit -v \(memoryKiB)"
        }
        return try runProcess("/bin/bash", ["-c", limits + "; exec \"$0\" \"$@\"", recastBinary] + arguments, timeout: 600)
    }

    /// A clean outcome: success, or one `recast: error: FILE: …` line; never a signal (SIGXCPU, SIGKILL, SIGSEGV).
    func expectClean(_ r: ProcessResult, _ file: String, _ what: String) {
        #expect(!r.signalled && !r.timedOut, "\(what) was killed (status \(r.status)): the CPU or memory limit was hit\n\(r.stderr.suffix(400))")
        #expect(r.status == 0 || (r.status == 1 && r.stderr.hasPrefix("recast: error: \(file):")), "\(what): status \(r.status)\n\(r.stderr.prefix(600))")
    }

    @Test("groups that each hold a copy of one large group's B-tree root: listed once, the copies refused")
    func btreeCopies() throws {
        let file = try make("btree-copies")
        let r = try limited(["inspect", file, "--json"], memoryKiB: 2_000_000)
        expectClean(r, file, "inspect")
        #expect(r.status == 0)
        // The group that owns the nodes lists its 8192 links (all to one dataset); every copy is refused.
        #expect(r.stdout.contains("\"data\""))
        #expect(r.stdout.components(separatedBy: "belongs to the B-tree rooted at").count - 1 == 1500, "\(r.stdout.prefix(800))")
    }

    @Test("datasets whose attribute info all points at one dense storage of 4000 attributes")
    func denseShared() throws {
        let file = try make("dense-shared")
        let r = try limited(["inspect", file, "--json"], memoryKiB: 2_000_000)
        expectClean(r, file, "inspect")
        #expect(r.status == 0)
        #expect(r.stdout.components(separatedBy: "which belongs to the object at address").count - 1 == 1199, "\(r.stdout.prefix(800))")
    }

    @Test("160,000 small shared references to one 60 kB attribute (40,000 on one dataset) are read as one attribute")
    func sharedAttribute() throws {
        let file = try make("shared-attribute")
        let r = try limited(["inspect", file, "--json"], memoryKiB: 2_000_000)
        expectClean(r, file, "inspect")
        #expect(r.status == 0)
        #expect(r.stdout.contains("\"d00999\""), "\(r.stdout.prefix(400))")
        let out = Self.work.file("shared-attribute.safetensors")
        let c = try limited(["convert", file, out, "--force"], memoryKiB: 2_000_000)
        expectClean(c, file, "convert")
        #expect(c.status == 0)
    }

    @Test("more shared messages than the old cache held, then 30,000 references to one large header")
    func sharedOverflow() throws {
        let file = try make("shared-overflow")
        let r = try limited(["inspect", file, "--json"], memoryKiB: 2_000_000)
        expectClean(r, file, "inspect")
        #expect(r.status == 0)
        #expect(r.stdout.contains("\"victim\""), "\(r.stdout.prefix(400))")
    }

    @Test("root metadata of 20,000 references to one 60 kB string: a clean error naming the file, within the budget")
    func sharedMetadata() throws {
        let file = try make("shared-metadata", scale: 4)
        // 20,000 × 60 kB would be 1.2 GB of metadata strings; the work budget stops it early.
        let r = try limited(["inspect", file], memoryKiB: 1_000_000)
        expectClean(r, file, "inspect")
        #expect(r.status == 1)
        #expect(r.stderr.contains("would take the work spent on the file's structures past"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }

    @Test("a 1.4 kB file declaring 3 GB never written converts in a small, bounded memory")
    func declaredGigabytes() throws {
        if Self.sanitized {
            print("HDF5CostTests: skipping the 3 GB fill-value conversion under AddressSanitizer: `ulimit -v` cannot apply to its builds, and the point of the test is the memory bound")
            return
        }
        let file = try make("fill")
        let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        #expect(size < 4096, "the declared-size file is \(size) bytes")
        let out = Self.work.file("declared.safetensors")
        defer { try? FileManager.default.removeItem(atPath: out) }
        // 1 GB of address space for a 3 GB tensor: materialising it cannot fit.
        let r = try limited(["convert", file, out, "--force"], memoryKiB: 1_000_000)
        expectClean(r, file, "convert")
        try #require(r.status == 0, "\(r.stderr)")
        let handle = try #require(FileHandle(forReadingAtPath: out))
        defer { try? handle.close() }
        let prefix = try #require(try handle.read(upToCount: 8))
        let headerLength = Int(prefix.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let total = Int(try handle.seekToEnd())
        #expect(total == 8 + headerLength + 3_000_000_000)
        // Every value is the fill value 1.5: spot checks at the start, the middle and the end.
        for offset in [0, 1_499_999_996, 2_999_999_996] {
            try handle.seek(toOffset: UInt64(8 + headerLength + offset))
            let value = try #require(try handle.read(upToCount: 4)).withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
            #expect(value == 1.5, "at data offset \(offset)")
        }
    }

    @Test("unwritten regions of chunked and contiguous datasets stream as the fill value: Python's safetensors agrees with h5py")
    func fillValuesAgreeWithH5py() throws {
        let file = Self.work.file("partial.h5")
        let out = Self.work.file("partial.safetensors")
        let build = try python(["-c", """
            import sys, h5py, numpy as np
            with h5py.File(sys.argv[1], 'w') as f:
                f.create_dataset('declared', shape=(50_000_000,), dtype='<f4', fillvalue=1.5)
                d = f.create_dataset('chunked', shape=(3000, 2500), dtype='<f4', chunks=(100, 300), fillvalue=2.0)
                d[5:700, 100:2000] = np.arange(695 * 1900, dtype='f4').reshape(695, 1900)
                d = f.create_dataset('gzip', shape=(3000, 2500), dtype='<f2', chunks=(100, 300), fillvalue=3.0, compression='gzip')
                d[5:700, 100:2000] = np.arange(695 * 1900, dtype='f2').reshape(695, 1900)
                d = f.create_dataset('bigendian', shape=(40, 30, 20), dtype='>i4', chunks=(7, 30, 3), fillvalue=-7)
                d[3:20, :, 5:9] = np.arange(17 * 30 * 4, dtype='i4').reshape(17, 30, 4)
                f.create_dataset('unallocated', shape=(1000, 1000), dtype='<f8', chunks=(64, 64), fillvalue=0.25)
            """, file])
        try #require(build.status == 0, "\(build.stderr)")
        let r = try limited(["convert", file, out, "--force"], memoryKiB: 1_500_000)
        expectClean(r, file, "convert")
        try #require(r.status == 0, "\(r.stderr)")
        let check = try python(["-c", """
            import sys, h5py, numpy as np
            from safetensors.numpy import load_file
            tensors = load_file(sys.argv[2])
            with h5py.File(sys.argv[1]) as f:
                assert sorted(tensors) == sorted(f), (sorted(tensors), sorted(f))
                for name in f:
                    expected = f[name][()]
                    expected = expected.astype(expected.dtype.newbyteorder('<'))
                    assert tensors[name].shape == expected.shape and np.array_equal(tensors[name], expected), name
            print('ok', len(tensors))
            """, file, out])
        #expect(check.status == 0 && check.stdout.contains("ok 5"), "\(check.stdout)\(check.stderr)")
    }
}
