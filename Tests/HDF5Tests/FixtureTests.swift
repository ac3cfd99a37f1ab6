import Foundation
import HDF5
import RecastCore
import Testing

/// The repository's h5py-made fixtures, read by `HDF5Store` and compared with what
/// `tools/crosscheck.py dump` (h5py) lists: names, dtypes, shapes and a SHA-256 of the bytes.
@Suite("HDF5 fixtures agree with h5py")
struct FixtureTests {
    static let root: String = {
        // Tests/HDF5Tests/FixtureTests.swift → the repository root.
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    struct Dump: Decodable {
        struct Tensor: Decodable {
            var name: String
            var dtype: String
            var shape: [Int]
            var sha256: String
        }
        var tensors: [Tensor]
    }

    @Test("tensors match tools/crosscheck.py dump", arguments: [
        ("fixtures/hdf5-types.h5", "generic"),
        ("fixtures/keras2-cnn.h5", "keras2"),
        ("fixtures/keras3.weights.h5", "keras3"),
        ("fixtures/keras-legacy.h5", "keras-legacy"),
        ("fixtures/bert-tf/tf_model.h5", "hf-tensorflow"),
    ])
    func matchesH5py(file: String, layout: String) throws {
        let path = Self.root + "/" + file
        #expect(FileSystem.exists(path), "fixture \(file) is missing")
        let output = try python("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
                                [Self.root + "/tools/crosscheck.py", "dump", path])
        let dump = try JSONDecoder().decode(Dump.self, from: Data(output.utf8))
        let store = try HDF5Store(path: path)
        #expect(store.layout == layout)
        #expect(store.tensors.map(\.name).sorted() == dump.tensors.map(\.name))
        for expected in dump.tensors {
            guard let info = store.info(named: expected.name) else { continue }
            #expect(info.dtype.rawValue == expected.dtype, "\(expected.name)")
            #expect(info.shape == expected.shape, "\(expected.name)")
            let digest = try store.withBytes(of: expected.name) { SHA256.hex($0) }
            #expect(digest == expected.sha256, "\(expected.name)")
        }
    }
}
