import GGUF
import HDF5
import RecastCore
import SafeTensors

/// The dtype a conversion writes floating-point tensors in. The block-quantised ones (`q8_0`…) are for
/// GGUF output only.
public enum DTypeChoice: String, Sendable, CaseIterable {
    case keep, f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1

    public var dtype: DType? {
        switch self {
        case .keep: nil
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q8_0: .q8_0
        case .q4_0: .q4_0
        case .q4_1: .q4_1
        case .q5_0: .q5_0
        case .q5_1: .q5_1
        }
    }
}

/// Where and how a checkpoint is written, decided by the destination's name.
public enum OutputKind: Equatable, Sendable {
    case safetensorsFile
    case hdf5File
    /// A GGUF file (llama.cpp's format).
    case ggufFile
    /// A directory of safetensors shards with an index (and the source's `config.json`).
    case directory

    public init(destination: String) throws {
        let lower = destination.lowercased()
        if lower.hasSuffix(".safetensors") { self = .safetensorsFile }
        else if lower.hasSuffix(".h5") || lower.hasSuffix(".hdf5") { self = .hdf5File }
        else if lower.hasSuffix(".gguf") { self = .ggufFile }
        else if FileSystem.isDirectory(destination) || destination.hasSuffix("/") || !FileSystem.split(destination).base.contains(".") {
            self = .directory
        } else {
            throw CheckpointError(file: destination, "unknown output type: name it .safetensors, .h5/.hdf5, .gguf, or a folder")
        }
    }
}

/// One tensor of the output: which source tensor it comes from, under what name, whether its
/// two dimensions are swapped on the way (Keras `[in, out]` ↔ PyTorch `[out, in]`).
public struct TensorPlan: Sendable {
    public var source: String
    public var name: String
    public var transpose: Bool

    public init(source: String, name: String, transpose: Bool = false) {
        self.source = source
        self.name = name
        self.transpose = transpose
    }
}

public struct ConvertOptions: Sendable {
    public var dtype: DTypeChoice = .keep
    public var maxShardSize: Int?
    public var force = false
    /// The tensors to write; nil writes every tensor of the source under its own name.
    public var plan: [TensorPlan]?
    public init() {}
}

public struct ConvertSummary: Sendable {
    public var destination: String
    public var files: [String]
    /// The companion files copied into a folder output (`Companions`), by name.
    public var companions: [String] = []
    /// What a single-file output leaves behind from a model folder: config.json and the companion files,
    /// by name (run and generate need config.json beside the weights). Empty for other outputs and sources.
    public var leftBehind: [String] = []
    public var tensorCount: Int
    public var bytesWritten: Int
    /// Groups of source tensors that shared bytes (PyTorch tied weights and views), each written as its own copy.
    public var tiedTensors: [[String]] = []

    /// The object described by `schemas/convert.schema.json`.
    public var json: JSON {
        .object([
            ("destination", .string(destination)),
            ("files", .array(files.map { .string($0) })),
            ("tensor_count", .int(tensorCount)),
            ("bytes_written", .int(bytesWritten)),
            ("left_behind", .array(leftBehind.map { .string($0) })),
            ("tied_tensors", CheckpointSummary.json(tiedTensors)),
        ])
    }
}

/// Converts between formats and dtypes, streaming tensor by tensor and publishing by rename.
public enum Converter {
    /// Default shard size for directory output, as Hugging Face uses.
    public static let defaultShardSize = 5_000_000_000
    /// Casts run in pieces of this many elements, so a cast needs no buffer the size of a tensor.
    static let chunkElements = 1 << 20

    public static func convert(source path: String, destination: String, options: ConvertOptions,
                               progress: ProgressSink? = nil) throws -> ConvertSummary {
        try convert(try Checkpoint.open(path), source: path, destination: destination, options: options, progress: progress)
    }

