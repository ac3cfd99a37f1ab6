import Foundation
import HDF5
import RecastCore
import Testing

/// Files `HDF5Writer` wrote, read by h5py, which must see the same names, dtypes and values.
@Suite("h5py reads files HDF5Writer wrote")
struct H5pyInteropTests {
    static let values: [Float] = [0, 1.5, -2, 3.25, 0.001, 65504]

    static func outputs() -> [OutputTensor] {
        func extremes<T: FixedWidthInteger>(_: T.Type) -> [UInt8] { le([T.min, T.min + 1, 0, 1, T.max - 1, T.max]) }
        return [
            tensor("f32", .f32, [2, 3], le(values)),
            tensor("f64", .f64, [2, 3], le(values.map { Double($0) })),
            tensor("f16", .f16, [2, 3], leHalf(values)),
            // 1, -2, 0.5, 3, inf, 256
            tensor("bf16", .bf16, [2, 3], le([UInt16(0x3F80), 0xC000, 0x3F00, 0x4040, 0x7F80, 0x4380])),
            tensor("int/i8", .i8, [6], extremes(Int8.self)),
            tensor("int/u8", .u8, [6], extremes(UInt8.self)),
            tensor("int/i16", .i16, [6], extremes(Int16.self)),
            tensor("int/u16", .u16, [6], extremes(UInt16.self)),
            tensor("int/i32", .i32, [6], extremes(Int32.self)),
            tensor("int/u32", .u32, [6], extremes(UInt32.self)),
            tensor("int/i64", .i64, [6], extremes(Int64.self)),
            tensor("int/u64", .u64, [6], extremes(UInt64.self)),
            tensor("bool", .bool, [3], [1, 0, 1]),
            tensor("c64", .c64, [2], le([Float(1), 2, -3.5, -0.25])),
            tensor("f8/e4m3", .f8e4m3, [2, 2], [0x00, 0x38, 0x7E, 0xFF]),
            tensor("f8/e5m2", .f8e5m2, [4], [0x3C, 0x7B, 0x80, 0x01]),
            tensor("f4", .f4, [2, 3], [0x21, 0x43, 0x65]),
            tensor("f6", .f6e2m3, [4], [0x41, 0x20, 0x0C]),
            tensor("group/sub/deep", .f32, [1], le([Float(7)])),
            tensor("layer/kernel:0", .f32, [1], le([Float(8)])),
            tensor("ünï/cødé ✓", .u8, [2], [9, 10]),
            tensor("scalar", .f64, [], le([2.5 as Double])),
            tensor("empty", .f32, [0, 4], []),
        ]
    }

