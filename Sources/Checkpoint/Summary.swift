import RecastCore

/// What `recast inspect` reports about a store, as values; the CLI only formats them.
public struct CheckpointSummary {
    public var format: CheckpointFormat
    public var layout: String
    public var files: [String]
    public var metadata: Metadata
    public var tensors: [TensorInfo]
    public var skipped: [SkippedObject]
    /// Groups of tensors whose bytes overlap in the source (PyTorch tied weights and views).
    public var tiedTensors: [[String]]
    public var parameterCount: Int
    public var byteCount: Int

    public init(_ store: TensorStore) {
        format = store.format
        layout = store.layout
        files = store.files
        metadata = store.metadata
        tensors = store.tensors
        skipped = store.skipped
        tiedTensors = store.tiedTensors
        parameterCount = store.parameterCount
        byteCount = store.byteCount
    }

    /// Tied groups as JSON: an array of arrays of names.
    public static func json(_ groups: [[String]]) -> JSON { .array(groups.map { .array($0.map { .string($0) }) }) }

    /// One line per tied group, for text output: `tied (one storage): a, b, c`.
    public static func tiedLines(_ groups: [[String]]) -> [String] {
        groups.map { "  " + $0.joined(separator: ", ") }
    }

    /// The object described by `schemas/inspect.schema.json` (without `architecture`, which the graph adds).
    public var json: JSON {
        .object([
            ("format", .string(format.rawValue)),
            ("layout", .string(layout)),
            ("files", .array(files.map { .string($0) })),
            ("metadata", .object(metadata.map { ($0.key, .string($0.value)) })),
            ("tensors", .array(tensors.map { t in
                .object([("name", .string(t.name)), ("dtype", .string(t.dtype.rawValue)), ("shape", .array(t.shape.map { .int($0) }))])
            })),
            ("skipped", .array(skipped.map { .object([("name", .string($0.name)), ("reason", .string($0.reason))]) })),
            ("tied_tensors", CheckpointSummary.json(tiedTensors)),
            ("parameter_count", .int(parameterCount)),
            ("byte_count", .int(byteCount)),
        ])
    }
}

/// Tensors that differ only in their layer numbers, shown as one row: `h.{0-11}.attn.c_attn.weight ×12`.
///
/// Grouping reads each name's UTF-8 bytes once and keys groups by hash, so it takes time linear in the
/// total length of the names (a 90 MB header of long names included).
public struct TensorGroup {
    /// The first member's name, as stored.
    public var name: String
    /// The name before and after the layer number; the whole name in `prefix` when it has none.
    public var prefix: String
    public var suffix: String
    public var dtype: DType
    public var shape: [Int]
    public var count: Int
    public var indices: [Int]
    public var parameterCount: Int
    public var byteCount: Int

    /// The name with the layer numbers written as a range, e.g. `h.{0-11}.mlp.c_fc.weight`.
    public var displayName: String {
        guard count > 1, let lo = indices.min(), let hi = indices.max() else { return name }
        let contiguous = hi - lo + 1 == Set(indices).count
        return prefix + (contiguous ? "{\(lo)-\(hi)}" : "{\(indices.count) layers}") + suffix
    }

    struct Key: Hashable {
        var prefix: Substring
        var suffix: Substring
        var dtype: DType
        var shape: [Int]
    }

    /// Groups tensors whose names differ only in their first numeric component and that share dtype and shape.
    public static func group(_ tensors: [TensorInfo]) -> [TensorGroup] {
        var groups: [TensorGroup] = []
        var index: [Key: Int] = [:]
        for t in tensors {
            guard let (prefix, number, suffix) = layerNumber(t.name) else {
                groups.append(TensorGroup(name: t.name, prefix: t.name, suffix: "", dtype: t.dtype, shape: t.shape, count: 1, indices: [],
                                          parameterCount: t.elementCount, byteCount: t.byteCount))
                continue
            }
            let key = Key(prefix: prefix, suffix: suffix, dtype: t.dtype, shape: t.shape)
            if let g = index[key] {
                groups[g].count += 1
                groups[g].indices.append(number)
                groups[g].parameterCount += t.elementCount
                groups[g].byteCount += t.byteCount
            } else {
                index[key] = groups.count
                groups.append(TensorGroup(name: t.name, prefix: String(prefix), suffix: String(suffix), dtype: t.dtype, shape: t.shape, count: 1,
                                          indices: [number], parameterCount: t.elementCount, byteCount: t.byteCount))
            }
        }
        return groups
    }

    /// Splits a name at its first all-digit path component (`h.3.`, `layer_._3/`, `layers/3/`): the text
    /// before it, its value, and the text after it; nil when there is none. One pass over the UTF-8 bytes.
    static func layerNumber(_ name: String) -> (Substring, Int, Substring)? {
        let bytes = name.utf8
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        var i = bytes.startIndex
        while i != bytes.endIndex {
            guard isDigit(bytes[i]) else {
                i = bytes.index(after: i)
                continue
            }
            var j = i, value = 0, overflow = false
            while j != bytes.endIndex, isDigit(bytes[j]) {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int(bytes[j] - 0x30))
                value = a
                overflow = overflow || o1 || o2
                j = bytes.index(after: j)
            }
            let before = i == bytes.startIndex || [UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "_")].contains(bytes[bytes.index(before: i)])
            let after = j == bytes.endIndex || [UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: ":")].contains(bytes[j])
            if before && after && !overflow {
                return (name[..<i], value, name[j...])
            }
            i = j
        }
        return nil
    }
}
