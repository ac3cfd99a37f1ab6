import Foundation
import Testing
import TestSupport
import RecastCore

/// Fixture files mutated at random (bit flips, truncations, header edits), a fixed seed and a few hundred
/// cases per format (fewer under AddressSanitizer): `recast inspect` and `recast convert` give a clean error or a correct result every time,
/// never a crash or a hang, and never a partial output file.
@Suite(.serialized) struct MutationTests {
    enum Kind: String, CaseIterable { case bitFlips, truncate, headerEdit, zeroRange, appendGarbage }

    static func mutate(_ original: [UInt8], _ rng: inout TestRNG, headerSpan: Int) -> ([UInt8], Kind) {
        var b = original
        let kind = Kind.allCases[rng.below(Kind.allCases.count)]
        switch kind {
        case .bitFlips:
            for _ in 0..<(1 + rng.below(8)) {
                // Mostly inside the header, where parsing decisions are made.
                let i = rng.below(2) == 0 ? rng.below(min(headerSpan, b.count)) : rng.below(b.count)
                b[i] ^= UInt8(1 << rng.below(8))
            }
        case .truncate:
            b = Array(b.prefix(rng.below(b.count)))
        case .headerEdit:
            let start = rng.below(min(headerSpan, b.count))
            let n = 1 + rng.below(16)
            for i in start..<min(start + n, b.count) {
                // Printable characters that matter to JSON and to numbers, or raw bytes.
                let alphabet = Array("{}[]\":,0123456789-eE.ntfu\\ ".utf8)
                b[i] = rng.below(3) == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[rng.below(alphabet.count)]
            }
        case .zeroRange:
            let start = rng.below(b.count)
            for i in start..<min(start + 1 + rng.below(256), b.count) { b[i] = 0 }
        case .appendGarbage:
            b += (0..<(1 + rng.below(64))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
        return (b, kind)
    }

    func check(_ r: ProcessResult, _ what: String) {
        #expect(!r.timedOut, "hang: \(what)")
        #expect(!r.signalled, "crash: \(what): \(r.stderr)")
        #expect(r.status == 0 || r.status == 1, "exit \(r.status): \(what)")
        if r.status != 0 { #expect(r.stderr.hasPrefix("recast: error: "), "clean message: \(what): \(r.stderr)") }
    }

    @Test(arguments: [
        ("gpt2/model.safetensors", "m.safetensors", "out.h5", 1200),
        ("llama/model-00001-of-00002.safetensors", "m.safetensors", "out.safetensors", 1200),
        ("hdf5-types.h5", "m.h5", "out.safetensors", 4096),
        ("bert-tf/tf_model.h5", "m.h5", "out.safetensors", 4096),
    ])
    func mutatedFilesFailCleanly(_ source: String, _ name: String, _ outName: String, _ headerSpan: Int) throws {
        let original = try FileSystem.readAll(fixture(source))
        var rng = TestRNG(state: source.utf8.reduce(UInt64(17)) { $0 &* 31 &+ UInt64($1) })
        var outcomes: [String: Int] = [:]
        // 150 cases per format in the plain stage; 50 under AddressSanitizer, where each of the ~450 process
        // launches per format costs several times more and this serialized suite was the stage's long pole
        // (25 of its 26 minutes). The fuzz targets (tools/fuzz.sh) run the same readers under ASan for hours.
        let cases = recastBinary.contains(".build-asan") ? 50 : 150
        for k in 0..<cases {
            let dir = TempDir()
            let (bytes, kind) = Self.mutate(original, &rng, headerSpan: headerSpan)
            let path = dir.write(name, bytes)
            let what = "case \(k) (\(kind.rawValue)) of \(source)"
            let inspect = try recast(["inspect", path, "--json"], timeout: 60)
            check(inspect, "inspect " + what)
            let out = dir.file(outName)
            let convert = try recast(["convert", path, out], timeout: 60)
            check(convert, "convert " + what)
            if convert.status == 0 {
                // A success is a complete, readable file.
                let reread = try recast(["inspect", out, "--json"], timeout: 60)
                #expect(reread.status == 0, "output of \(what) does not read back: \(reread.stderr)")
            } else {
                #expect(!FileSystem.exists(out), "partial output left by \(what)")
            }
            #expect(dir.entries().allSatisfy { !$0.contains(".recast-tmp-") }, "temporary left by \(what): \(dir.entries())")
            outcomes[convert.status == 0 ? "converted" : "clean error", default: 0] += 1
        }
        #expect(outcomes.values.reduce(0, +) == cases)
        #expect(outcomes["clean error", default: 0] > 0, "the mutations do reach the validators")
    }
}

func recast(_ arguments: [String], timeout: Double) throws -> ProcessResult {
    try runProcess(recastBinary, arguments, timeout: timeout)
}

/// Files on which libhdf5 1.10.8 crashed or hung (found by fuzzing, Tests/FuzzRegressionTests/Inputs/hdf5),
/// through the CLI: Recast's own HDF5 reader makes each one clean error (or a partial listing), never a
/// crash or a hang.
@Suite struct HDF5CrashInputTests {
    static let inputs = (try? FileManager.default.contentsOfDirectory(atPath: repoRoot + "/Tests/FuzzRegressionTests/Inputs/hdf5"))?.sorted() ?? []

    @Test func theInputsArePresent() { #expect(Self.inputs.count >= 8) }

    @Test(arguments: inputs)
    func inspectAndConvertFailCleanly(_ name: String) throws {
        let path = repoRoot + "/Tests/FuzzRegressionTests/Inputs/hdf5/" + name
        let dir = TempDir()
        for args in [["inspect", path], ["convert", path, dir.file("out.safetensors")]] {
            let r = try recast(args, timeout: 120)
            #expect(!r.timedOut && !r.signalled, "\(args): \(r.stderr)")
            #expect(r.status == 0 || r.status == 1, "\(args)")
            if r.status == 1 {
                #expect(r.stderr.hasPrefix("recast: error: ") && r.stderr.contains(name), "\(args): \(r.stderr)")
                #expect(r.stderr.split(separator: "\n").count == 1)
            }
        }
        #expect(dir.entries().isEmpty || dir.entries() == ["out.safetensors"])
    }
}
