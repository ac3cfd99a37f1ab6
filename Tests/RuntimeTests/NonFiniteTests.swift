import Foundation
import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
import SafeTensors
@testable import Runtime

/// A copy of the GPT-2 fixture whose weights `poison` edits (every tensor of that fixture is F32).
func poisonedGPT2(in dir: TempDir, _ poison: (String, inout [Float]) -> Void) throws -> String {
    let store = try Checkpoint.open(fixture("gpt2"))
    let folder = dir.file("poisoned")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: fixture("gpt2/config.json"), toPath: folder + "/config.json")
    let tensors = try store.tensors.map { t -> OutputTensor in
        var v = try store.loadFloat32(t.name)
        poison(t.name, &v)
        return .values(t.name, v, shape: t.shape)
    }
    try SafeTensorsWriter.write(tensors, metadata: [], to: folder + "/model.safetensors")
    return folder
}

/// NaN or infinity in the outputs is an error that says where it first appeared, never a result.
@Suite struct NonFiniteTests {
    @Test(arguments: ForwardMode.allCases)
    func aNonFiniteEmbeddingIsReportedWhereItAppears(_ mode: ForwardMode) throws {
        let dir = TempDir()
        // Position 2's learned embedding holds a NaN (the token embeddings are tied to the LM head, so a NaN
        // there would show in every logit).
        let path = try poisonedGPT2(in: dir) { name, v in if name == "wpe.weight" { v[2 * 32 + 3] = .nan } }
        let t = try loadModel(at: path)
        #expect(try t.run(tokens: [1, 2], mode: mode).hiddenStates.data.allSatisfy(\.isFinite), "position 2 is not reached")
        do {
            _ = try t.run(tokens: [1, 2, 7, 3], mode: mode)
            Issue.record("NaN outputs were returned as a result")
        } catch let e as RuntimeError {
            #expect(e.message.contains("NaN or infinity") && e.message.contains("the embeddings at token position 2"), "\(e)")
        }
    }

    @Test(arguments: ForwardMode.allCases)
    func aNonFiniteWeightNamesItsLayer(_ mode: ForwardMode) throws {
        let dir = TempDir()
        let path = try poisonedGPT2(in: dir) { name, v in if name == "h.1.mlp.c_fc.weight" { v[5] = .infinity } }
        let t = try loadModel(at: path)
        #expect(throws: RuntimeError.self) { try t.run(tokens: [1, 2, 3], mode: mode) }
        do { _ = try t.run(tokens: [1, 2, 3], mode: mode) } catch let e as RuntimeError {
            #expect(e.message.contains("layer 1 (MLP) at token position 0"), "\(e)")
        }
    }

    /// Finite weights whose products overflow f32 are caught too.
    @Test func overflowIsCaught() throws {
        let dir = TempDir()
        let path = try poisonedGPT2(in: dir) { name, v in if name == "ln_f.weight" { for i in v.indices { v[i] = 3e38 } } }
        do {
            _ = try loadModel(at: path).forward(tokens: [4, 5, 6])
            Issue.record("overflowing outputs were returned as a result")
        } catch let e as RuntimeError {
            #expect(e.message.contains("the final norm") || e.message.contains("the LM head"), "\(e)")
        }
    }

    @Test func runExitsNonZeroAndWritesNothing() throws {
        let dir = TempDir()
        let path = try poisonedGPT2(in: dir) { name, v in if name == "h.0.attn.c_proj.bias" { v[0] = .nan } }
        let out = dir.file("out.safetensors")
        for mode in ["parallel", "recurrent"] {
            let r = try recast(["run", path, "--tokens", "1,2,3", "--out", out, "--mode", mode])
            #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
            #expect(r.stderr.hasPrefix("recast: error: ") && r.stderr.contains("NaN or infinity") && r.stderr.contains("layer 0 (attention)"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "no output is written")
        }
    }

    @Test func verifyExitsNonZero() throws {
        let dir = TempDir()
        let path = try poisonedGPT2(in: dir) { name, v in if name == "h.1.ln_2.weight" { v[2] = .nan } }
        let converted = dir.file("t2r")
        let s = try recast(["swap", path, converted, "--feature-map", "elu"])
        try #require(s.status == 0, "\(s.stderr)")
        let r = try recast(["verify", path, converted, "--length", "8"])
        #expect(r.status == 1 && r.stderr.hasPrefix("recast: error: ") && r.stderr.contains("NaN or infinity"), "\(r.stdout)\(r.stderr)")
    }

    /// The command line refuses the bad config numbers of the issue with the config file, key and range.
    @Test func runRefusesANegativeEpsilon() throws {
        let dir = TempDir()
        let path = try editedCopy(of: "gpt2", in: dir) { $0.set("layer_norm_epsilon", .double(-1e-5)) }
        let r = try recast(["run", path, "--length", "4", "--out", dir.file("o.safetensors")])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("recast: error: \(path)/config.json: config key 'layer_norm_epsilon' is -1e-05, outside the accepted range: a finite number > 0 and < 1"), "\(r.stderr)")
    }
}
