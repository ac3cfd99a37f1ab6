import Foundation
import HDF5
import RecastCore
import Testing

/// Files of many objects, checked for correctness only (speed is measured by `tools/bench_slow.py`,
/// never in a test): 20,000 tensors in one group and 20,000 metadata keys, written with the metadata
/// cache and the shared attribute type the writer sets up for such files, read back by Recast's reader
/// and by h5py.
@Suite("HDF5 files of many objects")
struct ScaleTests {
    @Test("20,000 tensors and 20,000 metadata keys round-trip through HDF5Writer, HDF5Store and h5py")
    func manyObjects() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("many.h5")
        let count = 20_000
        var outputs: [OutputTensor] = []
        for k in 0..<count {
            // Two groups of 10,000 and a flat part: dense link storage in each.
            let name = k % 2 == 0 ? "t\(k)" : "group\(k % 4)/t\(k)"
            outputs.append(tensor(name, .i32, [2], le([Int32(k), Int32(-k)])))
        }
        let metadata: Metadata = (0..<count).map { (key: "key\($0)", value: "value \($0) ✓") }
        try HDF5Writer.write(outputs, metadata: metadata, to: path, progress: nil)

        let store = try HDF5Store(path: path)
        #expect(store.tensors.count == count)
        #expect(store.skipped.isEmpty)
        #expect(store.metadata.count == count)
        let values = Dictionary(store.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        for k in stride(from: 0, to: count, by: 97) {
            #expect(values["key\(k)"] == "value \(k) ✓")
            let name = k % 2 == 0 ? "t\(k)" : "group\(k % 4)/t\(k)"
            #expect(try bytes(store, name) == le([Int32(k), Int32(-k)]), "\(name)")
        }
        let check = try python("""
            import sys, h5py, numpy as np
            with h5py.File(sys.argv[1]) as f:
                names = []
                f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
                assert len(names) == 20000, len(names)
                assert len(f.attrs) == 20000, len(f.attrs)
                assert f.attrs['key12345'] == 'value 12345 ✓', f.attrs['key12345']
                assert f['group3/t19999'][()].tolist() == [19999, -19999]
                assert f['t19998'][()].tolist() == [19998, -19998]
            print('ok')
            """, [path])
        #expect(check.contains("ok"))
    }
}
