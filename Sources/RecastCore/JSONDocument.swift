/// A parsed JSON text in compact form: the source bytes plus one 12-byte node per value (and per object
/// key), in document order. Strings are decoded and numbers converted only when asked, so a 99 MB
/// safetensors header costs a few bytes of memory per input byte, where a tree of `JSON` values costs
/// about 28.
///
/// Parsing checks everything `JSON.parse` always checked: syntax, nesting depth, escapes, surrogate
/// pairs, UTF-8 inside strings, and duplicate object keys (compared after unescaping).
public final class JSONDocument: Sendable {
    /// The source text.
    let text: [UInt8]
    let nodes: [Node]

    struct Node: Sendable {
        /// Where the value starts in `text` (for strings, after the opening quote).
        var start: UInt32
        /// Scalars: where the value ends in `text` (for strings, at the closing quote). Containers: the
        /// index of the node after the container and everything inside it.
        var extent: UInt32
        var kind: JSONKind
        /// A string holding backslash escapes, which must be decoded when read.
        var escaped: Bool

        var isContainer: Bool { kind == .array || kind == .object }
        /// Byte range of a scalar in `text`.
        var end: Int { Int(extent) }
    }

    /// The index after node `i` and everything inside it.
    func next(_ i: Int) -> Int { nodes[i].isContainer ? Int(nodes[i].extent) : i + 1 }

    /// Largest text the compact form can address.
    public static let maxLength = Int(UInt32.max) - 1

    init(text: [UInt8], nodes: [Node]) {
        self.text = text
        self.nodes = nodes
    }

    /// Parses UTF-8 JSON. Duplicate object keys are an error (they are ambiguous for every reader).
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 128) throws(JSONError) -> JSONDocument {
        JSONDocument(text: Array(bytes), nodes: try nodes(of: bytes, maxDepth: maxDepth))
    }

    /// Parses UTF-8 JSON held in an array, which the document shares rather than copies.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 128) throws(JSONError) -> JSONDocument {
        let result: Result<[Node], JSONError> = bytes.withUnsafeBytes { raw in
            do throws(JSONError) { return .success(try nodes(of: raw, maxDepth: maxDepth)) } catch { return .failure(error) }
        }
        return JSONDocument(text: bytes, nodes: try result.get())
    }

    static func nodes(of bytes: UnsafeRawBufferPointer, maxDepth: Int) throws(JSONError) -> [Node] {
        guard bytes.count <= maxLength else {
            throw JSONError(offset: 0, message: "JSON text of \(bytes.count) bytes is over the limit of \(maxLength)")
        }
        var p = CompactParser(bytes: bytes, maxDepth: maxDepth)
        p.skipSpace()
        try p.value(depth: 0)
        p.skipSpace()
        if p.i != bytes.count { throw JSONError(offset: p.i, message: "unexpected text after the JSON value") }
        return p.nodes
    }

    /// The top-level value.
    public var root: JSONView { JSONView(document: self, index: 0) }

    /// The SHA-256 (hex) of the source text: provenance hashes the bytes that were parsed, without
    /// reading the file again.
    public var sha256: String { text.withUnsafeBytes { SHA256.hex($0) } }

    /// Bytes held: the text and the nodes.
    public var memoryFootprint: Int { text.count + nodes.count * MemoryLayout<Node>.stride }
}

/// What a JSON value is.
public enum JSONKind: UInt8, Sendable {
    case null, bool, number, string, array, object
}

/// One value inside a `JSONDocument`. Reading it has the same accessors as `JSON`.
public struct JSONView: Sendable {
    public let document: JSONDocument
    let index: Int

    var node: JSONDocument.Node { document.nodes[index] }
    public var kind: JSONKind { node.kind }

    /// Byte offset of the value in the source text.
    public var offset: Int { Int(node.start) - (node.kind == .string ? 1 : 0) }

    public var isNull: Bool { kind == .null }
    public var boolValue: Bool? { kind == .bool ? document.text[Int(node.start)] == UInt8(ascii: "t") : nil }

    /// The literal text of a number, as it appeared.
    public var numberText: String? {
        guard kind == .number else { return nil }
        let n = node
        return document.text.withUnsafeBufferPointer { String(decoding: $0[Int(n.start)..<n.end], as: UTF8.self) }
    }

