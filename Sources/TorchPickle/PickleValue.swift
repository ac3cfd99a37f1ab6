/// The value a pickle describes, once the machine has run it: plain data and the torch objects the
/// allow-list lets a checkpoint build. Nothing here can run code.
public indirect enum PickleValue: Sendable, Hashable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer beyond 64 bits, as its little-endian two's-complement bytes (LONG1/LONG4).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    /// A dict or `collections.OrderedDict`, entries in insertion order (a key set twice keeps its first place).
    case dict([PickleDictEntry])
    case tensor(TorchTensorReference)
    case storage(TorchStorageReference)
    case dtype(TorchDType)
    /// A `torch.device`, as its text (`cpu`, `cuda:0`).
    case device(String)

    /// The value as dict entries, or nil when it is not a dict.
    public var dictEntries: [PickleDictEntry]? {
        if case .dict(let entries) = self { return entries }
        return nil
    }

    /// The value of a string key of a dict.
    public subscript(key: String) -> PickleValue? {
        dictEntries?.first { $0.key == .string(key) }?.value
    }

    /// A word for the kind of value, for messages.
    public var kind: String {
        switch self {
        case .none: "None"
        case .bool: "a bool"
        case .int, .bigInt: "an int"
        case .float: "a float"
        case .string: "a string"
        case .bytes: "bytes"
        case .list: "a list"
        case .tuple: "a tuple"
        case .dict: "a dict"
        case .tensor: "a tensor"
        case .storage: "a storage"
        case .dtype: "a dtype"
        case .device: "a device"
        }
    }

    /// Plain scalars and strings as text (what goes into a store's metadata); nil for anything else.
    public var scalarText: String? {
        switch self {
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .float(let d): String(d)
        case .string(let s): s
        case .dtype(let t): "torch.\(t.rawValue)"
        case .device(let d): d
        default: nil
        }
    }
}

/// One entry of a dict.
public struct PickleDictEntry: Sendable, Hashable {
    public var key: PickleValue
    public var value: PickleValue
    public init(key: PickleValue, value: PickleValue) {
        self.key = key
        self.value = value
    }
}