    static let check = #"""
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
problems = []
def expect(cond, what):
    if not cond: problems.append(what)
def ext(t):
    i = np.iinfo(t); return [i.min, i.min + 1, 0, 1, i.max - 1, i.max]
values = [0, 1.5, -2, 3.25, 0.001, 65504]
names = []
f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
expect(sorted(names) == sorted(["f32", "f64", "f16", "bf16", "int/i8", "int/u8", "int/i16", "int/u16", "int/i32",
    "int/u32", "int/i64", "int/u64", "bool", "c64", "f8/e4m3", "f8/e5m2", "f4", "f6", "group/sub/deep",
    "layer/kernel:0", "ünï/cødé ✓", "scalar", "empty"]), "names %r" % names)
for n in names:
    expect(f[n].chunks is None, "%s is chunked" % n)
    expect(f[n].id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS, "%s not contiguous" % n)
expect(f["f32"].dtype == np.dtype("<f4") and f["f32"].shape == (2, 3), "f32 dtype %s" % f["f32"].dtype)
expect(np.array_equal(f["f32"][()].ravel(), np.array(values, dtype=np.float32)), "f32 values")
expect(f["f64"].dtype == np.dtype("<f8"), "f64 dtype")
expect(np.array_equal(f["f64"][()].ravel(), np.array(values, dtype=np.float32).astype(np.float64)), "f64 values")
expect(f["f16"].dtype == np.dtype("<f2"), "f16 dtype %s" % f["f16"].dtype)
expect(np.array_equal(f["f16"][()].ravel(), np.array(values, dtype=np.float16)), "f16 values")
bf = f["bf16"]
expect(bf.dtype.kind == "f", "bf16 reads as %s" % bf.dtype)
expect(np.array_equal(bf[()].astype(np.float64).ravel(), [1, -2, 0.5, 3, np.inf, 256]), "bf16 values %r" % bf[()])
t = bf.id.get_type()
expect(t.get_fields() == (15, 7, 8, 0, 7) and t.get_ebias() == 127 and t.get_size() == 2, "bf16 layout")
for name in ("i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64"):
    d = f["int/" + name]
    code = name[0] + str(int(name[1:]) // 8)
    expect(d.dtype == np.dtype("<" + code), "%s dtype %s" % (name, d.dtype))
    expect(d[()].tolist() == ext(np.dtype(code)), "%s values %r" % (name, d[()]))
expect(f["bool"].dtype == np.bool_ and f["bool"][()].tolist() == [True, False, True], "bool")
expect(f["c64"].dtype == np.complex64 and f["c64"][()].tolist() == [1 + 2j, -3.5 - 0.25j], "c64 %r" % f["c64"][()])
for n, code, raw, shape in (("f8/e4m3", "F8_E4M3", b"\x00\x38\x7e\xff", (2, 2)), ("f8/e5m2", "F8_E5M2", b"\x3c\x7b\x80\x01", (4,))):
    d = f[n]
    expect(d.dtype.kind == "V" and d.dtype.itemsize == 1 and d.shape == shape, "%s dtype %s %r" % (n, d.dtype, d.shape))
    expect(d.attrs["dtype"] == code and isinstance(d.attrs["dtype"], str), "%s dtype attr %r" % (n, d.attrs["dtype"]))
    expect(d[()].tobytes() == raw, "%s bytes" % n)
d = f["f4"]
expect(d.shape == (3,) and d.attrs["dtype"] == "F4" and d.attrs["shape"].tolist() == [2, 3], "f4 %r %r" % (d.shape, dict(d.attrs)))
expect(d[()].tobytes() == b"\x21\x43\x65", "f4 bytes")
d = f["f6"]
expect(d.shape == (3,) and d.attrs["dtype"] == "F6_E2M3" and d.attrs["shape"].tolist() == [4], "f6")
expect(d[()].tobytes() == b"\x41\x20\x0c", "f6 bytes")
expect(f["group"]["sub"]["deep"][()].tolist() == [7.0], "nested")
expect(f["layer/kernel:0"][()].tolist() == [8.0], "colon name")
expect(f["ünï/cødé ✓"][()].tolist() == [9, 10], "unicode name")
expect(f["scalar"].shape == () and f["scalar"][()] == 2.5, "scalar")
expect(f["empty"].shape == (0, 4) and f["empty"].dtype == np.float32, "empty")
expect(dict(f.attrs) == {"format": "pt", "note": "héllo ✓", "config": '{"a": [1, 2]}'}, "attrs %r" % dict(f.attrs))
for k, v in f.attrs.items():
    expect(isinstance(v, str), "attr %s is %s" % (k, type(v)))
if problems:
    print("\n".join(problems)); sys.exit(1)
print("ok")
"""#

    @Test("names, dtypes, shapes, values and metadata are what h5py sees")
    func h5pyReadsWriterOutput() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("written.h5")
        let metadata: Metadata = [(key: "format", value: "pt"), (key: "note", value: "héllo ✓"), (key: "config", value: #"{"a": [1, 2]}"#)]
        try HDF5Writer.write(Self.outputs(), metadata: metadata, to: path, progress: nil)
        let output: String
        do {
            output = try python(Self.check, [path])
        } catch {
            Issue.record("\(error)")
            return
        }
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
    }

    @Test("h5py's view of the written file matches Recast's, tensor by tensor")
    func sameBytesBothWays() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("written.h5")
        let outputs = Self.outputs()
        try HDF5Writer.write(outputs, metadata: [], to: path, progress: nil)
        // h5py dumps each dataset's raw little-endian bytes; native types only (opaque data is its own bytes).
        let dump = try python(#"""
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
def show(name, obj):
    if not isinstance(obj, h5py.Dataset): return
    t = obj.id.get_type()
    if obj.dtype.kind == "f" and t.get_size() == 2 and t.get_fields() == (15, 7, 8, 0, 7):
        raw = (obj[()].astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()
    else:
        a = obj[()]
        raw = np.asarray(a).astype(a.dtype.newbyteorder("<") if a.dtype.kind in "fiuc" else a.dtype).tobytes()
    print(name + "\t" + raw.hex())
f.visititems(show)
"""#, [path])
        let store = try HDF5Store(path: path)
        var seen = 0
        for line in dump.split(separator: "\n") {
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            let name = String(parts[0])
            #expect(try bytes(store, name) == unhex(parts[1]), "\(name)")
            seen += 1
        }
        #expect(seen == outputs.count)
    }
}
