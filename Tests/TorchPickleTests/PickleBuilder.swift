/// Pickles written opcode by opcode (from the pickle specification, `pickletools`), for tests of the
/// machine on bytes no pickler would write.
struct PickleBuilder {
    var bytes: [UInt8] = []

    init(protocol version: UInt8 = 2) { bytes = [0x80, version] }

    @discardableResult mutating func op(_ code: UInt8, _ payload: [UInt8] = []) -> PickleBuilder {
        bytes.append(code)
        bytes += payload
        return self
    }

    static func le(_ v: UInt64, _ width: Int) -> [UInt8] { (0..<width).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

    mutating func mark() { op(0x28) }
    mutating func stop() { op(0x2E) }
    mutating func none() { op(0x4E) }
    mutating func int1(_ v: UInt8) { op(0x4B, [v]) }
    mutating func int2(_ v: UInt16) { op(0x4D, Self.le(UInt64(v), 2)) }
    mutating func int4(_ v: Int32) { op(0x4A, Self.le(UInt64(UInt32(bitPattern: v)), 4)) }
    mutating func string(_ s: String) {
        let u = Array(s.utf8)
        op(0x58, Self.le(UInt64(u.count), 4) + u)
    }
    mutating func shortString(_ s: String) {
        let u = Array(s.utf8)
        op(0x8C, [UInt8(u.count)] + u)
    }
    mutating func global(_ module: String, _ name: String) { op(0x63, Array("\(module)\n\(name)\n".utf8)) }
    mutating func stackGlobal(_ module: String, _ name: String) {
        shortString(module)
        shortString(name)
        op(0x93)
    }
    mutating func tuple() { op(0x74) }
    mutating func tuple1() { op(0x85) }
    mutating func tuple2() { op(0x86) }
    mutating func tuple3() { op(0x87) }
    mutating func emptyTuple() { op(0x29) }
    mutating func emptyDict() { op(0x7D) }
    mutating func emptyList() { op(0x5D) }
    mutating func setItem() { op(0x73) }
    mutating func setItems() { op(0x75) }
    mutating func append() { op(0x61) }
    mutating func appends() { op(0x65) }
    mutating func reduce() { op(0x52) }
    mutating func build() { op(0x62) }
    mutating func binPut(_ i: UInt8) { op(0x71, [i]) }
    mutating func binGet(_ i: UInt8) { op(0x68, [i]) }
    mutating func persistentID() { op(0x51) }
    mutating func newFalse() { op(0x89) }

    /// `('storage', torch.<storageClass>, key, 'cpu', count)` as a persistent id.
    mutating func storage(_ storageClass: String, key: String, count: UInt8, module: String = "torch") {
        mark()
        string("storage")
        global(module, storageClass)
        string(key)
        string("cpu")
        int1(count)
        tuple()
        persistentID()
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`.
    mutating func tensor(_ storageClass: String, key: String, count: UInt8, offset: UInt8, shape: [UInt8], stride: [UInt8]) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        storage(storageClass, key: key, count: count)
        int1(offset)
        mark(); for s in shape { int1(s) }; tuple()
        mark(); for s in stride { int1(s) }; tuple()
        newFalse()
        global("collections", "OrderedDict")
        emptyTuple()
        reduce()
        tuple()
        reduce()
    }
}
