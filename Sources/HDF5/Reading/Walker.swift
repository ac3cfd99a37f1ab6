import RecastCore

/// Walks the hard links of a file from the root, depth first in name order, classifying every
/// dataset. An object reachable by several names is listed once; soft links are not followed (their
/// targets are listed under their own names); external and user-defined links are never followed and
/// are recorded as skipped.
struct Walker {
    let document: HDF5File
    var entries: [HDF5Store.Entry] = []
    var skipped: [SkippedObject] = []
    /// The groups directly under the root (reached by hard links), by name.
    var rootGroups: [String: HDF5Object] = [:]
    private var seen: Set<UInt64> = []

    init(document: HDF5File) {
        self.document = document
    }

    private enum Work {
        case group(name: String, HDF5Object)
        case dataset(name: String, HDF5Object)
    }

    mutating func walk(root: HDF5Object) throws {
        seen.insert(root.address)
        // An explicit stack rather than recursion: a hostile file may nest groups arbitrarily deep.
        var stack: [Work] = [.group(name: "", root)]
        while let work = stack.popLast() {
            switch work {
            case let .dataset(name, object):
                try classify(name, object)
            case let .group(name, object):
                do {
                    stack.append(contentsOf: try expand(name, object).reversed())
                } catch let error as FormatError where !name.isEmpty && !error.exhausted {
                    skipped.append(SkippedObject(name: name, reason: "is a group that cannot be read: " + error.description))
                }
            }
        }
    }

    /// The links of one group, sorted into work: groups and datasets not seen before; external and
    /// user-defined links recorded as skipped; soft links dropped.
    private mutating func expand(_ name: String, _ group: HDF5Object) throws -> [Work] {
        var links = try group.links()
        // Name order (byte-wise), whatever order the file stores them in.
        links.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        var children: [Work] = []
        var previous: String?
        for link in links {
            defer { previous = link.name }
            let child = name.isEmpty ? link.name : name + "/" + link.name
            guard !link.name.isEmpty, !link.name.contains("/"), link.name != ".", link.name != previous else {
                skipped.append(SkippedObject(name: child, reason: "has a link name that is empty, repeated, or contains '/': the group is damaged"))
                continue
            }
            switch link.target {
            case let .hard(address):
                guard seen.insert(address).inserted else { continue }
                let object: HDF5Object
                do {
                    object = try document.object(at: address)
                } catch let error as FormatError where !error.exhausted {
                    skipped.append(SkippedObject(name: child, reason: "cannot be read: " + error.description))
                    continue
                }
                switch object.kind {
                case .group:
                    if name.isEmpty { rootGroups[link.name] = object }
                    children.append(.group(name: child, object))
                case .dataset:
                    children.append(.dataset(name: child, object))
                case .namedDatatype, .other:
                    continue
                }
            case let .external(file, object):
                skipped.append(SkippedObject(name: child, reason: "is an external link to '\(file):\(object)'; Recast does not follow links out of the file"))
            case .soft:
                continue
            case .userDefined:
                skipped.append(SkippedObject(name: child, reason: "is a user-defined link, which Recast does not follow"))
            }
        }
        return children
    }

    /// Classifies one dataset; one the reader cannot describe is skipped with the reason. Only the two
    /// attributes Recast's own opaque datasets carry are decoded, and only when small: `dtype` is one
    /// string and `shape` a tensor's rank.
    private mutating func classify(_ name: String, _ object: HDF5Object) throws {
        guard let dataset = object.dataset else { return }
        do {
            func small(_ wanted: String) throws -> HDF5Attribute? {
                guard let attribute = try object.attribute(named: wanted), attribute.elementCount <= 64,
                      attribute.raw.count <= 1 << 16 else { return nil }
                return attribute
            }
            let dtype = try small(OpaqueAttributes.dtype)?.strings(in: document)?.first
            let shape = try small(OpaqueAttributes.shape)?.integers()
            switch Classifier(dtypeAttribute: dtype, shapeAttribute: shape).classify(dataset.datatype, shape: dataset.shape) {
            case let .skip(reason):
                skipped.append(SkippedObject(name: name, reason: reason))
            case let .tensor(layout, shape):
                if let problem = Walker.unreadable(dataset) {
                    skipped.append(SkippedObject(name: name, reason: problem))
                    return
                }
                guard let info = TensorInfo(name: name, dtype: layout.dtype, shape: shape) else {
                    skipped.append(SkippedObject(name: name, reason: "has shape \(shape), too large to address"))
                    return
                }
                entries.append(HDF5Store.Entry(info: info, layout: layout, dataset: dataset))
            }
        } catch let error as FormatError where error.exhausted {
            throw error
        } catch {
            skipped.append(SkippedObject(name: name, reason: "cannot be read: \(error)"))
        }
    }

    /// Filters the reader cannot undo, and virtual storage, described; nil when the data can be read.
    static func unreadable(_ dataset: HDF5Dataset) -> String? {
        if case .virtual = dataset.storage {
            return "is a virtual dataset (its data is mapped from other datasets or files), which Recast does not read"
        }
        for filter in dataset.filters where !Walker.decodableFilters.contains(filter.id) {
            let described = filter.name.map { "filter '\($0)' (id \(filter.id))" } ?? "filter \(filter.id)\(Walker.knownFilterNames[filter.id].map { " (\($0))" } ?? "")"
            return "is compressed with HDF5 \(described), which Recast's HDF5 reader does not decode; re-save it with gzip or no compression"
        }
        return nil
    }

    /// deflate, shuffle, fletcher32.
    static let decodableFilters: Set<UInt16> = [1, 2, 3]
    static let knownFilterNames: [UInt16: String] = [4: "szip", 5: "nbit", 6: "scaleoffset", 32000: "lzf", 32001: "blosc", 32004: "lz4", 32008: "bitshuffle", 32015: "zstd"]
}
