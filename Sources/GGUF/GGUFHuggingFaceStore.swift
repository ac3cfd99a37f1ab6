import Quantization
import RecastCore

/// A GGUF file seen as the Hugging Face checkpoint it was converted from: tensors under Hugging Face's
/// names, in Hugging Face's layouts (llama.cpp's q/k row permutation undone, GPT-2's Conv1D weights
/// transposed back), block-quantised tensors dequantised to f32 as they are read, and the `config.json`
/// its metadata describes. Every command that runs a model (run, swap, verify, generate) reads a GGUF
/// file through this view; `inspect` shows the file as it is stored (`GGUFFile`).
///
/// One tensor at a time: a dequantised or reordered tensor lives only for the `withBytes` call.
public final class GGUFHuggingFaceStore: TensorStore {
    public let file: GGUFFile
    /// The `config.json` the metadata describes (`GGUFConfig.huggingFaceConfig`).
    public let config: JSON
    /// `general.architecture`.
    public let architecture: String

    struct Entry {
        var info: TensorInfo
        var source: GGUFTensorInfo
        var layout: LlamaCppLayout
    }

    private let entries: [Entry]
    private let index: [String: Int]

    /// Maps every tensor of `file` but `rope_freqs.weight`, which the config's `rope_scaling` stands for; a tensor without a Hugging Face name, a type Recast cannot decode,
    /// or two tensors under one name is an error naming the tensor.
    public init(file: GGUFFile) throws {
        self.file = file
        let path = file.path
        guard let architecture = file.architecture else {
            throw CheckpointError(file: path, object: "key 'general.architecture'", "is missing: Recast cannot tell which model this GGUF file holds")
        }
        guard LlamaCppNames.supports(architecture: architecture) else {
            throw CheckpointError(file: path, object: "key 'general.architecture'",
                "is '\(architecture)'; Recast maps the llama.cpp architectures llama, qwen2, gpt2 and bert to Hugging Face models")
        }
        self.architecture = architecture
        let config = try GGUFConfig.huggingFaceConfig(of: file)
        self.config = config
        var entries: [Entry] = []
        var index: [String: Int] = [:]
        for t in file.tensorInfos {
            // llama3's frequency divisors became config.json's rope_scaling (or were refused).
            if architecture == "llama", t.name == GGUFRopeScaling.frequencyTensor { continue }
            guard let hf = LlamaCppNames.huggingFace(t.name, architecture: architecture, config: config) else {
                throw CheckpointError.tensor(t.name, in: path, "has no Hugging Face name in llama.cpp's \(architecture) architecture")
            }
            if t.type.isQuantized, !t.type.canDequantize {
                throw CheckpointError.tensor(t.name, in: path, "is \(t.type.rawValue), a GGML type Recast cannot dequantize")
            }
            var shape = t.shape
            if hf.layout == .transposed {
                guard shape.count == 2 else {
                    throw CheckpointError.tensor(t.name, in: path, "has shape \(shape); llama.cpp stores only 2-D weights transposed")
                }
                shape = [shape[1], shape[0]]
            }
            if case let .rotaryRows(heads) = hf.layout {
                guard let rows = shape.first, heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
                    throw CheckpointError.tensor(t.name, in: path, "has shape \(shape), which does not split into \(heads) heads of rotary pairs")
                }
            }
            guard let info = TensorInfo(name: hf.huggingFace, dtype: t.type.isQuantized ? .f32 : t.type, shape: shape) else {
                throw CheckpointError.tensor(t.name, in: path, "its size overflows")
            }
            if let other = index[hf.huggingFace] {
                throw CheckpointError.tensor(t.name, in: path, "maps to '\(hf.huggingFace)', as '\(entries[other].source.name)' does")
            }
            index[hf.huggingFace] = entries.count
            entries.append(Entry(info: info, source: t, layout: hf.layout))
        }
        self.entries = entries
        self.index = index
    }

    public var format: CheckpointFormat { .gguf }
    public var layout: String { "gguf" }
    public var files: [String] { [file.path] }
    /// None: the GGUF metadata becomes config.json and tokenizer.json, not safetensors header entries.
    public var metadata: Metadata { [] }
    public var tensors: [TensorInfo] { entries.map(\.info) }

    public func info(named name: String) -> TensorInfo? { index[name].map { entries[$0].info } }

    /// The llama.cpp name of a Hugging Face tensor name of this view.
    public func storedName(of name: String) -> String? { index[name].map { entries[$0].source.name } }

    public func sha256(of file: String) throws -> String { try self.file.sha256(of: file) }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let i = index[name] else { throw CheckpointError.tensor(name, in: file.path, "not in this file") }
        let e = entries[i]
        if e.layout == .same, !e.source.type.isQuantized {
            return try file.withBytes(of: e.source.name, body)
        }
        // Dequantised whole, or viewed in the mapping; then put in Hugging Face's layout.
        if e.source.type.isQuantized {
            let values = try file.loadFloat32(e.source.name)
            return try values.withUnsafeBytes { try arrange($0, e, body) }
        }
        return try file.withBytes(of: e.source.name) { try arrange($0, e, body) }
    }

    /// Hands `stored` (a whole tensor in llama.cpp's layout, in the view's dtype) to `body` in Hugging
    /// Face's layout.
    private func arrange<R>(_ stored: UnsafeRawBufferPointer, _ e: Entry, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        switch e.layout {
        case .same:
            return try body(stored)
        case let .rotaryRows(heads):
            var out = [UInt8](repeating: 0, count: stored.count)
            try out.withUnsafeMutableBytes { dst in
                try RotaryPermutation.permuteRows(stored, into: dst, rows: e.info.shape[0], heads: heads, toLlamaCpp: false,
                                                  tensor: e.source.name, file: file.path)
            }
            return try out.withUnsafeBytes(body)
        case .transposed:
            // GGUF holds [out, in] (shape after reversal); Hugging Face's Conv1D holds [in, out].
            let rows = e.info.shape[1], cols = e.info.shape[0]
            let width = e.info.dtype.bitWidth / 8
            var out = [UInt8](repeating: 0, count: stored.count)
            out.withUnsafeMutableBytes { dst in
                guard let s = stored.baseAddress, let d = dst.baseAddress else { return }
                for r in 0..<rows {
                    for c in 0..<cols {
                        (d + (c * rows + r) * width).copyMemory(from: s + (r * cols + c) * width, byteCount: width)
                    }
                }
            }
            return try out.withUnsafeBytes(body)
        }
    }
}
