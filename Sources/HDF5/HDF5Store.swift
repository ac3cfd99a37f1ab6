import CHDF5
import RecastCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The tensors of an HDF5 file: every numeric dataset, named by its path without the leading slash
/// (`layers/dense/vars/0`).
///
/// The file is opened read-only and walked once, in name order, depth first. Only hard links are
/// followed: an object reachable by several names is listed once, soft links are not listed (their
/// targets are listed under their own names), and external links, which lead out of the file, are
/// never followed and appear in `skipped`. Datasets that are not tensors (strings, compound types
/// other than complex64, variable-length data, references, data needing a filter this library lacks)
/// appear in `skipped` with the reason, and the rest of the file still reads.
///
/// `withBytes` reads the whole dataset into a buffer that lives for the call, converted to
/// little-endian by HDF5 on the way.
public final class HDF5Store: TensorStore, @unchecked Sendable {
    // @unchecked: every stored property is immutable after `init`, and every HDF5 call is serialised
    // by the module's library lock.

    public let path: String
    public var format: CheckpointFormat { .hdf5 }
    /// `keras2`, `hf-tensorflow`, `keras-legacy`, `keras3` or `generic`; see `HDF5Layout`.
    public let layout: String
    public var files: [String] { [path] }
    /// Root attributes that are scalar strings (fixed- or variable-length), in name order.
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    public let skipped: [SkippedObject]

    private let file: FileHandle
    private let entries: [String: Entry]

    struct Entry {
        var info: TensorInfo
        var element: ElementLayout
    }

    /// Opens `path` read-only, lists its tensors and detects its layout.
    public init(path: String) throws {
        self.path = path
        guard FileSystem.exists(path) else { throw CheckpointError(file: path, "does not exist") }
        guard FileSystem.isRegularFile(path) else { throw CheckpointError(file: path, "is not a regular file") }
        let site = Site(file: path, object: nil)
        let isHDF5 = try site.check("checking the file signature") { H5Fis_hdf5(path) }
        guard isHDF5 > 0 else {
            let size = FileSystem.fileSize(path) ?? 0
            throw CheckpointError(file: path, size == 0
                ? "not an HDF5 file: the file is empty"
                : "not an HDF5 file: no HDF5 signature at the start of the file or at any offset where a user block could end")
        }
        let fapl = try site.createPropertyList(recast_H5P_FILE_ACCESS(), "file access")
        try site.check("configuring file locking") { recast_no_lock_for_reading(fapl.id) }
        file = FileHandle(try site.check("opening the file") { H5Fopen(path, recast_H5F_ACC_RDONLY(), fapl.id) }, site: site)

        var walker = Walker(site: site)
        try walker.walk(file)
        let tensorNames = walker.entries.map(\.info.name)
        tensors = walker.entries.map(\.info)
        skipped = walker.skipped
        var index: [String: Entry] = [:]
        for entry in walker.entries { index[entry.info.name] = entry }
        entries = index

        let rootSite = site.at("/")
        var pairs: Metadata = []
        // Metadata and layout are best effort: an attribute HDF5 cannot read costs that entry, not the file.
        for name in try Attributes.names(file.id, site: rootSite) {
            guard (try? Attributes.isScalar(file.id, name, site: rootSite)) == true,
                  let value = (try? Attributes.readStrings(file.id, name, site: rootSite))?.first else { continue }
            pairs.append((key: name, value: value))
        }
        metadata = pairs
        let detected = try? HDF5Layout.detect(file: file, rootGroups: walker.rootGroups, tensorNames: tensorNames, site: rootSite)
        layout = (detected ?? .generic).rawValue
    }

