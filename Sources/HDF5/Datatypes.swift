import CHDF5
import RecastCore

// Mapping between HDF5 datatypes and Recast dtypes, in both directions.
//
// Reading: a dataset's file type decides the dtype and the memory type HDF5 converts into. The
// memory type is always the little-endian twin of the file type (for floats, the file type itself
// with its byte order set to little-endian, never the machine's native type, so bfloat16 and other
// custom layouts stay bit-exact), which makes a little-endian file a plain copy with no conversion.
//
// Writing: each dtype has one file type, and the same type serves as the memory type, so H5Dwrite
// copies straight from the caller's buffer.

/// The memory type a dataset is read through.
enum MemoryType: Sendable, Equatable {
    /// The file type itself: one-byte types, opaque data, h5py's boolean enum.
    case sameAsFile
    /// The file type with little-endian byte order (floating point).
    case littleEndianFile
    /// The standard little-endian integer type of this width and signedness.
    case standardInteger(DType)
    /// A compound of two little-endian f32 members with the file's member names (complex64).
    case complex(real: String, imaginary: String)
}

/// How a dataset's stored elements become a tensor's bytes.
struct ElementLayout: Sendable, Equatable {
    var dtype: DType
    var memory: MemoryType
}

/// Bit layout of an HDF5 floating-point type, as `H5Tget_fields` and `H5Tget_ebias` report it.
struct FloatLayout: Hashable {
    var size: Int
    var signPosition: Int
    var exponentPosition: Int
    var exponentBits: Int
    var mantissaPosition: Int
    var mantissaBits: Int
    var bias: Int

    /// The layouts Recast has a dtype for.
    static let known: [FloatLayout: DType] = [
        FloatLayout(size: 2, signPosition: 15, exponentPosition: 10, exponentBits: 5, mantissaPosition: 0, mantissaBits: 10, bias: 15): .f16,
        // bfloat16: the top half of an IEEE f32 (sign bit 15, exponent 8 bits at bit 7, mantissa 7 bits at bit 0, bias 127).
        FloatLayout(size: 2, signPosition: 15, exponentPosition: 7, exponentBits: 8, mantissaPosition: 0, mantissaBits: 7, bias: 127): .bf16,
        FloatLayout(size: 4, signPosition: 31, exponentPosition: 23, exponentBits: 8, mantissaPosition: 0, mantissaBits: 23, bias: 127): .f32,
        FloatLayout(size: 8, signPosition: 63, exponentPosition: 52, exponentBits: 11, mantissaPosition: 0, mantissaBits: 52, bias: 1023): .f64,
        // One-byte floats written as native HDF5 floats by some tools; read bit for bit.
        FloatLayout(size: 1, signPosition: 7, exponentPosition: 2, exponentBits: 5, mantissaPosition: 0, mantissaBits: 2, bias: 15): .f8e5m2,
        FloatLayout(size: 1, signPosition: 7, exponentPosition: 3, exponentBits: 4, mantissaPosition: 0, mantissaBits: 3, bias: 7): .f8e4m3,
    ]

    static func of(_ dtype: DType) -> FloatLayout? { known.first { $0.value == dtype }?.key }
}

/// Names a `dtype` attribute may give for data stored as opaque bytes (or as same-width integers):
/// Keras 3's `"bfloat16"`, ml_dtypes' names, and the safetensors codes Recast itself writes.
func dtypeFromAttribute(_ text: String) -> DType? {
    switch text {
    case "bfloat16": return .bf16
    case "float8_e4m3fn": return .f8e4m3
    case "float8_e5m2": return .f8e5m2
    case "float8_e4m3fnuz": return .f8e4m3fnuz
    case "float8_e5m2fnuz": return .f8e5m2fnuz
    case "float8_e8m0fnu": return .f8e8m0
    default: return DType(code: text)
    }
}

/// Attribute names Recast uses on datasets it writes as opaque bytes.
enum OpaqueAttributes {
    /// The dtype's safetensors code (or Keras' `bfloat16`).
    static let dtype = "dtype"
    /// The logical shape of a packed sub-byte tensor, whose dataset is a flat byte array.
    static let shape = "shape"
}

