import Foundation
import Testing
import TestSupport
import RecastCore
@testable import GGUF

/// Deterministic bytes (a 64-bit LCG), so every test sees the same values.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

@Suite struct PermutationTests {
    /// Swift's permutation against the NumPy reference (`reshape(heads, 2, rows/heads/2, …).swapaxes(1, 2)`
    /// and its inverse) on f32 matrices: q with all heads, grouped-query k with the key/value heads, a bias.
    @Test(arguments: [(32, 5, 4), (16, 5, 2), (576, 3, 9), (192, 3, 3), (24, 1, 3), (8, 4, 1)])
    func f32MatchesNumPy(rows: Int, cols: Int, heads: Int) throws {
        let tmp = TempDir()
        let values = (0..<(rows * cols)).map { Float($0) * 0.25 - 7 }
        let input = tmp.write("in.f32", bytes(values))
        for toLlamaCpp in [true, false] {
            let out = tmp.file("out.f32")
            try ggufNames(["permute", input, out, String(rows), String(heads), toLlamaCpp ? "to" : "from", "f32"])
            let expected = try readFloats(out)
            let mine = try RotaryPermutation.permuteRows(values, rows: rows, heads: heads, toLlamaCpp: toLlamaCpp, tensor: "q", file: "f")
            #expect(firstDifference(mine, expected) == nil, "rows \(rows) heads \(heads) toLlamaCpp \(toLlamaCpp)")
            if rows / heads > 2 { #expect(firstDifference(mine, values) != nil) }
        }
    }

    /// Rows of Q4_1 blocks (20 bytes per 32 values) move as whole rows of raw bytes, as NumPy moves them.
    @Test(arguments: [(24, 3, 3), (576, 18, 9), (192, 18, 3)])
    func wholeRowsOfQuantisedBlocksMatchNumPy(rows: Int, blocks: Int, heads: Int) throws {
        let tmp = TempDir()
        let rowBytes = blocks * 20
        let data = pseudoRandomBytes(rows * rowBytes, seed: UInt64(rows * 31 + heads))
        let input = tmp.write("in.bin", data)
        for toLlamaCpp in [true, false] {
            let out = tmp.file("out.bin")
            try ggufNames(["permute", input, out, String(rows), String(heads), toLlamaCpp ? "to" : "from", "u8"])
            let expected = try Array(Data(contentsOf: URL(fileURLWithPath: out)))
            var mine = [UInt8](repeating: 0, count: data.count)
            try data.withUnsafeBytes { src in
                try mine.withUnsafeMutableBytes { dst in
                    try RotaryPermutation.permuteRows(src, into: dst, rows: rows, heads: heads, toLlamaCpp: toLlamaCpp, tensor: "k", file: "f")
                }
            }
            #expect(firstDifference(mine, expected) == nil)
        }
    }

    @Test func roundTripIsTheIdentity() throws {
        let data = pseudoRandomBytes(96 * 40, seed: 7)
        for heads in [1, 2, 3, 4, 6, 8, 12, 16, 24, 48] {
            var there = [UInt8](repeating: 0, count: data.count), back = there
            try data.withUnsafeBytes { src in
                try there.withUnsafeMutableBytes { try RotaryPermutation.permuteRows(src, into: $0, rows: 96, heads: heads, toLlamaCpp: true, tensor: "q", file: "f") }
            }
            try there.withUnsafeBytes { src in
                try back.withUnsafeMutableBytes { try RotaryPermutation.permuteRows(src, into: $0, rows: 96, heads: heads, toLlamaCpp: false, tensor: "q", file: "f") }
            }
            #expect(firstDifference(back, data) == nil, "heads \(heads)")
            // Two rows a head are one rotary pair, already adjacent: the only case that moves nothing.
            #expect((firstDifference(there, data) == nil) == (96 / heads == 2), "heads \(heads)")
        }
    }

    @Test func shapesThatDoNotSplitIntoHeadsAreRefused() throws {
        let values = [Float](repeating: 1, count: 60)
        for (rows, heads) in [(60, 7), (60, 0), (30, 10), (12, 4), (0, 1)] {
            let error = #expect(throws: CheckpointError.self) {
                _ = try RotaryPermutation.permuteRows(rows == 0 ? [] : values, rows: rows, heads: heads, toLlamaCpp: false,
                                                      tensor: "blk.0.attn_q.weight", file: "m.gguf")
            }
            #expect(error?.object == "tensor 'blk.0.attn_q.weight'")
            #expect(error?.file == "m.gguf")
        }
        // Buffers that do not hold whole rows, or differ in size.
        var out = [UInt8](repeating: 0, count: 10)
        let src = [UInt8](repeating: 0, count: 9)
        #expect(throws: CheckpointError.self) {
            try src.withUnsafeBytes { s in try out.withUnsafeMutableBytes { try RotaryPermutation.permuteRows(s, into: $0, rows: 2, heads: 1, toLlamaCpp: true, tensor: "t", file: "f") } }
        }
        let odd = [UInt8](repeating: 0, count: 10)
        #expect(throws: CheckpointError.self) {
            try odd.withUnsafeBytes { s in try out.withUnsafeMutableBytes { try RotaryPermutation.permuteRows(s, into: $0, rows: 4, heads: 2, toLlamaCpp: true, tensor: "t", file: "f") } }
        }
    }

    /// The real SmolLM2 GGUF: every q and k, dequantised by gguf-py, un-permuted by Recast with the heads its
    /// names and config give, equals tools/models.py's un-permutation bit for bit. The raw Q4_1 rows of layer 0
    /// and 29, moved by Recast before dequantisation (gguf-py's), give the same values.
    @Test func smolLM2QueryAndKeyMatchModelsPy() throws {
        let r = try python([repoRoot + "/tools/models.py", "smollm2-gguf"])
        #expect(r.status == 0, "tools/models.py failed: \(r.stderr)")
        let path = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let file = try GGUFFile(path: path)
        let config = try GGUFConfig.huggingFaceConfig(from: file.header, file: path)
        let tmp = TempDir()
        let listed = try #require(try ggufNames(["smollm2-qk", path, tmp.path]).arrayValue)
        #expect(listed.count == 60)
        var seenHeads: Set<Int> = []
        for entry in listed {
            let name = try #require(entry["name"]?.stringValue)
            let mapped = try #require(LlamaCppNames.huggingFace(name, architecture: "llama", config: config))
            guard case let .rotaryRows(heads) = mapped.layout else {
                Issue.record("\(name) has layout \(mapped.layout)")
                continue
            }
            seenHeads.insert(heads)
            let t = try #require(file.tensor(named: name))
            let rows = t.shape[0], cols = t.shape[1]
            let dequantised = try readFloats(tmp.file(name + ".f32"))
            let expected = try readFloats(tmp.file(name + ".hf.f32"))
            let mine = try RotaryPermutation.permuteRows(dequantised, rows: rows, heads: heads, toLlamaCpp: false, tensor: name, file: path)
            #expect(firstDifference(mine, expected) == nil, "\(name)")

            guard name.hasPrefix("blk.0.") || name.hasPrefix("blk.29.") else { continue }
            #expect(t.type == .q4_1)
            var moved = [UInt8](repeating: 0, count: t.byteCount)
            try file.withBytes(of: name) { src in
                try moved.withUnsafeMutableBytes { try RotaryPermutation.permuteRows(src, into: $0, rows: rows, heads: heads, toLlamaCpp: false, tensor: name, file: path) }
            }
            let raw = tmp.write(name + ".moved", moved)
            try ggufNames(["dequantize", raw, "Q4_1", String(cols), tmp.file(name + ".moved.f32")])
            #expect(firstDifference(try readFloats(tmp.file(name + ".moved.f32")), expected) == nil, "\(name) as Q4_1 rows")
        }
        #expect(seenHeads == [9, 3])
    }
}
