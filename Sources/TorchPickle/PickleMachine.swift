import RecastCore

/// The pickle virtual machine, reduced to the opcodes that describe data (protocols 2 to 5).
///
/// It never imports, looks up or calls anything: GLOBAL and STACK_GLOBAL may only name an entry of
/// `AllowedGlobal`, and REDUCE, the only opcode that applies a global, builds the value that global
/// would build (a tensor reference, an OrderedDict, a `torch.Size`) itself. INST, OBJ, NEWOBJ,
/// NEWOBJ_EX, the extension registry, out-of-band buffers and the text opcodes of protocols 0 and 1 are
/// refused. Every read is bounds-checked, and `PickleLimits` bounds the stack, the memo, containers,
/// strings, the number of values and their nesting.
public enum PickleMachine {
    /// Runs the pickle that `bytes` holds and returns its value. Errors name `file` and, for a pickle
    /// inside an archive, its `entry` (`archive/data.pkl`).
    public static func load(_ bytes: UnsafeRawBufferPointer, file: String, entry: String? = nil,
                            limits: PickleLimits = .standard) throws -> PickleValue {
        try run(bytes, from: 0, file: file, entry: entry, limits: limits).value
    }

    /// Runs one pickle that starts at `start`, and returns its value and the offset just past its STOP
    /// (the legacy torch format holds five pickles in a row).
    static func run(_ bytes: UnsafeRawBufferPointer, from start: Int, file: String, entry: String? = nil,
                    limits: PickleLimits) throws -> (value: PickleValue, end: Int) {
        var machine = Machine(bytes: bytes, position: start, file: file, entry: entry, limits: limits)
        defer { machine.releaseContainers() }
        let top = try machine.execute()
        let value = try machine.materialise(top, depth: 0)
        return (value, machine.position)
    }
}

/// A list or dict under construction: shared by reference, as Python's are, so that a memoised
/// container that is appended to later shows the change wherever it was fetched.
final class ListBox {
    var items: [Item] = []
}

final class DictBox {
    var entries: [(key: Item, value: Item)] = []
    var index: [PickleValue: Int] = [:]
    let isOrderedDict: Bool
    init(ordered: Bool) { isOrderedDict = ordered }
}

/// A value on the machine's stack.
enum Item {
    case value(PickleValue)
    case tuple([Item], depth: Int)
    case list(ListBox)
    case dict(DictBox)
    case global(AllowedGlobal, name: String)

    var depth: Int {
        if case .tuple(_, let d) = self { return d }
        return 0
    }
}

private struct Machine {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let file: String
    /// The archive entry that holds the pickle, if any: errors name it after the file.
    let entry: String?
    let limits: PickleLimits
    var stack: [Item] = []
    var marks: [Int] = []
    var memo: [Int: Item] = [:]
    var objects = 0
    var stringBytes = 0
    /// Every list and dict made, emptied at the end: breaks reference cycles a pickle can build
    /// (a list appended to itself) and keeps deallocation shallow (a chain of 200,000 lists, each
    /// inside the next, is released one box at a time, not by recursion).
    var lists: [ListBox] = []
    var dicts: [DictBox] = []
    /// The opcode being run and where it starts, for errors.
    var opcode: UInt8 = 0
    var opcodeStart = 0

    init(bytes: UnsafeRawBufferPointer, position: Int, file: String, entry: String?, limits: PickleLimits) {
        self.bytes = bytes
        self.position = position
        self.file = file
        self.entry = entry
        self.limits = limits
    }

    func releaseContainers() {
        for l in lists { l.items = [] }
        for d in dicts { d.entries = []; d.index = [:] }
    }

    // MARK: errors

    /// Where in `file` the pickle is: its archive entry, if any.
    var place: String? { entry.map { "zip entry '\($0)'" } }

    /// An error about the whole pickle (its file, and its entry when it has one).
    func fault(offset: Int? = nil, _ reason: String) -> CheckpointError {
        CheckpointError(file: file, object: place, offset: offset, reason)
    }