    /// Converts an already opened store; `path` is where it came from (its `config.json` goes along to folders).
    public static func convert(_ store: TensorStore, source path: String, destination: String, options: ConvertOptions,
                               progress: ProgressSink? = nil) throws -> ConvertSummary {
        let kind = try OutputKind(destination: destination)
        if let target = options.dtype.dtype, target.isQuantized, kind != .ggufFile {
            throw CheckpointError(file: destination, "--dtype \(options.dtype.rawValue) is for GGUF output (NAME.gguf); safetensors and HDF5 hold f32, f16 or bf16")
        }
        // A GGUF file becomes a Hugging Face checkpoint through its Hugging Face view (names, layouts, quantised
        // tensors dequantised to f32), a folder with the config.json and tokenizer files its metadata describes.
        let embedded = kind == .ggufFile ? nil : try Checkpoint.embeddedModel(store)
        let store = embedded?.store ?? store
        // Claims the destination (or fails: it exists, or it is, holds or lies inside the source) first.
        let writer = try CheckpointWriter(destination: destination, folder: kind == .directory, force: options.force, source: path, store: store)
        CheckpointWriter.releasePagesAfterRead(of: store)
        let weights: OutputWeights
        switch kind {
        case .ggufFile:
            let plan = try GGUFConversion.plan(store, source: path, dtype: options.dtype.dtype)
            weights = .gguf(plan.tensors, metadata: plan.metadata)
        case .hdf5File:
            weights = .hdf5(try outputTensors(store, options: options), metadata: store.metadata)
        case .safetensorsFile, .directory:
            weights = .safetensors(try outputTensors(store, options: options), metadata: store.metadata,
                                   maxShardSize: options.maxShardSize ?? defaultShardSize)
        }
        let config = try Checkpoint.configPath(for: path)
        var described: OutputConfig?, companions: OutputCompanions?
        if kind == .directory, let embedded {
            // Built before any tensor is written: a tokenizer the metadata describes badly fails at once.
            companions = .built(try embedded.companions())
            var json = embedded.config
            if let dtype = options.dtype.dtype, let name = ["F16": "float16", "BF16": "bfloat16", "F32": "float32"][dtype.rawValue] {
                json.set("torch_dtype", .string(name))
            }
            described = .json(json)
        } else if kind == .directory, let config {
            // The config and the companion files go along, under the folder's rule for links.
            described = .copy(config)
            companions = .copies(of: config)
        }
        let leftBehind = [.safetensorsFile, .hdf5File].contains(kind) ? try leftBehindBySingleFile(source: path, config: config, embedded: embedded) : []
        try writer.write(weights: weights, config: { described }, companions: companions, progress: progress)
        let tensors = weights.tensors
        let files = kind == .directory ? writer.files.map { FileSystem.join(destination, $0) } : [destination]
        return ConvertSummary(destination: destination, files: files, companions: writer.companions, leftBehind: leftBehind,
                              tensorCount: tensors.count, bytesWritten: tensors.reduce(0) { $0 + $1.info.byteCount },
                              tiedTensors: store.tiedTensors)
    }

    /// What a single-file output of a model folder leaves behind: its config.json and companion files.
    /// (A weights file converted to another keeps what lies beside it: nothing was in it to lose.)
    static func leftBehindBySingleFile(source: String, config: String?, embedded: EmbeddedModel? = nil) throws -> [String] {
        if let embedded { return ["config.json"] + embedded.companionNames }
        guard FileSystem.isDirectory(source), let config else { return [] }
        return ["config.json"] + (try Companions.find(for: config)).map(\.name)
    }