    public func info(named name: String) -> TensorInfo? { entries[name]?.info }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let entry = entries[name] else {
            throw CheckpointError(file: path, object: "tensor '\(name)'", "not in the checkpoint")
        }
        let count = entry.info.byteCount
        // A damaged header can claim any size, and HDF5 fills missing chunks, so a claim beyond the
        // machine's memory would end in the out-of-memory killer rather than in an error.
        let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) &* Int(sysconf(Int32(_SC_PAGESIZE)))
        if physical > 0 && count > physical {
            throw CheckpointError.tensor(entry.info.name, in: path, "needs \(count) bytes, more than this machine's memory (\(physical) bytes); if the shape \(entry.info.shape) is not what the model has, the file is damaged")
        }
        // posix_memalign rather than `allocate`, which traps when memory runs out.
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, 64, max(count, 1)) == 0, let base = memory else {
            throw CheckpointError.tensor(entry.info.name, in: path, "needs \(count) bytes of memory, which could not be allocated")
        }
        defer { free(base) }
        if count > 0 { try read(entry, into: base) }
        return try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    private func read(_ entry: Entry, into destination: UnsafeMutableRawPointer) throws {
        let site = Site(file: path, object: "/" + entry.info.name)
        try Library.locked {
            let dataset = try site.openDataset(file.id, "/" + entry.info.name)
            let fileType = try site.datasetType(dataset)
            let memory = try Datatypes.memoryType(entry.element.memory, fileType: fileType, site: site)
            // The dataset must still hold exactly the bytes promised when it was listed.
            let space = try site.datasetSpace(dataset)
            let points = Int(try site.check("reading the dataspace size") { H5Sget_simple_extent_npoints(space.id) })
            let width = Int(try site.check("reading the memory type size") { H5Tget_size(memory.id) })
            guard points.multipliedReportingOverflow(by: width) == (entry.info.byteCount, false) else {
                throw site.failure("reading the dataset", "it holds \(points) elements of \(width) bytes, not the \(entry.info.byteCount) bytes listed")
            }
            let fileWidth = Int(try site.check("reading the file type size") { H5Tget_size(fileType.id) })
            let short = try site.check("reading the storage layout") {
                recast_compact_storage_is_short(dataset.id, hsize_t(points * fileWidth))
            }
            if short == 1 {
                throw site.failure("reading the dataset", "its compact storage holds fewer bytes than its \(points) elements need: the file is corrupt")
            }
            try site.check("reading the dataset") {
                H5Dread(dataset.id, memory.id, Library.allOfSpace, Library.allOfSpace, Library.defaultList, destination)
            }
        }
    }
}

/// Walks the hard links of a file, depth first in name order, classifying every dataset.
struct Walker {
    let site: Site
    var entries: [HDF5Store.Entry] = []
    var skipped: [SkippedObject] = []
    /// Names of the groups directly under the root (reached by hard links).
    var rootGroups: Set<String> = []
    private var seen: Set<ObjectKey> = []

    init(site: Site) { self.site = site }

    struct ObjectKey: Hashable {
        var fileNumber: UInt
        var key: [UInt8]
    }

    private enum Work {
        case group(path: String)
        case dataset(path: String)
    }

    struct Link {
        var name: String
        var kind: Int32
        var valueSize: Int
    }

    mutating func walk(_ file: FileHandle) throws {
        let root = site.at("/")
        seen.insert(try identity(file.id, ".", site: root).key)
        // An explicit stack rather than recursion: a hostile file may nest groups arbitrarily deep.
        var stack: [Work] = [.group(path: "")]
        while let work = stack.popLast() {
            switch work {
            case let .dataset(path):
                classify(file, path)
            case let .group(path):
                do {
                    stack.append(contentsOf: try expand(file, path).reversed())
                } catch let error as HDF5Error where !path.isEmpty {
                    skipped.append(SkippedObject(name: path, reason: "is a group that cannot be read: " + error.summary))
                }
            }
        }
    }

    /// The links of one group, sorted into work: groups and datasets not seen before; external and
    /// user-defined links recorded as skipped; soft links dropped.
    private mutating func expand(_ file: FileHandle, _ path: String) throws -> [Work] {
        let groupSite = site.at(path.isEmpty ? "/" : "/" + path)
        let group = try groupSite.openGroup(file.id, groupSite.object ?? "/")
        var children: [Work] = []
        for link in try Walker.links(of: group.id, site: groupSite) {
            let child = path.isEmpty ? link.name : path + "/" + link.name
            switch link.kind {
            case Int32(RECAST_LINK_HARD):
                let key: ObjectKey, kind: Int32
                do {
                    (key, kind) = try identity(group.id, link.name, site: site.at("/" + child))
                } catch let error as HDF5Error {
                    skipped.append(SkippedObject(name: child, reason: "cannot be read: " + error.summary))
                    continue
                }
                guard seen.insert(key).inserted else { continue }
                if kind == Int32(RECAST_OBJECT_GROUP) {
                    if path.isEmpty { rootGroups.insert(link.name) }
                    children.append(.group(path: child))
                } else if kind == Int32(RECAST_OBJECT_DATASET) {
                    children.append(.dataset(path: child))
                }
            case Int32(RECAST_LINK_EXTERNAL):
                let target = (try? Walker.externalTarget(group.id, link, site: site.at("/" + child))) ?? "another file"
                skipped.append(SkippedObject(name: child, reason: "is an external link to \(target); Recast does not follow links out of the file"))
            case Int32(RECAST_LINK_SOFT):
                // The target is listed under its own (hard-linked) name.
                continue
            default:
                skipped.append(SkippedObject(name: child, reason: "is a user-defined link, which Recast does not follow"))
            }
        }
        return children
    }

