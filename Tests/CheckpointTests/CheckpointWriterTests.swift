import Foundation
import Testing
import TestSupport
import RecastCore
import SafeTensors
@testable import Checkpoint

/// `CheckpointWriter`, the one writer of model folders and output files: layouts checked against
/// `SafeTensorsWriter` and read back by Python's safetensors and h5py; companions; the overlap rule;
/// nothing left behind when a tensor fails half-way.
@Suite struct CheckpointWriterTests {
    let dir = TempDir()

    /// Tensors with distinct values: tensor `i` holds i·1000 + 0, 1, 2, …
    static func tensors(_ count: Int, elements: Int = 100) -> [OutputTensor] {
        (0..<count).map { i in .values("layer.\(i).weight", (0..<elements).map { Float(i * 1000 + $0) }, shape: [elements / 4, 4]) }
    }

    /// Python's safetensors reads a folder through its index: for each tensor, the shard that holds it,
    /// its values, and each shard's header metadata; plus the index's metadata.
    func pythonReads(_ folder: String) throws -> JSON {
        let script = """
            import json, os, sys
            from safetensors.numpy import load_file
            from safetensors import safe_open
            d = sys.argv[1]
            index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
            out = {"index_metadata": index["metadata"], "tensors": {}, "shard_metadata": {}}
            for shard in sorted(set(index["weight_map"].values())):
                path = os.path.join(d, shard)
                with safe_open(path, "np") as f:
                    out["shard_metadata"][shard] = f.metadata()
                for name, array in load_file(path).items():
                    assert index["weight_map"][name] == shard, name
                    out["tensors"][name] = {"shard": shard, "values": [float(v) for v in array.ravel()]}
            print(json.dumps(out))
            """
        let r = try python(["-c", script, folder])
        try #require(r.status == 0, "\(r.stderr)")
        return try JSON.parse(r.stdout)
    }

