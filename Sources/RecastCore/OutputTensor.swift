/// One tensor on its way to a writer: the info as it will be written, and a producer that hands
/// its bytes (already in the output dtype, little-endian) to a consumer in one or more consecutive
/// chunks that add up to `info.byteCount`. Writers stream tensor by tensor, so memory stays bounded
/// by the largest tensor.
public struct OutputTensor {
    public var info: TensorInfo
    public var produce: (_ consume: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

    public init(info: TensorInfo, produce: @escaping (_ consume: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) {
        self.info = info
        self.produce = produce
    }

    /// A tensor copied unchanged from a store.
    public static func copy(_ info: TensorInfo, from store: TensorStore) -> OutputTensor {
        OutputTensor(info: info) { consume in
            try store.withBytes(of: info.name) { try consume($0) }
        }
    }

    /// A tensor held in memory (new parameters, computed results).
    public static func values(_ name: String, _ values: [Float], shape: [Int]) -> OutputTensor {
        let info = TensorInfo(name: name, dtype: .f32, shape: shape, byteCount: values.count * 4)
        return OutputTensor(info: info) { consume in
            try values.withUnsafeBytes { try consume($0) }
        }
    }

    /// Collects every chunk into one buffer: for writers that need the whole tensor at once.
    public func gather<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        var chunks = 0
        var single: R?
        var buffer: [UInt8] = []
        try produce { chunk in
            chunks += 1
            if chunks == 1 && chunk.count == info.byteCount {
                single = try body(chunk)
            } else {
                if chunks == 2, single != nil { single = nil }
                buffer.append(contentsOf: chunk)
            }
        }
        if let single, chunks == 1 { return single }
        if chunks == 0 { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try buffer.withUnsafeBytes { try body($0) }
    }
}

/// Reports bytes done of a total; the CLI draws it, the library only counts.
public protocol ProgressSink: AnyObject {
    /// The bytes the writing will report in all, once known: what is written (a swap adds tensors, a
    /// conversion to f32 widens them), which the caller's first guess (the source's size) may not be.
    func expect(total bytes: Int)
    func advance(by bytes: Int)
}

public extension ProgressSink {
    func expect(total bytes: Int) {}
}
