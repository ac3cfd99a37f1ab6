import Foundation
import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
@testable import Rewrite

@Suite struct SwapTests {
    let dir = TempDir()

    static let fixtures = ["gpt2", "gpt2-prefixed", "bert", "bert-tf", "llama", "qwen2"]

    /// bert-tf keeps its TensorFlow names, which map onto the graph only inside HDF5.
    static func format(for name: String) -> SwapFormat { name == "bert-tf" ? .hdf5 : .safetensors }

    @Test(arguments: fixtures, FeatureMapKind.allCases)
    func swapEachFixture(name: String, map: FeatureMapKind) throws {
        let src = fixture(name)
        let dst = dir.file("\(name)-\(map.rawValue)")
        let k = map == .elu ? 8 : 16
        let o = options(map) { $0.featureDim = k; $0.seed = 3; $0.format = Self.format(for: name) }
        let summary = try Swap.write(source: src, destination: dst, options: o)

        let source = try Model(path: src)
        let out = try Model(path: dst)
        let sourceGraph = try source.graph()

        // Every original tensor, bit for bit.
        let before = try tensorBytes(source.store), after = try tensorBytes(out.store)
        for (tensorName, (info, bytes)) in before {
            guard let (outInfo, outBytes) = after[tensorName] else {
                Issue.record("\(tensorName) is missing from the output")
                continue
            }
            #expect(outInfo.dtype == info.dtype && outInfo.shape == info.shape, "\(tensorName)")
            #expect(outBytes == bytes, "\(tensorName) changed")
        }
        // The new tensors, by name and shape.
        let added = after.filter { before[$0.key] == nil }.mapValues { $0.0.shape }
        let shared = map == .t2r || map == .performer || map == .elu
        #expect(added == expectedNewTensors(sourceGraph, map: map, k: k, layers: [0, 1], shared: shared, folded: false))
        #expect(Set(summary.newTensors.map(\.name)) == Set(added.keys))
        #expect(summary.newParameterCount == added.values.reduce(0) { $0 + elementCount(of: $1)! })
        #expect(summary.copiedTensorCount == before.count)
        // New tensors take the model's dtype.
        let modelDType = before.values.first { $0.0.name.contains("attn") || $0.0.name.contains("attention") }!.0.dtype
        for n in added.keys { #expect(after[n]!.0.dtype == modelDType, "\(n)") }

        // config.json: the source config plus a valid block, its model_type the library's with Recast's prefix (so that
        // transformers refuses the folder without trust_remote_code).
        let config = try readConfig(FileSystem.join(dst, "config.json"))
        let sourceConfig = try readConfig(FileSystem.join(src, "config.json"))
        // An HDF5 output (the TensorFlow fixture's) has no remote code, so nothing to point at: the type stays.
        let prefix = config["auto_map"] == nil ? "" : "recast_"
        #expect(config["model_type"]?.stringValue == prefix + (sourceConfig["model_type"]?.stringValue ?? "?"))
        #expect(withoutBlock(config) == sourceConfig)
        let block = try #require(config["linear_attention"])
        #expect(block["feature_map"]?.stringValue == map.rawValue)
        #expect(block["feature_dim"]?.intValue == k)
        #expect(block["layers"] == .array([.int(0), .int(1)]))
        #expect(block["seed"]?.intValue == 3)
        #expect(block["shared_qk"]?.boolValue == shared && block["folded"]?.boolValue == false)
        let files = try #require(block["source"]?["files"]?.arrayValue)
        let names = files.compactMap { $0["name"]?.stringValue }
        #expect(names == source.store.files.map { FileSystem.split($0).base } + ["config.json"])
        for (f, path) in zip(files, source.store.files + [FileSystem.join(src, "config.json")]) {
            #expect(f["sha256"]?.stringValue == (try SHA256.hex(file: path)))
        }
        #expect(try schemaErrors([block]) == [[]])

        // Loads back as a graph with linear attention on both layers.
        let g = try out.graph()
        let la = try #require(g.linearAttention)
        #expect(la.featureMap == map && la.featureDim == k && la.layers == [0, 1] && la.sharedQK == shared && !la.folded)
        #expect(g.blocks.allSatisfy { $0.attention.featureMap != nil })
    }

    /// A sharded source gives the same shards: each original tensor in the shard of the same number.
    @Test func shardedLikeTheSource() throws {
        let dst = dir.file("llama-t2r")
        let s = try Swap.write(source: fixture("llama"), destination: dst, options: options(.t2r) { $0.featureDim = 4 })
        #expect(s.files == ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "modeling_recast.py"])
        func weightMap(_ d: String) throws -> [String: String] {
            let index = try readConfig(FileSystem.join(d, "model.safetensors.index.json"))
            return Dictionary(uniqueKeysWithValues: (index["weight_map"]?.objectValue ?? []).map { ($0.0, $0.1.stringValue ?? "") })
        }
        let before = try weightMap(fixture("llama")), after = try weightMap(dst)
        for (name, shard) in before { #expect(after[name] == shard, "\(name)") }
        let g = try Model(path: fixture("llama")).graph()
        for layer in 0..<2 {
            let qShard = before[g.blocks[layer].attention.query.weight.name]
            for role in ["weight", "bias"] { #expect(after["model.layers.\(layer).self_attn.feature_map.\(role)"] == qShard) }
        }
        // Each shard file holds exactly what the index says, and the index totals its data.
        var total = 0
        for shard in Set(after.values) {
            let store = try Checkpoint.open(FileSystem.join(dst, shard))
            #expect(Set(store.tensors.map(\.name)) == Set(after.filter { $0.value == shard }.keys))
            #expect(store.metadata.map(\.key) == ["format"])
            total += store.byteCount
        }
        let index = try readConfig(FileSystem.join(dst, "model.safetensors.index.json"))
        #expect(index["metadata"]?["total_size"]?.intValue == total)
    }

    @Test func singleFileStaysSingle() throws {
        let dst = dir.file("qwen2-elu")
        let s = try Swap.write(source: fixture("qwen2") + "/model.safetensors", destination: dst, options: options(.elu))
        #expect(s.files == ["config.json", "model.safetensors", "modeling_recast.py"])
        #expect(dir.entries() == ["qwen2-elu"])
        // The header keeps the source's metadata.
        #expect(try Checkpoint.open(dst).metadata.map(\.key) == ["format"])
    }

    /// The same command and seed give byte-identical folders; another seed changes only the weights' new values.
    @Test(arguments: [FeatureMapKind.t2r, .performer, .hedgehog])
    func byteIdenticalRuns(map: FeatureMapKind) throws {
        let a = dir.file("a-\(map)"), b = dir.file("b-\(map)"), c = dir.file("c-\(map)")
        for (path, seed) in [(a, UInt64(11)), (b, 11), (c, 12)] {
            _ = try Swap.write(source: fixture("llama"), destination: path, options: options(map) { $0.seed = seed; $0.featureDim = 8 })
        }
        let fa = try folderBytes(a), fb = try folderBytes(b), fc = try folderBytes(c)
        #expect(fa.keys.sorted() == ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "modeling_recast.py"])
        #expect(fa == fb)
        if map == .hedgehog {
            // Deterministic initialisation: only the recorded seed differs.
            #expect(fa.filter { $0.key != "config.json" } == fc.filter { $0.key != "config.json" })
        } else {
            #expect(fa != fc)
        }
    }

    @Test func hdf5Output() throws {
        let dst = dir.file("gpt2-h5")
        let s = try Swap.write(source: fixture("gpt2"), destination: dst, options: options(.t2r) { $0.format = .hdf5; $0.featureDim = 4 })
        #expect(s.files == ["config.json", "model.h5"])
        let store = try Checkpoint.open(FileSystem.join(dst, "model.h5"))
        #expect(store.format == .hdf5)
        let before = try tensorBytes(Checkpoint.open(fixture("gpt2"))), after = try tensorBytes(store)
        for (n, (_, bytes)) in before { #expect(after[n]?.1 == bytes, "\(n)") }
        #expect(after.count == before.count + 4)
        #expect(after["h.1.attn.feature_map.weight"]?.0.shape == [4, 4, 8])
        #expect(try Model(path: dst).graph().linearAttention?.featureMap == .t2r)
    }

    @Test func shardedToHDF5() throws {
        let dst = dir.file("llama-h5")
        let s = try Swap.write(source: fixture("llama"), destination: dst, options: options(.performer) { $0.format = .hdf5; $0.featureDim = 8 })
        #expect(s.files == ["config.json", "model.h5"])
        let store = try Checkpoint.open(dst)
        #expect(store.format == .hdf5 && store.metadata.map(\.key) == ["format"])
        let before = try tensorBytes(Checkpoint.open(fixture("llama"))), after = try tensorBytes(store)
        for (n, (_, bytes)) in before { #expect(after[n]?.1 == bytes, "\(n)") }
        #expect(after["model.layers.0.self_attn.feature_map.projection"]?.0.dtype == .bf16)
        #expect(try Model(path: dst).graph().linearAttention?.featureMap == .performer)
    }

    @Test func foldedWrite() throws {
        let dst = dir.file("bert-fold")
        _ = try Swap.write(source: fixture("bert"), destination: dst, options: options(.t2r) { $0.fold = true; $0.layers = .ranges([1...1]); $0.featureDim = 16 })
        let out = try Model(path: dst)
        let g = try out.graph()
        let la = try #require(g.linearAttention)
        #expect(la.folded && !la.sharedQK && la.layers == [1])
        #expect(g.blocks[0].attention.featureMap == nil && g.blocks[1].attention.featureMap != nil)
        let block = try #require(out.config?["linear_attention"])
        #expect(try schemaErrors([block]) == [[]])
        let added = try tensorBytes(out.store).filter { $0.key.contains("feature_map") }.mapValues { $0.0.shape }
        #expect(added == expectedNewTensors(g, map: .t2r, k: 16, layers: [1], shared: false, folded: true))
    }

    @Test func existingDestinationNeedsForce() throws {
        let dst = dir.file("taken")
        try FileManager.default.createDirectory(atPath: dst, withIntermediateDirectories: false)
        dir.write("taken/keep.txt", "mine")
        do {
            _ = try Swap.write(source: fixture("gpt2"), destination: dst, options: options(.elu))
            Issue.record("an existing destination was replaced without --force")
        } catch {
            #expect("\(error)".contains(dst) && "\(error)".contains("already exists"), "\(error)")
        }
        #expect(FileSystem.list(dst) == ["keep.txt"])
        #expect(dir.entries() == ["taken"])
        _ = try Swap.write(source: fixture("gpt2"), destination: dst, options: options(.elu) { $0.force = true })
        #expect(FileSystem.list(dst) == ["config.json", "model.safetensors", "modeling_recast.py"])
        #expect(dir.entries() == ["taken"])
    }

    @Test func refusesToReplaceTheSource() throws {
        let src = dir.file("src")
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: false)
        for f in ["config.json", "model.safetensors"] {
            dir.write("src/" + f, try FileSystem.readAll(fixture("gpt2/" + f)))
        }
        for dst in [src, dir.path] {
            do {
                _ = try Swap.write(source: src, destination: dst, options: options(.elu) { $0.force = true })
                Issue.record("replaced \(dst), which holds the source")
            } catch {
                #expect("\(error)".contains("--force never replaces what a command reads"), "\(error)")
            }
        }
        #expect(FileSystem.list(src) == ["config.json", "model.safetensors"])
    }

    /// TensorFlow-named weights keep their names in a safetensors output and still map onto the graph.
    @Test func tensorFlowNamesSurviveInSafetensors() throws {
        let dst = dir.file("bert-tf-st")
        _ = try Swap.write(source: fixture("bert-tf"), destination: dst, options: options(.t2r) { $0.featureDim = 4 })
        let m = try Model(path: dst)
        #expect(m.store.format == .safetensors)
        let g = try m.graph()
        #expect(g.linearAttention?.featureMap == .t2r && g.blocks[0].attention.query.weight.storedTransposed)
    }

    /// Errors name the file, and nothing is written.
    @Test func failuresWriteNothing() throws {
        let dst = dir.file("never")
        func fails(_ source: String, _ o: SwapOptions, _ phrase: String) {
            do {
                _ = try Swap.write(source: source, destination: dst, options: o)
                Issue.record("accepted: \(phrase)")
            } catch {
                #expect("\(error)".contains(phrase), "\(error)")
            }
            #expect(!FileSystem.exists(dst))
        }
        fails(fixture("gpt2"), options(.t2r) { $0.layers = .ranges([0...5]) }, "layer 5 is out of range")
        fails(fixture("gpt2"), options(.t2r) { $0.featureDim = 0 }, "--feature-dim must be a positive")
        fails(fixture("llama"), options(.t2r) { $0.fold = true }, "rotary")
        fails(fixture("gpt2"), options(.performer) { $0.fold = true }, "--fold is refused for performer")
        fails(fixture("gpt2-t2r"), options(.t2r), "already uses linear attention")

        // An unknown family: the graph's own error, naming the config.
        let src = dir.file("t5")
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: false)
        dir.write("t5/config.json", #"{"model_type": "t5", "d_model": 32}"#)
        dir.write("t5/model.safetensors", try FileSystem.readAll(fixture("gpt2/model.safetensors")))
        do {
            _ = try Swap.write(source: src, destination: dst, options: options(.t2r))
            Issue.record("t5 accepted")
        } catch let error as GraphError {
            #expect(error.description.contains("model_type 't5'") && error.description.contains(src + "/config.json"), "\(error)")
        }
        #expect(!FileSystem.exists(dst))
        #expect(dir.entries() == ["t5"])
    }

    @Test func copiesTokenizerFiles() throws {
        let src = dir.file("withtok")
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: false)
        for f in ["config.json", "model.safetensors"] { dir.write("withtok/" + f, try FileSystem.readAll(fixture("gpt2/" + f))) }
        dir.write("withtok/tokenizer.json", #"{"version": "1.0"}"#)
        dir.write("withtok/merges.txt", "a b\n")
        dir.write("withtok/notes.md", "not copied")
        let dst = dir.file("out")
        let s = try Swap.write(source: src, destination: dst, options: options(.elu))
        #expect(s.copiedFiles == ["tokenizer.json", "merges.txt"])
        #expect(FileSystem.list(dst) == ["config.json", "merges.txt", "model.safetensors", "modeling_recast.py", "tokenizer.json"])
        #expect(try FileSystem.readAll(FileSystem.join(dst, "tokenizer.json")) == Array(#"{"version": "1.0"}"#.utf8))
    }
}
