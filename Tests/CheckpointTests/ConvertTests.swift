import Foundation
import Testing
import TestSupport
import RecastCore
import SafeTensors
import HDF5
@testable import Checkpoint

@Suite struct ConvertTests {
    let dir = TempDir()

    func convert(_ src: String, _ dst: String, dtype: DTypeChoice = .keep, shard: Int? = nil, force: Bool = false) throws -> ConvertSummary {
        var o = ConvertOptions()
        o.dtype = dtype
        o.maxShardSize = shard
        o.force = force
        return try Converter.convert(source: src, destination: dst, options: o)
    }

    /// f32 → bf16 and f32 → f16 give the bits numpy / ml_dtypes give (fixtures/casts.safetensors was written by them).
    @Test func castsMatchIndependentRounding() throws {
        let src = fixture("casts.safetensors")
        let bf = dir.file("bf16.safetensors"), hf = dir.file("f16.safetensors")
        _ = try convert(src, bf, dtype: .bf16)
        _ = try convert(src, hf, dtype: .f16)
        let expected = try SafeTensorsFile(path: src)
        let gotBF = try SafeTensorsFile(path: bf), gotHF = try SafeTensorsFile(path: hf)
        #expect(gotBF.info(named: "f32")?.dtype == .bf16)
        let a = try gotBF.withBytes(of: "f32") { Array($0) }, b = try expected.withBytes(of: "bf16_rne") { Array($0) }
        #expect(a == b, "bf16 bits")
        let c = try gotHF.withBytes(of: "f32") { Array($0) }, d = try expected.withBytes(of: "f16_rne") { Array($0) }
        #expect(c == d, "f16 bits")
        // Widening back is exact.
        let back = dir.file("back.safetensors")
        _ = try convert(bf, back, dtype: .f32)
        #expect(try SafeTensorsFile(path: back).loadFloat32("bf16_rne") == expected.loadFloat32("bf16_rne"))
    }

    @Test func castsLeaveIntegersAlone() throws {
        let out = dir.file("ints.safetensors")
        _ = try convert(fixture("dtypes.safetensors"), out, dtype: .bf16)
        let src = try SafeTensorsFile(path: fixture("dtypes.safetensors")), got = try SafeTensorsFile(path: out)
        for t in src.tensors {
            let g = try #require(got.info(named: t.name))
            #expect(g.dtype == (t.dtype.isFloatingPoint ? .bf16 : t.dtype), "\(t.name)")
            if !t.dtype.isFloatingPoint {
                #expect(try got.withBytes(of: t.name) { Array($0) } == src.withBytes(of: t.name) { Array($0) })
            }
        }
    }

    /// safetensors → HDF5 → safetensors keeps names, dtypes, shapes, bytes and metadata exactly.
    @Test func roundTripThroughHDF5() throws {
        for name in ["dtypes.safetensors", "gpt2/model.safetensors"] {
            let h5 = dir.file("rt.h5"), back = dir.file("rt.safetensors")
            _ = try convert(fixture(name), h5, force: true)
            _ = try convert(h5, back, force: true)
            let a = try SafeTensorsFile(path: fixture(name)), b = try SafeTensorsFile(path: back)
            #expect(a.metadata.map(\.key).sorted() == b.metadata.map(\.key).sorted())
            #expect(Set(a.tensors) == Set(b.tensors))
            for t in a.tensors {
                #expect(try a.withBytes(of: t.name) { Array($0) } == b.withBytes(of: t.name) { Array($0) }, "\(t.name)")
            }
        }
    }

