import Foundation
import Testing
import TestSupport
import RecastCore
@testable import GGUF

/// Every tensor of a GGUF file, copied unchanged (its blocks as they are), in stored order.
func copiedTensors(_ file: GGUFFile) -> [OutputTensor] { file.tensors.map { OutputTensor.copy($0, from: file) } }

/// A tensor whose producer hands out `bytes` in pieces of `chunk` bytes.
func chunked(_ name: String, _ dtype: DType, _ shape: [Int], _ bytes: [UInt8], chunk: Int = 7) -> OutputTensor {
    OutputTensor(info: TensorInfo(name: name, dtype: dtype, shape: shape, byteCount: bytes.count)) { consume in
        var start = 0
        repeat {
            let end = min(bytes.count, start + chunk)
            try bytes[start..<end].withUnsafeBytes { try consume($0) }
            start = end
        } while start < bytes.count
    }
}

/// Seeded bytes, so a failure reproduces.
func seededBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

@Suite struct WriterTests {
    /// gguf-py's GGUFWriter wrote the fixtures; reading one and writing it back must give the same file,
    /// byte for byte: header, every metadata value type, nested arrays, tensor infos, every tensor type's
    /// blocks, and the padding (the default 32 and a custom `general.alignment` of 64).
    @Test(arguments: ["all_types", "aligned", "metadata_only"])
    func rewritingWhatGGUFPyWroteIsByteIdentical(_ name: String) throws {
        let fixtures = try Fixtures.shared.get()
        let source = try GGUFFile(path: fixtures.path(name))
        let out = TempDir()
        let path = out.file("rewritten.gguf")
        try GGUFWriter.write(metadata: source.header.metadata, tensors: copiedTensors(source), to: path)
        let original = try Data(contentsOf: URL(fileURLWithPath: fixtures.path(name)))
        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(written.count == original.count, "\(name)")
        #expect(written == original, "\(name): first difference at byte \(String(describing: zip(written, original).enumerated().first { $0.element.0 != $0.element.1 }?.offset))")
    }

    /// Metadata and tensors built here (not read from a file) reach gguf-py's GGUFReader as written: every
    /// value type, empty and nested arrays, NaN and signed zero, tensors streamed in small pieces, a
    /// custom alignment. `gguf-dump` lists the file.
    @Test(arguments: [nil, 128] as [UInt32?])
    func ggufPyReadsWhatRecastWrites(_ alignment: UInt32?) throws {
        var metadata: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("test.uint8", .uint8(200)), ("test.int8", .int8(-100)), ("test.uint16", .uint16(60_000)),
            ("test.int16", .int16(-30_000)), ("test.uint32", .uint32(4_000_000_000)), ("test.int32", .int32(-2_000_000_000)),
            ("test.uint64", .uint64(UInt64.max)), ("test.int64", .int64(Int64.min)),
            ("test.float32", .float32(9.9999997e-06)), ("test.float32.nan", .float32(.nan)),
            ("test.float32.neg_zero", .float32(-0.0)), ("test.float64", .float64(-.infinity)),
            ("test.bool", .bool(true)), ("test.string", .string("ünïcode ✓ 🦙 and \"quotes\"")),
            ("test.empty_string", .string("")),
            ("tokenizer.ggml.tokens", .array(GGUFArray(elementType: .string, elements: ["<s>", "▁the", "Ġworld", "", "日本"].map { .string($0) }))),
            ("tokenizer.ggml.scores", .array(GGUFArray(elementType: .float32, elements: [0, -1.5, -2.25].map { .float32($0) }))),
            ("test.array.bool", .array(GGUFArray(elementType: .bool, elements: [.bool(false), .bool(true)]))),
            ("test.array.uint64", .array(GGUFArray(elementType: .uint64, elements: [.uint64(1), .uint64(UInt64.max)]))),
            ("test.array.empty", .array(GGUFArray(elementType: .int32, elements: []))),
            ("test.nested", .array(GGUFArray(elementType: .array, elements: [
                .array(GGUFArray(elementType: .int16, elements: [.int16(-1), .int16(2)])),
                .array(GGUFArray(elementType: .int16, elements: [.int16(3)])),
            ]))),
            ("test.nested.strings", .array(GGUFArray(elementType: .array, elements: [
                .array(GGUFArray(elementType: .string, elements: [.string("a"), .string("bé")])),
                .array(GGUFArray(elementType: .string, elements: [.string("z")])),
            ]))),
        ]
        if let alignment { metadata.append(("general.alignment", .uint32(alignment))) }
        let types: [(DType, [Int])] = [
            (.f32, [3, 5]), (.f16, [2, 2, 3]), (.bf16, [7]), (.f64, [2]), (.i8, [5]), (.i16, [1, 3]), (.i32, [4]),
            (.i64, [1, 1, 1, 2]), (.q8_0, [2, 64]), (.q4_0, [32]), (.q4_1, [3, 32]), (.q5_0, [32]), (.q5_1, [32]),
            (.q4_K, [2, 256]), (.q6_K, [256]), (.iq4_NL, [32]), (.mxfp4, [32]),
        ]
        var tensors: [OutputTensor] = [], expected: [String: String] = [:]
        for (i, (dtype, shape)) in types.enumerated() {
            let info = try #require(TensorInfo(name: "t.\(dtype.rawValue.lowercased())", dtype: dtype, shape: shape))
            let bytes = seededBytes(info.byteCount, seed: UInt64(i))
            tensors.append(chunked(info.name, dtype, shape, bytes))
            expected[info.name] = bytes.withUnsafeBytes { sha256Hex($0) }
        }
        let dir = TempDir()
        let path = dir.file("recast.gguf")
        try GGUFWriter.write(metadata: metadata, tensors: tensors, to: path)