    /// Builds the output tensors: renames, transposes and casts applied lazily as each is written.
    public static func outputTensors(_ store: TensorStore, options: ConvertOptions) throws -> [OutputTensor] {
        let file = store.files.first ?? "checkpoint"
        let plan = options.plan ?? store.tensors.map { TensorPlan(source: $0.name, name: $0.name) }
        // A transposed tensor is built whole in memory, besides the copy its store may read it into (an
        // HDF5 dataset that is chunked or byte-swapped): two copies at once.
        let largest = plan.filter(\.transpose).compactMap { store.info(named: $0.source)?.byteCount }.max() ?? 0
        let transposed = MemoryNeed.product([largest, 2])
        if let message = MemoryLimit.current().refusal(needing: transposed, for: "transposing its largest 2-D tensor (it and its transposed copy)") {
            throw CheckpointError(file: file, message)
        }
        return try plan.map { p in
            guard let src = store.info(named: p.source) else {
                throw CheckpointError.tensor(p.source, in: file, "not in the checkpoint")
            }
            // (A GGUF file reaches here through its Hugging Face view, which dequantises.)
            guard !src.dtype.isQuantized else {
                throw CheckpointError.tensor(p.source, in: file, "is \(src.dtype.rawValue), block-quantised, which only GGUF holds: write NAME.gguf")
            }
            var outDType = src.dtype
            if let target = options.dtype.dtype, src.dtype.isFloatingPoint, src.dtype != .c64 { outDType = target }
            var shape = src.shape
            if p.transpose {
                guard shape.count == 2 else {
                    throw CheckpointError.tensor(p.source, in: file, "has shape \(shape); only 2-D tensors can be transposed")
                }
                guard src.dtype.bitWidth % 8 == 0 else {
                    throw CheckpointError.tensor(p.source, in: file, "is \(src.dtype.rawValue), which cannot be transposed element by element")
                }
                shape = [shape[1], shape[0]]
            }
            guard let info = TensorInfo(name: p.name, dtype: outDType, shape: shape) else {
                throw CheckpointError.tensor(p.name, in: file, "its size overflows")
            }
            return OutputTensor(info: info) { consume in
                // Streamed piece by piece where the store can (whole elements, so each piece casts alone).
                if !p.transpose, src.dtype.bitWidth % 8 == 0 {
                    let width = src.dtype.bitWidth / 8
                    return try store.streamBytes(of: p.source) { piece in
                        try castChunks(piece, from: src.dtype, to: outDType, count: piece.count / width, consume)
                    }
                }
                try store.withBytes(of: p.source) { raw in
                    if p.transpose {
                        let t = transpose2D(raw, rows: src.shape[0], cols: src.shape[1], elementSize: src.dtype.bitWidth / 8)
                        try t.withUnsafeBytes { try castChunks($0, from: src.dtype, to: outDType, count: src.elementCount, consume) }
                    } else {
                        try castChunks(raw, from: src.dtype, to: outDType, count: src.elementCount, consume)
                    }
                }
            }
        }
    }

    static func castChunks(_ raw: UnsafeRawBufferPointer, from: DType, to: DType, count: Int,
                           _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        if from == to { return try consume(raw) }
        // Sub-byte sources decode per element; every chunk boundary falls on a whole byte
        // because chunkElements is a multiple of 8.
        let outWidth = to.bitWidth / 8
        var buffer = [UInt8](repeating: 0, count: min(count, chunkElements) * outWidth)
        var start = 0
        while start < count {
            let n = min(chunkElements, count - start)
            let inStart = start * from.bitWidth / 8
            let inBytes = from.byteCount(elements: n) ?? 0
            let piece = UnsafeRawBufferPointer(rebasing: raw[inStart..<(inStart + inBytes)])
            let ok = buffer.withUnsafeMutableBytes { Cast.convert(piece, from: from, to: to, count: n, into: $0) }
            guard ok else { throw CheckpointError(file: "cast", "cannot cast \(from.rawValue) to \(to.rawValue)") }
            try buffer.withUnsafeBytes { try consume(UnsafeRawBufferPointer(rebasing: $0[0..<(n * outWidth)])) }
            start += n
        }
    }

    static func transpose2D(_ raw: UnsafeRawBufferPointer, rows: Int, cols: Int, elementSize: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rows * cols * elementSize)
        out.withUnsafeMutableBytes { dst in
            guard let d = dst.baseAddress, let s = raw.baseAddress else { return }
            // Blocked so both sides stay in cache.
            let block = 32
            for r0 in stride(from: 0, to: rows, by: block) {
                for c0 in stride(from: 0, to: cols, by: block) {
                    for r in r0..<min(r0 + block, rows) {
                        for c in c0..<min(c0 + block, cols) {
                            (d + (c * rows + r) * elementSize).copyMemory(from: s + (r * cols + c) * elementSize, byteCount: elementSize)
                        }
                    }
                }
            }
        }
        return out
    }
}
