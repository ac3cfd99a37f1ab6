import CHDF5

/// Reading and writing the attributes Recast cares about: strings (fixed- or variable-length,
/// scalar or arrays) and integer arrays.
enum Attributes {
    /// The names of the attributes on `object`, in name order.
    static func names(_ object: hid_t, site: Site) throws -> [String] {
        var names: [String] = []
        var index: hsize_t = 0
        _ = try withUnsafeMutablePointer(to: &names) { pointer in
            try site.check("listing attributes") {
                H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, context in
                    guard let name, let context else { return 0 }
                    context.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name))
                    return 0
                }, pointer)
            }
        }
        return names
    }

    /// Bounds on what an attribute may claim before Recast allocates for it: far beyond any real
    /// attribute, far below what would exhaust memory when a damaged header claims more.
    static let maximumElements = 1 << 24
    static let maximumBytes = 1 << 30

    static func tooLarge(_ name: String, _ count: Int, site: Site) -> HDF5Error {
        site.failure("reading attribute '\(name)'", "it claims \(count) elements, more than any attribute Recast reads; the file may be damaged")
    }

    static func exists(_ object: hid_t, _ name: String, site: Site) throws -> Bool {
        try site.check("looking for attribute '\(name)'") { H5Aexists(object, name) } > 0
    }

    static func open(_ object: hid_t, _ name: String, site: Site) throws -> AttributeHandle {
        AttributeHandle(try site.check("opening attribute '\(name)'") { H5Aopen(object, name, Library.defaultList) })
    }

    static func isScalar(_ object: hid_t, _ name: String, site: Site) throws -> Bool {
        let attribute = try open(object, name, site: site)
        let space = SpaceHandle(try site.check("reading the shape of attribute '\(name)'") { H5Aget_space(attribute.id) })
        let kind = try site.check("reading the shape of attribute '\(name)'") { H5Sget_simple_extent_type(space.id).rawValue }
        return kind == H5S_SCALAR.rawValue
    }

    /// The attribute as strings, one per element (one for a scalar); nil when it does not exist or
    /// is not a string attribute.
    static func readStrings(_ object: hid_t, _ name: String, site: Site) throws -> [String]? {
        guard try exists(object, name, site: site) else { return nil }
        let attribute = try open(object, name, site: site)
        let type = TypeHandle(try site.check("reading the type of attribute '\(name)'") { H5Aget_type(attribute.id) })
        let typeClass = try site.check("reading the type of attribute '\(name)'") { H5Tget_class(type.id).rawValue }
        guard typeClass == H5T_STRING.rawValue else { return nil }
        let space = SpaceHandle(try site.check("reading the shape of attribute '\(name)'") { H5Aget_space(attribute.id) })
        let count = Int(try site.check("reading the shape of attribute '\(name)'") { H5Sget_simple_extent_npoints(space.id) })
        guard count > 0 else { return [] }
        guard count <= maximumElements else { throw tooLarge(name, count, site: site) }

        let variable = try site.check("reading the type of attribute '\(name)'") { H5Tis_variable_str(type.id) }
        if variable > 0 {
            let memory = try site.copyType(recast_H5T_C_S1())
            try site.check("building a string type") { H5Tset_size(memory.id, recast_H5T_VARIABLE()) }
            let cset = try site.check("reading the character set of attribute '\(name)'") { H5Tget_cset(type.id).rawValue }
            try site.check("building a string type") { H5Tset_cset(memory.id, H5T_cset_t(rawValue: cset)) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            try site.check("reading attribute '\(name)'") { H5Aread(attribute.id, memory.id, &pointers) }
            let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
            Library.locked {
                if recast_reclaim(memory.id, space.id, &pointers) < 0 { _ = Library.takeErrorStack() }
            }
            return strings
        }

        let width = Int(try site.check("reading the size of attribute '\(name)'") { H5Tget_size(type.id) })
        guard width > 0 else { return nil }
        let (total, overflow) = width.multipliedReportingOverflow(by: count)
        guard !overflow, total <= maximumBytes else { throw tooLarge(name, count, site: site) }
        let padding = try site.check("reading the padding of attribute '\(name)'") { H5Tget_strpad(type.id).rawValue }
        let memory = try site.copyType(type.id)
        var bytes = [UInt8](repeating: 0, count: total)
        try site.check("reading attribute '\(name)'") { H5Aread(attribute.id, memory.id, &bytes) }
        return (0..<count).map { k in
            var field = bytes[(k * width)..<((k + 1) * width)]
            if let nul = field.firstIndex(of: 0) { field = field[..<nul] }
            if padding == H5T_STR_SPACEPAD.rawValue {
                while field.last == 0x20 { field = field.dropLast() }
            }
            return String(decoding: field, as: UTF8.self)
        }
    }

    /// An integer attribute (scalar or array) as `Int`s; nil when absent or not integers.
    static func readIntegers(_ object: hid_t, _ name: String, site: Site) throws -> [Int]? {
        guard try exists(object, name, site: site) else { return nil }
        let attribute = try open(object, name, site: site)
        let type = TypeHandle(try site.check("reading the type of attribute '\(name)'") { H5Aget_type(attribute.id) })
        let typeClass = try site.check("reading the type of attribute '\(name)'") { H5Tget_class(type.id).rawValue }
        guard typeClass == H5T_INTEGER.rawValue else { return nil }
        let space = SpaceHandle(try site.check("reading the shape of attribute '\(name)'") { H5Aget_space(attribute.id) })
        let count = Int(try site.check("reading the shape of attribute '\(name)'") { H5Sget_simple_extent_npoints(space.id) })
        guard count > 0 else { return [] }
        guard count <= maximumElements else { throw tooLarge(name, count, site: site) }
        var values = [Int64](repeating: 0, count: count)
        try site.check("reading attribute '\(name)'") { H5Aread(attribute.id, recast_H5T_NATIVE_INT64(), &values) }
        return values.map { Int($0) }
    }

    /// The value of a Keras attribute that may be split into `name0`, `name1`, … when it outgrew an
    /// object header. nil when neither form exists; `[]` for a present but empty or non-string one.
    static func readSplitStrings(_ object: hid_t, _ name: String, site: Site) throws -> [String]? {
        if try exists(object, name, site: site) {
            return try readStrings(object, name, site: site) ?? []
        }
        var parts: [String]?
        var chunk = 0
        while try exists(object, "\(name)\(chunk)", site: site) {
            parts = (parts ?? []) + (try readStrings(object, "\(name)\(chunk)", site: site) ?? [])
            chunk += 1
        }
        return parts
    }

    // MARK: writing

    /// A scalar variable-length UTF-8 string attribute, which h5py reads as `str`.
    static func writeString(_ object: hid_t, _ name: String, _ value: String, site: Site) throws {
        let type = try site.copyType(recast_H5T_C_S1())
        try site.check("building a string type") { H5Tset_size(type.id, recast_H5T_VARIABLE()) }
        try site.check("building a string type") { H5Tset_cset(type.id, H5T_CSET_UTF8) }
        let space = try site.createSpace([])
        let attribute = try create(object, name, type: type, space: space, site: site)
        try value.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            try site.check("writing attribute '\(name)'") { H5Awrite(attribute.id, type.id, &pointer) }
        }
    }

    /// A one-dimensional 64-bit integer attribute.
    static func writeIntegers(_ object: hid_t, _ name: String, _ values: [Int], site: Site) throws {
        let type = try Datatypes.standardType(.i64, site: site)
        let space = try site.createSpace([values.count])
        let attribute = try create(object, name, type: type, space: space, site: site)
        let wide = values.map { Int64($0) }
        if !wide.isEmpty {
            try site.check("writing attribute '\(name)'") { H5Awrite(attribute.id, recast_H5T_NATIVE_INT64(), wide) }
        }
    }

    private static func create(_ object: hid_t, _ name: String, type: TypeHandle, space: SpaceHandle, site: Site) throws -> AttributeHandle {
        let acpl = try site.createPropertyList(recast_H5P_ATTRIBUTE_CREATE(), "attribute creation")
        try site.check("setting UTF-8 attribute names") { H5Pset_char_encoding(acpl.id, H5T_CSET_UTF8) }
        return AttributeHandle(try site.check("creating attribute '\(name)'") {
            H5Acreate2(object, name, type.id, space.id, acpl.id, Library.defaultList)
        })
    }
}
