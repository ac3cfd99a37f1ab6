import HDF5
import RecastCore
import Testing

/// A shape for each dtype whose byte count is whole (sub-byte types need an even or 4k element count).
func sampleShape(_ dtype: DType) -> [Int] {
    switch dtype {
    case .f4: [2, 3]
    case .f6e2m3, .f6e3m2: [4, 2]
    default: [2, 3]
    }
}

/// Sample bytes for a dtype: arbitrary bit patterns (NaN payloads included) except booleans.
func sampleBytes(_ dtype: DType, shape: [Int], seed: UInt64) -> [UInt8] {
    let count = TensorInfo(name: "x", dtype: dtype, shape: shape)!.byteCount
    if dtype == .bool { return pseudoRandomBytes(count, seed: seed).map { $0 & 1 } }
    return pseudoRandomBytes(count, seed: seed)
}

@Suite("HDF5 round trip")
struct RoundTripTests {
    @Test("every dtype survives HDF5Writer → HDF5Store bit for bit", arguments: DType.elementTypes)
    func everyDType(dtype: DType) throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("t.h5")
        let shape = sampleShape(dtype)
        let data = sampleBytes(dtype, shape: shape, seed: UInt64(dtype.bitWidth) &* 7919 &+ UInt64(dtype.rawValue.utf8.count))
        try HDF5Writer.write([tensor("w/\(dtype.rawValue)", dtype, shape, data)], metadata: [], to: path, progress: nil)

