import RecastCore

/// How a dataset's stored elements become a tensor's little-endian bytes.
struct TensorLayout: Sendable, Equatable {
    var dtype: DType
    var conversion: Conversion

    enum Conversion: Sendable, Equatable {
        /// The stored bytes are the tensor's bytes (little-endian or single-byte data).
        case none
        /// Big-endian elements of this many bytes: each is reversed.
        case swap(width: Int)
        /// h5py's complex compound: the f32 members at these offsets become (real, imaginary), each
        /// reversed when big-endian.
        case complex(realOffset: Int, imaginaryOffset: Int, bigEndian: Bool)
    }
}

/// What a dataset is to Recast: a tensor with its shape, or something skipped with a reason.
enum Classification: Equatable {
    case tensor(TensorLayout, shape: [Int])
    case skip(String)
}

/// Bit layout of an HDF5 floating-point type, as the datatype message gives it.
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

/// Decides what a dataset holds from its datatype, its shape and two of its attributes.
struct Classifier {
    /// The dataset's `dtype` attribute (first string), when it has one.
    var dtypeAttribute: String?
    /// The dataset's `shape` attribute (integers), when it has one.
    var shapeAttribute: [Int]?

    func classify(_ type: HDF5Datatype, shape: [Int]?) -> Classification {
        guard let shape else { return .skip("has a null dataspace (no shape and no elements, like h5py.Empty)") }
        guard type.size > 0 else { return .skip("has a datatype of size 0") }
        switch type {
        case let .floatingPoint(size, bigEndian, sign, exponentPosition, exponentBits, mantissaPosition, mantissaBits, bias):
            let found = FloatLayout(size: size, signPosition: sign, exponentPosition: exponentPosition, exponentBits: exponentBits,
                                    mantissaPosition: mantissaPosition, mantissaBits: mantissaBits, bias: bias)
            guard let dtype = FloatLayout.known[found] else {
                return .skip("holds \(size * 8)-bit floats (sign bit \(sign), \(exponentBits) exponent bits at \(exponentPosition), \(mantissaBits) mantissa bits at \(mantissaPosition), bias \(bias)), a layout with no Recast dtype")
            }
            return .tensor(TensorLayout(dtype: dtype, conversion: order(bigEndian, size)), shape: shape)
        case let .fixedPoint(size, bigEndian, signed, bitOffset, precision):
            guard let dtype = Classifier.integerDType(size: size, signed: signed) else {
                return .skip("holds \(size * 8)-bit integers, which have no Recast dtype")
            }
            guard bitOffset == 0, precision == size * 8 else {
                return .skip("holds \(precision)-bit integers at bit \(bitOffset) of \(size * 8)-bit words, which have no Recast dtype")
            }
            // A same-width integer carrier for a dtype HDF5 has no type for (e.g. bfloat16 as uint16).
            if let named = dtypeAttribute, let carried = dtypeFromAttribute(named), carried.bitWidth == size * 8 {
                return .tensor(TensorLayout(dtype: carried, conversion: order(bigEndian, size)), shape: shape)
            }
            return .tensor(TensorLayout(dtype: dtype, conversion: order(bigEndian, size)), shape: shape)
        case let .enumeration(base, names, values):
            guard Classifier.isBoolean(base: base, names: names, values: values) else {
                return .skip("holds an enumeration other than h5py's boolean (FALSE=0, TRUE=1)")
            }
            return .tensor(TensorLayout(dtype: .bool, conversion: .none), shape: shape)
        case let .compound(size, members):
            return complex(size: size, members: members, shape: shape)
        case let .opaque(size, _):
            return opaque(size: size, shape: shape)
        case .string: return .skip("holds strings, not numbers")
        case let .variableLength(_, isString, _):
            return .skip(isString ? "holds strings, not numbers" : "holds variable-length sequences, not a fixed-shape tensor")
        case .reference: return .skip("holds object or region references")
        case .array: return .skip("holds an array datatype (each element is itself an array)")
        case .bitfield: return .skip("holds bit fields")
        case .time: return .skip("holds time values")
        }
    }