    @Test func directoryOutputIsShardedWithIndexAndConfig() throws {
        let out = dir.file("sharded")
        let s = try convert(fixture("gpt2"), out, shard: 40_000)
        let names = FileSystem.list(out)
        #expect(names.contains("model.safetensors.index.json") && names.contains("config.json"))
        #expect(names.filter { $0.hasSuffix(".safetensors") }.count == 4)
        #expect(s.files.count == 6 && s.files.first == FileSystem.join(out, "config.json"))
        let store = try Checkpoint.open(out)
        let src = try Checkpoint.open(fixture("gpt2"))
        #expect(Set(store.tensors) == Set(src.tensors))
        for t in src.tensors { #expect(try store.withBytes(of: t.name) { Array($0) } == src.withBytes(of: t.name) { Array($0) }) }
    }

    @Test func existingDestinationNeedsForce() throws {
        let out = dir.write("exists.safetensors", "keep me")
        do { _ = try convert(fixture("gpt2"), out); Issue.record("expected refusal") } catch {
            #expect("\(error)".contains("already exists") && "\(error)".contains("--force"))
        }
        #expect(try FileSystem.readAll(out) == Array("keep me".utf8))
        _ = try convert(fixture("gpt2"), out, force: true)
        #expect(try SafeTensorsFile(path: out).tensors.count == 32)
    }

    @Test func sourceIsNeverTheDestination() throws {
        let src = dir.file("src.safetensors")
        _ = try convert(fixture("gpt2"), src)
        let before = try FileSystem.readAll(src)
        do { _ = try convert(src, src, dtype: .bf16, force: true); Issue.record("expected refusal") } catch {
            #expect("\(error)".contains("is an input of this command"), "\(error)")
        }
        #expect(try FileSystem.readAll(src) == before)
    }

    @Test func failureLeavesNothingBehind() throws {
        let out = dir.file("never.safetensors")
        let bad = dir.write("bad.safetensors", [1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(throws: CheckpointError.self) { try convert(bad, out) }
        // A source that fails halfway through writing.
        let output = try AtomicOutput(destination: out, directory: false, force: false, reads: [])
        let failing = OutputTensor(info: TensorInfo(name: "x", dtype: .f32, shape: [4])!) { _ in
            throw CheckpointError(file: "source", "read failed")
        }
        #expect(throws: CheckpointError.self) {
            try SafeTensorsWriter.write([OutputTensor.values("a", [1], shape: [1]), failing], metadata: [], to: output.temporaryPath)
        }
        output.abandon()
        #expect(dir.entries().filter { $0.contains("never") }.isEmpty, "no DST and no temporary: \(dir.entries())")
    }

    @Test func staleTemporariesOfDeadRunsAreRemoved() throws {
        let out = dir.file("model.safetensors")
        // pid 999999999 does not exist.
        let stale = dir.write(".model.safetensors.recast-tmp-999999999-abc", "partial")
        _ = try convert(fixture("gpt2"), out)
        #expect(!FileSystem.exists(stale))
        #expect(FileSystem.exists(out))
    }

    @Test func outputKindFollowsTheName() throws {
        #expect(try OutputKind(destination: "a.safetensors") == .safetensorsFile)
        #expect(try OutputKind(destination: "a.H5") == .hdf5File)
        #expect(try OutputKind(destination: "a.hdf5") == .hdf5File)
        #expect(try OutputKind(destination: "out/") == .directory)
        #expect(try OutputKind(destination: "modeldir") == .directory)
        #expect(throws: CheckpointError.self) { try OutputKind(destination: "a.bin") }
    }
}

@Suite struct OpenTests {
    let dir = TempDir()

    func message(_ path: String) -> String {
        do { _ = try Checkpoint.open(path); return "no error" } catch { return "\(error)" }
    }

    @Test func contentDecidesNotTheExtension() throws {
        let h5 = dir.file("really-hdf5.safetensors")
        try FileSystem.writeAll(h5, try FileSystem.readAll(fixture("keras3.weights.h5")))
        #expect(try Checkpoint.open(h5).format == .hdf5)
    }

    @Test func clearErrors() {
        let lfs = dir.write("model.safetensors", "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n")
        #expect(message(lfs).contains("Git LFS pointer"))
        let noise = dir.write("noise.h5", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        #expect(message(noise).contains(noise))
        #expect(message(dir.file("missing.safetensors")).contains("does not exist"))
        let empty = dir.file("emptydir")
        try? FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect(message(empty).contains("holds no weights"))
        let config = dir.write("config.json", #"{"model_type": "gpt2"}"#)
        #expect(message(config).contains("model config, not weights"))
    }

    @Test func modelDirectoriesPreferTheIndex() throws {
        #expect(try Checkpoint.weightsPath(in: fixture("llama")).hasSuffix("model.safetensors.index.json"))
        #expect(try Checkpoint.weightsPath(in: fixture("bert-tf")).hasSuffix("tf_model.h5"))
        #expect(try Checkpoint.configPath(for: fixture("gpt2/model.safetensors"))?.hasSuffix("gpt2/config.json") == true)
    }
}
