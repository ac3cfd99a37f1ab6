import GGUF
import RecastCore

extension GGUFConversion {
    /// A Hugging Face model (safetensors, a folder, HDF5) as llama.cpp's converter writes it: llama.cpp's
    /// names (`LlamaCppNames`), the q and k rows of rotary models permuted and GPT-2's `Conv1D` weights
    /// transposed, `general.*` and `{arch}.*` metadata from config.json (`GGUFConfig`), llama3 rope scaling as
    /// a `rope_freqs.weight` tensor (`GGUFConfig.ropeFrequencyFactors`), `tokenizer.ggml.*`
    /// from the tokenizer.json beside it (`GGUFTokenizer`; none without one), and the types
    /// `GGUFTensorTypes` gives.
    static func fromHuggingFace(_ store: TensorStore, source path: String, dtype: DType?) throws -> GGUFConversion {
        guard let configPath = try Checkpoint.configPath(for: path) else {
            throw CheckpointError(file: path, "has no config.json beside it: GGUF's {arch}.* metadata is built from the model's config.json")
        }
        let config = try JSONFileLimit.read(configPath, limit: JSONFileLimit.config, what: "a config.json").root.json
        var metadata = try GGUFConfig.metadata(fromConfig: config, file: configPath)
        guard let architecture = metadata.first(where: { $0.key == "general.architecture" })?.value.stringValue else {
            throw CheckpointError(file: configPath, "gives no llama.cpp architecture")
        }
        let file = store.files.first ?? path
        var planned: [(source: TensorInfo, name: String, layout: LlamaCppLayout)] = []
        for info in store.tensors {
            guard let (name, layout) = try LlamaCppNames.llamaCpp(info.name, architecture: architecture, config: config, file: file) else { continue }
            planned.append((info, name, layout))
        }
        let tied = !planned.contains { $0.name == "output.weight" }
        // llama.cpp's converter writes llama3's frequency divisors first (`generate_extra_tensors`), in f32.
        let ropeFactors = try GGUFConfig.ropeFrequencyFactors(fromConfig: config, file: configPath)
        let extra = ropeFactors.map { [OutputTensor.values(GGUFRopeScaling.frequencyTensor, $0, shape: [$0.count])] } ?? []
        let tensors = try extra + planned.map { p in
            let (shape, reorder) = try moved(p.source, layout: p.layout, file: file)
            let type = GGUFTensorTypes.type(for: p.name, shape: shape, source: p.source.dtype, target: dtype, tiedEmbedding: tied)
            return try encoded(p.source, from: store, name: p.name, shape: shape, as: type, file: file, reorder: reorder)
        }
        if let fileType = dtype.flatMap(GGUFTensorTypes.fileType) ?? GGUFTensorTypes.guessedFileType(tensors.map(\.info.dtype)) {
            metadata.append(("general.file_type", .uint32(fileType)))
        }
        metadata += try tokenizerMetadata(beside: configPath)
        metadata.append(("general.quantization_version", .uint32(GGUFTensorTypes.quantizationVersion)))
        return GGUFConversion(metadata: metadata, tensors: tensors)
    }

    /// The shape a tensor is written with, and how its bytes move on the way (nil: as they are).
    static func moved(_ src: TensorInfo, layout: LlamaCppLayout, file: String) throws -> ([Int], ((UnsafeRawBufferPointer) throws -> [UInt8])?) {
        switch layout {
        case .same:
            return (src.shape, nil)
        case .transposed:
            guard src.shape.count == 2, !src.dtype.isQuantized, src.dtype.bitWidth % 8 == 0 else {
                throw CheckpointError.tensor(src.name, in: file, "is \(src.dtype.rawValue) of shape \(src.shape); only a 2-D tensor of whole-byte elements can be transposed")
            }
            let (rows, cols, width) = (src.shape[0], src.shape[1], src.dtype.bitWidth / 8)
            return ([cols, rows], { Converter.transpose2D($0, rows: rows, cols: cols, elementSize: width) })
        case let .rotaryRows(heads):
            let rows = src.shape.first ?? 1
            return (src.shape, { raw in
                var out = [UInt8](repeating: 0, count: raw.count)
                try out.withUnsafeMutableBytes {
                    try RotaryPermutation.permuteRows(raw, into: $0, rows: rows, heads: heads, toLlamaCpp: true, tensor: src.name, file: file)
                }
                return out
            })
        }
    }

    /// `tokenizer.ggml.*` from the tokenizer.json (and tokenizer_config.json) in the config's folder; none
    /// when the folder has no tokenizer.json.
    static func tokenizerMetadata(beside configPath: String) throws -> [(key: String, value: GGUFValue)] {
        let folder = try ModelFolder.holding(configPath)
        let tokenizer = FileSystem.join(folder.path, "tokenizer.json")
        guard FileSystem.exists(tokenizer) else { return [] }
        try folder.check(tokenizer)
        let json = try JSONFileLimit.read(tokenizer, limit: JSONFileLimit.tokenizer, what: "a tokenizer.json").root.json
        var tokenizerConfig: JSON?
        let configFile = FileSystem.join(folder.path, "tokenizer_config.json")
        if FileSystem.exists(configFile) {
            try folder.check(configFile)
            tokenizerConfig = try JSONFileLimit.read(configFile, limit: JSONFileLimit.config, what: "a tokenizer_config.json").root.json
        }
        return try GGUFTokenizer.metadata(tokenizerJSON: json, tokenizerConfig: tokenizerConfig, file: tokenizer)
    }
}
