import Foundation
import GGUF
import Quantization
import RecastCore
import Testing
import TestSupport

/// Reference files written once by tools/quant_reference.py (gguf-py's NumPy code) into a temporary folder.
struct Reference: Sendable {
    let folder: TempDir
    /// Per type name: the number of blocks or elements the tool wrote.
    let counts: [String: Int]

    init(_ mode: String, countKey: String, extra: [String] = []) throws {
        folder = TempDir()
        let listing = try pythonJSON("quant_reference.py", [mode] + extra + [folder.path])
        var counts: [String: Int] = [:]
        for entry in listing.arrayValue ?? [] {
            if let type = entry["type"]?.stringValue, let n = entry[countKey]?.intValue { counts[type] = n }
        }
        self.counts = counts
    }

    func read(_ name: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: folder.file(name)) else {
            throw QuantizationError(.q4_0, "tools/quant_reference.py wrote no \(name)")
        }
        return [UInt8](data)
    }

    func floats(_ name: String) throws -> [Float] {
        try read(name).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

let dequantReference = Result { try Reference("dequant", countKey: "blocks") }
let quantReference = Result { try Reference("quant", countKey: "elements") }

/// Indices where two arrays differ in bit pattern (NaN payloads and signed zeros included).
func bitMismatches(_ a: [Float], _ b: [Float]) -> [Int] {
    guard a.count == b.count else { return [-1] }
    return a.indices.filter { a[$0].bitPattern != b[$0].bitPattern }
}

func describe(_ mismatches: [Int], _ got: [Float], _ want: [Float]) -> String {
    guard let i = mismatches.first, i >= 0 else { return "lengths \(got.count) and \(want.count) differ" }
    return "\(mismatches.count) elements differ; first at \(i): got \(got[i]) (0x\(String(got[i].bitPattern, radix: 16))), " +
        "gguf-py \(want[i]) (0x\(String(want[i].bitPattern, radix: 16)))"
}

@Suite struct DequantizationTests {
    static let decodable: [DType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
                                             .iq4_NL, .iq4_XS, .tq1_0, .tq2_0, .mxfp4, .nvfp4,
                                             .iq2_XXS, .iq2_XS, .iq2_S, .iq3_XXS, .iq3_S, .iq1_S, .iq1_M]

    /// Random blocks, with every f16 edge case as a scale, decode to gguf-py's values bit for bit.
    @Test(arguments: decodable)
    func matchesGGUFPy(type: DType) throws {
        let reference = try dequantReference.get()
        let blocks = try #require(reference.counts[type.rawValue])
        let bytes = try reference.read(type.rawValue + ".blocks")
        let want = try reference.floats(type.rawValue + ".f32")
        #expect(bytes.count == blocks * type.bytesPerBlock)
        let got = try bytes.withUnsafeBytes { try Dequantize.floats(type: type, bytes: $0) }
        let mismatches = bitMismatches(got, want)
        #expect(mismatches.count == 0, "\(type.rawValue): \(describe(mismatches, got, want))")
        // The edge-case scales did reach the output: the comparison covers infinities and NaNs.
        if ![.mxfp4, .nvfp4].contains(type) {
            #expect(want.contains { $0.isNaN } && want.contains { $0.isInfinite }, "\(type.rawValue)")
        }
    }

    /// Every tensor of the real SmolLM2 GGUF (Q8_0 embedding, Q4_1 linear weights, F32 norms), read
    /// through the GGUF store and dequantised: the SHA-256 of its f32 values equals that of gguf-py's
    /// `dequantize` of the same tensor, for all 272.
    @Test func realSmolLM2TensorsMatchGGUFPy() throws {
        let located = try python([repoRoot + "/tools/models.py", "smollm2-gguf"])
        try #require(located.status == 0, "tools/models.py smollm2-gguf: \(located.stderr)")
        let path = located.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let script = """
            import sys, json, hashlib
            import numpy as np
            from gguf import GGUFReader
            from gguf.quants import dequantize
            r = GGUFReader(sys.argv[1])
            out = {}
            for t in r.tensors:
                v = dequantize(t.data, t.tensor_type).astype(np.float32)
                out[t.name] = [t.tensor_type.name, hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()]
            print(json.dumps(out))
            """
        let r = try python(["-c", script, path])
        try #require(r.status == 0, "\(r.stderr)")
        let expected = try JSON.parse(r.stdout)
        let file = try GGUFFile(path: path)
        #expect(file.tensorInfos.count == 272 && expected.objectValue?.count == 272)
        var types: Set<String> = []
        for t in file.tensorInfos {
            let values = try file.loadFloat32(t.name)
            let digest = values.withUnsafeBytes { sha256Hex($0) }
            #expect(expected[t.name]?.arrayValue?.first?.stringValue == t.type.rawValue, "\(t.name)")
            #expect(expected[t.name]?.arrayValue?.last?.stringValue == digest, "\(t.name) (\(t.type.rawValue)) differs from gguf-py")
            types.insert(t.type.rawValue)
        }
        #expect(types == ["Q8_0", "Q4_1", "F32"])
    }

    /// The lattice tables in the source are the ones gguf-py holds today (regenerated, they are unchanged).
    @Test func latticeTablesAreGGUFPys() throws {
        let r = try python([repoRoot + "/tools/quant_reference.py", "grids"])
        try #require(r.status == 0, "\(r.stderr)")
        let source = try String(contentsOfFile: repoRoot + "/Sources/Quantization/IQGrids.swift", encoding: .utf8)
        #expect(r.stdout == source)
    }

    @Test func partialBlocksAreRefusedWithTheirSizes() throws {
        let bytes = [UInt8](repeating: 0, count: 35)
        #expect(throws: QuantizationError(.q8_0, "35 bytes is not a whole number of 34-byte blocks")) {
            try bytes.withUnsafeBytes { try Dequantize.floats(type: .q8_0, bytes: $0) }
        }
        var out = [Float](repeating: 0, count: 64)
        #expect(throws: QuantizationError(.q4_0, "33 elements is not a whole number of 32-element blocks")) {
            try bytes.withUnsafeBytes { b in try out.withUnsafeMutableBufferPointer { try Dequantize.rows(type: .q4_0, bytes: b, count: 33, into: $0.baseAddress!) } }
        }
        #expect(throws: QuantizationError(.q4_0, "2 blocks of 18 bytes need 36 bytes, got 35")) {
            try bytes.withUnsafeBytes { b in try out.withUnsafeMutableBufferPointer { try Dequantize.rows(type: .q4_0, bytes: b, count: 64, into: $0.baseAddress!) } }
        }
        // Every type gguf-py dequantizes, Recast does; the rest are refused by name.
        #expect(DType.allCases.filter { $0.isQuantized && !$0.canDequantize } == [.q8_1, .q8_K, .q1_0])
        #expect(throws: QuantizationError(.q8_K, "Recast cannot dequantize this type")) {
            try [UInt8](repeating: 0, count: 292).withUnsafeBytes { try Dequantize.floats(type: .q8_K, bytes: $0) }
        }
        #expect(try [UInt8]().withUnsafeBytes { try Dequantize.floats(type: .q6_K, bytes: $0) }.isEmpty)
    }
}