    private func order(_ bigEndian: Bool, _ size: Int) -> TensorLayout.Conversion {
        bigEndian && size > 1 ? .swap(width: size) : .none
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

    /// h5py's boolean: a one-byte integer enum whose only members are FALSE = 0 and TRUE = 1.
    static func isBoolean(base: HDF5Datatype, names: [String], values: [[UInt8]]) -> Bool {
        guard case let .fixedPoint(size, _, _, _, _) = base, size == 1, names.count == 2, values.count == 2 else { return false }
        let members = Dictionary(zip(names.map { $0.lowercased() }, values), uniquingKeysWith: { first, _ in first })
        return members["false"] == [0] && members["true"] == [1]
    }

    /// A complex64 as h5py writes it: a compound {r: f32, i: f32} of size 8, in either byte order.
    private func complex(size: Int, members: [HDF5CompoundMember], shape: [Int]) -> Classification {
        let names = members.map { $0.name.lowercased() }
        let pairs: Set<[String]> = [["r", "i"], ["real", "imag"], ["re", "im"]]
        guard members.count == 2, pairs.contains(names) else {
            return .skip("holds a compound type {\(members.map(\.name).joined(separator: ", "))} that is not a complex number")
        }
        var orders: [Bool] = []
        for member in members {
            guard case let .floatingPoint(memberSize, bigEndian, _, _, _, _, _, _) = member.type, memberSize == 4,
                  case .tensor(let layout, _) = Classifier().classify(member.type, shape: []), layout.dtype == .f32 else {
                return .skip("holds complex numbers of \(size * 4) bits per part; only complex64 (two f32) has a Recast dtype")
            }
            orders.append(bigEndian)
        }
        let offsets = members.map(\.offset)
        guard size == 8, Set(offsets) == [0, 4], orders[0] == orders[1] else {
            return .skip("holds complex numbers laid out in \(size) bytes with parts at offsets \(offsets); only the packed complex64 layout is read")
        }
        return .tensor(TensorLayout(dtype: .c64, conversion: .complex(realOffset: offsets[0], imaginaryOffset: offsets[1], bigEndian: orders[0])), shape: shape)
    }

    /// Opaque data is a tensor when a `dtype` attribute names its type.
    private func opaque(size: Int, shape: [Int]) -> Classification {
        guard let named = dtypeAttribute else {
            return .skip("holds opaque data of \(size) bytes per element without a 'dtype' attribute naming its type")
        }
        guard let dtype = dtypeFromAttribute(named) else {
            return .skip("holds opaque data whose 'dtype' attribute '\(named)' is not a dtype Recast knows")
        }
        if dtype.bitWidth % 8 == 0 {
            guard dtype.bitWidth == size * 8 else {
                return .skip("holds opaque data of \(size) bytes per element, but its 'dtype' attribute says \(dtype.rawValue) (\(dtype.bitWidth / 8) bytes)")
            }
            return .tensor(TensorLayout(dtype: dtype, conversion: .none), shape: shape)
        }
        // Packed sub-byte types: a flat byte array and the logical shape beside it.
        guard size == 1, shape.count == 1 else {
            return .skip("holds \(dtype.rawValue) data that is not a flat array of bytes")
        }
        guard let logical = shapeAttribute else {
            return .skip("holds packed \(dtype.rawValue) bytes without a '\(OpaqueAttributes.shape)' attribute giving the tensor's shape")
        }
        guard let count = elementCount(of: logical), dtype.byteCount(elements: count) == shape[0] else {
            return .skip("holds \(shape[0]) bytes of \(dtype.rawValue), which do not match its 'shape' attribute \(logical)")
        }
        return .tensor(TensorLayout(dtype: dtype, conversion: .none), shape: logical)
    }
}

extension TensorLayout.Conversion {
    /// Turns stored elements into little-endian tensor bytes, in place.
    func apply(to buffer: UnsafeMutableRawBufferPointer) {
        switch self {
        case .none:
            return
        case let .swap(width):
            guard width > 1 else { return }
            var start = 0
            while start + width <= buffer.count {
                var low = start, high = start + width - 1
                while low < high {
                    buffer.swapAt(low, high)
                    low += 1
                    high -= 1
                }
                start += width
            }
        case let .complex(realOffset, imaginaryOffset, bigEndian):
            var start = 0
            var element = [UInt8](repeating: 0, count: 8)
            while start + 8 <= buffer.count {
                for k in 0..<4 {
                    let from = bigEndian ? 3 - k : k
                    element[k] = buffer[start + realOffset + from]
                    element[4 + k] = buffer[start + imaginaryOffset + from]
                }
                for k in 0..<8 { buffer[start + k] = element[k] }
                start += 8
            }
        }
    }
}