        // Recast's reader returns exactly what was written, and gguf-py's reader agrees with it on every
        // key, value, type, dimension, offset and tensor digest (the comparison the reader tests use).
        let file = try GGUFFile(path: path)
        #expect(file.header.version == 3)
        #expect(file.header.alignment == Int(alignment ?? 32))
        #expect(file.header.metadata.map(\.key) == metadata.map(\.key))
        for ((_, written), (key, read)) in zip(metadata, file.header.metadata) {
            #expect(canonical(written) == canonical(read), "\(key)")
        }
        try expectMatchesGGUFPy(path)
        let py = try ggufPyDump(path)
        for t in py["tensors"]?.arrayValue ?? [] {
            let name = t["name"]?.stringValue ?? ""
            #expect(t["sha256"]?.stringValue == expected[name], "\(name)")
            #expect((t["data_offset"]?.intValue ?? 1) % Int(alignment ?? 32) == 0, "\(name)")
        }
        #expect(py["tensors"]?.arrayValue?.count == types.count)

        let dump = try runProcess("/usr/bin/env", ["python3", "-m", "gguf.scripts.gguf_dump", path])
        #expect(dump.status == 0, "\(dump.stderr)")
        #expect(dump.stdout.contains("tokenizer.ggml.tokens") && dump.stdout.contains("t.q4_k"), "\(dump.stdout)")
    }

    /// Each rule is checked before anything is written, with a message naming the file and the key or tensor.
    @Test func refusesWhatGGUFCannotHoldBeforeWriting() throws {
        let dir = TempDir()
        let path = dir.file("refused.gguf")
        let f32 = OutputTensor.values("w", [1, 2, 3, 4], shape: [2, 2])
        func expectRefusal(_ metadata: [(key: String, value: GGUFValue)], _ tensors: [OutputTensor], _ message: String,
                           sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                try GGUFWriter.write(metadata: metadata, tensors: tensors, to: path)
                Issue.record("no error; expected '\(message)'", sourceLocation: sourceLocation)
            } catch {
                #expect("\(error)".contains(path) && "\(error)".contains(message), "\(error)", sourceLocation: sourceLocation)
            }
            #expect(!FileSystem.exists(path), "a refused file was created", sourceLocation: sourceLocation)
        }
        expectRefusal([("a", .uint8(1)), ("a", .uint8(2))], [], "key 'a': appears twice")
        expectRefusal([("a", .array(GGUFArray(elementType: .int32, elements: [.int32(1), .string("x")])))], [],
                      "key 'a': is an array of INT32 whose element 1 is a STRING")
        expectRefusal([("general.alignment", .uint32(48))], [], "key 'general.alignment': is 48 (UINT32); it must be a UINT32 power of two")
        expectRefusal([("general.alignment", .uint64(64))], [], "it must be a UINT32 power of two")
        expectRefusal([], [f32, f32], "tensor 'w': appears twice")
        expectRefusal([], [OutputTensor.values(String(repeating: "n", count: 64), [1], shape: [1])], "llama.cpp allows at most 63")
        expectRefusal([], [OutputTensor.values("five", [1], shape: [1, 1, 1, 1, 1])], "tensor 'five': has 5 dimensions")
        let rows = OutputTensor(info: TensorInfo(name: "q", dtype: .q8_0, shape: [2, 48], byteCount: 3 * 34)) { _ in }
        expectRefusal([], [rows], "tensor 'q': has rows of 48 elements, not a whole number of Q8_0 blocks (32 elements each)")
        let u8 = OutputTensor(info: TensorInfo(name: "mask", dtype: .u8, shape: [4], byteCount: 4)) { _ in }
        expectRefusal([], [u8], "tensor 'mask': is U8, a type GGUF cannot hold")
        let size = OutputTensor(info: TensorInfo(name: "s", dtype: .f32, shape: [4], byteCount: 12)) { _ in }
        expectRefusal([], [size], "tensor 's': declares 12 bytes, which is not the size of shape [4] in F32")
    }

    /// A producer that hands out fewer or more bytes than its tensor declares is caught, naming the tensor.
    @Test func producerSizesAreChecked() throws {
        let dir = TempDir()
        let short = chunked("short", .f32, [4], [UInt8](repeating: 0, count: 16))
        let shortInfo = OutputTensor(info: TensorInfo(name: "short", dtype: .f32, shape: [5], byteCount: 20), produce: short.produce)
        #expect(throws: CheckpointError.self) { try GGUFWriter.write(metadata: [], tensors: [shortInfo], to: dir.file("a.gguf")) }
        do {
            try GGUFWriter.write(metadata: [], tensors: [shortInfo], to: dir.file("a.gguf"))
        } catch {
            #expect("\(error)".contains("tensor 'short': its source produced 16 bytes; 20 were declared"), "\(error)")
        }
        let long = OutputTensor(info: TensorInfo(name: "long", dtype: .f32, shape: [3], byteCount: 12), produce: short.produce)
        do {
            try GGUFWriter.write(metadata: [], tensors: [long], to: dir.file("b.gguf"))
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("tensor 'long': its source produced more than the 12 bytes declared"), "\(error)")
        }
    }
}
