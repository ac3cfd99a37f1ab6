// swift-tools-version: 5.4
//
// Fuzz targets for Recast's readers, built with libFuzzer and AddressSanitizer:
//
//     bash tools/fuzz.sh            # build, seed from fixtures/, run every target, print a table
//
// Tools version 5.4 on purpose: from 5.5 on, SwiftPM renames an executable's entry point and links
// it with `--defsym main=<module>_main`, which fails for a target that has no `main` of its own.
// Here libFuzzer provides `main`, and each target only defines `LLVMFuzzerTestOneInput`
// (compiled with `-parse-as-library`).
import PackageDescription

let harness: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]
let support: [Target.Dependency] = ["FuzzSupport", .product(name: "RecastKit", package: "Recast")]

let package = Package(
    name: "RecastFuzz",
    dependencies: [
        .package(name: "Recast", path: ".."),
    ],
    targets: [
        // `LLVMFuzzerMutate`, libFuzzer's byte mutator, for the custom (structure-aware) mutators.
        .systemLibrary(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer", .product(name: "RecastKit", package: "Recast")]),
        .executableTarget(name: "fuzz-safetensors-header", dependencies: support, swiftSettings: harness),
        .executableTarget(name: "fuzz-sharded-index", dependencies: support, swiftSettings: harness),
        .executableTarget(name: "fuzz-hdf5", dependencies: support, swiftSettings: harness),
        .executableTarget(name: "fuzz-config-graph", dependencies: support, swiftSettings: harness),
        .executableTarget(name: "fuzz-gguf", dependencies: support, swiftSettings: harness),
        .executableTarget(name: "fuzz-pickle", dependencies: support, swiftSettings: harness),
        .executableTarget(name: "fuzz-torch-zip", dependencies: support, swiftSettings: harness),
    ],
    swiftLanguageVersions: [.version("6")]
)
