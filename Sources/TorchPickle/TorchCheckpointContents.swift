import RecastCore

/// What a `torch.save` file holds, worked out once when it is opened: the pickle run, every tensor
/// checked against its storage, names given, metadata and skipped objects listed, ties found.
struct Parsed {
    var layout: String
    var storages: StorageSource
    var views: [String: TensorView] = [:]
    var tensors: [TensorInfo] = []
    var metadata: Metadata = []
    var skipped: [SkippedObject] = []
    var tied: [[String]] = []
    private var references: [(name: String, ref: TorchTensorReference)] = []
    /// The bytes every tensor so far takes once materialised.
    private var materialisedBytes = 0
    static let maximumMaterialisedBytes = 1 << 52
    private let file: String

    init(_ bytes: UnsafeRawBufferPointer, file: String) throws {
        self.file = file
        let head = Array(bytes.prefix(4))
        let root: PickleValue
        if head == [0x50, 0x4B, 0x03, 0x04] {
            let archive = try ZipArchive(bytes, file: file)
            let pickles = archive.entries.filter { e in
                e.name.hasSuffix("/data.pkl") && e.name.dropLast("/data.pkl".count).allSatisfy { $0 != "/" }
            }
            guard pickles.count == 1, let pickle = pickles.first else {
                throw CheckpointError(file: file, pickles.isEmpty
                    ? "is a zip archive without a <folder>/data.pkl: not a torch.save checkpoint"
                    : "holds \(pickles.count) pickles (\(pickles.map(\.name).joined(separator: ", "))); a torch.save archive holds one")
            }
            let prefix = String(pickle.name.dropLast("data.pkl".count))
            if let order = archive.entry(named: prefix + "byteorder") {
                let text = try archive.withContents(of: order) { String(decoding: $0.prefix(16), as: UTF8.self) }
                guard text == "little" else {
                    throw CheckpointError(file: file, object: "zip entry '\(order.name)'", "says the storages are '\(text)'-endian; Recast reads little-endian storages")
                }
            }
            root = try archive.withContents(of: pickle) { try PickleMachine.load($0, file: file, entry: pickle.name) }
            layout = "pytorch-zip"
            storages = .zip(archive, prefix: prefix)
        } else if head == LegacyTorchFile.signature {
            let legacy = try LegacyTorchFile(bytes, file: file)
            root = legacy.root
            layout = "pytorch-legacy"
            storages = .legacy(legacy.storages, file: file)
        } else {
            throw CheckpointError(file: file, "is neither a torch.save zip archive nor a legacy torch.save file")
        }
        var catalog: [String: TorchStorageReference] = [:]
        try TorchStorageCatalog.collect(root, into: &catalog, file: file)
        for (key, ref) in catalog.sorted(by: { $0.key < $1.key }) {
            guard let size = storages.size(of: key) else {
                throw CheckpointError(file: file, object: "storage '\(key)'", "is named by the pickle but missing from the file")
            }
            guard size == ref.byteCount else {
                throw CheckpointError(file: file, object: "storage '\(key)'", "holds \(size) bytes but the pickle declares \(ref.count) × \(ref.type.unitSize)")
            }
        }
        switch root {
        case .dict, .list, .tuple: try walk(root, name: "")
        default: try walk(root, name: "tensor")
        }
        tied = Parsed.ties(references)
    }

    private func error(_ name: String, _ reason: String) -> CheckpointError { CheckpointError.tensor(name, in: file, reason) }

    /// Names every tensor in `value`, dotted below `name`.
    private mutating func walk(_ value: PickleValue, name: String) throws {
        func child(_ key: String) -> String { name.isEmpty ? key : name + "." + key }
        switch value {
        case .dict(let entries):
            for e in entries {
                switch e.key {
                case .string(let k): try walk(e.value, name: child(k))
                case .int(let k): try walk(e.value, name: child(String(k)))
                default: skipped.append(SkippedObject(name: child("?"), reason: "has \(e.key.kind) as its key; Recast names values by string or integer keys"))
                }
            }
        case .list(let items), .tuple(let items):
            if items.contains(where: \.holdsTensor) {
                for (i, v) in items.enumerated() { try walk(v, name: child(String(i))) }
            } else {
                skipped.append(SkippedObject(name: name, reason: "is \(value.kind) of \(items.count) items without tensors"))
            }
        case .tensor(let ref): try addTensor(ref, name: name)
        case .bigInt, .bytes, .storage:
            skipped.append(SkippedObject(name: name, reason: "is \(value.kind), not a tensor or a plain scalar"))
        default:
            if let text = value.scalarText { metadata.append((name, text)) }
        }
    }

