import ArgumentParser
import Checkpoint
import ModelGraph
import RecastCore

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a checkpoint between formats and dtypes.",
        discussion: """
            The output format follows DST: a .safetensors file, an .h5/.hdf5 file, a .gguf file, or a \
            folder (sharded safetensors with an index). Casts apply to floating-point tensors only. \
            A folder also gets the source's config.json and companion files (tokenizer, generation \
            config, sentence-transformers modules, README.md); a single file cannot hold them. \
            GGUF output from a GGUF file keeps its names and metadata; --dtype keep copies every tensor \
            bit for bit, and only an explicit --dtype changes a quantised tensor. Norms, biases and 1-D \
            tensors stay f32, as llama.cpp expects. From a Hugging Face model, GGUF output gets llama.cpp's \
            names and layouts and its metadata from config.json and tokenizer.json. A GGUF file converted \
            to a folder becomes a Hugging Face model: config.json and tokenizer files from its metadata, \
            quantised tensors dequantised. \
            The output is written beside DST and renamed into place when complete.
            """
    )

    @Argument(help: "The checkpoint to read: a .safetensors file, a sharded index .json, an HDF5 file, a GGUF file, a PyTorch file (pytorch_model.bin, .pt, .pth, .ckpt; read without running its pickle), or a model folder.")
    var source: String

    @Argument(help: "Where to write: NAME.safetensors, NAME.h5 / NAME.hdf5, NAME.gguf, or a folder.")
    var destination: String

    @Option(help: "Dtype for floating-point tensors: keep, f32, f16 or bf16; for GGUF output also q8_0, q4_0, q4_1, q5_0 or q5_1.")
    var dtype: String = "keep"

    @Option(help: "Split safetensors output into shards of at most this size (5GB = 5·10^9 bytes, 2GiB = 2·2^30).")
    var maxShardSize: String?

    @Option(help: "Tensor names in the output: keep (as stored) or pytorch (Hugging Face TensorFlow names and kernel layouts mapped to PyTorch's).")
    var names: String = "keep"

    @Flag(help: "Replace DST if it exists.")
    var force = false

    @Flag(help: "Print one JSON object (schemas/convert.schema.json) instead of the text summary.")
    var json = false

    func validate() throws {
        guard DTypeChoice(rawValue: dtype) != nil else {
            throw ValidationError("--dtype must be one of \(DTypeChoice.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(dtype)')")
        }
        guard ["keep", "pytorch"].contains(names) else {
            throw ValidationError("--names must be keep or pytorch (got '\(names)')")
        }
        if let s = maxShardSize, ByteSize.parse(s) == nil {
            throw ValidationError("--max-shard-size '\(s)' is not a size such as 500MB, 5GB or 2GiB")
        }
    }

    func run() throws {
        try reportingErrors {
            var options = ConvertOptions()
            options.dtype = DTypeChoice(rawValue: dtype) ?? .keep
            options.maxShardSize = maxShardSize.flatMap(ByteSize.parse)
            options.force = force
            if options.maxShardSize != nil, try [.hdf5File, .ggufFile].contains(OutputKind(destination: destination)) {
                throw ValidationError("--max-shard-size applies to safetensors output only")
            }
            let store = try Checkpoint.open(source)
            if names == "pytorch" {
                let table = try NameTable(store: store, modelPath: source)
                guard table.usesTensorFlowNames else {
                    throw CheckpointError(file: source, "does not use TensorFlow names; --names pytorch has nothing to map")
                }
                options.plan = table.pytorchPlan
            }
            let bar = ProgressBar.make(total: store.byteCount, label: "converting")
            let summary = try Converter.convert(store, source: source, destination: destination, options: options, progress: bar)
            bar?.finish()
            if json {
                print(summary.json.serialized(pretty: true))
                return
            }
            let sizes = "\(summary.tensorCount) tensors, \(ByteSize.format(summary.bytesWritten))"
            if try OutputKind(destination: destination) == .directory {
                let folder = FileSystem.join(summary.destination, "")
                let names = summary.files.map { $0.hasPrefix(folder) ? String($0.dropFirst(folder.count)) : $0 }
                Terminal.output("wrote \(summary.destination): \(names.joined(separator: ", ")) (\(sizes))")
            } else {
                Terminal.output("wrote \(summary.destination): \(sizes)")
            }
            if !summary.tiedTensors.isEmpty {
                Terminal.output(["tied tensors in \(source) (sharing bytes of one storage), each written as a separate copy:"]
                                + CheckpointSummary.tiedLines(summary.tiedTensors))
            }
            if !summary.leftBehind.isEmpty {
                Terminal.warning("\(destination) is a single weights file, so \(summary.leftBehind.joined(separator: ", ")) stayed behind in \(source); run and generate need config.json beside the weights: convert to a folder (recast convert \(source) DIR/) to keep them")
            }
        }
    }
}
