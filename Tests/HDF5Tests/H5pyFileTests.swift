import Foundation
import HDF5
import RecastCore
import Testing

/// Files written by h5py (an independent implementation) and read by `HDF5Store`.
@Suite("HDF5Store reads files h5py wrote")
struct H5pyFileTests {
    /// One file with every kind of dataset the reader must handle or skip.
    static let script = #"""
import sys, h5py, numpy as np
path, other = sys.argv[1], sys.argv[2]
with h5py.File(other, "w") as g:
    g["data"] = np.arange(3, dtype="<f4")
with h5py.File(path, "w") as f:
    base = np.arange(12).reshape(3, 4) * 0.5 - 2
    for order, tag in (("<", "le"), (">", "be")):
        for t in ("f2", "f4", "f8"):
            f[f"float/{tag}/{t}"] = base.astype(order + t)
        for t in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"):
            info = np.iinfo(t)
            f[f"int/{tag}/{t}"] = np.array([info.min, info.min + 1, 0, 1, info.max - 1, info.max], dtype=order + t)
    f["bool"] = np.array([[True, False, True], [False, False, True]])
    f.create_dataset("chunked", data=np.arange(1000, dtype="<f4").reshape(10, 100), chunks=(3, 7),
                     compression="gzip", shuffle=True, fletcher32=True)
    f.create_dataset("chunked_be", data=np.arange(60, dtype=">i4").reshape(6, 10), chunks=(4, 4), compression="gzip")
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    ds = h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I32BE, h5py.h5s.create_simple((6,)), dcpl=dcpl)
    ds.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(6, dtype=">i4"))
    f["scalar"] = np.float64(3.25)
    f["empty"] = np.zeros((0, 4), dtype="<f4")
    f["complex/le"] = np.array([1 + 2j, -3.5 - 0.25j], dtype="<c8")
    f["complex/be"] = np.array([1 + 2j, -3.5 - 0.25j], dtype=">c8")
    bits = np.array([0x3F80, 0xC000, 0x7F80, 0x0001, 0xFF81, 0x8000], dtype="<u2")
    ds = f.create_dataset("bf16/keras", data=np.frombuffer(bits.tobytes(), dtype="V2").reshape(2, 3))
    ds.attrs["dtype"] = "bfloat16"
    t = h5py.h5t.IEEE_F32LE.copy(); t.set_fields(15, 7, 8, 0, 7); t.set_size(2); t.set_ebias(127)
    ds = h5py.h5d.create(f.id, b"bf16/native_le", t, h5py.h5s.create_simple((6,)))
    ds.write(h5py.h5s.ALL, h5py.h5s.ALL, bits, mtype=t)
    tb = t.copy(); tb.set_order(h5py.h5t.ORDER_BE)
    ds = h5py.h5d.create(f.id, b"bf16/native_be", tb, h5py.h5s.create_simple((6,)))
    ds.write(h5py.h5s.ALL, h5py.h5s.ALL, bits.astype(">u2"), mtype=tb)
    # Not tensors.
    f["skip/vlen_string"] = "hello"
    f["skip/fixed_string"] = np.array([b"ab", b"cd"])
    f["skip/compound"] = np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")])
    f["skip/complex128"] = np.array([1 + 1j], dtype="<c16")
    vl = f.create_dataset("skip/vlen_int", (2,), dtype=h5py.vlen_dtype(np.int32))
    vl[0] = [1, 2]; vl[1] = [3]
    f.create_dataset("skip/reference", data=[f["scalar"].ref], dtype=h5py.ref_dtype)
    f.create_dataset("skip/lzf", data=np.arange(100, dtype="<f4"), compression="lzf")
    f.create_dataset("skip/enum", data=np.array([0, 1, 2], dtype="i1"),
                     dtype=h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 2}, basetype="i1"))
    f.create_dataset("skip/null", data=h5py.Empty("<f4"))
    f["skip/opaque"] = np.void(b"abcd")
    f["links/external"] = h5py.ExternalLink(other, "/data")
    f["links/soft"] = h5py.SoftLink("/scalar")
    f["links/soft_group"] = h5py.SoftLink("/float")
    f["links/dangling"] = h5py.SoftLink("/nowhere")
    f["links/hard_alias"] = f["compact"]
    f.attrs["vlen_attr"] = "variable length ✓"
    f.attrs["fixed_attr"] = np.bytes_(b"fixed")
    f.attrs["number_attr"] = 42
    f.attrs["array_attr"] = np.array([b"x", b"y"])