/// The outcome of looking at one dataset.
enum Classification {
    case tensor(ElementLayout, shape: [Int])
    case skip(String)
}

enum Datatypes {
    /// Decides what a dataset holds. Throws only when HDF5 fails; a type Recast cannot use is `.skip`.
    static func classify(_ dataset: DatasetHandle, site: Site) throws -> Classification {
        let type = try site.datasetType(dataset)
        let space = try site.datasetSpace(dataset)
        guard let shape = try Datatypes.shape(of: space, site: site) else {
            return .skip("has a null dataspace (no shape and no elements, like h5py.Empty)")
        }
        let typeClass = try site.check("reading the datatype class") { H5Tget_class(type.id).rawValue }
        let size = Int(try site.check("reading the datatype size") { H5Tget_size(type.id) })
        guard size > 0 else { return .skip("has a datatype of size 0") }

        let layout: ElementLayout
        switch H5T_class_t(rawValue: typeClass) {
        case H5T_FLOAT:
            switch try floatLayout(type, size: size, site: site) {
            case let .success(found): layout = found
            case let .failure(reason): return .skip(reason.text)
            }
        case H5T_INTEGER:
            let signed = try site.check("reading the integer sign") { H5Tget_sign(type.id).rawValue } == H5T_SGN_2.rawValue
            guard let dtype = integerDType(size: size, signed: signed) else {
                return .skip("holds \(size * 8)-bit integers, which have no Recast dtype")
            }
            // A same-width integer carrier for a dtype HDF5 has no type for (e.g. bfloat16 as uint16).
            if let named = try Attributes.readStrings(dataset.id, OpaqueAttributes.dtype, site: site)?.first,
               let carried = dtypeFromAttribute(named), carried.bitWidth == size * 8, carried != dtype {
                layout = ElementLayout(dtype: carried, memory: .standardInteger(dtype))
            } else {
                layout = ElementLayout(dtype: dtype, memory: .standardInteger(dtype))
            }
        case H5T_ENUM:
            guard try isBooleanEnum(type, size: size, site: site) else {
                return .skip("holds an enumeration other than h5py's boolean (FALSE=0, TRUE=1)")
            }
            layout = ElementLayout(dtype: .bool, memory: .sameAsFile)
        case H5T_COMPOUND:
            switch try complexLayout(type, size: size, site: site) {
            case let .success(found): layout = found
            case let .failure(reason): return .skip(reason.text)
            }
        case H5T_OPAQUE:
            return try opaque(dataset, size: size, shape: shape, site: site)
        case H5T_STRING: return .skip("holds strings, not numbers")
        case H5T_VLEN: return .skip("holds variable-length sequences, not a fixed-shape tensor")
        case H5T_REFERENCE: return .skip("holds object or region references")
        case H5T_ARRAY: return .skip("holds an array datatype (each element is itself an array)")
        case H5T_BITFIELD: return .skip("holds bit fields")
        case H5T_TIME: return .skip("holds time values")
        default: return .skip("has a datatype of class \(typeClass), which Recast does not read")
        }
        return .tensor(layout, shape: shape)
    }

    /// The dataset's dimensions; `[]` for a scalar, nil for a null dataspace.
    static func shape(of space: SpaceHandle, site: Site) throws -> [Int]? {
        let kind = try site.check("reading the dataspace kind") { H5Sget_simple_extent_type(space.id).rawValue }
        switch H5S_class_t(rawValue: kind) {
        case H5S_SCALAR: return []
        case H5S_NULL: return nil
        default:
            let rank = Int(try site.check("reading the dataspace rank") { H5Sget_simple_extent_ndims(space.id) })
            var dims = [hsize_t](repeating: 0, count: rank)
            if rank > 0 {
                try site.check("reading the dataspace dimensions") { H5Sget_simple_extent_dims(space.id, &dims, nil) }
            }
            return try dims.map { d in
                guard d <= hsize_t(Int.max) else { throw site.failure("reading the dataspace dimensions", "a dimension of \(d) does not fit in memory") }
                return Int(d)
            }
        }
    }

