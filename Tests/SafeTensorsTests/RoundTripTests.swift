import Testing
import TestSupport
import RecastCore
@testable import SafeTensors

/// Deterministic bytes for a tensor of any dtype.
func sampleBytes(_ dtype: DType, count: Int, seed: UInt64) -> [UInt8] {
    let n = dtype.byteCount(elements: count)!
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<n).map { _ in
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        var b = UInt8(truncatingIfNeeded: state)
        if dtype == .bool { b &= 1 }
        return b
    }
}

@Suite struct RoundTripTests {
    let dir = TempDir()

    func allDTypeTensors() -> [OutputTensor] {
        DType.elementTypes.enumerated().map { i, d in
            let shape = [2, 4]
            let data = sampleBytes(d, count: 8, seed: UInt64(i + 1))
            return OutputTensor(info: TensorInfo(name: "t.\(d.rawValue)", dtype: d, shape: shape)!) { consume in
                try data.withUnsafeBytes { try consume($0) }
            }
        }
    }

    @Test func everyDTypeRoundTrips() throws {
        let path = dir.file("all.safetensors")
        let tensors = allDTypeTensors()
        try SafeTensorsWriter.write(tensors, metadata: [("format", "pt"), ("note", "ü")], to: path)
        let f = try SafeTensorsFile(path: path)
        #expect(f.metadata.map(\.key) == ["format", "note"] && f.metadata[1].value == "ü")
        #expect(f.header.dataStart % 8 == 0, "data starts 8-byte aligned")
        for (i, t) in tensors.enumerated() {
            let got = try #require(f.info(named: t.info.name))
            #expect(got == t.info)
            let bytesBack = try f.withBytes(of: t.info.name) { Array($0) }
            #expect(bytesBack == sampleBytes(t.info.dtype, count: 8, seed: UInt64(i + 1)))
        }
    }

    @Test func writerRefusesDuplicateNamesAndWrongSizes() {
        let a = OutputTensor.values("x", [1, 2], shape: [2])
        #expect(throws: CheckpointError.self) { try SafeTensorsWriter.write([a, a], metadata: [], to: dir.file("dup.safetensors")) }
        let lying = OutputTensor(info: TensorInfo(name: "y", dtype: .f32, shape: [4])!) { consume in
            try bytes([Float(1)]).withUnsafeBytes { try consume($0) }
        }
        #expect(throws: CheckpointError.self) { try SafeTensorsWriter.write([lying], metadata: [], to: dir.file("short.safetensors")) }
    }

    @Test func shardingFollowsMaximumSize() throws {
        let tensors = (0..<5).map { OutputTensor.values("w\($0)", [Float](repeating: Float($0), count: 100), shape: [100]) }
        let out = dir.file("sharded")
        try runProcess("/bin/mkdir", [out])
        let names = try SafeTensorsWriter.writeSharded(tensors, metadata: [("format", "pt")], directory: out, maxShardSize: 850)
        #expect(names == ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json"])
        let store = try ShardedSafeTensors(indexPath: out + "/model.safetensors.index.json")
        #expect(store.tensors.map(\.name) == ["w0", "w1", "w2", "w3", "w4"])
        #expect(try store.loadFloat32("w3") == [Float](repeating: 3, count: 100))
        #expect(store.metadata.first?.key == "total_size" && store.metadata.first?.value == "2000")
    }

    @Test func shardedIndexErrors() throws {
        let idx = dir.write("model.safetensors.index.json", #"{"weight_map": {"a": "missing.safetensors"}}"#)
        do { _ = try ShardedSafeTensors(indexPath: idx); Issue.record("expected an error") } catch {
            #expect("\(error)".contains("missing.safetensors") && "\(error)".contains("does not exist"))
        }
        try SafeTensorsWriter.write([OutputTensor.values("b", [1], shape: [1])], metadata: [], to: dir.file("s1.safetensors"))
        let idx2 = dir.write("model.safetensors.index.json", #"{"weight_map": {"a": "s1.safetensors"}}"#)
        do { _ = try ShardedSafeTensors(indexPath: idx2); Issue.record("expected an error") } catch {
            #expect("\(error)".contains("tensor 'a'") && "\(error)".contains("missing from this shard"))
        }
        let idx3 = dir.write("model.safetensors.index.json", #"{"metadata": {}}"#)
        #expect(throws: CheckpointError.self) { try ShardedSafeTensors(indexPath: idx3) }
    }
}

/// Cross-checks against Python's safetensors, an independent implementation, in both directions.
@Suite struct PythonCrossCheckTests {
    let dir = TempDir()

    func dump(_ path: String) throws -> JSON { try pythonJSON("crosscheck.py", ["dump", path]) }

    func compare(recast store: TensorStore, python: JSON) throws {
        let tensors = try #require(python["tensors"]?.arrayValue)
        #expect(tensors.count == store.tensors.count)
        for t in tensors {
            let name = try #require(t["name"]?.stringValue)
            let info = try #require(store.info(named: name), "Recast lists \(name)")
            #expect(info.dtype.rawValue == t["dtype"]?.stringValue, "\(name)")
            #expect(info.shape == t["shape"]?.arrayValue?.compactMap(\.intValue), "\(name)")
            let digest = try store.withBytes(of: name) { sha256Hex($0) }
            #expect(digest == t["sha256"]?.stringValue, "bytes of \(name)")
        }
    }

    @Test func readsWhatPythonWrote() throws {
        for f in ["dtypes.safetensors", "gpt2/model.safetensors", "llama/model.safetensors.index.json", "qwen2/model.safetensors"] {
            let path = fixture(f)
            let store: TensorStore = f.hasSuffix(".json") ? try ShardedSafeTensors(indexPath: path) : try SafeTensorsFile(path: path)
            try compare(recast: store, python: try dump(path))
        }
    }

    @Test func pythonReadsWhatRecastWrote() throws {
        let path = dir.file("recast.safetensors")
        let tensors = DType.elementTypes.enumerated().map { i, d in
            let data = sampleBytes(d, count: 8, seed: UInt64(100 + i))
            return OutputTensor(info: TensorInfo(name: d.rawValue, dtype: d, shape: [8])!) { consume in try data.withUnsafeBytes { try consume($0) } }
        }
        try SafeTensorsWriter.write(tensors, metadata: [("source", "recast")], to: path)
        let py = try dump(path)
        #expect(py["metadata"]?["source"]?.stringValue == "recast")
        try compare(recast: try SafeTensorsFile(path: path), python: py)
    }
}
