import GGUF
import Quantization
import RecastCore

/// What a `.gguf` output holds: the metadata and the tensors, each tensor re-encoded lazily as it is
/// written.
///
/// From a GGUF file, names and metadata are kept; `keep` copies every tensor's bytes (quantised blocks
/// included) as they are, and an explicit dtype re-encodes the tensors by llama.cpp's rules
/// (`GGUFTensorTypes`): quantised tensors are dequantised, and quantised again for a quantised target.
/// `general.file_type` then says what llama.cpp would.
struct GGUFConversion {
    var metadata: [(key: String, value: GGUFValue)]
    var tensors: [OutputTensor]

    /// The output for `store` (opened from `path`) with floating-point tensors in `dtype` (nil: keep).
    static func plan(_ store: TensorStore, source path: String, dtype: DType?) throws -> GGUFConversion {
        if let file = store as? GGUFFile { return try fromGGUF(file, dtype: dtype) }
        return try fromHuggingFace(store, source: path, dtype: dtype)
    }

    static func fromGGUF(_ file: GGUFFile, dtype: DType?) throws -> GGUFConversion {
        let tied = file.tensor(named: "output.weight") == nil
        let tensors = try file.tensorInfos.map { t in
            let type = dtype == nil ? t.type
                : GGUFTensorTypes.type(for: t.name, shape: t.shape, source: t.type, target: dtype, tiedEmbedding: tied)
            return try encoded(t.tensorInfo, from: file, name: t.name, shape: t.shape, as: type, file: file.path)
        }
        var metadata = file.header.metadata
        if let dtype, let fileType = GGUFTensorTypes.fileType(dtype) {
            set(&metadata, "general.file_type", .uint32(fileType))
            if tensors.contains(where: { $0.info.dtype.isQuantized }) {
                set(&metadata, "general.quantization_version", .uint32(GGUFTensorTypes.quantizationVersion))
            }
        }
        return GGUFConversion(metadata: metadata, tensors: tensors)
    }

    /// Replaces the value of `key`, or appends the key.
    static func set(_ metadata: inout [(key: String, value: GGUFValue)], _ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else { metadata.append((key, value)) }
    }

    /// Tensor `src` of `store` written as `name` with `shape` in `type`. `reorder`, when given, moves the
    /// source's bytes first (rows permuted, a matrix transposed), in the source's own type so nothing is
    /// rounded twice. Refuses, naming the tensor, what cannot be done: rows that are not a whole number of
    /// the target's blocks, a source type Recast cannot decode, a type GGUF cannot hold.
    static func encoded(_ src: TensorInfo, from store: TensorStore, name: String, shape: [Int], as type: DType, file: String,
                        reorder: ((UnsafeRawBufferPointer) throws -> [UInt8])? = nil) throws -> OutputTensor {
        if type != src.dtype {
            if type.isQuantized {
                guard type.canQuantize else {
                    throw CheckpointError.tensor(src.name, in: file, "cannot be quantised to \(type.rawValue): Recast quantises to \(GGUFTensorTypes.targets.filter(\.isQuantized).map(\.rawValue).joined(separator: ", "))")
                }
                if let row = shape.last, row % type.blockSize != 0 {
                    throw CheckpointError.tensor(src.name, in: file,
                        "cannot be quantised to \(type.rawValue): its rows of \(row) elements are not a whole number of \(type.blockSize)-element blocks (llama.cpp's quantiser refuses them too); choose --dtype f32, f16 or bf16")
                }
            }
            if src.dtype.isQuantized, !src.dtype.canDequantize {
                throw CheckpointError.tensor(src.name, in: file,
                    "is \(src.dtype.rawValue), which Recast cannot dequantise to convert it to \(type.rawValue); --dtype keep copies it as it is")
            }
            guard src.dtype.isQuantized || Cast.canConvert(from: src.dtype, to: type.isQuantized ? .f32 : type) else {
                throw CheckpointError.tensor(src.name, in: file, "is \(src.dtype.rawValue), which cannot be converted to \(type.rawValue)")
            }
        }
        guard let info = TensorInfo(name: name, dtype: type, shape: shape) else {
            throw CheckpointError.tensor(src.name, in: file, "shape \(shape) has no whole size in \(type.rawValue)")
        }
        return OutputTensor(info: info) { consume in
            if reorder == nil && type == src.dtype { return try store.streamBytes(of: src.name, consume) }
            try store.withBytes(of: src.name) { raw in
                guard raw.count == src.byteCount else {
                    throw CheckpointError.tensor(src.name, in: file, "holds \(raw.count) bytes; \(src.byteCount) expected")
                }
                if let reorder {
                    try reorder(raw).withUnsafeBytes { try recode($0, from: src.dtype, to: type, count: src.elementCount, tensor: src.name, file: file, consume) }
                } else {
                    try recode(raw, from: src.dtype, to: type, count: src.elementCount, tensor: src.name, file: file, consume)
                }
            }
        }
    }

    /// `count` elements of `from` as `to`: cast in pieces between element types, otherwise through f32
    /// (dequantised as gguf-py dequantises, quantised as gguf-py's `quantize` does).
    static func recode(_ raw: UnsafeRawBufferPointer, from: DType, to: DType, count: Int, tensor: String, file: String,
                       _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        if from == to { return try consume(raw) }
        if !from.isQuantized && !to.isQuantized {
            return try Converter.castChunks(raw, from: from, to: to, count: count, consume)
        }
        do {
            if from == .f32 {
                return try quantize(raw.assumingMemoryBound(to: Float.self), to: to, count: count, consume)
            }
            var floats = [Float](repeating: 0, count: count)
            try floats.withUnsafeMutableBufferPointer { out in
                guard let base = out.baseAddress else { return }
                if from.isQuantized {
                    try Dequantize.rows(type: from, bytes: raw, count: count, into: base)
                } else {
                    Cast.convert(raw, from: from, to: .f32, count: count, into: UnsafeMutableRawBufferPointer(out))
                }
            }
            if !to.isQuantized {
                return try floats.withUnsafeBytes { try Converter.castChunks($0, from: .f32, to: to, count: count, consume) }
            }
            try floats.withUnsafeBufferPointer { try quantize($0, to: to, count: count, consume) }
        } catch let e as QuantizationError {
            throw CheckpointError.tensor(tensor, in: file, e.description)
        }
    }

    /// f32 values encoded as the quantised `type` (f32 passes through).
    static func quantize(_ values: UnsafeBufferPointer<Float>, to type: DType, count: Int,
                         _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard type.isQuantized else { return try consume(UnsafeRawBufferPointer(values)) }
        var blocks = [UInt8](repeating: 0, count: type.byteCount(elements: count) ?? 0)
        try blocks.withUnsafeMutableBytes { out in
            guard let base = values.baseAddress else { return }
            try Quantize.rows(type: type, values: base, count: count, into: out)
        }
        try blocks.withUnsafeBytes { try consume($0) }
    }
}