    /// Classifies one dataset; a dataset HDF5 cannot even describe is skipped with HDF5's reason.
    private mutating func classify(_ file: FileHandle, _ path: String) {
        let datasetSite = site.at("/" + path)
        do {
            let dataset = try datasetSite.openDataset(file.id, "/" + path)
            switch try Datatypes.classify(dataset, site: datasetSite) {
            case let .skip(reason):
                skipped.append(SkippedObject(name: path, reason: reason))
            case let .tensor(element, shape):
                if let missing = try Walker.missingFilter(dataset, site: datasetSite) {
                    skipped.append(SkippedObject(name: path, reason: missing))
                    return
                }
                guard let info = TensorInfo(name: path, dtype: element.dtype, shape: shape) else {
                    skipped.append(SkippedObject(name: path, reason: "has shape \(shape), too large to address"))
                    return
                }
                entries.append(HDF5Store.Entry(info: info, element: element))
            }
        } catch let error as HDF5Error {
            skipped.append(SkippedObject(name: path, reason: "cannot be read: " + error.summary))
        } catch {
            skipped.append(SkippedObject(name: path, reason: "cannot be read: \(error)"))
        }
    }

    /// The first filter in the dataset's pipeline that this library cannot decode, described; nil when all are available.
    static func missingFilter(_ dataset: DatasetHandle, site: Site) throws -> String? {
        let dcpl = PropertyListHandle(try site.check("reading the dataset's creation properties") { H5Dget_create_plist(dataset.id) })
        let count = try site.check("counting the dataset's filters") { H5Pget_nfilters(dcpl.id) }
        for k in 0..<UInt32(count) {
            var flags: UInt32 = 0
            var values: Int = 0
            var name = [CChar](repeating: 0, count: 128)
            var config: UInt32 = 0
            let filter = try site.check("reading the dataset's filters") {
                H5Pget_filter2(dcpl.id, k, &flags, &values, nil, name.count, &name, &config)
            }
            let label = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let described = label.isEmpty ? "filter \(filter)" : "filter '\(label)' (id \(filter))"
            let available = try site.check("checking for filter \(filter)") { H5Zfilter_avail(filter) }
            guard available > 0 else {
                return "is compressed with HDF5 \(described), which this HDF5 library does not have; re-save it with gzip or no compression, or install the filter plugin (HDF5_PLUGIN_PATH)"
            }
            var info: UInt32 = 0
            try site.check("checking for filter \(filter)") { H5Zget_filter_info(filter, &info) }
            if info & UInt32(H5Z_FILTER_CONFIG_DECODE_ENABLED) == 0 {
                return "is compressed with HDF5 \(described), which this HDF5 library can encode but not decode"
            }
        }
        return nil
    }

    /// `other.h5:/path` for an external link.
    static func externalTarget(_ group: hid_t, _ link: Link, site: Site) throws -> String? {
        guard link.valueSize > 0 else { return nil }
        var value = [UInt8](repeating: 0, count: link.valueSize)
        try site.check("reading the external link") { H5Lget_val(group, link.name, &value, value.count, Library.defaultList) }
        var flags: UInt32 = 0
        var fileName: UnsafePointer<CChar>?
        var objectName: UnsafePointer<CChar>?
        try site.check("reading the external link") { H5Lunpack_elink_val(value, value.count, &flags, &fileName, &objectName) }
        guard let fileName, let objectName else { return nil }
        return "'\(String(cString: fileName)):\(String(cString: objectName))'"
    }

    /// The links of a group in name order.
    static func links(of group: hid_t, site: Site) throws -> [Link] {
        var links: [Link] = []
        _ = try withUnsafeMutablePointer(to: &links) { pointer in
            try site.check("listing the group's links") {
                recast_iterate_links(group, { name, kind, size, context in
                    guard let name, let context else { return 0 }
                    context.assumingMemoryBound(to: [Link].self).pointee.append(Link(name: String(cString: name), kind: kind, valueSize: size))
                    return 0
                }, pointer)
            }
        }
        // Name order, as HDF5's increasing order gives it (byte-wise), independent of the file's native order.
        links.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        return links
    }

    /// The object a hard link names: a key equal for all its names, and its kind.
    func identity(_ location: hid_t, _ name: String, site: Site) throws -> (key: ObjectKey, kind: Int32) {
        var kind: Int32 = 0
        var fileNumber: UInt = 0
        var key = [UInt8](repeating: 0, count: 16)
        try site.check("reading the object header") { recast_object_identity(location, name, &kind, &fileNumber, &key) }
        return (ObjectKey(fileNumber: fileNumber, key: key), kind)
    }
}
