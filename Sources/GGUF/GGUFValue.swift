/// The type code of a GGUF metadata value (`gguf_type` in gguf.h).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The name gguf-py gives the type (`UINT8`, `STRING`, `ARRAY`…).
    public var name: String {
        switch self {
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .uint32: "UINT32"
        case .int32: "INT32"
        case .float32: "FLOAT32"
        case .bool: "BOOL"
        case .string: "STRING"
        case .array: "ARRAY"
        case .uint64: "UINT64"
        case .int64: "INT64"
        case .float64: "FLOAT64"
        }
    }

    /// Bytes a value of this type occupies when the type has a fixed size; nil for strings and arrays.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }

    /// The fewest bytes a value of this type can occupy: a string is at least its 8-byte length, an array
    /// its 4-byte element type and 8-byte count. Bounds counts against the file before anything is allocated.
    var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 12) }
}

/// One GGUF metadata value.
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    public var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    public var arrayValue: GGUFArray? { if case let .array(a) = self { return a }; return nil }
    public var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }

    /// The value of any integer type, when it fits in an `Int`.
    public var intValue: Int? {
        switch self {
        case let .uint8(v): Int(v)
        case let .int8(v): Int(v)
        case let .uint16(v): Int(v)
        case let .int16(v): Int(v)
        case let .uint32(v): Int(v)
        case let .int32(v): Int(v)
        case let .uint64(v): Int(exactly: v)
        case let .int64(v): Int(v)
        default: nil
        }
    }

    /// The value of either floating-point type, widened to `Double`.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: nil
        }
    }

    /// The value as text; arrays of more than eight elements are summarised by count and type.
    public var description: String {
        switch self {
        case let .uint8(v): "\(v)"
        case let .int8(v): "\(v)"
        case let .uint16(v): "\(v)"
        case let .int16(v): "\(v)"
        case let .uint32(v): "\(v)"
        case let .int32(v): "\(v)"
        case let .float32(v): "\(v)"
        case let .bool(v): "\(v)"
        case let .string(s): s
        case let .array(a): a.description
        case let .uint64(v): "\(v)"
        case let .int64(v): "\(v)"
        case let .float64(v): "\(v)"
        }
    }
}

/// A GGUF metadata array: elements of one declared type (arrays of arrays may differ inside).
public struct GGUFArray: Sendable, Equatable, CustomStringConvertible {
    /// The element type the array declares (also for an empty array).
    public var elementType: GGUFValueType
    public var elements: [GGUFValue]

    public init(elementType: GGUFValueType, elements: [GGUFValue]) {
        self.elementType = elementType
        self.elements = elements
    }

    public var count: Int { elements.count }

    /// The elements when the array holds strings.
    public var strings: [String]? { elementType == .string ? elements.compactMap(\.stringValue) : nil }

    /// The elements when there are at most eight; beyond, their count and type (`49,152 strings`).
    public var description: String {
        if elements.count > 8 {
            let what = elementType == .string ? "strings" : elementType == .array ? "arrays" : "\(elementType.name) values"
            return "\(groupedDigits(elements.count)) \(what)"
        }
        return "[" + elements.map { $0.type == .string ? "\"\($0)\"" : "\($0)" }.joined(separator: ", ") + "]"
    }
}

/// `49152` as `49,152`.
func groupedDigits(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}
