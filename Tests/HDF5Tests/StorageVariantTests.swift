import Foundation
import HDF5
import RecastCore
import Testing

/// Every way HDF5 stores a dataset, a group and an attribute, written by h5py (an independent
/// implementation) and read by `HDF5Store`: both file-format generations (`libver='earliest'`, which
/// gives symbol-table groups and version-1 B-tree chunk indexes, and `libver='latest'`, which gives
/// compact and dense link storage, dense attributes and the five version-4 chunk indexes), filtered and
/// unfiltered, partly written, unallocated, with and without a fill value. h5py reports, for every
/// dataset, its shape and the SHA-256 of its elements in little-endian order; Recast must agree on every
/// name, shape and digest, and find every root attribute.
@Suite("HDF5Store reads every storage variant h5py writes")
struct StorageVariantTests {
    static let script = #"""
import sys, json, hashlib, h5py, numpy as np
path, libver = sys.argv[1], sys.argv[2]
latest = libver == "latest"
rng = np.random.default_rng(7)

def values(shape, dtype):
    n = int(np.prod(shape))
    return (np.arange(n) % 251 - 125).astype(dtype).reshape(shape)

with h5py.File(path, "w", libver=libver) as f:
    filters = dict(compression="gzip", shuffle=True, fletcher32=True)
    # Contiguous, big-endian, unallocated (no fill value and with one).
    f["contiguous/f32"] = values((33, 17), "<f4")
    f["contiguous/i16_be"] = values((5, 7, 3), ">i2")
    f.create_dataset("contiguous/unallocated", shape=(4, 6), dtype="<f4")
    f.create_dataset("contiguous/unallocated_fill", shape=(4, 6), dtype="<f8", fillvalue=1.5)
    # Chunked: one chunk; many (more than 1024, so fixed arrays page); edge chunks; missing chunks.
    for tag, extra in (("plain", {}), ("filtered", filters)):
        f.create_dataset(f"chunked/{tag}/single", data=values((8, 9), "<f4"), chunks=(8, 9), **extra)
        f.create_dataset(f"chunked/{tag}/many", data=values((64, 2048), "<f2"), chunks=(1, 64), **extra)
        f.create_dataset(f"chunked/{tag}/edges", data=values((10, 100), ">f4"), chunks=(3, 7), **extra)
        d = f.create_dataset(f"chunked/{tag}/partial", shape=(40, 40), chunks=(8, 8), dtype="<i4", fillvalue=-3, **extra)
        d[0:8, 0:8] = 1
        d[20:30, 5:17] = 2
        # One unlimited dimension (extensible array), two (version-2 B-tree).
        f.create_dataset(f"chunked/{tag}/grow1", data=values((300, 16), "<f4"), chunks=(2, 16), maxshape=(None, 16), **extra)
        f.create_dataset(f"chunked/{tag}/grow2", data=values((30, 50), "<i8"), chunks=(4, 4), maxshape=(None, None), **extra)
        e = f.create_dataset(f"chunked/{tag}/grow1_sparse", shape=(5000, 4), chunks=(1, 4), maxshape=(None, 4), dtype="<u2", **extra)
        e[::7] = 9
    # Implicit index: fixed shape, no filters, space allocated early.
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((4, 5))
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    ds = h5py.h5d.create(f.id, b"chunked/implicit", h5py.h5t.IEEE_F32LE, h5py.h5s.create_simple((10, 12)), dcpl=dcpl)
    ds.write(h5py.h5s.ALL, h5py.h5s.ALL, values((10, 12), "<f4"))
    # Compact.
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    ds = h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_U16BE, h5py.h5s.create_simple((3, 4)), dcpl=dcpl)
    ds.write(h5py.h5s.ALL, h5py.h5s.ALL, values((3, 4), ">u2"))
    # A group of many members (dense link storage under libver='latest'), one in creation order, deep nesting.
    for k in range(40):
        f[f"many/m{k:02d}"] = np.full((2,), k, dtype="<i4")
    g = f.create_group("ordered", track_order=True)
    for k in (5, 1, 3):
        g[f"z{k}"] = np.full((1,), k, dtype="<u1")
    deep = f
    for k in range(12):
        deep = deep.require_group(f"d{k}")
    deep["leaf"] = np.arange(3, dtype="<f8")
    # Many root attributes (dense attribute storage under libver='latest'), one of them large.
    for k in range(30):
        f.attrs[f"attr{k:02d}"] = f"value {k}"
    f.attrs["large"] = "x" * 70000
    f.attrs["fixed"] = np.bytes_(b"fixed bytes")

report = {"datasets": {}, "attributes": {}}
def visit(name, obj):
    if isinstance(obj, h5py.Dataset):
        a = obj[()]
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        report["datasets"][name] = {"shape": list(obj.shape), "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
with h5py.File(path, "r") as f:
    f.visititems(visit)
    for k, v in f.attrs.items():
        report["attributes"][k] = v.decode() if isinstance(v, bytes) else str(v)
print(json.dumps(report))
"""#

    struct Report: Decodable {
        struct Dataset: Decodable {
            var shape: [Int]
            var sha256: String
        }
        var datasets: [String: Dataset]
        var attributes: [String: String]
    }

    @Test("names, shapes, bytes and root attributes agree with h5py", arguments: ["earliest", "latest"])
    func agreesWithH5py(libver: String) throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("variants-\(libver).h5")
        let output = try python(Self.script, [path, libver])
        let report = try JSONDecoder().decode(Report.self, from: Data(output.utf8))
        #expect(report.datasets.count == 64)

        let store = try HDF5Store(path: path)
        #expect(store.skipped.isEmpty, "\(store.skipped)")
        #expect(Set(store.tensors.map(\.name)) == Set(report.datasets.keys))
        for (name, expected) in report.datasets.sorted(by: { $0.key < $1.key }) {
            guard let info = store.info(named: name) else { continue }
            #expect(info.shape == expected.shape, "\(name)")
            let digest = try store.withBytes(of: name) { SHA256.hex($0) }
            #expect(digest == expected.sha256, "\(name): bytes differ from h5py's")
            // Streamed in pieces (slabs of one element, of a few rows, of everything): the same bytes.
            for piece in [1, 100, 4096, 1 << 30] {
                var streamed: [UInt8] = []
                try store.streamBytes(of: name, pieceBytes: piece) { part in
                    // Contiguous little-endian data comes whole, as a view of the file; the rest in pieces.
                    #expect(part.count > 0, "\(name): an empty piece")
                    streamed += part
                }
                #expect(streamed.withUnsafeBytes { SHA256.hex($0) } == expected.sha256, "\(name) streamed in pieces of \(piece) bytes")
            }
        }
        // Every scalar string attribute is metadata, in name order, the large one too.
        let metadata = Dictionary(store.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        #expect(Set(metadata.keys) == Set(report.attributes.keys))
        for (key, value) in report.attributes { #expect(metadata[key] == value, "\(key)") }
        #expect(store.metadata.map(\.key) == store.metadata.map(\.key).sorted())
        // Creation order in the file does not change Recast's order: depth first, by name.
        let ordered = store.tensors.map(\.name).filter { $0.hasPrefix("ordered/") }
        #expect(ordered == ["ordered/z1", "ordered/z3", "ordered/z5"])
    }
}