@Suite struct QuantizationToBlocksTests {
    /// f32 (random scales from 1e-6 to 1e3, zeros, constants, exact ties, subnormals, f16-overflowing
    /// scales) quantizes to gguf-py's bytes.
    @Test(arguments: [DType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1])
    func matchesGGUFPy(type: DType) throws {
        let reference = try quantReference.get()
        let elements = try #require(reference.counts[type.rawValue])
        let input = try reference.floats(type.rawValue + ".input")
        let want = try reference.read(type.rawValue + ".quant")
        #expect(input.count == elements)
        let got = try Quantize.bytes(type: type, values: input)
        #expect(got.count == want.count)
        let differing = (0..<min(got.count, want.count)).filter { got[$0] != want[$0] }
        #expect(differing.count == 0, "\(type.rawValue): \(differing.count) bytes differ, first at \(differing.first ?? -1) (block \((differing.first ?? 0) / type.bytesPerBlock))")
    }

    @Test func typesWithoutAQuantizerAreRefused() throws {
        #expect(DType.allCases.filter { $0.isQuantized && $0.canQuantize } == [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0])
        #expect(throws: QuantizationError(.q6_K, "Recast cannot quantize to this type")) {
            try Quantize.bytes(type: .q6_K, values: [Float](repeating: 1, count: 256))
        }
        #expect(throws: QuantizationError(.q8_0, "31 elements is not a whole number of 32-element blocks")) {
            try Quantize.bytes(type: .q8_0, values: [Float](repeating: 1, count: 31))
        }
    }
}