    /// The number as an exact `Int`; nil for fractions, exponents or values outside `Int`.
    public var intValue: Int? {
        guard kind == .number else { return nil }
        let n = node
        return document.text.withUnsafeBufferPointer { t -> Int? in
            var i = Int(n.start)
            let negative = t[i] == UInt8(ascii: "-")
            if negative { i += 1 }
            var v = 0
            while i < n.end {
                let b = t[i]
                guard b >= 0x30 && b <= 0x39 else { return nil }
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = negative ? m.subtractingReportingOverflow(Int(b - 0x30)) : m.addingReportingOverflow(Int(b - 0x30))
                guard !o1, !o2 else { return nil }
                v = s
                i += 1
            }
            return v
        }
    }

    public var doubleValue: Double? { numberText.flatMap { Double($0) } }

    public var stringValue: String? {
        guard kind == .string else { return nil }
        let n = node
        return document.text.withUnsafeBufferPointer { t in
            let raw = UnsafeBufferPointer(rebasing: t[Int(n.start)..<n.end])
            if !n.escaped { return String(decoding: raw, as: UTF8.self) }
            return String(decoding: JSONEscapes.decode(raw), as: UTF8.self)
        }
    }

    /// Whether this is a string equal to `s`, without building a String when it holds no escapes.
    func stringEquals(_ s: String) -> Bool {
        let n = node
        guard n.kind == .string else { return false }
        if n.escaped { return stringValue == s }
        var s = s
        return s.withUTF8 { u in
            document.text.withUnsafeBufferPointer { t in
                u.count == n.end - Int(n.start) && memcmpEqual(u, UnsafeBufferPointer(rebasing: t[Int(n.start)..<n.end]))
            }
        }
    }

    /// Members of an object, or elements of an array; 0 for scalars.
    public var count: Int {
        switch kind {
        case .object: return children.count / 2
        case .array: return children.count
        default: return 0
        }
    }

    /// Node indices directly inside a container (keys and values alternate in objects).
    var children: [Int] {
        var out: [Int] = []
        let end = document.next(index)
        var i = index + 1
        while i < end {
            out.append(i)
            i = document.next(i)
        }
        return out
    }

    public var arrayValue: [JSONView]? {
        guard kind == .array else { return nil }
        return children.map { JSONView(document: document, index: $0) }
    }

    /// An object's members in order, keys decoded.
    public var objectValue: [(String, JSONView)]? {
        guard kind == .object else { return nil }
        var out: [(String, JSONView)] = []
        forEachMember { key, value in out.append((key.stringValue ?? "", value)) }
        return out
    }

    /// Calls `body` with each member's key (a string view) and value, in order; nothing for non-objects.
    public func forEachMember(_ body: (JSONView, JSONView) throws -> Void) rethrows {
        guard kind == .object else { return }
        let end = document.next(index)
        var i = index + 1
        while i < end {
            let value = i + 1
            try body(JSONView(document: document, index: i), JSONView(document: document, index: value))
            i = document.next(value)
        }
    }

    public subscript(key: String) -> JSONView? {
        guard kind == .object else { return nil }
        var found: JSONView?
        forEachMember { k, v in if found == nil, k.stringEquals(key) { found = v } }
        return found
    }

    /// The value as a `JSON` tree (for values that are small, or must be edited).
    public var json: JSON {
        switch kind {
        case .null: return .null
        case .bool: return .bool(boolValue ?? false)
        case .number: return .number(numberText ?? "0")
        case .string: return .string(stringValue ?? "")
        case .array: return .array(arrayValue?.map(\.json) ?? [])
        case .object: return .object(objectValue?.map { ($0.0, $0.1.json) } ?? [])
        }
    }

    public func serialized(pretty: Bool = false) -> String { json.serialized(pretty: pretty) }
}

private func memcmpEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    for k in 0..<a.count where a[k] != b[k] { return false }
    return true
}