    static func integerDType(size: Int, signed: Bool) -> DType? {
        switch (size, signed) {
        case (1, true): .i8
        case (1, false): .u8
        case (2, true): .i16
        case (2, false): .u16
        case (4, true): .i32
        case (4, false): .u32
        case (8, true): .i64
        case (8, false): .u64
        default: nil
        }
    }

    struct Reason: Error { var text: String }

    static func floatLayout(_ type: TypeHandle, size: Int, site: Site) throws -> Result<ElementLayout, Reason> {
        var spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0
        try site.check("reading the float layout") { H5Tget_fields(type.id, &spos, &epos, &esize, &mpos, &msize) }
        let bias = Int(try site.check("reading the float exponent bias") { H5Tget_ebias(type.id) })
        let order = try site.check("reading the byte order") { H5Tget_order(type.id).rawValue }
        let norm = try site.check("reading the float normalisation") { H5Tget_norm(type.id).rawValue }
        let precision = try site.check("reading the float precision") { H5Tget_precision(type.id) }
        let offset = try site.check("reading the float bit offset") { H5Tget_offset(type.id) }
        let found = FloatLayout(size: size, signPosition: spos, exponentPosition: epos, exponentBits: esize,
                                mantissaPosition: mpos, mantissaBits: msize, bias: bias)
        let describe = "\(size * 8)-bit floats (sign bit \(spos), \(esize) exponent bits at \(epos), \(msize) mantissa bits at \(mpos), bias \(bias))"
        guard let dtype = FloatLayout.known[found], norm == H5T_NORM_IMPLIED.rawValue,
              precision == size * 8, offset == 0 else {
            return .failure(Reason(text: "holds \(describe), a layout with no Recast dtype"))
        }
        if size > 1 && order != H5T_ORDER_LE.rawValue && order != H5T_ORDER_BE.rawValue {
            return .failure(Reason(text: "holds \(describe) in a byte order other than little- or big-endian"))
        }
        return .success(ElementLayout(dtype: dtype, memory: size == 1 ? .sameAsFile : .littleEndianFile))
    }