"""#

    static func makeFile(_ dir: TemporaryDirectory) throws -> String {
        let path = dir.file("h5py.h5")
        try python(script, [path, dir.file("other.h5")])
        return path
    }

    @Test("floats of 16, 32 and 64 bits in both byte orders")
    func floats() throws {
        let dir = try TemporaryDirectory()
        let store = try HDF5Store(path: try Self.makeFile(dir))
        let values = (0..<12).map { Double($0) * 0.5 - 2 }
        for order in ["le", "be"] {
            let f16 = try #require(store.info(named: "float/\(order)/f2"))
            #expect(f16.dtype == .f16 && f16.shape == [3, 4])
            #expect(try bytes(store, f16.name) == leHalf(values.map { Float($0) }))
            let f32 = try #require(store.info(named: "float/\(order)/f4"))
            #expect(f32.dtype == .f32 && f32.shape == [3, 4])
            #expect(try bytes(store, f32.name) == le(values.map { Float($0) }))
            let f64 = try #require(store.info(named: "float/\(order)/f8"))
            #expect(f64.dtype == .f64 && f64.shape == [3, 4])
            #expect(try bytes(store, f64.name) == le(values))
        }
    }

    @Test("integers of every width, signed and unsigned, in both byte orders")
    func integers() throws {
        let dir = try TemporaryDirectory()
        let store = try HDF5Store(path: try Self.makeFile(dir))
        func extremes<T: FixedWidthInteger>(_: T.Type) -> [UInt8] {
            le([T.min, T.min + 1, 0, 1, T.max - 1, T.max])
        }
        let expected: [(String, DType, [UInt8])] = [
            ("i1", .i8, extremes(Int8.self)), ("u1", .u8, extremes(UInt8.self)),
            ("i2", .i16, extremes(Int16.self)), ("u2", .u16, extremes(UInt16.self)),
            ("i4", .i32, extremes(Int32.self)), ("u4", .u32, extremes(UInt32.self)),
            ("i8", .i64, extremes(Int64.self)), ("u8", .u64, extremes(UInt64.self)),
        ]
        for order in ["le", "be"] {
            for (code, dtype, data) in expected {
                let info = try #require(store.info(named: "int/\(order)/\(code)"))
                #expect(info.dtype == dtype, "\(info.name)")
                #expect(info.shape == [6])
                #expect(try bytes(store, info.name) == data, "\(info.name)")
            }
        }
    }

    @Test("h5py's boolean enum, chunked + gzip + shuffle + fletcher32, compact, scalar, empty, complex64")
    func layoutsAndSpecialTypes() throws {
        let dir = try TemporaryDirectory()
        let store = try HDF5Store(path: try Self.makeFile(dir))

        let flags = try #require(store.info(named: "bool"))
        #expect(flags.dtype == .bool && flags.shape == [2, 3])
        #expect(try bytes(store, "bool") == [1, 0, 1, 0, 0, 1])

        let chunked = try #require(store.info(named: "chunked"))
        #expect(chunked.dtype == .f32 && chunked.shape == [10, 100])
        #expect(try bytes(store, "chunked") == le((0..<1000).map { Float($0) }))
        #expect(try store.loadFloat32("chunked")[999] == 999)

        let chunkedBE = try #require(store.info(named: "chunked_be"))
        #expect(chunkedBE.dtype == .i32 && chunkedBE.shape == [6, 10])
        #expect(try bytes(store, "chunked_be") == le((0..<60).map { Int32($0) }))

        let compact = try #require(store.info(named: "compact"))
        #expect(compact.dtype == .i32 && compact.shape == [6])
        #expect(try bytes(store, "compact") == le((0..<6).map { Int32($0) }))

        let scalar = try #require(store.info(named: "scalar"))
        #expect(scalar.dtype == .f64 && scalar.shape == [] && scalar.byteCount == 8)
        #expect(try bytes(store, "scalar") == le([3.25 as Double]))

        let empty = try #require(store.info(named: "empty"))
        #expect(empty.dtype == .f32 && empty.shape == [0, 4] && empty.byteCount == 0)
        #expect(try bytes(store, "empty") == [])

        for order in ["le", "be"] {
            let complex = try #require(store.info(named: "complex/\(order)"))
            #expect(complex.dtype == .c64 && complex.shape == [2])
            #expect(try bytes(store, complex.name) == le([Float(1), 2, -3.5, -0.25]))
        }
    }

    @Test("bfloat16: Keras' opaque convention and native HDF5 floats in both byte orders")
    func bfloat16() throws {
        let dir = try TemporaryDirectory()
        let store = try HDF5Store(path: try Self.makeFile(dir))
        let bits = le([UInt16(0x3F80), 0xC000, 0x7F80, 0x0001, 0xFF81, 0x8000])
        let keras = try #require(store.info(named: "bf16/keras"))
        #expect(keras.dtype == .bf16 && keras.shape == [2, 3])
        #expect(try bytes(store, keras.name) == bits)
        for name in ["bf16/native_le", "bf16/native_be"] {
            let info = try #require(store.info(named: name))
            #expect(info.dtype == .bf16 && info.shape == [6])
            #expect(try bytes(store, name) == bits, "\(name)")
        }
        let floats = try store.loadFloat32("bf16/native_be")
        #expect(floats[0] == 1 && floats[1] == -2 && floats[2] == .infinity && floats[4].isNaN)
    }

    @Test("non-tensors are skipped with a reason and the rest still reads")
    func skipped() throws {
        let dir = try TemporaryDirectory()
        let store = try HDF5Store(path: try Self.makeFile(dir))
        let reasons = Dictionary(uniqueKeysWithValues: store.skipped.map { ($0.name, $0.reason) })
        let expected: [String: String] = [
            "skip/vlen_string": "string",
            "skip/fixed_string": "string",
            "skip/compound": "compound",
            "skip/complex128": "complex64",
            "skip/vlen_int": "variable-length",
            "skip/reference": "reference",
            "skip/lzf": "filter",
            "skip/enum": "enumeration",
            "skip/null": "null dataspace",
            "skip/opaque": "opaque",
            "links/external": "external link",
        ]
        #expect(Set(reasons.keys) == Set(expected.keys))
        for (name, word) in expected {
            #expect(reasons[name]?.contains(word) == true, "\(name): \(reasons[name] ?? "not skipped")")
        }
        #expect(reasons["links/external"]?.contains("other.h5:/data") == true)
        #expect(reasons["skip/lzf"]?.contains("lzf") == true)
        for name in expected.keys { #expect(store.info(named: name) == nil) }
    }

    @Test("links: external never followed, soft links and hard aliases not listed twice")
    func links() throws {
        let dir = try TemporaryDirectory()
        let store = try HDF5Store(path: try Self.makeFile(dir))
        let names = store.tensors.map(\.name)
        #expect(!names.contains { $0.hasPrefix("links/soft") || $0.hasPrefix("links/external") || $0 == "links/dangling" })
        // `compact` has a second hard link; the object appears once, under one of its names.
        #expect(names.filter { $0 == "compact" || $0 == "links/hard_alias" }.count == 1)
        // Every float dataset once, though a soft link leads to the group.
        #expect(names.filter { $0.hasPrefix("float/") }.count == 6)
        #expect(Set(names).count == names.count)
        // Depth first, in name order.
        #expect(names == names.sorted { $0.split(separator: "/").lexicographicallyPrecedes($1.split(separator: "/")) })
    }

    @Test("metadata: root scalar string attributes, fixed or variable length, in name order")
    func metadata() throws {
        let dir = try TemporaryDirectory()
        let store = try HDF5Store(path: try Self.makeFile(dir))
        #expect(store.metadata.map(\.key) == ["fixed_attr", "vlen_attr"])
        #expect(store.metadata.map(\.value) == ["fixed", "variable length ✓"])
        #expect(store.layout == "generic")
        #expect(store.files == [dir.file("h5py.h5")])
    }

    @Test("the total tensor count matches what h5py lists as numeric")
    func tensorCount() throws {
        let dir = try TemporaryDirectory()
        let store = try HDF5Store(path: try Self.makeFile(dir))
        // 6 float + 16 int + bool + 2 chunked + compact + scalar + empty + 2 complex + 3 bf16.
        #expect(store.tensors.count == 33)
    }
}