/// Decoding of JSON string escapes, shared by the parser (to compare keys) and by `JSONView`.
enum JSONEscapes {
    /// Decodes the body of a string already checked by the parser.
    static func decode(_ raw: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        func hex4(_ at: Int) -> UInt32 {
            var v: UInt32 = 0
            for k in at..<(at + 4) {
                let b = raw[k]
                let d: UInt32 = b <= 0x39 ? UInt32(b - 0x30) : (b <= 0x46 ? UInt32(b - 0x41 + 10) : UInt32(b - 0x61 + 10))
                v = v << 4 | d
            }
            return v
        }
        while i < raw.count {
            let b = raw[i]
            guard b == UInt8(ascii: "\\") else { out.append(b); i += 1; continue }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(i)
                i += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    let low = hex4(i + 2)
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                if let u = Unicode.Scalar(scalar) { out.append(contentsOf: UTF8.encode(u)!) }
            default: out.append(e)  // \" \\ \/
            }
        }
        return out
    }
}

/// The parser behind `JSONDocument` (and `JSON.parse`): it records nodes and checks, but builds nothing.
struct CompactParser {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    var i = 0
    var nodes: [JSONDocument.Node] = []

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        // Every node but the first follows a ',', ':', '[' or '{'; reserving that many (at most one per
        // 3 bytes) spares the array's doubling, which would hold 1.5 copies of the nodes at its peak.
        var separators = 1
        for b in bytes where b == UInt8(ascii: ",") || b == UInt8(ascii: ":") || b == UInt8(ascii: "[") || b == UInt8(ascii: "{") {
            separators += 1
        }
        nodes.reserveCapacity(min(separators, bytes.count / 3 + 1))
    }

    func fail(_ m: String) -> JSONError { JSONError(offset: i, message: m) }

    mutating func skipSpace() {
        while i < bytes.count {
            let b = bytes[i]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            i += 1
        }
    }

    mutating func add(_ kind: JSONKind, _ start: Int, _ end: Int, escaped: Bool = false) {
        nodes.append(JSONDocument.Node(start: UInt32(start), extent: UInt32(end), kind: kind, escaped: escaped))
    }

    mutating func value(depth: Int) throws(JSONError) {
        guard depth < maxDepth else { throw fail("nesting deeper than \(maxDepth) levels") }
        guard i < bytes.count else { throw fail("unexpected end of JSON") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            let me = nodes.count
            add(.object, i, 0)
            i += 1
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
                close(me)
                return
            }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                try string()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipSpace()
                try value(depth: depth + 1)
                skipSpace()
                guard i < bytes.count else { throw fail("unexpected end of JSON inside an object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") {
                    i += 1
                    close(me)
                    try checkDuplicateKeys(object: me)
                    return
                }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            let me = nodes.count
            add(.array, i, 0)
            i += 1
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
                close(me)
                return
            }
            while true {
                skipSpace()
                try value(depth: depth + 1)
                skipSpace()
                guard i < bytes.count else { throw fail("unexpected end of JSON inside an array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") {
                    i += 1
                    close(me)
                    return
                }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            try string()
        case UInt8(ascii: "t"): let s = i; try literal("true"); add(.bool, s, i)
        case UInt8(ascii: "f"): let s = i; try literal("false"); add(.bool, s, i)
        case UInt8(ascii: "n"): let s = i; try literal("null"); add(.null, s, i)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let s = i
            try number()
            add(.number, s, i)
        default:
            if bytes[i] >= 0x80 && utf8SequenceLength(at: i) == nil { throw fail("text is not valid UTF-8") }
            throw fail("unexpected character")
        }
    }

    mutating func close(_ container: Int) {
        nodes[container].extent = UInt32(nodes.count)
    }

    func next(_ k: Int) -> Int { nodes[k].isContainer ? Int(nodes[k].extent) : k + 1 }

    mutating func literal(_ word: StaticString) throws(JSONError) {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for c in w {
            guard i < bytes.count, bytes[i] == c else { throw fail("invalid literal") }
            i += 1
        }
    }

    mutating func number() throws(JSONError) {
        func digit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, digit(bytes[i]) else { throw fail("invalid number") }
        if bytes[i] == 0x30 { i += 1 } else { while i < bytes.count, digit(bytes[i]) { i += 1 } }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < bytes.count, digit(bytes[i]) else { throw fail("invalid number") }
            while i < bytes.count, digit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, digit(bytes[i]) else { throw fail("invalid number") }
            while i < bytes.count, digit(bytes[i]) { i += 1 }
        }
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Checks a string and records it; the body stays in the source.
    mutating func string() throws(JSONError) {
        i += 1  // opening quote
        let start = i
        var escaped = false
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { break }
            if b < 0x20 { throw fail("control character in string") }
            if b == UInt8(ascii: "\\") {
                escaped = true
                i += 1
                guard i < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    break
                case UInt8(ascii: "u"):
                    let scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in \\u escape")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in \\u escape") }
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                default: throw fail("invalid escape")
                }
                continue
            }
            if b < 0x80 { i += 1; continue }
            guard let n = utf8SequenceLength(at: i) else { throw fail("string is not valid UTF-8") }
            i += n
        }
        add(.string, start, i, escaped: escaped)
        i += 1
    }

    /// The length of the well-formed UTF-8 sequence starting at `at` (a non-ASCII lead byte), or nil.
    func utf8SequenceLength(at k: Int) -> Int? {
        let b0 = bytes[k]
        func cont(_ j: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { j < bytes.count && bytes[j] >= lo && bytes[j] <= hi }
        switch b0 {
        case 0xC2...0xDF: return cont(k + 1) ? 2 : nil
        case 0xE0: return cont(k + 1, 0xA0) && cont(k + 2) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF: return cont(k + 1) && cont(k + 2) ? 3 : nil
        case 0xED: return cont(k + 1, 0x80, 0x9F) && cont(k + 2) ? 3 : nil
        case 0xF0: return cont(k + 1, 0x90) && cont(k + 2) && cont(k + 3) ? 4 : nil
        case 0xF1...0xF3: return cont(k + 1) && cont(k + 2) && cont(k + 3) ? 4 : nil
        case 0xF4: return cont(k + 1, 0x80, 0x8F) && cont(k + 2) && cont(k + 3) ? 4 : nil
        default: return nil
        }
    }

    /// The decoded bytes of key node `k`.
    func keyBytes(_ k: Int) -> [UInt8] {
        let n = nodes[k]
        let raw = UnsafeRawBufferPointer(rebasing: bytes[Int(n.start)..<n.end]).bindMemory(to: UInt8.self)
        return n.escaped ? JSONEscapes.decode(raw) : Array(raw)
    }

    func sameKey(_ a: Int, _ b: Int) -> Bool {
        let x = nodes[a], y = nodes[b]
        if !x.escaped && !y.escaped {
            guard x.end - Int(x.start) == y.end - Int(y.start) else { return false }
            return bytes[Int(x.start)..<x.end].elementsEqual(bytes[Int(y.start)..<y.end])
        }
        return keyBytes(a) == keyBytes(b)
    }

    /// Duplicate keys, compared after unescaping: pairwise for small objects, by sorted hashes for large ones.
    func checkDuplicateKeys(object: Int) throws(JSONError) {
        var keys: [Int] = []
        var k = object + 1
        let end = next(object)
        while k < end {
            keys.append(k)
            k = next(k + 1)
        }
        func duplicate(_ key: Int) -> JSONError {
            let name = String(decoding: keyBytes(key), as: UTF8.self)
            return JSONError(offset: Int(nodes[key].start) - 1, message: "duplicate key '\(name)'")
        }
        if keys.count <= 16 {
            for a in 0..<keys.count {
                for b in 0..<a where sameKey(keys[a], keys[b]) { throw duplicate(keys[a]) }
            }
            return
        }
        var hashed: [(UInt64, Int32)] = []
        hashed.reserveCapacity(keys.count)
        for (pos, key) in keys.enumerated() {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            let n = nodes[key]
            if n.escaped {
                for b in keyBytes(key) { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
            } else {
                for b in bytes[Int(n.start)..<n.end] { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
            }
            hashed.append((h, Int32(pos)))
        }
        hashed.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var first: Int?
        var g = 0
        while g < hashed.count {
            var h = g + 1
            while h < hashed.count, hashed[h].0 == hashed[g].0 { h += 1 }
            if h - g > 1 {
                for a in g..<h {
                    for b in g..<a where sameKey(keys[Int(hashed[a].1)], keys[Int(hashed[b].1)]) {
                        // Report the later of the two, like a reader going front to back.
                        let later = Int(max(hashed[a].1, hashed[b].1))
                        first = min(first ?? later, later)
                    }
                }
            }
            g = h
        }
        if let first { throw duplicate(keys[first]) }
    }
}
