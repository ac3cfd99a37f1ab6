import Foundation
import HDF5
import RecastCore
import Testing

/// Bad input gives an error that names the file (and the object), never a crash.
@Suite("HDF5 errors")
struct ErrorTests {
    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// A small valid file written by h5py.
    static func validFile(_ dir: TemporaryDirectory) throws -> String {
        let path = dir.file("valid.h5")
        try python(#"""
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["note"] = "x" * 100
    for i in range(8):
        f[f"group/w{i}"] = np.arange(256, dtype="<f4") + i
"""#, [path])
        return path
    }

    @Test("random bytes are not an HDF5 file")
    func randomBytes() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("random.h5")
        try Self.write(pseudoRandomBytes(4096, seed: 42), to: path)
        let error = #expect(throws: (any Error).self) { try HDF5Store(path: path) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains(path) && text.contains("not an HDF5 file"), "\(text)")
    }

    @Test("an empty file is not an HDF5 file")
    func emptyFile() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("empty.h5")
        try Self.write([], to: path)
        let error = #expect(throws: (any Error).self) { try HDF5Store(path: path) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains(path) && text.contains("not an HDF5 file") && text.contains("empty"), "\(text)")
    }

    @Test("a truncated file is reported as truncated")
    func truncated() throws {
        let dir = try TemporaryDirectory()
        let whole = try FileSystem.readAll(try Self.validFile(dir))
        let path = dir.file("truncated.h5")
        try Self.write(Array(whole.prefix(whole.count / 2)), to: path)
        let error = #expect(throws: HDF5Error.self) { try HDF5Store(path: path) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains(path) && text.contains("truncated"), "\(text)")
        #expect(error?.file == path)
        #expect(error?.reason?.contains("truncated") == true)
    }

    @Test("a file cut at any length gives an error naming it",
          arguments: [1, 8, 16, 40, 96, 200, 512, 1024, 2048, 3000])
    func cutAnywhere(length: Int) throws {
        let dir = try TemporaryDirectory()
        let whole = try FileSystem.readAll(try Self.validFile(dir))
        let path = dir.file("cut.h5")
        try Self.write(Array(whole.prefix(min(length, whole.count - 1))), to: path)
        let error = #expect(throws: (any Error).self) { try HDF5Store(path: path) }
        #expect(error.map { "\($0)" }?.contains(path) == true, "\(error.map { "\($0)" } ?? "")")
    }

    @Test("a missing path and a directory are reported by name")
    func notAFile() throws {
        let dir = try TemporaryDirectory()
        for path in [dir.file("missing.h5"), dir.path] {
            let error = #expect(throws: CheckpointError.self) { try HDF5Store(path: path) }
            #expect(error?.file == path)
        }
    }

    @Test("a damaged chunk fails the read with the file and the dataset named, and the rest still reads")
    func damagedChunk() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("damaged.h5")
        try python(#"""
import sys, h5py, numpy as np
path = sys.argv[1]
with h5py.File(path, "w") as f:
    f.create_dataset("checked", data=np.arange(64, dtype="<f4"), chunks=(16,), fletcher32=True)
    f["fine"] = np.arange(4, dtype="<i2")
with h5py.File(path, "r") as f:
    offset = f["checked"].id.get_chunk_info(1).byte_offset
with open(path, "r+b") as raw:
    raw.seek(offset + 4); raw.write(b"\xde\xad\xbe\xef")
"""#, [path])
        let store = try HDF5Store(path: path)
        #expect(store.info(named: "checked")?.dtype == .f32)
        let error = #expect(throws: HDF5Error.self) { try store.withBytes(of: "checked") { _ in } }
        let text = error.map { "\($0)" } ?? ""
        #expect(error?.file == path)
        #expect(error?.object == "/checked")
        #expect(text.contains(path) && text.contains("/checked") && text.contains("checksum"), "\(text)")
        // The chunk is named: where it sits in the dataset.
        #expect(text.contains("element offsets [16]"), "\(text)")
        #expect(try bytes(store, "fine") == le((0..<4).map { Int16($0) }))
    }

    @Test("writing into a folder that does not exist names the file")
    func writeToMissingFolder() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("no/such/folder/out.h5")
        let error = #expect(throws: HDF5Error.self) {
            try HDF5Writer.write([tensor("x", .u8, [1], [1])], metadata: [], to: path, progress: nil)
        }
        #expect(error?.file == path)
        #expect(error.map { "\($0)" }?.contains("creating the file") == true)
    }

    @Test("HDF5Error's description carries file, object, operation, reason and stack")
    func description() {
        let error = HDF5Error(file: "m.h5", object: "/a/b", operation: "reading the dataset",
                              stack: ["H5Dread: can't read data", "H5Z_pipeline: filter returned failure"])
        #expect(error.description == "m.h5: HDF5 object '/a/b': reading the dataset failed: filter returned failure (HDF5 error stack: H5Dread: can't read data; H5Z_pipeline: filter returned failure)")
        let own = HDF5Error(file: "m.h5", operation: "opening the file", reason: "because")
        #expect(own.description == "m.h5: opening the file failed: because")
    }
}