    /// h5py's boolean: a one-byte enum whose only members are FALSE = 0 and TRUE = 1.
    static func isBooleanEnum(_ type: TypeHandle, size: Int, site: Site) throws -> Bool {
        guard size == 1 else { return false }
        let members = try site.check("counting the enum members") { H5Tget_nmembers(type.id) }
        guard members == 2 else { return false }
        func name(of value: Int8) throws -> String? {
            var value = value
            var buffer = [CChar](repeating: 0, count: 64)
            // H5Tenum_nameof fails for a value with no member: that is an answer, not an error.
            let status = Library.locked { () -> herr_t in
                let s = H5Tenum_nameof(type.id, &value, &buffer, buffer.count)
                if s < 0 { _ = Library.takeErrorStack() }
                return s
            }
            guard status >= 0 else { return nil }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return try name(of: 0)?.lowercased() == "false" && name(of: 1)?.lowercased() == "true"
    }

    /// A complex64 as h5py writes it: a compound {r: f32, i: f32} of size 8 (either byte order).
    static func complexLayout(_ type: TypeHandle, size: Int, site: Site) throws -> Result<ElementLayout, Reason> {
        let count = Int(try site.check("counting the compound members") { H5Tget_nmembers(type.id) })
        var names: [String] = []
        var floats: [FloatLayout?] = []
        var offsets: [Int] = []
        for k in 0..<count {
            let member = UInt32(k)
            let raw = try Library.locked { () -> UnsafeMutablePointer<CChar> in
                guard let p = H5Tget_member_name(type.id, member) else {
                    throw HDF5Error(file: site.file, object: site.object, operation: "reading a compound member name",
                                    stack: Library.takeErrorStack())
                }
                return p
            }
            names.append(String(cString: raw))
            Library.locked { _ = H5free_memory(raw) }
            offsets.append(Int(try site.check("reading a compound member offset") { () -> Int in
                // H5Tget_member_offset returns 0 both for the first member and on error; the index is valid here.
                Int(H5Tget_member_offset(type.id, member))
            }))
            let memberType = TypeHandle(try site.check("reading a compound member type") { H5Tget_member_type(type.id, member) })
            let memberClass = try site.check("reading a compound member class") { H5Tget_class(memberType.id).rawValue }
            if memberClass == H5T_FLOAT.rawValue {
                let memberSize = Int(try site.check("reading a compound member size") { H5Tget_size(memberType.id) })
                if case let .success(layout) = try floatLayout(memberType, size: memberSize, site: site), layout.dtype == .f32 {
                    floats.append(FloatLayout.of(.f32))
                    continue
                }
            }
            floats.append(nil)
        }
        let list = names.joined(separator: ", ")
        let pairs: Set<[String]> = [["r", "i"], ["real", "imag"], ["re", "im"]]
        guard count == 2, size == 8, floats.allSatisfy({ $0 != nil }), offsets == [0, 4],
              pairs.contains(names.map { $0.lowercased() }) else {
            if count == 2, pairs.contains(names.map { $0.lowercased() }) {
                return .failure(Reason(text: "holds complex numbers of \(size * 4) bits per part; only complex64 (two f32) has a Recast dtype"))
            }
            return .failure(Reason(text: "holds a compound type {\(list)} that is not a complex number"))
        }
        return .success(ElementLayout(dtype: .c64, memory: .complex(real: names[0], imaginary: names[1])))
    }

    /// Opaque data is a tensor when a `dtype` attribute names its type.
    static func opaque(_ dataset: DatasetHandle, size: Int, shape: [Int], site: Site) throws -> Classification {
        guard let named = try Attributes.readStrings(dataset.id, OpaqueAttributes.dtype, site: site)?.first else {
            return .skip("holds opaque data of \(size) bytes per element without a 'dtype' attribute naming its type")
        }
        guard let dtype = dtypeFromAttribute(named) else {
            return .skip("holds opaque data whose 'dtype' attribute '\(named)' is not a dtype Recast knows")
        }
        if dtype.bitWidth % 8 == 0 {
            guard dtype.bitWidth == size * 8 else {
                return .skip("holds opaque data of \(size) bytes per element, but its 'dtype' attribute says \(dtype.rawValue) (\(dtype.bitWidth / 8) bytes)")
            }
            return .tensor(ElementLayout(dtype: dtype, memory: .sameAsFile), shape: shape)
        }
        // Packed sub-byte types: a flat byte array and the logical shape beside it.
        guard size == 1, shape.count == 1 else {
            return .skip("holds \(dtype.rawValue) data that is not a flat array of bytes")
        }
        guard let logical = try Attributes.readIntegers(dataset.id, OpaqueAttributes.shape, site: site) else {
            return .skip("holds packed \(dtype.rawValue) bytes without a '\(OpaqueAttributes.shape)' attribute giving the tensor's shape")
        }
        guard let count = elementCount(of: logical), dtype.byteCount(elements: count) == shape[0] else {
            return .skip("holds \(shape[0]) bytes of \(dtype.rawValue), which do not match its 'shape' attribute \(logical)")
        }
        // The dataset's bytes are the packed tensor; `logical` is its shape.
        return .tensor(ElementLayout(dtype: dtype, memory: .sameAsFile), shape: logical)
    }

    // MARK: memory types

    /// The memory type to read a dataset of `fileType` through.
    static func memoryType(_ memory: MemoryType, fileType: TypeHandle, site: Site) throws -> TypeHandle {
        switch memory {
        case .sameAsFile:
            return try site.copyType(fileType.id)
        case .littleEndianFile:
            let type = try site.copyType(fileType.id)
            try site.check("setting little-endian byte order") { H5Tset_order(type.id, H5T_ORDER_LE) }
            return type
        case let .standardInteger(dtype):
            return try site.copyType(try standardType(dtype, site: site).id)
        case let .complex(real, imaginary):
            return try complexType(real: real, imaginary: imaginary, site: site)
        }
    }

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
