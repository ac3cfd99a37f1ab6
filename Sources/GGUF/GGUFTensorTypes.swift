import RecastCore

/// The GGML type each tensor of a GGUF file Recast writes gets, by the rules llama.cpp's converter
/// (`convert_hf_to_gguf.py`, `ModelBase.prepare_tensors`) and quantiser (`llama-quant.cpp`,
/// `tensor_allows_quantization`, `llama_tensor_get_type_impl`) follow, and the `general.file_type` that
/// llama.cpp writes for them.
public enum GGUFTensorTypes {
    /// The types `convert --dtype` can ask for in a GGUF output.
    public static let targets: [DType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1]

    /// The type tensor `name` (a llama.cpp name; `shape` outermost first) is written in, for a source of
    /// type `source` and a requested `target` (nil: keep the source's type where GGUF can hold it).
    ///
    /// - Tensors that are not floating-point (integer tables) keep their type.
    /// - 1-D tensors, norms, biases (every name not ending in `.weight`), position embeddings, BERT's token
    ///   types and expert gates stay F32: llama.cpp computes with them in f32 only.
    /// - For a quantised target, the output projection, or the token embedding when the output is tied to
    ///   it (`tiedEmbedding`), is Q8_0. llama.cpp's quantiser gives these Q6_K when their rows are a
    ///   multiple of 256 elements and Q8_0 otherwise; Recast does not write K-quants, so Q8_0 always.
    /// - `keep` keeps F32, F16, BF16 and the quantised types; other floating-point types (F64, F8…) become
    ///   F32, as llama.cpp's converter widens every type it cannot write.
    public static func type(for name: String, shape: [Int], source: DType, target: DType?, tiedEmbedding: Bool) -> DType {
        guard source.isFloatingPoint || source.isQuantized else { return source }
        if staysF32(name, shape: shape) { return .f32 }
        guard let target else {
            return source.isQuantized || [.f32, .f16, .bf16].contains(source) ? source : .f32
        }
        if target.isQuantized, name == "output.weight" || (tiedEmbedding && name == "token_embd.weight") {
            return .q8_0
        }
        return target
    }

    /// Tensors llama.cpp keeps in f32 whatever the file type.
    static func staysF32(_ name: String, shape: [Int]) -> Bool {
        shape.count <= 1 || name.hasSuffix("_norm.weight") || !name.hasSuffix(".weight")
            || ["position_embd.weight", "token_types.weight"].contains(name) || name.contains("ffn_gate_inp.")
    }

    /// llama.cpp's `llama_ftype` number for a file whose weights are mostly `type` (`general.file_type`,
    /// gguf-py's `LlamaFileType`); nil for the types with no file type of their own.
    public static func fileType(_ type: DType) -> UInt32? {
        switch type {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q4_1: 3
        case .q8_0: 7
        case .q5_0: 8
        case .q5_1: 9
        case .q6_K: 18
        case .iq4_NL: 25
        case .iq4_XS: 30
        case .bf16: 32
        case .tq1_0: 36
        case .tq2_0: 37
        default: nil
        }
    }

    /// The file type llama.cpp's loader infers from the tensors when a file does not say: that of the type
    /// most tensors have (the first to reach the largest count, in file order).
    public static func guessedFileType(_ types: [DType]) -> UInt32? {
        var counts: [DType: Int] = [:]
        var best: DType?, bestCount = 0
        for t in types {
            counts[t, default: 0] += 1
            if counts[t, default: 0] > bestCount { bestCount = counts[t, default: 0]; best = t }
        }
        return best.flatMap(fileType)
    }

    /// `general.quantization_version`: the version of GGML's block formats (`GGML_QNT_VERSION`), which
    /// llama.cpp's converter and quantiser write into every file.
    public static let quantizationVersion: UInt32 = 2
}
