import RecastCore

/// What `recast inspect` reports about a store, as values; the CLI only formats them.
public struct CheckpointSummary {
    public var format: CheckpointFormat
    public var layout: String
    public var files: [String]
    public var metadata: Metadata
    public var tensors: [TensorInfo]
    public var skipped: [SkippedObject]
    public var parameterCount: Int
    public var byteCount: Int

    public init(_ store: TensorStore) {
        format = store.format
        layout = store.layout
        files = store.files
        metadata = store.metadata
        tensors = store.tensors
        skipped = store.skipped
        parameterCount = store.parameterCount
        byteCount = store.byteCount
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
            ("parameter_count", .int(parameterCount)),
            ("byte_count", .int(byteCount)),
        ])
    }
}

/// Tensors that differ only in their layer numbers, shown as one row: `h.{0-11}.attn.c_attn.weight ×12`.
public struct TensorGroup {
    public var pattern: String
    public var dtype: DType
    public var shape: [Int]
    public var count: Int
    public var indices: [Int]
    public var parameterCount: Int
    public var byteCount: Int

    /// The pattern with the layer numbers written as a range, e.g. `h.{0-11}.mlp.c_fc.weight`.
    public var displayName: String {
        guard count > 1, let lo = indices.min(), let hi = indices.max() else {
            return pattern.replacingPlaceholder(with: indices.first.map(String.init) ?? "")
        }
        let contiguous = hi - lo + 1 == Set(indices).count
        return pattern.replacingPlaceholder(with: contiguous ? "{\(lo)-\(hi)}" : "{\(indices.count) layers}")
    }

    /// Groups tensors whose names differ only in their first numeric component and that share dtype and shape.
    public static func group(_ tensors: [TensorInfo]) -> [TensorGroup] {
        var groups: [TensorGroup] = []
        var index: [String: Int] = [:]
        for t in tensors {
            let (pattern, number) = layerPattern(t.name)
            let key = "\(pattern)|\(t.dtype.rawValue)|\(t.shape)"
            if let number, let g = index[key] {
                groups[g].count += 1
                groups[g].indices.append(number)
                groups[g].parameterCount += t.elementCount
                groups[g].byteCount += t.byteCount
            } else {
                if number != nil { index[key] = groups.count }
                groups.append(TensorGroup(pattern: number == nil ? t.name : pattern, dtype: t.dtype, shape: t.shape, count: 1,
                                          indices: number.map { [$0] } ?? [], parameterCount: t.elementCount, byteCount: t.byteCount))
            }
        }
        return groups
    }

    /// Replaces the first all-digit path component (`h.3.`, `layer_._3/`, `layers/3/`) with a placeholder.
    static func layerPattern(_ name: String) -> (String, Int?) {
        let chars = Array(name)
        var i = 0
        while i < chars.count {
            if chars[i].isASCII && chars[i].isNumber {
                var j = i
                while j < chars.count, chars[j].isASCII, chars[j].isNumber { j += 1 }
                let before = i == 0 || ".-/_".contains(chars[i - 1])
                let after = j == chars.count || "./:".contains(chars[j])
                if before && after, let n = Int(String(chars[i..<j])) {
                    return (String(chars[..<i]) + "\u{0}" + String(chars[j...]), n)
                }
                i = j
            } else {
                i += 1
            }
        }
        return (name, nil)
    }
}

extension String {
    func replacingPlaceholder(with s: String) -> String {
        var out = ""
        for c in self { if c == "\u{0}" { out += s } else { out.append(c) } }
        return out
    }
}
