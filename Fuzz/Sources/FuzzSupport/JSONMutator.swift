import CLibFuzzer
import RecastCore

/// A structure-aware mutator for JSON inputs (config.json, a sharded index, a safetensors header).
///
/// Byte-level mutation seldom turns `"n_embd": 32` into a valid 19-digit number, or swaps one dtype
/// code for another, without breaking the JSON around it. This mutator parses the input, edits the
/// tree (replaces a value with a boundary value or a known string, tweaks a number, deletes, adds or
/// renames a member, copies a subtree elsewhere) and serialises it again. The custom mutators of the
/// targets use it for half of their mutations and libFuzzer's byte mutator for the other half.
public struct JSONMutator: Sendable {
    /// Member names worth adding (the keys the reader looks up).
    public var keys: [String]
    /// String values worth trying (dtype codes, family names, file names, tensor names).
    public var strings: [String]

    public init(keys: [String], strings: [String]) {
        self.keys = keys
        self.strings = strings
    }

    /// Integers at the edges that matter: small sizes, powers of two, the limits of Int32, Int and UInt64.
    public static let integers: [String] = [
        "0", "1", "-1", "2", "3", "4", "5", "7", "8", "9", "15", "16", "17", "31", "32", "33", "63", "64", "65", "96",
        "127", "128", "255", "256", "1023", "1024", "4096", "65535", "65536", "100000000", "100000001",
        "2147483647", "2147483648", "2147483649", "-2147483648", "-2147483649", "4294967296", "9007199254740993",
        "3074457345618258603", "4611686018427387904", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "18446744073709551615", "18446744073709551616", "-0",
    ]

    static let decimals: [String] = [
        "0.5", "1.0", "2.5", "1e-12", "1e-5", "-0.0", "1e15", "1e16", "1e308", "1e309", "-1e309", "4.9e-324", "1E+2", "32.0",
    ]

    public func interesting(_ rng: inout SplitMix) -> JSON {
        switch rng.below(12) {
        case 0...4: return .number(JSONMutator.integers[rng.below(JSONMutator.integers.count)])
        case 5: return .number(JSONMutator.decimals[rng.below(JSONMutator.decimals.count)])
        case 6, 7:
            let extra = ["", "\u{0}", "é", "e\u{301}", "../x", String(repeating: "a", count: 300)]
            let all = strings + extra
            return .string(all[rng.below(all.count)])
        case 8: return [JSON.bool(true), .bool(false), .null][rng.below(3)]
        case 9:
            let n = rng.below(4)
            return .array((0..<n).map { _ in .number(JSONMutator.integers[rng.below(16)]) })
        case 10: return .array([.number(JSONMutator.integers[rng.below(JSONMutator.integers.count)]),
                                .number(JSONMutator.integers[rng.below(JSONMutator.integers.count)])])
        default: return rng.below(2) == 0 ? .object([]) : .array([])
        }
    }

    /// Applies one to three edits.
    public func mutate(_ json: inout JSON, _ rng: inout SplitMix) {
        for _ in 0..<(1 + rng.below(3)) { edit(&json, &rng) }
    }

    enum Step { case member(Int), element(Int) }

    /// Every node's path, the root included (as the empty path).
    static func paths(_ json: JSON, _ prefix: [Step] = [], into out: inout [[Step]]) {
        out.append(prefix)
        switch json {
        case let .object(pairs): for (i, p) in pairs.enumerated() { paths(p.1, prefix + [.member(i)], into: &out) }
        case let .array(items): for (i, v) in items.enumerated() { paths(v, prefix + [.element(i)], into: &out) }
        default: break
        }
    }

    static func node(_ json: JSON, _ path: ArraySlice<Step>) -> JSON? {
        guard let first = path.first else { return json }
        switch (json, first) {
        case let (.object(pairs), .member(i)) where i < pairs.count: return node(pairs[i].1, path.dropFirst())
        case let (.array(items), .element(i)) where i < items.count: return node(items[i], path.dropFirst())
        default: return nil
        }
    }

    static func update(_ json: inout JSON, _ path: ArraySlice<Step>, _ change: (inout JSON) -> Void) {
        guard let first = path.first else { return change(&json) }
        switch (json, first) {
        case (.object(var pairs), let .member(i)) where i < pairs.count:
            update(&pairs[i].1, path.dropFirst(), change)
            json = .object(pairs)
        case (.array(var items), let .element(i)) where i < items.count:
            update(&items[i], path.dropFirst(), change)
            json = .array(items)
        default: break
        }
    }