    func error(_ reason: String) -> CheckpointError {
        CheckpointError(file: file, object: (place.map { $0 + ", " } ?? "") + "pickle opcode \(Opcode.name(opcode))",
                        offset: opcodeStart, reason)
    }

    /// The refusal of a construct that could run code, in the words every such refusal uses.
    func refusal(_ what: String) -> CheckpointError {
        fault("\(what) (\(Opcode.name(opcode)) at byte \(opcodeStart)): refused; Recast never runs code from a checkpoint")
    }

    // MARK: reading

    mutating func read(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= bytes.count - position else {
            throw error("needs \(count) bytes but the pickle ends \(bytes.count - position) bytes later: it is truncated")
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
        position += count
        return slice
    }

    mutating func byte() throws -> UInt8 { try read(1)[0] }

    mutating func unsigned(_ width: Int) throws -> UInt64 {
        let raw = try read(width)
        var v: UInt64 = 0
        for i in (0..<width).reversed() { v = v << 8 | UInt64(raw[i]) }
        return v
    }

    /// A length field, checked against what remains of the pickle before anything is allocated.
    mutating func length(_ width: Int) throws -> Int {
        let n = try unsigned(width)
        guard n <= UInt64(bytes.count - position) else {
            throw error("declares \(n) bytes but the pickle ends \(bytes.count - position) bytes later")
        }
        return Int(n)
    }

    /// A newline-terminated line of at most 256 bytes (GLOBAL's module and name, PUT and GET's index).
    mutating func line() throws -> String {
        var end = position
        while end < bytes.count, bytes[end] != 0x0A {
            end += 1
            if end - position > 256 { throw error("has a line longer than 256 bytes") }
        }
        guard end < bytes.count else { throw error("has a line with no end: the pickle is truncated") }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<end]), as: UTF8.self)
        position = end + 1
        return text
    }

    mutating func text(_ count: Int, utf8: Bool) throws -> String {
        let raw = try read(count)
        try countString(count)
        if utf8 {
            guard let s = String(validating: raw, as: UTF8.self) else { throw error("holds a string that is not valid UTF-8") }
            return s
        }
        return String(raw.map { Character(Unicode.Scalar($0)) })  // Python 2 str: latin-1
    }

    mutating func countString(_ n: Int) throws {
        stringBytes += n
        guard stringBytes <= limits.stringBytes else {
            throw error("strings exceed the budget of \(limits.stringBytes) bytes: refused as a size bomb")
        }
    }

    // MARK: the stack

    mutating func push(_ item: Item) throws {
        objects += 1
        guard objects <= limits.objects else { throw error("creates more than \(limits.objects) values: refused as a size bomb") }
        guard stack.count + marks.count < limits.stackItems else {
            throw error("grows the stack past \(limits.stackItems) items: refused as a size bomb")
        }
        stack.append(item)
    }

    /// The lowest stack index the current frame (above the last MARK) may pop.
    var floor: Int { marks.last ?? 0 }

    mutating func pop() throws -> Item {
        guard stack.count > floor, let item = stack.popLast() else { throw error("pops from an empty stack (stack underflow)") }
        return item
    }

    func top() throws -> Item {
        guard stack.count > floor, let item = stack.last else { throw error("needs a value but the stack is empty (stack underflow)") }
        return item
    }

    mutating func popToMark() throws -> [Item] {
        guard let mark = marks.popLast() else { throw error("needs a MARK but none is open (stack underflow)") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    mutating func tuple(_ items: [Item]) throws -> Item {
        try checkSize(items.count)
        let depth = 1 + (items.map(\.depth).max() ?? 0)
        guard depth <= limits.nesting else { throw error("nests tuples deeper than \(limits.nesting): refused as a recursion bomb") }
        return .tuple(items, depth: depth)
    }

    func checkSize(_ n: Int) throws {
        guard n <= limits.containerItems else {
            throw error("builds a container of more than \(limits.containerItems) items: refused as a size bomb")
        }
    }

    mutating func newList() -> ListBox {
        let l = ListBox()
        lists.append(l)
        return l
    }

    mutating func newDict(ordered: Bool) -> DictBox {
        let d = DictBox(ordered: ordered)
        dicts.append(d)
        return d
    }

    // MARK: the memo

    mutating func put(_ index: Int) throws {
        guard index >= 0 else { throw error("stores to a negative memo index \(index)") }
        let item = try top()
        if memo[index] == nil {
            guard memo.count < limits.memoEntries else { throw error("stores more than \(limits.memoEntries) memo entries: refused as a size bomb") }
        }
        memo[index] = item
    }

    mutating func get(_ index: Int) throws {
        guard let item = memo[index] else { throw error("fetches memo index \(index), which was never stored") }
        try push(item)
    }

    mutating func decimal(_ text: String) throws -> Int {
        guard let n = Int(text), n >= 0 else { throw error("has a memo index '\(text)' that is not a number") }
        return n
    }

    // MARK: containers

    mutating func append(_ items: [Item], to target: Item) throws {
        guard case .list(let list) = target else { throw error("appends to \(describe(target)), not a list") }
        try checkSize(list.items.count + items.count)
        list.items += items
    }

    mutating func setItems(_ items: [Item], in target: Item) throws {
        guard items.count % 2 == 0 else { throw error("has an odd number of items (\(items.count)) for key-value pairs") }
        guard case .dict(let dict) = target else { throw error("sets items of \(describe(target)), not a dict") }
        try checkSize(dict.entries.count + items.count / 2)
        for i in stride(from: 0, to: items.count, by: 2) {
            let key = items[i], value = items[i + 1]
            switch key {
            case .value(let k):
                if let at = dict.index[k] {
                    dict.entries[at].value = value
                } else {
                    dict.index[k] = dict.entries.count
                    dict.entries.append((key, value))
                }
            case .tuple:
                dict.entries.append((key, value))
            default:
                throw error("uses \(describe(key)) as a dict key, which is not hashable")
            }
        }
    }

    func describe(_ item: Item) -> String {
        switch item {
        case .value(let v): v.kind
        case .tuple: "a tuple"
        case .list: "a list"
        case .dict: "a dict"
        case .global(_, let name): "the global `\(name)`"
        }
    }

    // MARK: globals

    mutating func global(module: String, name: String) throws -> Item {
        let dotted = "\(module).\(name)"
        guard let g = AllowedGlobal(module: module, name: name) else { throw refusal("pickle calls `\(dotted)`") }
        return .global(g, name: dotted)
    }

    func string(_ item: Item, _ what: String) throws -> String {
        guard case .value(.string(let s)) = item else { throw error("needs a string for \(what), found \(describe(item))") }
        return s
    }

    func int(_ item: Item, _ what: String) throws -> Int {
        switch item {
        case .value(.int(let n)): return n
        case .value(.bool(let b)): return b ? 1 : 0
        default: throw error("needs an integer for \(what), found \(describe(item))")
        }
    }

    func ints(_ item: Item, _ what: String) throws -> [Int] {
        switch item {
        case .tuple(let items, _): return try items.map { try int($0, what) }
        case .list(let l): return try l.items.map { try int($0, what) }
        default: throw error("needs a tuple of integers for \(what), found \(describe(item))")
        }
    }

    /// REDUCE: the value an allowed callable would build from `args`, built here.
    mutating func reduce(_ callable: Item, _ argsItem: Item) throws -> Item {
        guard case .global(let g, let name) = callable else {
            throw refusal("pickle calls \(describe(callable)) as a function")
        }
        guard g.isCallable else { throw refusal("pickle calls `\(name)`") }
        guard case .tuple(let args, _) = argsItem else { throw error("applies `\(name)` to \(describe(argsItem)), not a tuple of arguments") }
        switch g {
        case .orderedDict:
            guard args.isEmpty else { throw error("builds an OrderedDict from arguments; only an empty one is read") }
            return .dict(newDict(ordered: true))
        case .size:
            guard args.count == 1 else { throw error("builds a torch.Size from \(args.count) arguments; 1 was expected") }
            return try tuple(try ints(args[0], "torch.Size").map { .value(.int($0)) })
        case .device:
            guard (1...2).contains(args.count) else { throw error("builds a torch.device from \(args.count) arguments") }
            var text = try string(args[0], "torch.device")
            if args.count == 2 { text += ":\(try int(args[1], "the device index"))" }
            return .value(.device(text))
        case .rebuildTensorV2, .rebuildTensorV3:
            let v3 = g == .rebuildTensorV3
            let fixed = v3 ? 7 : 6
            guard args.count == fixed || args.count == fixed + 1 else {
                throw error("calls `\(name)` with \(args.count) arguments; \(fixed) or \(fixed + 1) were expected")
            }
            guard case .value(.storage(let storage)) = args[0] else {
                throw error("calls `\(name)` on \(describe(args[0])), not a storage from a persistent id")
            }
            let dtype: TorchDType
            if v3 {
                guard case .global(.dtype(let t), _) = args[6] else { throw error("calls `\(name)` with \(describe(args[6])) as its dtype") }
                dtype = t
            } else {
                guard case .typed(let t) = storage.type else {
                    throw error("calls `\(name)` on an UntypedStorage, which has no dtype; _rebuild_tensor_v3 names one")
                }
                dtype = t
            }
            let offset = try int(args[1], "the storage offset")
            let shape = try ints(args[2], "the size")
            let strides = try ints(args[3], "the stride")
            guard shape.count == strides.count else {
                throw error("rebuilds a tensor with \(shape.count) sizes but \(strides.count) strides")
            }
            return .value(.tensor(TorchTensorReference(storage: storage, dtype: dtype, offset: offset, shape: shape, strides: strides)))
        case .rebuildParameter:
            guard args.count == 3 else { throw error("calls `\(name)` with \(args.count) arguments; 3 were expected") }
            guard case .value(.tensor) = args[0] else { throw error("calls `\(name)` on \(describe(args[0])), not a tensor") }
            return args[0]
        case .storageClass, .dtype:
            throw refusal("pickle calls `\(name)`")
        }
    }

    /// BINPERSID: `('storage', <storage class>, key, location, numel)`, with a sixth `None` in the
    /// legacy format. Any other shape is refused.
    func storage(_ pid: Item) throws -> Item {
        guard case .tuple(let parts, _) = pid, parts.count == 5 || parts.count == 6,
              case .value(.string("storage")) = parts[0] else {
            throw refusal("pickle passes a persistent id that is not ('storage', type, key, location, numel)")
        }
        guard case .global(.storageClass(let type), _) = parts[1] else {
            throw error("names \(describe(parts[1])) as a storage type")
        }
        let key = try string(parts[2], "the storage key")
        guard !key.isEmpty, key.count <= 64, key.utf8.allSatisfy({ $0 == 0x5F || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
            throw error("names a storage key '\(key.prefix(80))' that is not letters, digits and underscores")
        }
        let location = try string(parts[3], "the storage location")
        let count = try int(parts[4], "the storage size")
        guard count >= 0 else { throw error("gives storage '\(key)' a negative size \(count)") }
        if parts.count == 6 {
            guard case .value(.none) = parts[5] else {
                throw error("gives storage '\(key)' view metadata (pre-1.0 storage views), which Recast does not read")
            }
        }
        let ref = TorchStorageReference(type: type, key: key, location: location, count: count)
        guard ref.byteCount != nil else { throw error("gives storage '\(key)' a size that overflows") }
        return .value(.storage(ref))
    }

    // MARK: the loop

    /// Runs opcodes up to STOP and returns the value left on top.
    mutating func execute() throws -> Item {
        var first = true
        while true {
            opcodeStart = position
            guard position < bytes.count else {
                opcode = 0
                throw fault(offset: position, "the pickle ends before its STOP opcode: it is truncated")
            }
            opcode = try byte()
            if first {
                guard opcode == Opcode.proto else { throw error("the pickle does not start with PROTO: protocols 0 and 1 are not read") }
                first = false
            }
            switch opcode {
            case Opcode.proto:
                let p = try byte()
                guard (2...5).contains(p) else { throw error("protocol \(p); Recast reads protocols 2 to 5") }
            case Opcode.frame:
                _ = try length(8)
            case Opcode.stop:
                let result = try pop()
                return result
            case Opcode.mark:
                guard stack.count + marks.count < limits.stackItems else { throw error("opens more than \(limits.stackItems) marks: refused") }
                marks.append(stack.count)
            case Opcode.pop:
                if stack.count == floor, !marks.isEmpty { marks.removeLast() } else { _ = try pop() }
            case Opcode.popMark:
                _ = try popToMark()
            case Opcode.dup:
                try push(try top())
            case Opcode.none: try push(.value(.none))
            case Opcode.newTrue: try push(.value(.bool(true)))
            case Opcode.newFalse: try push(.value(.bool(false)))
            case Opcode.binInt: try push(.value(.int(Int(Int32(truncatingIfNeeded: try unsigned(4))))))
            case Opcode.binInt1: try push(.value(.int(Int(try unsigned(1)))))
            case Opcode.binInt2: try push(.value(.int(Int(try unsigned(2)))))
            case Opcode.long1: try push(.value(try long(try length(1))))
            case Opcode.long4: try push(.value(try long(try length(4))))
            case Opcode.binFloat:
                let raw = try read(8)
                var bits: UInt64 = 0
                for b in raw { bits = bits << 8 | UInt64(b) }  // big-endian
                try push(.value(.float(Double(bitPattern: bits))))
            case Opcode.binUnicode: try push(.value(.string(try text(try length(4), utf8: true))))
            case Opcode.shortBinUnicode: try push(.value(.string(try text(try length(1), utf8: true))))
            case Opcode.binUnicode8: try push(.value(.string(try text(try length(8), utf8: true))))
            case Opcode.binString: try push(.value(.string(try text(try length(4), utf8: false))))
            case Opcode.shortBinString: try push(.value(.string(try text(try length(1), utf8: false))))
            case Opcode.binBytes, Opcode.shortBinBytes, Opcode.binBytes8, Opcode.byteArray8:
                let width = opcode == Opcode.shortBinBytes ? 1 : opcode == Opcode.binBytes ? 4 : 8
                let n = try length(width)
                try countString(n)
                try push(.value(.bytes(Array(try read(n)))))
            case Opcode.emptyTuple: try push(try tuple([]))
            case Opcode.tuple: try push(try tuple(try popToMark()))
            case Opcode.tuple1, Opcode.tuple2, Opcode.tuple3:
                let n = Int(opcode - Opcode.tuple1) + 1
                var items: [Item] = []
                for _ in 0..<n { items.insert(try pop(), at: 0) }
                try push(try tuple(items))
            case Opcode.emptyList: try push(.list(newList()))
            case Opcode.list:
                let items = try popToMark()
                try checkSize(items.count)
                let l = newList()
                l.items = items
                try push(.list(l))
            case Opcode.append:
                let v = try pop()
                try append([v], to: try top())
            case Opcode.appends:
                let items = try popToMark()
                try append(items, to: try top())
            case Opcode.emptyDict: try push(.dict(newDict(ordered: false)))
            case Opcode.dict:
                let items = try popToMark()
                let d = newDict(ordered: false)
                try setItems(items, in: .dict(d))
                try push(.dict(d))
            case Opcode.setItem:
                let v = try pop(), k = try pop()
                try setItems([k, v], in: try top())
            case Opcode.setItems:
                let items = try popToMark()
                try setItems(items, in: try top())
            case Opcode.binPut: try put(Int(try unsigned(1)))
            case Opcode.longBinPut: try put(Int(try unsigned(4)))
            case Opcode.put: try put(try decimal(try line()))
            case Opcode.memoize: try put(memo.count)
            case Opcode.binGet: try get(Int(try unsigned(1)))
            case Opcode.longBinGet: try get(Int(try unsigned(4)))
            case Opcode.get: try get(try decimal(try line()))
            case Opcode.global:
                let module = try line(), name = try line()
                try push(try global(module: module, name: name))
            case Opcode.stackGlobal:
                let name = try string(try pop(), "STACK_GLOBAL's name")
                let module = try string(try pop(), "STACK_GLOBAL's module")
                try push(try global(module: module, name: name))
            case Opcode.reduce:
                let args = try pop(), callable = try pop()
                try push(try reduce(callable, args))
            case Opcode.build:
                let state = try pop()
                let target = try top()
                // A state_dict is an OrderedDict carrying `_metadata` (module versions) as its state:
                // dropped, since it sets nothing Recast reads.
                guard case .dict(let d) = target, d.isOrderedDict, case .dict = state else {
                    throw refusal("pickle sets the state of \(describe(target)) (`__setstate__`)")
                }
            case Opcode.binPersId:
                try push(try storage(try pop()))
            case Opcode.inst:
                let module = try line(), name = try line()
                throw refusal("pickle calls `\(module).\(name)`")
            case Opcode.obj:
                let items = try popToMark()
                throw refusal("pickle instantiates \(items.first.map(describe) ?? "nothing")")
            case Opcode.newObj:
                _ = try pop()
                throw refusal("pickle instantiates \(describe(try pop()))")
            case Opcode.newObjEx:
                _ = try pop(); _ = try pop()
                throw refusal("pickle instantiates \(describe(try pop()))")
            case Opcode.ext1, Opcode.ext2, Opcode.ext4:
                throw refusal("pickle calls a global through the extension registry")
            case Opcode.persId:
                throw refusal("pickle passes a text persistent id")
            default:
                throw error("opcode 0x\(String(opcode, radix: 16)) is not one Recast reads (the checkpoint holds more than tensors, dicts, lists, tuples, strings and numbers)")
            }
        }
    }

    /// LONG1/LONG4: little-endian two's complement, as an `Int` when it fits.
    mutating func long(_ n: Int) throws -> PickleValue {
        let raw = Array(try read(n))
        guard !raw.isEmpty else { return .int(0) }
        if n <= 8 {
            var v: UInt64 = (raw[n - 1] & 0x80) != 0 ? UInt64.max : 0
            for b in raw.reversed() { v = v << 8 | UInt64(b) }
            return .int(Int(Int64(bitPattern: v)))
        }
        try countString(n)
        return .bigInt(raw)
    }

    // MARK: the result

    /// Turns an item into a value, counting every value produced (a DAG shared through the memo
    /// counts each time it appears) and refusing cycles and deep nesting.
    mutating func materialise(_ item: Item, depth: Int) throws -> PickleValue {
        guard depth <= limits.nesting else {
            throw fault("the pickle nests containers deeper than \(limits.nesting) (or holds a container inside itself): refused as a recursion bomb")
        }
        objects += 1
        guard objects <= limits.objects else {
            throw fault("the pickle's value has more than \(limits.objects) parts: refused as a size bomb")
        }
        switch item {
        case .value(let v): return v
        case .tuple(let items, _): return .tuple(try items.map { try materialise($0, depth: depth + 1) })
        case .list(let l): return .list(try l.items.map { try materialise($0, depth: depth + 1) })
        case .dict(let d):
            return .dict(try d.entries.map {
                PickleDictEntry(key: try materialise($0.key, depth: depth + 1), value: try materialise($0.value, depth: depth + 1))
            })
        case .global(.dtype(let t), _): return .dtype(t)
        case .global(_, let name):
            throw fault("the pickle leaves the global `\(name)` as a value; Recast reads only data")
        }
    }
}

/// Opcode bytes and their names.
enum Opcode {
    static let mark: UInt8 = 0x28, stop: UInt8 = 0x2E, pop: UInt8 = 0x30, popMark: UInt8 = 0x31, dup: UInt8 = 0x32
    static let binFloat: UInt8 = 0x47, binInt: UInt8 = 0x4A, binInt1: UInt8 = 0x4B, binInt2: UInt8 = 0x4D
    static let none: UInt8 = 0x4E, persId: UInt8 = 0x50, binPersId: UInt8 = 0x51, reduce: UInt8 = 0x52
    static let binString: UInt8 = 0x54, shortBinString: UInt8 = 0x55, binUnicode: UInt8 = 0x58
    static let append: UInt8 = 0x61, build: UInt8 = 0x62, global: UInt8 = 0x63, dict: UInt8 = 0x64
    static let emptyDict: UInt8 = 0x7D, appends: UInt8 = 0x65, get: UInt8 = 0x67, binGet: UInt8 = 0x68
    static let inst: UInt8 = 0x69, longBinGet: UInt8 = 0x6A, list: UInt8 = 0x6C, emptyList: UInt8 = 0x5D
    static let obj: UInt8 = 0x6F, put: UInt8 = 0x70, binPut: UInt8 = 0x71, longBinPut: UInt8 = 0x72
    static let setItem: UInt8 = 0x73, tuple: UInt8 = 0x74, emptyTuple: UInt8 = 0x29, setItems: UInt8 = 0x75
    static let binBytes: UInt8 = 0x42, shortBinBytes: UInt8 = 0x43
    static let proto: UInt8 = 0x80, newObj: UInt8 = 0x81, ext1: UInt8 = 0x82, ext2: UInt8 = 0x83, ext4: UInt8 = 0x84
    static let tuple1: UInt8 = 0x85, tuple2: UInt8 = 0x86, tuple3: UInt8 = 0x87
    static let newTrue: UInt8 = 0x88, newFalse: UInt8 = 0x89, long1: UInt8 = 0x8A, long4: UInt8 = 0x8B
    static let shortBinUnicode: UInt8 = 0x8C, binUnicode8: UInt8 = 0x8D, binBytes8: UInt8 = 0x8E
    static let newObjEx: UInt8 = 0x92, stackGlobal: UInt8 = 0x93, memoize: UInt8 = 0x94, frame: UInt8 = 0x95
    static let byteArray8: UInt8 = 0x96

    private static let names: [UInt8: String] = [
        mark: "MARK", stop: "STOP", pop: "POP", popMark: "POP_MARK", dup: "DUP", binFloat: "BINFLOAT",
        binInt: "BININT", binInt1: "BININT1", binInt2: "BININT2", none: "NONE", persId: "PERSID",
        binPersId: "BINPERSID", reduce: "REDUCE", binString: "BINSTRING", shortBinString: "SHORT_BINSTRING",
        binUnicode: "BINUNICODE", append: "APPEND", build: "BUILD", global: "GLOBAL", dict: "DICT",
        emptyDict: "EMPTY_DICT", appends: "APPENDS", get: "GET", binGet: "BINGET", inst: "INST",
        longBinGet: "LONG_BINGET", list: "LIST", emptyList: "EMPTY_LIST", obj: "OBJ", put: "PUT",
        binPut: "BINPUT", longBinPut: "LONG_BINPUT", setItem: "SETITEM", tuple: "TUPLE", emptyTuple: "EMPTY_TUPLE",
        setItems: "SETITEMS", binBytes: "BINBYTES", shortBinBytes: "SHORT_BINBYTES", proto: "PROTO",
        newObj: "NEWOBJ", ext1: "EXT1", ext2: "EXT2", ext4: "EXT4", tuple1: "TUPLE1", tuple2: "TUPLE2",
        tuple3: "TUPLE3", newTrue: "NEWTRUE", newFalse: "NEWFALSE", long1: "LONG1", long4: "LONG4",
        shortBinUnicode: "SHORT_BINUNICODE", binUnicode8: "BINUNICODE8", binBytes8: "BINBYTES8",
        newObjEx: "NEWOBJ_EX", stackGlobal: "STACK_GLOBAL", memoize: "MEMOIZE", frame: "FRAME", byteArray8: "BYTEARRAY8",
    ]

    static func name(_ op: UInt8) -> String { names[op] ?? "0x" + String(op, radix: 16) }
}
