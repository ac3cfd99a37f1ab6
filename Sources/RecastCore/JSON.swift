/// A JSON value that keeps object keys in order and numbers as written, so integers of any size
/// are checked exactly rather than through a `Double`.
public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The literal text of a number, as it appeared.
    case number(String)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        case let (.number(x), .number(y)): x == y || (Double(x) != nil && Double(x) == Double(y))
        case let (.string(x), .string(y)): x == y
        case let (.array(x), .array(y)): x == y
        case let (.object(x), .object(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    public static func int(_ v: Int) -> JSON { .number(String(v)) }
    public static func double(_ v: Double) -> JSON {
        if v.isNaN || v.isInfinite { return .null }
        if v == v.rounded(), abs(v) < 1e15 { return .number(String(Int(v))) }
        return .number("\(v)")
    }

    public subscript(key: String) -> JSON? {
        if case let .object(pairs) = self { return pairs.first { $0.0 == key }?.1 }
        return nil
    }

    public var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    public var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var arrayValue: [JSON]? { if case let .array(a) = self { return a }; return nil }
    public var objectValue: [(String, JSON)]? { if case let .object(o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
    /// The number as an exact `Int`; nil for fractions, exponents or values outside `Int`.
    public var intValue: Int? {
        guard case let .number(s) = self else { return nil }
        return Int(s)
    }
    public var doubleValue: Double? {
        guard case let .number(s) = self else { return nil }
        return Double(s)
    }

    /// Replaces or appends `key` in an object.
    public mutating func set(_ key: String, _ value: JSON) {
        guard case var .object(pairs) = self else { return }
        if let i = pairs.firstIndex(where: { $0.0 == key }) { pairs[i].1 = value } else { pairs.append((key, value)) }
        self = .object(pairs)
    }
}

/// Why a JSON text did not parse, and where.
public struct JSONError: Error, Sendable, CustomStringConvertible {
    public var offset: Int
    public var message: String
    public var description: String { "\(message) at byte \(offset)" }
}

extension JSON {
    /// Parses UTF-8 JSON into a tree. Duplicate object keys are an error (they are ambiguous for every
    /// reader). Large texts should be read through `JSONDocument`, which keeps them compact; this builds
    /// the tree from one.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 128) throws(JSONError) -> JSON {
        try JSONDocument.parse(bytes, maxDepth: maxDepth).root.json
    }

    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSON { try JSONDocument.parse(bytes).root.json }

    public static func parse(_ text: String) throws(JSONError) -> JSON { try parse(Array(text.utf8)) }
}

/// Caps on JSON files that have no reason to be large, so that a hostile or broken one is refused with
/// a message instead of exhausting memory.
public enum JSONFileLimit {
    /// config.json, generation_config.json, tokenizer_config.json. The largest real configs (with
    /// tens of thousands of labels) are about 1 MB.
    public static let config = 4 << 20
    /// A sharded checkpoint's index (`*.index.json`): about 100 bytes per tensor, so this holds
    /// 300,000 tensors, three times the largest published models.
    public static let index = 32 << 20
    /// tokenizer.json: vocabularies of 250,000 tokens with their merges reach about 20 MB.
    public static let tokenizer = 64 << 20

    /// Reads and parses a JSON file of at most `limit` bytes; `what` names it in the refusal
    /// ("a config", "an index").
    public static func read(_ path: String, limit: Int, what: String) throws -> JSONDocument {
        if let size = FileSystem.fileSize(path), size > limit {
            throw CheckpointError(file: path, "is \(ByteSize.format(size)) (\(size) bytes), over the limit of \(ByteSize.format(limit)) (\(limit) bytes) for \(what): it is not a real \(what) or it is damaged")
        }
        let bytes = try FileSystem.readAll(path)
        guard bytes.count <= limit else {
            throw CheckpointError(file: path, "is \(ByteSize.format(bytes.count)) (\(bytes.count) bytes), over the limit of \(ByteSize.format(limit)) (\(limit) bytes) for \(what): it is not a real \(what) or it is damaged")
        }
        do {
            return try JSONDocument.parse(bytes)
        } catch {
            throw CheckpointError(file: path, offset: error.offset, "is not valid JSON: \(error.message)")
        }
    }
}

extension JSON {
    /// Serialises compactly (`pretty: false`) or with two-space indentation; keys keep their order.
    public func serialized(pretty: Bool = false) -> String {
        var out = ""
        write(into: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(into out: inout String, pretty: Bool, indent: Int) {
        let nl = pretty ? "\n" : ""
        let pad = pretty ? String(repeating: "  ", count: indent + 1) : ""
        let endPad = pretty ? String(repeating: "  ", count: indent) : ""
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .number(s): out += s
        case let .string(s): JSON.quote(s, into: &out)
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            // Arrays of scalars stay on one line: shapes and layer lists read better that way.
            let flat = items.allSatisfy { if case .array = $0 { return false }; if case .object = $0 { return false }; return true }
            if flat || !pretty {
                out += "["
                for (k, v) in items.enumerated() {
                    if k > 0 { out += pretty ? ", " : "," }
                    v.write(into: &out, pretty: pretty, indent: indent + 1)
                }
                out += "]"
            } else {
                out += "[" + nl
                for (k, v) in items.enumerated() {
                    out += pad
                    v.write(into: &out, pretty: pretty, indent: indent + 1)
                    out += (k + 1 < items.count ? "," : "") + nl
                }
                out += endPad + "]"
            }
        case let .object(pairs):
            if pairs.isEmpty { out += "{}"; return }
            out += "{" + nl
            for (k, (key, v)) in pairs.enumerated() {
                out += pad
                JSON.quote(key, into: &out)
                out += pretty ? ": " : ":"
                v.write(into: &out, pretty: pretty, indent: indent + 1)
                out += (k + 1 < pairs.count ? "," : "") + nl
            }
            out += endPad + "}"
        }
    }

    public static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                // Controls, DEL, C1 and bidi overrides as \u escapes: the same text to a JSON parser, and
                // nothing a terminal acts on when the JSON is shown raw (`TerminalText.isUnsafe`).
                if TerminalText.isUnsafe(u) {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}
