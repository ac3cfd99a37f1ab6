import Foundation
import RecastCore
import Testing
import TestSupport
import TorchPickle

/// Python's own pickler's output for protocols 2 to 5 (one Python process), as hex.
private let pythonPickles: [Int: [UInt8]] = {
    let script = #"""
import pickle, collections, json
shared = [1, 2]
def obj(p):
    o = {"ints": [0, 1, -2, 255, 256, 65535, 65536, -70000, 2**31 - 1, -(2**40), 2**70, -(2**70)],
         "floats": [1.5, -0.25], "flags": [True, False, None], "text": "héllo ✓", "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
         "ordered": collections.OrderedDict([("k", {"n": 1})]), "shared": shared, "again": shared}
    if p >= 3: o["raw"] = b"xy"
    if p >= 5: o["array"] = bytearray(b"z")
    return o
print(json.dumps({p: pickle.dumps(obj(p), protocol=p).hex() for p in (2, 3, 4, 5)}))
"""#
    guard let r = try? python(["-c", script]), r.status == 0, let json = try? JSON.parse(r.stdout) else { return [:] }
    var out: [Int: [UInt8]] = [:]
    for (k, v) in json.objectValue ?? [] {
        let hex = Array((v.stringValue ?? "").utf8)
        out[Int(k) ?? 0] = stride(from: 0, to: hex.count - 1, by: 2).compactMap { UInt8(String(decoding: hex[$0...$0 + 1], as: UTF8.self), radix: 16) }
    }
    return out
}()

func load(_ bytes: [UInt8], limits: PickleLimits = .standard) throws -> PickleValue {
    try bytes.withUnsafeBytes { try PickleMachine.load($0, file: "test.pkl", limits: limits) }
}

/// The error text of loading `bytes`, or nil when it loads.
func failure(_ bytes: [UInt8], limits: PickleLimits = .standard) -> String? {
    do {
        _ = try load(bytes, limits: limits)
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite struct PickleMachineTests {
    /// The object the Python script pickles, written here from its definition.
    func expected(protocol p: Int) -> PickleValue {
        func s(_ t: String) -> PickleValue { .string(t) }
        func i(_ n: Int) -> PickleValue { .int(n) }
        let big: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0x40]       // 2**70, little-endian two's complement
        let negativeBig: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0xC0] // -(2**70)
        var entries: [(String, PickleValue)] = [
            ("ints", .list([i(0), i(1), i(-2), i(255), i(256), i(65535), i(65536), i(-70000), i(2_147_483_647), i(-(1 << 40)), .bigInt(big), .bigInt(negativeBig)])),
            ("floats", .list([.float(1.5), .float(-0.25)])),
            ("flags", .list([.bool(true), .bool(false), .none])),
            ("text", s("héllo ✓")),
            ("tuples", .list([.tuple([]), .tuple([i(1)]), .tuple([i(1), i(2)]), .tuple([i(1), i(2), i(3)]), .tuple([i(1), i(2), i(3), i(4)])])),
            ("ordered", .dict([PickleDictEntry(key: s("k"), value: .dict([PickleDictEntry(key: s("n"), value: i(1))]))])),
            ("shared", .list([i(1), i(2)])),
            ("again", .list([i(1), i(2)])),
        ]
        if p >= 3 { entries.append(("raw", .bytes(Array("xy".utf8)))) }
        if p >= 5 { entries.append(("array", .bytes(Array("z".utf8)))) }
        return .dict(entries.map { PickleDictEntry(key: s($0.0), value: $0.1) })
    }

    @Test(arguments: [2, 3, 4, 5])
    func pythonPicklesLoadAsPythonDefinedThem(protocol p: Int) throws {
        let bytes = try #require(pythonPickles[p], "python did not run")
        #expect(try load(bytes) == expected(protocol: p))
    }

    @Test func memoSharesMutableContainersAsPythonDoes() throws {
        // l = []; d = {"a": l, "b": l}; then l.append(7) after both references: both see it.
        var b = PickleBuilder()
        b.emptyList(); b.binPut(0)
        b.emptyDict(); b.binPut(1)
        b.string("a"); b.binGet(0); b.setItem()
        b.string("b"); b.binGet(0); b.setItem()
        b.binGet(0); b.int1(7); b.append(); b.op(0x30)  // POP the list fetched for appending
        b.stop()
        #expect(try load(b.bytes) == .dict([PickleDictEntry(key: .string("a"), value: .list([.int(7)])),
                                            PickleDictEntry(key: .string("b"), value: .list([.int(7)]))]))
    }

    @Test func textOpcodesAndLongForms() throws {
        // PUT/GET with decimal lines, LONG_BINPUT/LONG_BINGET, MEMOIZE, DUP, POP_MARK, LIST, DICT, APPENDS,
        // BINSTRING/SHORT_BINSTRING (latin-1), BININT, BININT2, BINFLOAT, LONG4, FRAME.
        var b = PickleBuilder(protocol: 4)
        b.op(0x95, PickleBuilder.le(0, 8))                    // FRAME: its length is patched in below
        b.mark()
        b.int4(-5); b.op(0x70, Array("9\n".utf8)); b.op(0x30)  // PUT 9, then POP
        b.op(0x67, Array("9\n".utf8))                           // GET 9 → -5
        b.int2(513); b.op(0x72, PickleBuilder.le(100_000, 4)); b.op(0x30)
        b.op(0x6A, PickleBuilder.le(100_000, 4))                // LONG_BINGET → 513
        b.op(0x47, [0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18])  // BINFLOAT π, big-endian
        b.op(0x55, [2, 0xE9, 0x41])                             // SHORT_BINSTRING "éA" (latin-1)
        b.op(0x54, PickleBuilder.le(1, 4) + [0x42])             // BINSTRING "B"
        b.op(0x8B, PickleBuilder.le(2, 4) + [0x00, 0x80])       // LONG4 of 2 bytes: -32768
        b.mark(); b.none(); b.op(0x31)                          // POP_MARK drops (None
        b.int1(1); b.op(0x32)                                   // DUP
        b.op(0x94)                                              // MEMOIZE (index 2)
        b.op(0x6C)                                              // LIST from the mark
        b.mark(); b.int1(3); b.appends()                        // APPENDS
        b.mark(); b.string("k"); b.op(0x68, [2]); b.op(0x64)     // DICT {"k": memo 2 = 1}
        b.append()
        b.stop()
        b.bytes.replaceSubrange(3..<11, with: PickleBuilder.le(UInt64(b.bytes.count - 11), 8))
        let v = try load(b.bytes)
        #expect(v == .list([.int(-5), .int(513), .float(Double.pi), .string("éA"), .string("B"), .int(-32768), .int(1), .int(1), .int(3),
                            .dict([PickleDictEntry(key: .string("k"), value: .int(1))])]))
    }

    @Test func torchReducersBuildTensorsWithoutCalling() throws {
        var b = PickleBuilder()
        b.emptyDict()
        b.string("w")
        b.tensor("HalfStorage", key: "0", count: 12, offset: 2, shape: [2, 3], stride: [1, 2])
        b.setItem()
        b.string("s")
        b.global("torch", "Size"); b.mark(); b.int1(4); b.int1(5); b.tuple(); b.tuple1(); b.reduce()
        b.setItem()
        b.string("dev")
        b.global("torch", "device"); b.string("cuda"); b.int1(1); b.tuple2(); b.reduce()
        b.setItem()
        b.string("dt"); b.global("torch", "bfloat16"); b.setItem()
        b.stop()
        let v = try load(b.bytes)
        let storage = TorchStorageReference(type: .typed(.float16), key: "0", location: "cpu", count: 12)
        #expect(v["w"] == .tensor(TorchTensorReference(storage: storage, dtype: .float16, offset: 2, shape: [2, 3], strides: [1, 2])))
        #expect(v["s"] == .tuple([.int(4), .int(5)]))
        #expect(v["dev"] == .device("cuda:1"))
        #expect(v["dt"] == .dtype(.bfloat16))
    }

    @Test func stateDictMetadataBuildIsDropped() throws {
        var b = PickleBuilder()
        b.global("collections", "OrderedDict"); b.emptyTuple(); b.reduce()
        b.string("x"); b.int1(1); b.setItem()
        b.emptyDict(); b.string("_metadata"); b.emptyDict(); b.setItem()
        b.build()
        b.stop()
        #expect(try load(b.bytes) == .dict([PickleDictEntry(key: .string("x"), value: .int(1))]))
    }

    // MARK: refusals

    static let phrase = "Recast never runs code from a checkpoint"

    @Test func refusesGlobalsOutsideTheList() {
        var g = PickleBuilder(); g.global("os", "system"); g.stop()
        let e = failure(g.bytes) ?? ""
        #expect(e.contains("`os.system`") && e.contains(Self.phrase) && e.contains("GLOBAL at byte 2"), "\(e)")
        var s = PickleBuilder(protocol: 4); s.stackGlobal("builtins", "eval"); s.stop()
        let e2 = failure(s.bytes) ?? ""
        #expect(e2.contains("`builtins.eval`") && e2.contains(Self.phrase) && e2.contains("STACK_GLOBAL"), "\(e2)")
        // torch's own names that are not on the list (a storage class torch has, called through REDUCE).
        var r = PickleBuilder(); r.global("torch", "FloatStorage"); r.emptyTuple(); r.reduce(); r.stop()
        let e3 = failure(r.bytes) ?? ""
        #expect(e3.contains("`torch.FloatStorage`") && e3.contains(Self.phrase), "\(e3)")
        var t = PickleBuilder(); t.global("torch", "load"); t.stop()
        #expect(failure(t.bytes)?.contains("`torch.load`") == true)
    }

    @Test func refusesInstObjNewobjBuildExtensionsAndOddPersistentIDs() {
        var inst = PickleBuilder(); inst.mark(); inst.string("id"); inst.op(0x69, Array("subprocess\nPopen\n".utf8)); inst.stop()
        let e1 = failure(inst.bytes) ?? ""
        #expect(e1.contains("`subprocess.Popen`") && e1.contains(Self.phrase) && e1.contains("INST"), "\(e1)")
        var obj = PickleBuilder(); obj.mark(); obj.global("collections", "OrderedDict"); obj.op(0x6F); obj.stop()
        let e2 = failure(obj.bytes) ?? ""
        #expect(e2.contains("`collections.OrderedDict`") && e2.contains(Self.phrase) && e2.contains("OBJ"), "\(e2)")
        var newobj = PickleBuilder(); newobj.global("torch", "Size"); newobj.emptyTuple(); newobj.op(0x81); newobj.stop()
        let e3 = failure(newobj.bytes) ?? ""
        #expect(e3.contains("`torch.Size`") && e3.contains(Self.phrase) && e3.contains("NEWOBJ"), "\(e3)")
        var build = PickleBuilder(); build.emptyList(); build.emptyDict(); build.build(); build.stop()
        #expect(failure(build.bytes)?.contains(Self.phrase) == true)
        var ext = PickleBuilder(); ext.op(0x82, [1]); ext.stop()
        #expect(failure(ext.bytes)?.contains(Self.phrase) == true)
        var pid = PickleBuilder(); pid.string("os.system"); pid.persistentID(); pid.stop()
        #expect(failure(pid.bytes)?.contains(Self.phrase) == true)
        var view = PickleBuilder()
        view.mark(); view.string("storage"); view.global("torch", "FloatStorage"); view.string("0"); view.string("cpu"); view.int1(1)
        view.int1(5); view.tuple1(); view.tuple(); view.persistentID(); view.stop()
        #expect(failure(view.bytes)?.contains("view metadata") == true)
        var key = PickleBuilder(); key.storage("FloatStorage", key: "../x", count: 1); key.stop()
        #expect(failure(key.bytes)?.contains("storage key") == true)
        // Protocol 0/1 pickles (no PROTO), and protocols past 5.
        #expect(failure([0x4E, 0x2E])?.contains("PROTO") == true)
        #expect(failure([0x80, 0x06, 0x4E, 0x2E])?.contains("protocol 6") == true)
    }

    // MARK: malformed pickles

    @Test func memoAndStackErrors() {
        var get = PickleBuilder(); get.binGet(3); get.stop()
        #expect(failure(get.bytes)?.contains("memo index 3, which was never stored") == true)
        var pop = PickleBuilder(); pop.op(0x30); pop.stop()
        #expect(failure(pop.bytes)?.contains("stack underflow") == true)
        var tuple = PickleBuilder(); tuple.none(); tuple.tuple2(); tuple.stop()
        #expect(failure(tuple.bytes)?.contains("stack underflow") == true)
        var mark = PickleBuilder(); mark.emptyDict(); mark.setItems(); mark.stop()
        #expect(failure(mark.bytes)?.contains("MARK") == true)
        // An item below a MARK is out of reach until the mark is closed.
        var below = PickleBuilder(); below.none(); below.mark(); below.tuple1(); below.stop()
        #expect(failure(below.bytes)?.contains("stack underflow") == true)
        var put = PickleBuilder(); put.binPut(0); put.stop()
        #expect(failure(put.bytes)?.contains("stack underflow") == true)
        #expect(failure([0x80, 0x02, 0x4E])?.contains("truncated") == true)
        #expect(failure([0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E])?.contains("declares") == true)
        #expect(failure([0x80, 0x02, 0x58, 0x02, 0, 0, 0, 0xC3, 0x28, 0x2E])?.contains("UTF-8") == true)
        #expect(failure([0x80, 0x02, 0xFF, 0x2E])?.contains("0xff") == true)
        var append = PickleBuilder(); append.emptyDict(); append.none(); append.append(); append.stop()
        #expect(failure(append.bytes)?.contains("not a list") == true)
        var key = PickleBuilder(); key.emptyDict(); key.emptyList(); key.none(); key.setItem(); key.stop()
        #expect(failure(key.bytes)?.contains("not hashable") == true)
        // A tensor that names an UntypedStorage through _rebuild_tensor_v2 has no dtype.
        var untyped = PickleBuilder()
        untyped.tensor("UntypedStorage", key: "0", count: 4, offset: 0, shape: [4], stride: [1])
        untyped.stop()
        #expect(failure(untyped.bytes)?.contains("has no dtype") == true)
    }

    @Test func budgetsStopBombs() {
        let small = PickleLimits(stackItems: 50, containerItems: 20, objects: 200, stringBytes: 64, memoEntries: 4, nesting: 10)
        var stack = PickleBuilder(); for _ in 0..<60 { stack.none() }; stack.stop()
        #expect(failure(stack.bytes, limits: small)?.contains("stack past 50") == true)
        var list = PickleBuilder(); list.emptyList(); list.mark(); for _ in 0..<21 { list.none() }; list.appends(); list.stop()
        #expect(failure(list.bytes, limits: small)?.contains("more than 20 items") == true)
        var text = PickleBuilder(); text.string(String(repeating: "x", count: 65)); text.stop()
        #expect(failure(text.bytes, limits: small)?.contains("budget of 64 bytes") == true)
        var memo = PickleBuilder(); memo.none(); for i in 0..<5 { memo.binPut(UInt8(i)) }; memo.stop()
        #expect(failure(memo.bytes, limits: small)?.contains("memo entries") == true)
        var deep = PickleBuilder(); deep.none(); for _ in 0..<11 { deep.tuple1() }; deep.stop()
        #expect(failure(deep.bytes, limits: small)?.contains("deeper than 10") == true)
        // A billion-laughs DAG: each level a list holding the previous one twice, through the memo.
        var laughs = PickleBuilder(); laughs.emptyList(); laughs.binPut(0)
        for level in 1...9 {
            laughs.emptyList(); laughs.mark(); laughs.binGet(UInt8(level - 1)); laughs.binGet(UInt8(level - 1)); laughs.appends(); laughs.binPut(UInt8(level))
        }
        laughs.stop()
        let wide = PickleLimits(stackItems: 50, containerItems: 20, objects: 200, stringBytes: 64, memoEntries: 40, nesting: 20)
        #expect(failure(laughs.bytes, limits: wide)?.contains("size bomb") == true)
        // A list that holds itself: refused, not an endless walk.
        var cycle = PickleBuilder(); cycle.emptyList(); cycle.binPut(0); cycle.binGet(0); cycle.append(); cycle.stop()
        #expect(failure(cycle.bytes)?.contains("recursion bomb") == true)
        // The standard budgets stop a deep nest before the stack of the thread that reads it runs out.
        var standard = PickleBuilder(); standard.none(); for _ in 0..<100_000 { standard.tuple1() }; standard.stop()
        #expect(failure(standard.bytes)?.contains("deeper than") == true)
    }
}
