import CHDF5
import RecastCore

/// Writes tensors to an HDF5 file that h5py (and Keras) read back with the same names and values.
///
/// Each tensor is one contiguous dataset; a name with `/` creates the groups on its path. Element
/// types: IEEE little-endian floats (F16 as IEEE half), little-endian integers, BOOL as h5py's
/// boolean enum, BF16 as a native HDF5 float with the bfloat16 layout (h5py reads it as float32),
/// C64 as h5py's compound {r, i}. Types HDF5 cannot describe (F8_*, F4, F6_*) are stored as opaque
/// bytes with a string attribute `dtype` holding the safetensors code; packed sub-byte types are a
/// flat byte array with an integer attribute `shape` giving the tensor's shape.
public enum HDF5Writer {
    /// Writes one dataset per tensor (names with "/" create groups) and metadata as root string attributes, to `path` (the caller handles temp+rename). Streams tensor by tensor.
    public static func write(_ tensors: [OutputTensor], metadata: Metadata, to path: String, progress: ProgressSink?) throws {
        try validate(tensors.map(\.info), metadata: metadata, file: path)

        let site = Site(file: path, object: nil)
        let fapl = try site.createPropertyList(recast_H5P_FILE_ACCESS(), "file access")
        // The newest format this library writes; h5py 3 (HDF5 1.12 and later) reads it.
        try site.check("choosing the file format version") {
            H5Pset_libver_bounds(fapl.id, recast_H5F_LIBVER_LATEST(), recast_H5F_LIBVER_LATEST())
        }
        try site.check("configuring file locking") { recast_lock_unless_unsupported(fapl.id) }
        try configureMetadataCache(fapl.id, site: site)
        let file = FileHandle(try site.check("creating the file") {
            H5Fcreate(path, recast_H5F_ACC_TRUNC(), Library.defaultList, fapl.id)
        }, site: site)

        let rootSite = site.at("/")
        if !metadata.isEmpty {
            let strings = try Attributes.StringWriter(site: rootSite)
            for (key, value) in metadata {
                try strings.write(file.id, key, value, site: rootSite)
            }
        }

        let lcpl = try site.createPropertyList(recast_H5P_LINK_CREATE(), "link creation")
        try site.check("allowing intermediate groups") { H5Pset_create_intermediate_group(lcpl.id, 1) }
        try site.check("setting UTF-8 link names") { H5Pset_char_encoding(lcpl.id, H5T_CSET_UTF8) }
        // Contiguous storage (the default layout) and no fill pass: every byte is written once.
        let dcpl = try site.createPropertyList(recast_H5P_DATASET_CREATE(), "dataset creation")
        try site.check("turning off fill values") { H5Pset_fill_time(dcpl.id, H5D_FILL_TIME_NEVER) }

        var types: [DType: TypeHandle] = [:]
        for tensor in tensors {
            let info = tensor.info
            let object = "/" + info.name
            let tensorSite = site.at(object)
            let type: TypeHandle
            if let cached = types[info.dtype] {
                type = cached
            } else {
                type = try Datatypes.fileType(for: info.dtype, site: tensorSite)
                types[info.dtype] = type
            }
            let packed = info.dtype.bitWidth % 8 != 0
            let space = try tensorSite.createSpace(packed ? [info.byteCount] : info.shape)
            let dataset = DatasetHandle(try tensorSite.check("creating the dataset") {
                H5Dcreate2(file.id, object, type.id, space.id, lcpl.id, dcpl.id, Library.defaultList)
            })
            try tensor.gather { bytes in
                guard bytes.count == info.byteCount else {
                    throw CheckpointError.tensor(info.name, in: path, "produced \(bytes.count) bytes; \(info.byteCount) expected for \(info.dtype.rawValue) \(info.shape)")
                }
                guard let base = bytes.baseAddress, bytes.count > 0 else { return }
                // The memory type is the file type: HDF5 copies straight from this buffer.
                try tensorSite.check("writing the tensor data") {
                    H5Dwrite(dataset.id, type.id, Library.allOfSpace, Library.allOfSpace, Library.defaultList, base)
                }
            }
            if Datatypes.isOpaque(info.dtype) {
                try Attributes.writeString(dataset.id, OpaqueAttributes.dtype, info.dtype.rawValue, site: tensorSite)
                if packed { try Attributes.writeIntegers(dataset.id, OpaqueAttributes.shape, info.shape, site: tensorSite) }
            }
            progress?.advance(by: info.byteCount)
        }
        types.removeAll()
        try site.check("flushing the file") { H5Fflush(file.id, H5F_SCOPE_GLOBAL) }
        try file.close()
    }

