import RecastCore

/// A torch element type as a checkpoint names it: the dtype globals (`torch.float32`, …) and the
/// typed storage classes (`torch.FloatStorage`, …) both resolve to one of these.
public enum TorchDType: String, Sendable, CaseIterable {
    case float64, float32, float16, bfloat16
    case float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz, float8_e8m0fnu
    case int64, int32, int16, int8, uint8, uint16, uint32, uint64
    case bool, complex64, complex128
    /// Two 4-bit floats packed in each byte: torch counts bytes, not values, in its shape.
    case float4_e2m1fn_x2

    /// Bytes one element of this dtype occupies in a storage.
    public var elementSize: Int {
        switch self {
        case .float64, .int64, .uint64, .complex64: 8
        case .complex128: 16
        case .float32, .int32, .uint32: 4
        case .float16, .bfloat16, .int16, .uint16: 2
        case .float8_e4m3fn, .float8_e5m2, .float8_e4m3fnuz, .float8_e5m2fnuz, .float8_e8m0fnu,
             .int8, .uint8, .bool, .float4_e2m1fn_x2: 1
        }
    }

    /// Recast's element type for this dtype, or nil with the reason when Recast has none that holds the
    /// same bytes under the same shape.
    public var recastDType: Result<DType, TorchDTypeGap> {
        switch self {
        case .float64: .success(.f64)
        case .float32: .success(.f32)
        case .float16: .success(.f16)
        case .bfloat16: .success(.bf16)
        case .float8_e4m3fn: .success(.f8e4m3)
        case .float8_e5m2: .success(.f8e5m2)
        case .float8_e4m3fnuz: .success(.f8e4m3fnuz)
        case .float8_e5m2fnuz: .success(.f8e5m2fnuz)
        case .float8_e8m0fnu: .success(.f8e8m0)
        case .int64: .success(.i64)
        case .int32: .success(.i32)
        case .int16: .success(.i16)
        case .int8: .success(.i8)
        case .uint8: .success(.u8)
        case .uint16: .success(.u16)
        case .uint32: .success(.u32)
        case .uint64: .success(.u64)
        case .bool: .success(.bool)
        case .complex64: .success(.c64)
        case .complex128: .failure(TorchDTypeGap(reason: "has dtype torch.complex128, which Recast has no element type for"))
        case .float4_e2m1fn_x2:
            .failure(TorchDTypeGap(reason: "has dtype torch.float4_e2m1fn_x2, whose shape counts packed pairs; Recast does not unpack it"))
        }
    }

    /// The dtype a typed storage class (`FloatStorage`, …) holds; nil for any other name.
    init?(storageClass name: String) {
        let table: [String: TorchDType] = [
            "DoubleStorage": .float64, "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16,
            "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
            "ByteStorage": .uint8, "BoolStorage": .bool, "ComplexFloatStorage": .complex64,
            "ComplexDoubleStorage": .complex128,
        ]
        guard let t = table[name] else { return nil }
        self = t
    }
}

/// Why a torch dtype has no Recast element type.
public struct TorchDTypeGap: Error, Sendable, Hashable {
    public var reason: String
}

/// The kind of storage a persistent id names: a typed storage class, or `UntypedStorage` (bytes).
public enum TorchStorageType: Sendable, Hashable {
    case typed(TorchDType)
    case untyped

    /// Bytes one unit of the storage's `numel` counts.
    public var unitSize: Int {
        switch self {
        case .typed(let t): t.elementSize
        case .untyped: 1
        }
    }

    /// The storage class's dotted name, for messages.
    public var name: String {
        switch self {
        case .typed(let t): "torch.\(t.rawValue) storage"
        case .untyped: "torch.storage.UntypedStorage"
        }
    }
}

/// A storage a pickle refers to by persistent id: `('storage', <storage type>, key, location, numel)`.
public struct TorchStorageReference: Sendable, Hashable {
    public var type: TorchStorageType
    /// The storage's name in the archive (`data/<key>` in a zip, a key of the last pickle in the legacy format).
    public var key: String
    /// Where the storage lived when saved (`cpu`, `cuda:0`): Recast reads every storage on the CPU.
    public var location: String
    /// The element count (bytes for an untyped storage).
    public var count: Int

    public init(type: TorchStorageType, key: String, location: String, count: Int) {
        self.type = type
        self.key = key
        self.location = location
        self.count = count
    }

    /// The storage's size in bytes, or nil when it overflows.
    public var byteCount: Int? {
        let (b, o) = count.multipliedReportingOverflow(by: type.unitSize)
        return o ? nil : b
    }
}

/// A tensor a pickle rebuilds: a view of a storage with an element offset, a shape and strides.
public struct TorchTensorReference: Sendable, Hashable {
    public var storage: TorchStorageReference
    public var dtype: TorchDType
    /// In elements of `dtype`.
    public var offset: Int
    public var shape: [Int]
    /// In elements of `dtype`, one per dimension.
    public var strides: [Int]

    public init(storage: TorchStorageReference, dtype: TorchDType, offset: Int, shape: [Int], strides: [Int]) {
        self.storage = storage
        self.dtype = dtype
        self.offset = offset
        self.shape = shape
        self.strides = strides
    }
}
