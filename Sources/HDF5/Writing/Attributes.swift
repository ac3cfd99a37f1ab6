import CHDF5

/// Writing the attributes Recast puts in the files it writes: string metadata and integer arrays.
enum Attributes {
    // MARK: writing

    /// A scalar variable-length UTF-8 string attribute, which h5py reads as `str`.
    static func writeString(_ object: hid_t, _ name: String, _ value: String, site: Site) throws {
        try StringWriter(site: site).write(object, name, value, site: site)
    }

    /// Writes scalar variable-length UTF-8 string attributes, building the type, the dataspace and the
    /// creation property list once for all of them (a file's metadata may have a million keys).
    struct StringWriter {
        let type: TypeHandle
        let space: SpaceHandle
        let acpl: PropertyListHandle

        init(site: Site) throws {
            let type = try site.copyType(recast_H5T_C_S1())
            try site.check("building a string type") { H5Tset_size(type.id, recast_H5T_VARIABLE()) }
            try site.check("building a string type") { H5Tset_cset(type.id, H5T_CSET_UTF8) }
            self.type = type
            space = try site.createSpace([])
            acpl = try Attributes.creationList(site: site)
        }

        func write(_ object: hid_t, _ name: String, _ value: String, site: Site) throws {
            let attribute = AttributeHandle(try site.check("creating attribute '\(name)'") {
                H5Acreate2(object, name, type.id, space.id, acpl.id, Library.defaultList)
            })
            try value.withCString { text in
                var pointer: UnsafePointer<CChar>? = text
                try site.check("writing attribute '\(name)'") { H5Awrite(attribute.id, type.id, &pointer) }
            }
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

    /// Attribute creation with UTF-8 names.
    static func creationList(site: Site) throws -> PropertyListHandle {
        let acpl = try site.createPropertyList(recast_H5P_ATTRIBUTE_CREATE(), "attribute creation")
        try site.check("setting UTF-8 attribute names") { H5Pset_char_encoding(acpl.id, H5T_CSET_UTF8) }
        return acpl
    }

    private static func create(_ object: hid_t, _ name: String, type: TypeHandle, space: SpaceHandle, site: Site) throws -> AttributeHandle {
        let acpl = try creationList(site: site)
        return AttributeHandle(try site.check("creating attribute '\(name)'") {
            H5Acreate2(object, name, type.id, space.id, acpl.id, Library.defaultList)
        })
    }
}
