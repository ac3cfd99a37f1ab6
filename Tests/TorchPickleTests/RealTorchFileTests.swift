import Checkpoint
import Foundation
import RecastCore
import Testing
import TestSupport
import TorchPickle

/// Files written by real `torch.save` (zip, legacy, deflated, sharded), read by Recast and compared
/// tensor by tensor with what `torch.load` makes of them.
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

    @Test(arguments: ["dtypes.pt", "dtypes-legacy.pt", "views.pt", "views-legacy.pt", "views-deflated.pt"])
    func tensorsMatchTorchLoad(file: String) throws {
        let store = try TorchCheckpoint(path: fixtures.path(file))
        #expect(store.layout == (file.contains("legacy") ? "pytorch-legacy" : "pytorch-zip"))
        #expect(store.format == .pytorch)
        try checkAgainstTorch(store, file, ties: store.tiedTensors)
    }

    @Test func nestedDictsNameTensorsAndKeepScalarsAsMetadata() throws {
        for file in ["views.pt", "views-legacy.pt"] {
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
        let store = try TorchCheckpoint(path: fixtures.path("dtypes.pt"))
        // 19 torch dtypes, each read: f64 f32 f16 bf16, five float8s, i64..i8, u8..u64, bool, c64.
        #expect(store.tensors.count == 19)
        #expect(store.skipped.isEmpty)
    }

    @Test func checkpointOpenRecognisesByContentAndPrefersSafetensors() throws {
        // A .pt file opens by content even under another name.
        let renamed = fixtures.dir.file("renamed.weights")
        try InputFile.copy(fixtures.path("views.pt"), to: renamed)
        #expect(try Checkpoint.open(renamed) is TorchCheckpoint)
        #expect(try Checkpoint.open(fixtures.path("views-legacy.pt")).layout == "pytorch-legacy")
        // A folder with config.json + pytorch_model.bin.
        let folder = fixtures.path("gpt2-bin")
        let store = try Checkpoint.open(folder)
        #expect(store.layout == "pytorch-zip")
        try checkAgainstTorch(store, "gpt2-bin/pytorch_model.bin", ties: store.tiedTensors)
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
        let store = try Checkpoint.open(fixtures.path("gpt2-sharded"))
        #expect(store.layout == "pytorch-sharded")
        #expect(store.files.count == 3)
        // Same tensors and bytes as the unsharded file.
        let whole = try #require(fixtures.expected["gpt2-bin/pytorch_model.bin"])
        #expect(Set(store.tensors.map(\.name)) == Set(whole.keys))
        for t in store.tensors {
            let digest = try store.withBytes(of: t.name) { sha256Hex($0) }
            #expect(digest == whole[t.name]?.sha256)
        }
    }

    /// `run` works on a folder of config.json + pytorch_model.bin through `Checkpoint.open`: its
    /// outputs are the ones of the same weights in safetensors.
    @Test func runOnPyTorchFolderMatchesSafetensors() throws {
        let a = fixtures.dir.file("run-bin.safetensors"), b = fixtures.dir.file("run-st.safetensors")
        let r1 = try recast(["run", fixtures.path("gpt2-bin"), "--tokens", "1,9,5", "--out", a])
        let r2 = try recast(["run", fixture("gpt2"), "--tokens", "1,9,5", "--out", b])
        #expect(r1.status == 0, "\(r1.stderr)")
        #expect(r2.status == 0, "\(r2.stderr)")
        let x = try Checkpoint.open(a), y = try Checkpoint.open(b)
        #expect(x.tensors == y.tensors)
        for t in x.tensors {
            #expect(try x.withBytes(of: t.name) { sha256Hex($0) } == y.withBytes(of: t.name) { sha256Hex($0) })
        }
    }

    /// Conversion to safetensors writes tied tensors as separate copies, bit-identical to torch's
    /// tensors made contiguous, and the output reports the ties.
    @Test func convertWritesTiesAsCopiesAndReportsThem() throws {
        let out = fixtures.dir.file("views.safetensors")
        let r = try recast(["convert", fixtures.path("views.pt"), out, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSON.parse(r.stdout)
        let groups = (json["tied_tensors"]?.arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.stringValue).sorted() }
        #expect(groups.sorted { $0.lexicographicallyPrecedes($1) } == fixtures.ties["views.pt"])
        try checkAgainstTorch(try Checkpoint.open(out), "views.pt")
        let text = try recast(["convert", fixtures.path("views-legacy.pt"), fixtures.dir.file("v2.safetensors")])
        #expect(text.stdout.contains("tied"), "\(text.stdout)")
        let inspect = try recast(["inspect", fixtures.path("views.pt")])
        #expect(inspect.stdout.contains("pytorch (pytorch-zip)"))
        #expect(inspect.stdout.contains("tied"))
    }
}
