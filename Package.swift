// swift-tools-version: 6.0
import PackageDescription

let strict: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]

let package = Package(
    name: "Recast",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "recast", targets: ["recast"]),
        .library(name: "RecastKit", targets: ["RecastCore", "SafeTensors", "HDF5", "GGUF", "TorchPickle", "Quantization", "Checkpoint", "LinearAlgebra", "FeatureMaps", "ModelGraph", "Runtime", "Rewrite", "Verify", "Tokenizer", "Calibration"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C edges: module maps and shim headers (and the small C shims of CPosix and CBLAS).
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // inflate, for HDF5's deflate filter (Recast reads HDF5 with its own parser; libhdf5 only writes).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // POSIX calls Swift cannot import directly (renameat2).
        .target(name: "CPosix"),
        // BLAS, loaded with dlopen on first use rather than linked: OpenBLAS's constructor would run at
        // every start, and hangs under a small address-space limit. Needs libopenblas0 at run time.
        .target(name: "CBLAS", cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("dl")]),

        // Format-agnostic core: dtypes, tensor descriptors, the store protocol, casts, JSON.
        .target(name: "RecastCore", dependencies: ["CPosix", "CCrypto"], swiftSettings: strict),
        // Formats.
        .target(name: "SafeTensors", dependencies: ["RecastCore"], swiftSettings: strict),
        .target(name: "HDF5", dependencies: ["RecastCore", "CHDF5", "CZlib"], swiftSettings: strict),
        .target(name: "GGUF", dependencies: ["RecastCore", "Quantization"], swiftSettings: strict),
        // PyTorch checkpoints (torch.save zip and legacy files, sharded indexes) through a pickle reader that never runs code.
        .target(name: "TorchPickle", dependencies: ["RecastCore", "CZlib"], swiftSettings: strict),
        // Opening any checkpoint path (and a model with its config), and writing any format and model folder.
        .target(name: "Checkpoint", dependencies: ["RecastCore", "SafeTensors", "HDF5", "GGUF", "TorchPickle", "Quantization", "ModelGraph"], swiftSettings: strict),
        // Text to token ids and back, exactly as Hugging Face `tokenizers` does, from tokenizer.json.
        .target(name: "Tokenizer", dependencies: ["RecastCore"], swiftSettings: strict),
        // GGML block quantisation: every block type gguf-py decodes to f32, and f32 to Q8_0/Q4_*/Q5_*, bit-identical to gguf-py.
        .target(name: "Quantization", dependencies: ["RecastCore"], swiftSettings: strict),
        // Single-precision products over BLAS (loaded on first use) and the row softmax.
        .target(name: "LinearAlgebra", dependencies: ["RecastCore", "CBLAS"], swiftSettings: strict),
        // The feature maps of linear attention, one file each: parameters, initialisers, forward and backward kernels.
        .target(name: "FeatureMaps", dependencies: ["RecastCore", "LinearAlgebra"], swiftSettings: strict),
        // Typed transformer graph over a store.
        .target(name: "ModelGraph", dependencies: ["RecastCore", "FeatureMaps"], swiftSettings: strict),
        // Attention swap: feature maps and their initialisers.
        .target(name: "Rewrite", dependencies: ["RecastCore", "FeatureMaps", "ModelGraph", "Checkpoint", "SafeTensors", "HDF5"], swiftSettings: strict),
        // CPU forward pass over BLAS.
        .target(name: "Runtime", dependencies: ["RecastCore", "LinearAlgebra", "FeatureMaps", "ModelGraph"], swiftSettings: strict),
        // Attention transfer (LoLCATs stage 1): gradients by hand, AdamW, and the layer-by-layer driver of `recast calibrate`.
        .target(name: "Calibration", dependencies: ["RecastCore", "LinearAlgebra", "FeatureMaps", "ModelGraph", "Checkpoint", "SafeTensors", "Runtime", "Tokenizer"], swiftSettings: strict),
        // Comparisons and reports.
        .target(name: "Verify", dependencies: ["RecastCore", "Checkpoint", "FeatureMaps", "ModelGraph", "Runtime", "Tokenizer"], swiftSettings: strict),
        // The command line: parsing and formatting only.
        .executableTarget(
            name: "recast",
            dependencies: [
                "RecastCore", "SafeTensors", "HDF5", "Checkpoint", "FeatureMaps", "ModelGraph", "Rewrite", "Runtime", "Verify", "Tokenizer", "Calibration",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        .target(name: "TestSupport", dependencies: ["RecastCore"], path: "Tests/TestSupport"),
        .testTarget(name: "RecastCoreTests", dependencies: ["RecastCore", "TestSupport"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["TestSupport", "RecastCore", "SafeTensors"]),
        .testTarget(name: "GGUFTests", dependencies: ["TestSupport", "RecastCore", "GGUF", "Tokenizer"]),
        .testTarget(name: "HDF5Tests", dependencies: ["RecastCore", "HDF5", "SafeTensors"]),
        .testTarget(name: "TorchPickleTests", dependencies: ["TestSupport", "RecastCore", "TorchPickle", "Checkpoint", "recast"]),
        .testTarget(name: "CheckpointTests", dependencies: ["TestSupport", "RecastCore", "Checkpoint", "TorchPickle", "SafeTensors", "HDF5", "ModelGraph", "Rewrite", "recast"]),
        .testTarget(name: "ModelGraphTests", dependencies: ["TestSupport", "RecastCore", "FeatureMaps", "ModelGraph", "Checkpoint"]),
        .testTarget(name: "RuntimeTests", dependencies: ["TestSupport", "RecastCore", "LinearAlgebra", "FeatureMaps", "ModelGraph", "Checkpoint", "Runtime", "Rewrite"]),
        .testTarget(name: "RewriteTests", dependencies: ["TestSupport", "RecastCore", "FeatureMaps", "ModelGraph", "Checkpoint", "Rewrite", "recast"]),
        .testTarget(name: "FeatureMapTests", dependencies: ["TestSupport", "RecastCore", "LinearAlgebra", "FeatureMaps"]),
        .testTarget(name: "CalibrationTests", dependencies: ["TestSupport", "RecastCore", "LinearAlgebra", "FeatureMaps", "ModelGraph", "Checkpoint", "Runtime", "Rewrite", "Calibration"]),
        .testTarget(name: "VerifyTests", dependencies: ["TestSupport", "RecastCore", "SafeTensors", "Checkpoint", "ModelGraph", "Runtime", "Verify"]),
        .testTarget(name: "HardeningTests", dependencies: ["TestSupport", "RecastCore", "SafeTensors", "Checkpoint", "recast"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["TestSupport", "RecastCore", "SafeTensors", "HDF5", "GGUF", "TorchPickle", "Checkpoint", "ModelGraph"], exclude: ["Inputs"]),
        .testTarget(name: "TokenizerTests", dependencies: ["TestSupport", "RecastCore", "Tokenizer"]),
        .testTarget(name: "QuantizationTests", dependencies: ["TestSupport", "RecastCore", "Quantization", "GGUF"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "RecastCore", "recast"]),
        // The real models (tools/models.py) on real text against tools/reference.py.
        .testTarget(name: "RealModelTests", dependencies: ["TestSupport", "RecastCore", "SafeTensors", "recast"]),
    ],
    swiftLanguageModes: [.v6]
)