    /// The metadata cache, sized for files of many objects. libhdf5's default (2 MB to start, adaptive up
    /// to 32 MB) is too small for the dense link and attribute storage of a group with hundreds of
    /// thousands of members: its B-tree nodes and heap blocks are evicted and read back for every
    /// insertion, and writing a million root attributes took time growing faster than their number.
    /// The cache only holds what the file's metadata needs, so small files stay small.
    static func configureMetadataCache(_ fapl: hid_t, site: Site) throws {
        var config = H5AC_cache_config_t()
        config.version = Int32(H5AC__CURR_CACHE_CONFIG_VERSION)
        try site.check("reading the metadata cache configuration") { H5Pget_mdc_config(fapl, &config) }
        config.set_initial_size = true
        config.initial_size = 32 << 20
        config.min_size = 16 << 20
        config.max_size = 128 << 20
        try site.check("configuring the metadata cache") { H5Pset_mdc_config(fapl, &config) }
    }

    /// Rejects, before anything is written, what HDF5 cannot hold or would not give back unchanged.
    static func validate(_ infos: [TensorInfo], metadata: Metadata, file: String) throws {
        var names: Set<String> = []
        var groups: [String: String] = [:]  // group path → a tensor inside it
        for info in infos {
            let name = info.name
            func reject(_ reason: String) -> CheckpointError { CheckpointError.tensor(name, in: file, reason) }
            guard !name.isEmpty else { throw reject("has an empty name, which HDF5 cannot hold") }
            guard !name.utf8.contains(0) else { throw reject("contains a NUL character, which HDF5 names cannot hold") }
            let parts = name.split(separator: "/", omittingEmptySubsequences: false)
            guard !parts.contains("") else {
                throw reject("has an empty path component (a leading, trailing or doubled '/'), which HDF5 cannot hold")
            }
            guard !parts.contains(".") else { throw reject("has a '.' path component, which HDF5 cannot hold") }
            guard names.insert(name).inserted else { throw reject("appears twice") }
            guard info.shape.count <= Int(H5S_MAX_RANK) else { throw reject("has \(info.shape.count) dimensions; HDF5 allows at most \(H5S_MAX_RANK)") }
            guard let expected = TensorInfo(name: name, dtype: info.dtype, shape: info.shape), expected.byteCount == info.byteCount else {
                throw reject("has \(info.byteCount) bytes, which do not fit dtype \(info.dtype.rawValue) and shape \(info.shape)")
            }
            var prefix = ""
            for part in parts.dropLast() {
                prefix += prefix.isEmpty ? String(part) : "/" + part
                if groups[prefix] == nil { groups[prefix] = name }
            }
        }
        for info in infos {
            if let inside = groups[info.name] {
                throw CheckpointError.tensor(info.name, in: file, "is also a group holding tensor '\(inside)'; HDF5 cannot have a dataset and a group of one name")
            }
        }
        var keys: Set<String> = []
        for (key, value) in metadata {
            func reject(_ reason: String) -> CheckpointError { CheckpointError(file: file, object: "metadata key '\(key)'", reason) }
            guard !key.isEmpty else { throw CheckpointError(file: file, object: "metadata", "has an empty key, which HDF5 attribute names cannot hold") }
            guard keys.insert(key).inserted else { throw reject("appears twice") }
            guard !key.utf8.contains(0) else { throw reject("contains a NUL character, which HDF5 attribute names cannot hold") }
            guard !value.utf8.contains(0) else { throw reject("has a value containing a NUL character, which an HDF5 string cannot hold") }
        }
    }
}