    private mutating func addTensor(_ ref: TorchTensorReference, name: String) throws {
        guard views[name] == nil else { throw error(name, "is named twice (keys joined with dots collide)") }
        let dtype: DType
        switch ref.dtype.recastDType {
        case .success(let t): dtype = t
        case .failure(let gap):
            skipped.append(SkippedObject(name: name, reason: gap.reason))
            return
        }
        let es = ref.dtype.elementSize
        guard let count = elementCount(of: ref.shape) else { throw error(name, "has a shape \(ref.shape) with a negative or overflowing size") }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: es)
        guard !overflow else { throw error(name, "has a shape \(ref.shape) whose byte size overflows") }
        // A view may repeat its storage (stride 0) to any size: torch.load accepts 2^60 elements over one.
        // What every tensor would take once materialised is bounded, so that no sum over the checkpoint
        // (parameter counts, byte totals) can overflow and no listing promises exabytes.
        let (total, o) = materialisedBytes.addingReportingOverflow(byteCount)
        guard !o, total <= Parsed.maximumMaterialisedBytes else {
            throw error(name, "would take \(byteCount) bytes once materialised (shape \(ref.shape), stride \(ref.strides) over a storage of \(ref.storage.byteCount ?? 0) bytes): with the tensors before it more than the \(Parsed.maximumMaterialisedBytes >> 50) PiB Recast accepts; a size bomb, refused")
        }
        materialisedBytes = total
        guard ref.offset >= 0 else { throw error(name, "starts at a negative storage offset \(ref.offset)") }
        guard ref.strides.allSatisfy({ $0 >= 0 }) else { throw error(name, "has a negative stride \(ref.strides)") }
        let storageBytes = ref.storage.byteCount ?? 0
        var first = 0, end = 0
        if count > 0 {
            // The last element touched: offset + Σ (size − 1) × stride, checked for overflow.
            var last = ref.offset
            for (size, stride) in zip(ref.shape, ref.strides) {
                let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
                let (sum, o2) = last.addingReportingOverflow(step)
                guard !o1, !o2 else { throw error(name, "has strides \(ref.strides) that overflow") }
                last = sum
            }
            let (firstByte, o1) = ref.offset.multipliedReportingOverflow(by: es)
            let (lastPlusOne, o2) = last.addingReportingOverflow(1)
            let (endByte, o3) = lastPlusOne.multipliedReportingOverflow(by: es)
            guard !o1, !o2, !o3, endByte <= storageBytes else {
                throw error(name, "reaches past the end of storage '\(ref.storage.key)' (\(storageBytes) bytes): offset \(ref.offset), size \(ref.shape), stride \(ref.strides) in \(es)-byte elements")
            }
            first = firstByte
            end = endByte
        }
        var expected = 1, contiguous = true
        for (size, stride) in zip(ref.shape, ref.strides).reversed() {
            if size != 1 && stride != expected { contiguous = false }
            expected = expected &* size
        }
        let info = TensorInfo(name: name, dtype: dtype, shape: ref.shape, byteCount: byteCount)
        views[name] = TensorView(reference: ref, info: info, firstByte: first, storageBytes: max(end, first), isContiguous: contiguous || count == 0)
        tensors.append(info)
        references.append((name, ref))
    }

    /// Groups of tensors whose byte ranges overlap within one storage (connected through overlaps),
    /// names in stored order.
    static func ties(_ refs: [(name: String, ref: TorchTensorReference)]) -> [[String]] {
        var order: [String: Int] = [:]
        var spans: [String: [(start: Int, end: Int, name: String)]] = [:]
        for (i, r) in refs.enumerated() {
            order[r.name] = i
            let es = r.ref.dtype.elementSize
            guard let n = elementCount(of: r.ref.shape), n > 0 else { continue }
            var last = r.ref.offset
            for (size, stride) in zip(r.ref.shape, r.ref.strides) { last += (size - 1) * stride }
            spans[r.ref.storage.key, default: []].append((r.ref.offset * es, (last + 1) * es, r.name))
        }
        var groups: [[String]] = []
        for key in spans.keys.sorted() {
            let sorted = spans[key, default: []].sorted { ($0.start, $0.end) < ($1.start, $1.end) }
            var current: [String] = []
            var reach = Int.min
            for s in sorted {
                if s.start < reach {
                    current.append(s.name)
                } else {
                    if current.count > 1 { groups.append(current) }
                    current = [s.name]
                }
                reach = max(reach, s.end)
            }
            if current.count > 1 { groups.append(current) }
        }
        return groups.map { $0.sorted { order[$0, default: 0] < order[$1, default: 0] } }
            .sorted { order[$0[0], default: 0] < order[$1[0], default: 0] }
    }
}

extension PickleValue {
    /// Whether a tensor lies anywhere inside.
    var holdsTensor: Bool {
        switch self {
        case .tensor: true
        case .list(let items), .tuple(let items): items.contains { $0.holdsTensor }
        case .dict(let entries): entries.contains { $0.value.holdsTensor }
        default: false
        }
    }
}
