import Checkpoint
import Foundation
import RecastCore
import Testing
import TestSupport
import TorchPickle

/// Files written by real `torch.save` (zip, legacy, deflated, sharded; tools/torch_fixtures.py), read by
/// Recast's `TorchCheckpoint` and compared tensor by tensor with what `torch.load` makes of them. The CLI
/// on the same files (inspect, convert to every format, run, swap, verify) is in CLITests/PyTorchCheckpointTests.
@Suite struct RealTorchFileTests {
    let fixtures = TorchFixtures.shared

    /// Every tensor's dtype, shape and bytes equal `torch.load(...)[name].contiguous()`'s; ties equal the
    /// overlaps of torch's data pointers.
    func checkAgainstTorch(_ store: TensorStore, _ file: String, ties: [[String]]? = nil) throws {
        let expected = try #require(fixtures.expected[file], "no reference for \(file): \(fixtures.failure ?? "")")
        #expect(Set(store.tensors.map(\.name)) == Set(expected.keys))
        for t in store.tensors {
            guard let e = expected[t.name] else { continue }
            #expect(t.dtype.rawValue == e.dtype, "\(file) \(t.name)")
            #expect(t.shape == e.shape, "\(file) \(t.name)")
            let digest = try store.withBytes(of: t.name) { raw in
                #expect(raw.count == t.byteCount)
                return sha256Hex(raw)
            }
            #expect(digest == e.sha256, "\(file) \(t.name): bytes differ from torch.load")
        }
        if let ties {
            #expect(ties.map { $0.sorted() }.sorted { $0.lexicographicallyPrecedes($1) } == (fixtures.ties[file] ?? []))
        }
    }

    @Test(arguments: ["dtypes", "dtypes-legacy", "tied", "tied-legacy", "strided", "strided-legacy", "views",
                      "views-legacy", "views-deflated", "nested", "nested-legacy", "ordered", "ordered-legacy", "hf-gpt2"])
    func tensorsMatchTorchLoad(file: String) throws {
        let store = try TorchCheckpoint(path: fixtures.path(file))
        #expect(store.layout == (file.contains("legacy") ? "pytorch-legacy" : "pytorch-zip"))
        #expect(store.format == .pytorch)
        try checkAgainstTorch(store, file, ties: store.tiedTensors)
    }

    @Test func nestedDictsNameTensorsAndKeepScalarsAsMetadata() throws {
        for file in ["views", "views-legacy"] {
            let store = try TorchCheckpoint(path: fixtures.path(file))
            let metadata = Dictionary(store.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            let scalars = try #require(fixtures.scalars[file])
            // torch's str() of Python values: the same text for ints and strings; booleans as True/False.
            for key in ["epoch", "name", "flag", "lr"] { #expect(metadata[key] == scalars[key], "\(key)") }
            #expect(store.skipped.map(\.name) == ["losses"])
            // The tied pair, the transposed and sliced views and the scalar all share storage with embed.weight.
            #expect(store.tiedTensors.contains { $0.contains("model.embed.weight") && $0.contains("model.head.weight") && $0.contains("model.wt") })
        }
    }

    @Test func everyDTypeMapsToRecast() throws {
        let store = try TorchCheckpoint(path: fixtures.path("dtypes"))
        // 19 torch dtypes, each read: f64 f32 f16 bf16, five float8s, i64..i8, u8..u64, bool, c64; and a
        // large i64, a 0-d and an empty tensor.
        #expect(Set(store.tensors.map(\.dtype.rawValue)).count == 19)
        #expect(store.tensors.count == 22)
        #expect(store.skipped.isEmpty)
    }

    @Test func checkpointOpenRecognisesByContentAndPrefersSafetensors() throws {
        // A .pt file opens by content even under another name.
        let renamed = fixtures.dir.file("renamed.weights")
        try InputFile.copy(fixtures.path("views"), to: renamed)
        #expect(try Checkpoint.open(renamed) is TorchCheckpoint)
        #expect(try Checkpoint.open(fixtures.path("views-legacy")).layout == "pytorch-legacy")
        // A folder with config.json + pytorch_model.bin (saved by transformers).
        let folder = fixtures.dir.file("hf-gpt2")
        let store = try Checkpoint.open(folder)
        #expect(store.layout == "pytorch-zip")
        try checkAgainstTorch(store, "hf-gpt2", ties: store.tiedTensors)
        // Safetensors beside it wins, as in transformers.
        let both = fixtures.dir.file("both")
        try FileSystem.makeDirectory(both)
        try InputFile.copy(folder + "/config.json", to: both + "/config.json")
        try InputFile.copy(folder + "/pytorch_model.bin", to: both + "/pytorch_model.bin")
        try InputFile.copy(fixture("gpt2") + "/model.safetensors", to: both + "/model.safetensors")
        #expect(try Checkpoint.open(both).format == .safetensors)
        // An empty folder's error says what it holds.
        let other = fixtures.dir.file("other")
        try FileSystem.makeDirectory(other)
        _ = fixtures.dir.write("other/notes.txt", "x")
        #expect { try Checkpoint.open(other) } throws: { "\($0)".contains("notes.txt") }
    }

    @Test func shardedIndexReadsEveryShard() throws {
        let store = try Checkpoint.open(fixtures.dir.file("sharded"))
        #expect(store.layout == "pytorch-sharded")
        #expect(store.files.count == 3)
        try checkAgainstTorch(store, "sharded", ties: store.tiedTensors)
    }

    /// Conversion to safetensors writes tied tensors as separate copies, bit-identical to torch's
    /// tensors made contiguous, and the output reports the ties.
    @Test func convertWritesTiesAsCopiesAndReportsThem() throws {
        let out = fixtures.dir.file("views.safetensors")
        let r = try recast(["convert", fixtures.path("views"), out, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSON.parse(r.stdout)
        let groups = (json["tied_tensors"]?.arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.stringValue).sorted() }
        #expect(groups.sorted { $0.lexicographicallyPrecedes($1) } == fixtures.ties["views"])
        try checkAgainstTorch(try Checkpoint.open(out), "views")
        let text = try recast(["convert", fixtures.path("views-legacy"), fixtures.dir.file("v2.safetensors")])
        #expect(text.stdout.contains("tied"), "\(text.stdout)")
        let inspect = try recast(["inspect", fixtures.path("views")])
        #expect(inspect.stdout.contains("pytorch (pytorch-zip)"))
        #expect(inspect.stdout.contains("tied"))
    }
}