    func values(_ t: OutputTensor) throws -> [Double] {
        var bytes: [UInt8] = []
        try t.produce { bytes += $0 }
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }.map(Double.init)
    }

    func claim(_ destination: String, folder: Bool = true, force: Bool = false, source: String? = nil) throws -> CheckpointWriter {
        let source = source ?? fixture("gpt2")
        return try CheckpointWriter(destination: destination, folder: folder, force: force, source: source, store: Checkpoint.open(source))
    }

    /// A folder split by size is byte for byte what `SafeTensorsWriter.writeSharded` writes, and Python's
    /// safetensors finds every tensor, with its values, in the shard the index names.
    @Test func shardedBySizeIsWriteShardedAndReadsInPython() throws {
        let tensors = Self.tensors(5), metadata: Metadata = [("format", "pt")]
        let plain = dir.file("plain")
        try FileSystem.makeDirectory(plain)
        let names = try SafeTensorsWriter.writeSharded(tensors, metadata: metadata, directory: plain, maxShardSize: 900)
        let out = dir.file("out")
        let writer = try claim(out)
        try writer.write(weights: .safetensors(tensors, metadata: metadata, maxShardSize: 900))
        #expect(names.count == 4, "\(names)")  // 400 bytes per tensor: two per shard, and the index
        #expect(writer.files == names)
        #expect(FileSystem.list(out).sorted() == names.sorted())
        for name in names {
            #expect(try Data(contentsOf: URL(fileURLWithPath: FileSystem.join(out, name))) == Data(contentsOf: URL(fileURLWithPath: FileSystem.join(plain, name))), "\(name)")
        }
        let read = try pythonReads(out)
        #expect(read["index_metadata"]?["total_size"]?.intValue == 5 * 400)
        #expect(read["index_metadata"]?["format"]?.stringValue == "pt")
        for (i, t) in tensors.enumerated() {
            let got = try #require(read["tensors"]?[t.info.name])
            #expect(got["shard"]?.stringValue == SafeTensorsWriter.shardName(i / 2 + 1, of: 3))
            #expect(got["values"]?.arrayValue?.compactMap(\.doubleValue) == (try values(t)))
        }
    }

    /// Shards given by the caller keep their layout and each its own header metadata; the index gets the
    /// metadata given for it. One shard is `model.safetensors`, with no index.
    @Test func givenShardsKeepTheirLayout() throws {
        let tensors = Self.tensors(3)
        let shards = [SafeTensorsWriter.Shard(tensors: [tensors[2]], metadata: [("part", "one")]),
                      SafeTensorsWriter.Shard(tensors: [tensors[0], tensors[1]], metadata: [("part", "two")])]
        let out = dir.file("shards")
        let writer = try claim(out)
        try writer.write(weights: .shards(shards, indexMetadata: [("format", "pt")]))
        #expect(writer.files == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"])
        let read = try pythonReads(out)
        #expect(read["tensors"]?["layer.2.weight"]?["shard"]?.stringValue == "model-00001-of-00002.safetensors")
        #expect(read["tensors"]?["layer.0.weight"]?["shard"]?.stringValue == "model-00002-of-00002.safetensors")
        #expect(read["shard_metadata"]?["model-00001-of-00002.safetensors"]?["part"]?.stringValue == "one")
        #expect(read["shard_metadata"]?["model-00002-of-00002.safetensors"]?["part"]?.stringValue == "two")
        #expect(read["index_metadata"]?["format"]?.stringValue == "pt" && read["index_metadata"]?["total_size"]?.intValue == 1200)

        let single = dir.file("single")
        let one = try claim(single)
        try one.write(weights: .shards([shards[1]], indexMetadata: []))
        #expect(one.files == ["model.safetensors"] && FileSystem.list(single) == ["model.safetensors"])
        let file = try SafeTensorsFile(path: FileSystem.join(single, "model.safetensors"))
        #expect(file.tensors.map(\.name) == ["layer.0.weight", "layer.1.weight"] && file.metadata.first?.value == "two")
    }

    /// config.json is copied byte for byte or written from JSON; companion files are copied (module
    /// folders too) or written; `files` lists config.json, built companions, weights, copied companions.
    @Test func configAndCompanionsGoAlong() throws {
        let model = dir.file("model")
        try FileSystem.makeDirectory(model)
        try FileSystem.makeDirectory(FileSystem.join(model, "1_Pooling"))
        let configText = "{\"model_type\": \"gpt2\",   \"n_layer\": 2}\n"
        _ = dir.write("model/config.json", configText)
        _ = dir.write("model/tokenizer.json", "{\"version\": \"1.0\"}")
        _ = dir.write("model/modules.json", "[{\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": \"p\"}]")
        _ = dir.write("model/1_Pooling/config.json", "{\"pooling_mode_mean_tokens\": true}")
        try SafeTensorsWriter.write(Self.tensors(1), metadata: [], to: FileSystem.join(model, "model.safetensors"))
        let config = FileSystem.join(model, "config.json")

        let out = dir.file("copied")
        let writer = try claim(out, source: model)
        try writer.write(weights: .shards([.init(tensors: Self.tensors(1), metadata: [])], indexMetadata: []),
                         config: { .copy(config) }, companions: .copies(of: config))
        #expect(writer.files == ["config.json", "model.safetensors", "tokenizer.json", "modules.json", "1_Pooling/config.json"])
        #expect(writer.companions == ["tokenizer.json", "modules.json", "1_Pooling/config.json"])
        for name in ["config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json"] {
            #expect(try String(contentsOfFile: FileSystem.join(out, name), encoding: .utf8) == String(contentsOfFile: FileSystem.join(model, name), encoding: .utf8), "\(name)")
        }

        let built = dir.file("built")
        let json = try JSON.parse(configText)
        let other = try claim(built, source: model)
        try other.write(weights: .hdf5(Self.tensors(1), metadata: []), config: { .json(json) }, companions: .built([("tokenizer.json", .object([("a", .int(1))]))]))
        #expect(other.files == ["config.json", "tokenizer.json", "model.h5"])
        // Python's json reads back what was given.
        let r = try python(["-c", "import json, sys; print(json.dumps([json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))], sort_keys=True))",
                            FileSystem.join(built, "config.json"), FileSystem.join(built, "tokenizer.json")])
        #expect(r.stdout == "[{\"model_type\": \"gpt2\", \"n_layer\": 2}, {\"a\": 1}]\n", "\(r.stderr)")
    }

    /// HDF5 weights in a folder are `model.h5`, and h5py reads every tensor's values and shape.
    @Test func hdf5ReadsInH5py() throws {
        let tensors = Self.tensors(3)
        let out = dir.file("h5")
        let writer = try claim(out)
        try writer.write(weights: .hdf5(tensors, metadata: [("format", "pt")]))
        #expect(writer.files == ["model.h5"])
        let script = """
            import json, sys, h5py
            out = {}
            with h5py.File(sys.argv[1], "r") as f:
                def visit(name, obj):
                    if isinstance(obj, h5py.Dataset):
                        out[name] = {"shape": list(obj.shape), "values": [float(v) for v in obj[()].ravel()]}
                f.visititems(visit)
                out["format"] = f.attrs["format"] if isinstance(f.attrs["format"], str) else f.attrs["format"].decode()
            print(json.dumps(out))
            """
        let r = try python(["-c", script, FileSystem.join(out, "model.h5")])
        try #require(r.status == 0, "\(r.stderr)")
        let read = try JSON.parse(r.stdout)
        #expect(read["format"]?.stringValue == "pt")
        for t in tensors {
            // Names with "/" make groups; these have none, so each dataset is at the root under its name.
            let got = try #require(read[t.info.name], "\(t.info.name)")
            #expect(got["shape"]?.arrayValue?.compactMap(\.intValue) == t.info.shape)
            #expect(got["values"]?.arrayValue?.compactMap(\.doubleValue) == (try values(t)))
        }
    }

    /// The overlap rule, with a message naming the file: an output may not lie inside, be or hold what the
    /// command reads (with or without force); an existing destination needs force.
    @Test func overlapIsRefusedNamingTheFile() throws {
        let model = try dir.copyFixture("gpt2")
        let inside = FileSystem.join(model, "out")
        do { _ = try claim(inside, source: model); Issue.record("wrote inside its input") } catch {
            #expect("\(error)".contains("\(inside): lies inside \(model), which this command reads"), "\(error)")
        }
        let weights = FileSystem.join(model, "model.safetensors")
        do { _ = try claim(weights, folder: false, force: true, source: model); Issue.record("replaced its input") } catch {
            #expect("\(error)".contains("\(weights): is an input of this command"), "\(error)")
        }
        do { _ = try claim(dir.path, force: true, source: model); Issue.record("replaced the folder holding its input") } catch {
            #expect("\(error)".contains("holds \(model)"), "\(error)")
        }
        let existing = dir.write("existing.safetensors", "x")
        do { _ = try claim(existing, folder: false, source: model); Issue.record("replaced without force") } catch {
            #expect("\(error)".contains("\(existing): already exists; pass --force to replace it"), "\(error)")
        }
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "x")
        let forced = try claim(existing, folder: false, force: true, source: model)
        try forced.write(weights: .safetensors(Self.tensors(1), metadata: [], maxShardSize: .max))
        #expect(try SafeTensorsFile(path: existing).tensors.map(\.name) == ["layer.0.weight"])
    }

    struct Broken: Error, CustomStringConvertible { var description: String { "the producer broke" } }

    /// A tensor whose producer throws after part of its bytes: the error comes through, and neither the
    /// destination nor any temporary is left; a folder output, a file output, and a check that refuses.
    @Test func nothingHalfWrittenWhenAProducerThrows() throws {
        let before = dir.entries()
        let info = try #require(TensorInfo(name: "broken", dtype: .f32, shape: [1000]))
        let broken = OutputTensor(info: info) { consume in
            try [Float](repeating: 1, count: 500).withUnsafeBytes { try consume($0) }
            throw Broken()
        }
        let weights: [OutputWeights] = [
            .safetensors(Self.tensors(3) + [broken], metadata: [], maxShardSize: 500),
            .shards([.init(tensors: Self.tensors(2), metadata: []), .init(tensors: [broken], metadata: [])], indexMetadata: []),
            .hdf5([broken], metadata: []),
        ]
        for (i, w) in weights.enumerated() {
            for folder in [true, false] where folder || i != 1 {
                let out = dir.file("broken-\(i)-\(folder)")
                let writer = try claim(out, folder: folder)
                #expect(throws: Broken.self) { try writer.write(weights: w, config: { .json(.object([])) }) }
                #expect(!FileSystem.exists(out))
                #expect(dir.entries() == before, "\(dir.entries())")
            }
        }
        let refused = dir.file("refused")
        let writer = try claim(refused)
        #expect(throws: Broken.self) {
            try writer.write(weights: .hdf5(Self.tensors(1), metadata: []), check: { _ in throw Broken() })
        }
        #expect(dir.entries() == before, "\(dir.entries())")
    }

    /// A single weights file cannot hold config.json or companion files: asking is an error, not a silent drop.
    @Test func fileOutputRefusesConfig() throws {
        let out = dir.file("one.safetensors")
        let writer = try claim(out, folder: false)
        do {
            try writer.write(weights: .safetensors(Self.tensors(1), metadata: [], maxShardSize: .max), config: { .json(.object([])) })
            Issue.record("wrote a file with a config")
        } catch {
            #expect("\(error)".contains("\(out): is a single weights file, which cannot hold config.json"), "\(error)")
        }
        #expect(!FileSystem.exists(out))
    }
}
