import CHDF5
import RecastCore

// The HDF5 datatype each Recast dtype is written with. Each dtype has one file type, and the same
// type serves as the memory type, so H5Dwrite copies straight from the caller's buffer.

enum Datatypes {
    static func complexType(real: String, imaginary: String, site: Site) throws -> TypeHandle {
        let type = TypeHandle(try site.check("creating the complex64 type") { H5Tcreate(H5T_COMPOUND, 8) })
        try site.check("building the complex64 type") { H5Tinsert(type.id, real, 0, recast_H5T_IEEE_F32LE()) }
        try site.check("building the complex64 type") { H5Tinsert(type.id, imaginary, 4, recast_H5T_IEEE_F32LE()) }
        return type
    }

    /// A predefined little-endian integer or IEEE type (not to be closed).
    static func standardType(_ dtype: DType, site: Site) throws -> TypeHandle {
        let id: hid_t
        switch dtype {
        case .i8: id = recast_H5T_STD_I8LE()
        case .u8: id = recast_H5T_STD_U8LE()
        case .i16: id = recast_H5T_STD_I16LE()
        case .u16: id = recast_H5T_STD_U16LE()
        case .i32: id = recast_H5T_STD_I32LE()
        case .u32: id = recast_H5T_STD_U32LE()
        case .i64: id = recast_H5T_STD_I64LE()
        case .u64: id = recast_H5T_STD_U64LE()
        case .f32: id = recast_H5T_IEEE_F32LE()
        case .f64: id = recast_H5T_IEEE_F64LE()
        default: throw site.failure("choosing a datatype", "\(dtype.rawValue) has no predefined HDF5 type")
        }
        guard id >= 0 else { throw site.failure("choosing a datatype", "the HDF5 library did not initialise") }
        return TypeHandle(predefined: id)
    }

    /// A little-endian float type with `layout`, built as h5py builds its half type: copy f32, set
    /// the fields, shrink, set the bias.
    static func customFloat(_ layout: FloatLayout, site: Site) throws -> TypeHandle {
        let type = try site.copyType(recast_H5T_IEEE_F32LE())
        try site.check("setting float fields") {
            H5Tset_fields(type.id, layout.signPosition, layout.exponentPosition, layout.exponentBits,
                          layout.mantissaPosition, layout.mantissaBits)
        }
        try site.check("setting float size") { H5Tset_size(type.id, layout.size) }
        try site.check("setting float exponent bias") { H5Tset_ebias(type.id, layout.bias) }
        return type
    }

    /// The file type (also used as the memory type) a dtype is written with.
    static func fileType(for dtype: DType, site: Site) throws -> TypeHandle {
        switch dtype {
        case .i8, .u8, .i16, .u16, .i32, .u32, .i64, .u64, .f32, .f64:
            return try standardType(dtype, site: site)
        case .f16, .bf16:
            return try customFloat(FloatLayout.of(dtype)!, site: site)
        case .bool:
            // h5py's numpy.bool_: an enum over a native int8 with FALSE = 0 and TRUE = 1.
            let type = TypeHandle(try site.check("creating the boolean enum type") { H5Tenum_create(recast_H5T_NATIVE_INT8()) })
            var no: Int8 = 0, yes: Int8 = 1
            try site.check("building the boolean enum type") { H5Tenum_insert(type.id, "FALSE", &no) }
            try site.check("building the boolean enum type") { H5Tenum_insert(type.id, "TRUE", &yes) }
            return type
        case .c64:
            return try complexType(real: "r", imaginary: "i", site: site)
        case .f8e5m2, .f8e4m3, .f8e8m0, .f8e4m3fnuz, .f8e5m2fnuz, .f4, .f6e2m3, .f6e3m2:
            // No HDF5 type holds these exactly: opaque bytes, named by the `dtype` attribute. The tag
            // stays empty, as h5py writes numpy's void type: h5py reads an opaque type only when the
            // tag matches the one it builds for `|V1`.
            return TypeHandle(try site.check("creating an opaque type") { H5Tcreate(H5T_OPAQUE, 1) })
        default:
            throw site.failure("choosing a datatype", "\(dtype.rawValue) is a GGML block-quantised type, which HDF5 cannot hold: convert with --dtype f32, f16 or bf16")
        }
    }

    /// Whether a dtype is written as opaque bytes with a `dtype` attribute.
    static func isOpaque(_ dtype: DType) -> Bool {
        switch dtype {
        case .f8e5m2, .f8e4m3, .f8e8m0, .f8e4m3fnuz, .f8e5m2fnuz, .f4, .f6e2m3, .f6e3m2: true
        default: false
        }
    }
}