    func edit(_ json: inout JSON, _ rng: inout SplitMix) {
        var all: [[Step]] = []
        JSONMutator.paths(json, into: &all)
        let path = all[rng.below(all.count)]
        switch rng.below(9) {
        case 0, 1, 2:
            let value = interesting(&rng)
            JSONMutator.update(&json, path[...]) { $0 = value }
        case 3:
            JSONMutator.update(&json, path[...]) { node in
                guard case let .number(text) = node else { node = interesting(&rng); return }
                node = .number(JSONMutator.tweak(text, &rng))
            }
        case 4:
            // Delete the node from its parent.
            guard let last = path.last else { return }
            JSONMutator.update(&json, path.dropLast()) { parent in
                switch (parent, last) {
                case (.object(var pairs), let .member(i)) where i < pairs.count: pairs.remove(at: i); parent = .object(pairs)
                case (.array(var items), let .element(i)) where i < items.count: items.remove(at: i); parent = .array(items)
                default: break
                }
            }
        case 5, 6:
            // Add a member (a known key, unless the object has it) or an element.
            let value = rng.below(3) == 0 ? (JSONMutator.node(json, all[rng.below(all.count)][...]) ?? .null) : interesting(&rng)
            let key = keys.isEmpty ? "k" : keys[rng.below(keys.count)]
            JSONMutator.update(&json, path[...]) { node in
                switch node {
                case var .object(pairs):
                    if !pairs.contains(where: { $0.0 == key }) { pairs.insert((key, value), at: rng.below(pairs.count + 1)) }
                    node = .object(pairs)
                case var .array(items):
                    items.insert(value, at: rng.below(items.count + 1))
                    node = .array(items)
                default: break
                }
            }
        case 7:
            // Rename a member to a known key.
            guard case let .member(i)? = path.last, !keys.isEmpty else { return }
            let key = keys[rng.below(keys.count)]
            JSONMutator.update(&json, path.dropLast()) { parent in
                guard case var .object(pairs) = parent, i < pairs.count, !pairs.contains(where: { $0.0 == key }) else { return }
                pairs[i].0 = key
                parent = .object(pairs)
            }
        default:
            // Copy another subtree here (not one that contains this node: the tree stays finite either way).
            let source = JSONMutator.node(json, all[rng.below(all.count)][...]) ?? .null
            JSONMutator.update(&json, path[...]) { $0 = source }
        }
    }

    static func tweak(_ text: String, _ rng: inout SplitMix) -> String {
        guard let v = Int(text) else {
            return [text + "0", "-" + text, text + "e3", String(text.dropLast()), "1" + text][rng.below(5)]
        }
        switch rng.below(7) {
        case 0: return String(v &+ 1)
        case 1: return String(v &- 1)
        case 2: let (m, o) = v.multipliedReportingOverflow(by: 2); return o ? "9223372036854775807" : String(m)
        case 3: return String(v / 2)
        case 4: return v == .min ? "9223372036854775808" : String(-v)
        case 5: return String(v) + String(repeating: "0", count: 1 + rng.below(12))
        default: return String(v &* 1_000_003)
        }
    }
}

/// SplitMix64, seeded by libFuzzer's per-call seed so mutations replay.
public struct SplitMix: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
}

extension Fuzz {
    /// libFuzzer's byte-level mutation.
    public static func byteMutation(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int) -> Int {
        LLVMFuzzerMutate(data, size, maxSize)
    }

    /// Writes `bytes` as the mutated input if they fit; otherwise falls back to a byte mutation.
    public static func emit(_ bytes: [UInt8], _ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int) -> Int {
        guard !bytes.isEmpty, bytes.count <= maxSize else { return byteMutation(data, size, maxSize) }
        bytes.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: bytes.count) }
        return bytes.count
    }

    /// A custom mutator for inputs that are one JSON text: half structured edits, half byte mutations.
    public static func mutateJSON(_ data: UnsafeMutablePointer<UInt8>?, _ size: Int, _ maxSize: Int, _ seed: UInt32,
                                  _ mutator: JSONMutator) -> Int {
        guard let data else { return 0 }
        var rng = SplitMix(seed: UInt64(seed) &* 0x1000_0000_01B3 &+ UInt64(size))
        guard rng.below(2) == 0, var json = try? JSON.parse(UnsafeRawBufferPointer(start: data, count: size)) else {
            return byteMutation(data, size, maxSize)
        }
        mutator.mutate(&json, &rng)
        return emit(Array(json.serialized(pretty: rng.below(4) == 0).utf8), data, size, maxSize)
    }
}