        let store = try HDF5Store(path: path)
        #expect(store.tensors.map(\.name) == ["w/\(dtype.rawValue)"])
        let info = try #require(store.info(named: "w/\(dtype.rawValue)"))
        #expect(info.dtype == dtype)
        #expect(info.shape == shape)
        #expect(info.byteCount == data.count)
        #expect(try bytes(store, info.name) == data)
        #expect(store.skipped.isEmpty)
    }

    @Test("all dtypes, names, metadata and shapes in one file")
    func wholeFile() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("all.h5")
        var outputs: [OutputTensor] = []
        var expected: [String: (DType, [Int], [UInt8])] = [:]
        for (k, dtype) in DType.elementTypes.enumerated() {
            let shape = sampleShape(dtype)
            let data = sampleBytes(dtype, shape: shape, seed: UInt64(k + 1))
            let name = "model/layer_\(k)/\(dtype.rawValue.lowercased()):0"
            outputs.append(tensor(name, dtype, shape, data))
            expected[name] = (dtype, shape, data)
        }
        // Scalars, empty tensors and deep names.
        outputs.append(tensor("scalar", .f64, [], le([2.5 as Double])))
        expected["scalar"] = (.f64, [], le([2.5 as Double]))
        outputs.append(tensor("empty", .f32, [0, 4], []))
        expected["empty"] = (.f32, [0, 4], [])
        outputs.append(tensor("a/b/c/d/e", .i32, [1, 1, 1], le([Int32(-7)])))
        expected["a/b/c/d/e"] = (.i32, [1, 1, 1], le([Int32(-7)]))
        outputs.append(tensor("unicode/ünïcødé ✓", .u8, [3], [1, 2, 3]))
        expected["unicode/ünïcødé ✓"] = (.u8, [3], [1, 2, 3])
        outputs.append(tensor("scalar_c64", .c64, [], le([Float(1.5), Float(-2)])))
        expected["scalar_c64"] = (.c64, [], le([Float(1.5), Float(-2)]))

        let metadata: Metadata = [(key: "format", value: "pt"), (key: "note", value: "héllo, wörld"), (key: "empty", value: "")]
        let progress = CountingProgress()
        try HDF5Writer.write(outputs, metadata: metadata, to: path, progress: progress)
        #expect(progress.calls == outputs.count)
        #expect(progress.total == outputs.reduce(0) { $0 + $1.info.byteCount })

        let store = try HDF5Store(path: path)
        #expect(store.format == .hdf5)
        #expect(store.files == [path])
        #expect(store.layout == "generic")
        #expect(store.skipped.isEmpty)
        #expect(Set(store.tensors.map(\.name)) == Set(expected.keys))
        #expect(store.tensors.count == expected.count)
        for info in store.tensors {
            let (dtype, shape, data) = try #require(expected[info.name])
            #expect(info.dtype == dtype, "\(info.name)")
            #expect(info.shape == shape, "\(info.name)")
            #expect(try bytes(store, info.name) == data, "\(info.name)")
        }
        // Metadata comes back in name order.
        #expect(store.metadata.map(\.key) == ["empty", "format", "note"])
        #expect(store.metadata.map(\.value) == ["", "pt", "héllo, wörld"])
    }

    @Test("a tensor given in several chunks is gathered and written whole")
    func chunkedProducer() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("chunks.h5")
        let values = (0..<1000).map { Float($0) * 0.25 }
        let data = le(values)
        let info = TensorInfo(name: "x", dtype: .f32, shape: [10, 100], byteCount: data.count)
        let chunked = OutputTensor(info: info) { consume in
            for start in stride(from: 0, to: data.count, by: 333) {
                try data[start..<min(start + 333, data.count)].withUnsafeBytes { try consume($0) }
            }
        }
        try HDF5Writer.write([chunked], metadata: [], to: path, progress: nil)
        let store = try HDF5Store(path: path)
        #expect(try bytes(store, "x") == data)
        #expect(try store.loadFloat32("x") == values)
    }

    @Test("HDF5 → HDF5: a writer streaming from an HDF5 store")
    func copyFromStore() throws {
        let dir = try TemporaryDirectory()
        let first = dir.file("a.h5"), second = dir.file("b.h5")
        try HDF5Writer.write([
            tensor("x/y", .bf16, [3], le([UInt16(0x3F80), 0xC000, 0x7FC1])),
            tensor("z", .f8e4m3, [2], [0x7F, 0x01]),
        ], metadata: [(key: "k", value: "v")], to: first, progress: nil)
        let source = try HDF5Store(path: first)
        try HDF5Writer.write(source.tensors.map { OutputTensor.copy($0, from: source) }, metadata: source.metadata, to: second, progress: nil)
        let copy = try HDF5Store(path: second)
        #expect(copy.tensors == source.tensors)
        #expect(copy.metadata.map(\.key) == ["k"])
        for info in source.tensors {
            #expect(try bytes(copy, info.name) == bytes(source, info.name))
        }
    }

    @Test("the writer rejects names HDF5 cannot hold, naming the tensor",
          arguments: [
              (["", "a"], "''"),
              (["/a"], "'/a'"),
              (["a/"], "'a/'"),
              (["a//b"], "'a//b'"),
              (["a/./b"], "'a/./b'"),
              (["."], "'.'"),
              (["a", "a"], "'a'"),
              (["a/b", "a/b/c"], "'a/b'"),
              (["a/b/c", "a"], "'a'"),
          ])
    func rejectsBadNames(names: [String], named: String) throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("bad.h5")
        let outputs = names.map { tensor($0, .u8, [1], [7]) }
        let error = #expect(throws: CheckpointError.self) {
            try HDF5Writer.write(outputs, metadata: [], to: path, progress: nil)
        }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains(path), "\(text)")
        #expect(text.contains("tensor \(named)"), "\(text)")
        // Nothing was created.
        #expect(!FileSystem.exists(path))
    }

    @Test("the writer rejects a byte count that does not fit dtype and shape, too many dimensions, and a short producer")
    func rejectsWrongSizes() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("sizes.h5")
        let wrong = OutputTensor(info: TensorInfo(name: "w", dtype: .f32, shape: [2], byteCount: 7)) { _ in }
        #expect(throws: CheckpointError.self) { try HDF5Writer.write([wrong], metadata: [], to: path, progress: nil) }
        let deep = tensor("deep", .u8, [Int](repeating: 1, count: 33), [1])
        let rankError = #expect(throws: CheckpointError.self) { try HDF5Writer.write([deep], metadata: [], to: path, progress: nil) }
        #expect(rankError.map { "\($0)" }?.contains("tensor 'deep'") == true)
        let short = OutputTensor(info: TensorInfo(name: "s", dtype: .f32, shape: [2], byteCount: 8)) { consume in
            try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try consume($0) }
        }
        let error = #expect(throws: CheckpointError.self) { try HDF5Writer.write([short], metadata: [], to: path, progress: nil) }
        #expect(error.map { "\($0)" }?.contains("tensor 's'") == true)
    }

    @Test("the writer rejects metadata HDF5 strings cannot hold")
    func rejectsBadMetadata() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("meta.h5")
        for metadata: Metadata in [[(key: "", value: "x")], [(key: "a", value: "x\u{0}y")], [(key: "a", value: "1"), (key: "a", value: "2")]] {
            let error = #expect(throws: CheckpointError.self) {
                try HDF5Writer.write([], metadata: metadata, to: path, progress: nil)
            }
            #expect(error.map { "\($0)" }?.contains(path) == true)
        }
    }

    @Test("asking for a tensor that is not there names it")
    func missingTensor() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("m.h5")
        try HDF5Writer.write([tensor("x", .u8, [1], [1])], metadata: [], to: path, progress: nil)
        let store = try HDF5Store(path: path)
        let error = #expect(throws: CheckpointError.self) { try store.withBytes(of: "nope") { _ in } }
        #expect(error.map { "\($0)" }?.contains("tensor 'nope'") == true)
    }

    @Test("a file of no tensors and no metadata round-trips")
    func emptyFile() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("e.h5")
        try HDF5Writer.write([], metadata: [], to: path, progress: nil)
        let store = try HDF5Store(path: path)
        #expect(store.tensors.isEmpty)
        #expect(store.metadata.isEmpty)
        #expect(store.layout == "generic")
    }
}
