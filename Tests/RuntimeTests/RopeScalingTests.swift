import Testing
import TestSupport
import RecastCore
import SafeTensors
@testable import Runtime
@testable import ModelGraph

/// Rotary scaling (`rope_scaling` / `rope_parameters` of types linear and llama3) against `tools/reference.py`,
/// which implements both from their published definitions, and against transformers' own inverse frequencies.
@Suite struct RopeScalingTests {
    let length = 24

    /// The scalings tried on the llama fixture (head size 8: inverse frequencies 1, 0.1, 0.01, 0.001, wavelengths
    /// 6.3, 63, 628, 6283). With original_max_position_embeddings 64, low 1 and high 4, llama3 keeps the first
    /// (wavelength < 16), interpolates the second (16…64) and divides the last two (> 64): all three regimes.
    static let scalings: [(String, String)] = [
        ("rope_scaling", #"{"type": "linear", "factor": 4.0}"#),
        ("rope_parameters", #"{"rope_type": "linear", "factor": 2.5, "rope_theta": 10000.0}"#),
        ("rope_scaling", #"{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}"#),
        ("rope_parameters", #"{"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64, "rope_theta": 10000.0}"#),
    ]

    func scaledCopy(_ key: String, _ value: String, in dir: TempDir) throws -> String {
        try editedCopy(of: "llama", in: dir) { $0.set(key, try! JSON.parse(value)) }
    }

    @Test(arguments: scalings, ForwardMode.allCases)
    func scaledLlamaMatchesTheReference(_ scaling: (String, String), _ mode: ForwardMode) throws {
        let dir = TempDir()
        let path = try scaledCopy(scaling.0, scaling.1, in: dir)
        let out = dir.file("ref.safetensors")
        let r = try python([repoRoot + "/tools/reference.py", path, "--length", "\(length)", "--seed", "5",
                            "--mode", mode.rawValue, "--out", out])
        try #require(r.status == 0, "\(r.stderr)")
        let ref = try SafeTensorsFile(path: out)
        let t = try loadModel(at: path)
        let tokens = syntheticTokens(length: length, seed: 5, vocab: t.graph.vocabSize)
        let ours = try t.run(tokens: tokens, mode: mode)
        #expect(maxRelativeError(ours.hiddenStates.data, try ref.loadFloat32("hidden_states")) < 1e-4)
        #expect(maxRelativeError(try #require(ours.logits).data, try ref.loadFloat32("logits")) < 1e-4)
        // The scaling is not a no-op: the unscaled model computes something else.
        let plain = try loadModel(at: fixture("llama")).run(tokens: tokens, mode: mode)
        #expect(maxRelativeError(ours.hiddenStates.data, plain.hiddenStates.data) > 1e-3)
    }

    /// The graph's inverse frequencies equal transformers' `ROPE_INIT_FUNCTIONS` (computed in f32 there).
    @Test func inverseFrequenciesMatchTransformers() throws {
        let cases: [(JSON, Int)] = [
            (try JSON.parse(#"{"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0}"#), 64),
            (try JSON.parse(#"{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_theta": 500000.0}"#), 128),
            (try JSON.parse(#"{"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_theta": 500000.0}"#), 64),
        ]
        let script = """
            import json, sys
            from transformers import LlamaConfig
            from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
            out = []
            for params, d in json.loads(sys.stdin.read()):
                cfg = LlamaConfig(hidden_size=2 * d, num_attention_heads=2, rope_parameters=params)
                inv, _ = ROPE_INIT_FUNCTIONS[params["rope_type"]](cfg, "cpu")
                out.append([float(x) for x in inv.double()])
            print(json.dumps(out))
            """
        let input = JSON.array(cases.map { .array([$0.0, .int($0.1)]) }).serialized()
        let r = try runProcess("/usr/bin/env", ["python3", "-c", script], stdin: input)
        try #require(r.status == 0, "\(r.stderr)")
        let theirs = try #require(try JSON.parse(r.stdout).arrayValue)
        for ((params, d), expected) in zip(cases, theirs) {
            var config = try JSON.parse(try FileSystem.readAll(fixture("llama/config.json")))
            config.set("rope_parameters", params)
            config.set("head_dim", .int(d))
            var reader = ConfigReader(json: config, file: "config.json")
            let (theta, scaling) = LlamaConfig.rotary(&reader)
            #expect(reader.problems.isEmpty, "\(reader.problems)")
            let ours = Rotary(theta: theta, dimensions: d, scaling: scaling).inverseFrequencies
            let want = try #require(expected.arrayValue).compactMap(\.doubleValue)
            try #require(ours.count == want.count)
            let worst = zip(ours, want).map { abs($0 - $1) / $1 }.max() ?? 0
            #expect(worst < 1e-6, "\(params.serialized()): max relative difference \(worst)")
        }
    }
}
