import Foundation
import Testing
import TestSupport
import RecastCore
import ModelGraph
import SafeTensors
@testable import Runtime

/// Each family's tiny model, built in memory inside the test, runs in Recast straight from the in-memory store and
/// matches `tools/reference.py` on the same tensors (written to a temporary folder for it), in both modes.
@Suite struct FamilyForwardTests {
    static let families = ["gpt2", "bert", "llama", "llama-linear-rope", "llama-llama3-rope"]

    static func model(_ name: String) -> (JSON, InMemoryStore) {
        switch name {
        case "gpt2": return TinyModel.gpt2()
        case "bert": return TinyModel.bert()
        case "llama-linear-rope":
            let (plain, s) = TinyModel.llama()
            var c = plain
            c.set("rope_scaling", try! JSON.parse(#"{"rope_type": "linear", "factor": 3.0}"#))
            return (c, s)
        case "llama-llama3-rope":
            // head size 4: wavelengths 6.3 and 628; with L = 64, low 2 and high 8 the first is kept (< 8) and the
            // second is divided (> 32). The band between is covered by RopeScalingTests.
            let (plain, s) = TinyModel.llama()
            var c = plain
            c.set("rope_parameters", try! JSON.parse(#"{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 2.0, "high_freq_factor": 8.0, "original_max_position_embeddings": 64, "rope_theta": 10000}"#))
            return (c, s)
        default: return TinyModel.llama()
        }
    }

    @Test(arguments: families, ForwardMode.allCases)
    func inMemoryModelMatchesTheReference(_ name: String, _ mode: ForwardMode) throws {
        let (config, store) = Self.model(name)
        let graph = try ModelGraph.build(config: config, configFile: "config.json", store: store)
        let tokens = syntheticTokens(length: 12, seed: 9, vocab: graph.vocabSize)
        let model = try Transformer(graph: graph, store: store)
        if !graph.causal && mode == .recurrent {
            // A bidirectional encoder has no token-by-token form in Recast: refused by name.
            let e = #expect(throws: (any Error).self) { try model.run(tokens: tokens, mode: mode) }
            #expect(e.map { "\($0)".contains("cannot run token by token") } == true, "\(String(describing: e))")
            return
        }
        let ours = try model.run(tokens: tokens, mode: mode)

        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("model"), withIntermediateDirectories: true)
        _ = dir.write("model/config.json", config.serialized(pretty: true))
        try SafeTensorsWriter.write(store.outputTensors, metadata: [], to: dir.file("model/model.safetensors"))
        let out = dir.file("ref.safetensors")
        let r = try python([repoRoot + "/tools/reference.py", dir.file("model"), "--length", "12", "--seed", "9",
                            "--mode", mode.rawValue, "--out", out])
        try #require(r.status == 0, "\(r.stderr)")
        let ref = try SafeTensorsFile(path: out)
        #expect(maxRelativeError(ours.hiddenStates.data, try ref.loadFloat32("hidden_states")) < 1e-4)
        if graph.lmHead != nil {
            #expect(maxRelativeError(try #require(ours.logits).data, try ref.loadFloat32("logits")) < 1e-4)
        }
    }
}
