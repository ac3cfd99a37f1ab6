import Foundation
import Testing
import TestSupport
import RecastCore

/// The real all-MiniLM-L6-v2, loaded by transformers and saved by `torch.save` as pytorch_model.bin
/// (tools/torch_fixtures.py --model): `recast convert` to safetensors equals, tensor by tensor, the safetensors
/// project's route (`save_file` of `torch.load(weights_only=True)`, made contiguous); `inspect` reads the
/// folder as a PyTorch checkpoint. The same for SmolLM2-135M-Instruct (tools/models.py's Hugging Face folder,
/// built from its GGUF: f32 weights), whose state_dict is 538 MB.
@Suite(.serialized) struct PyTorchRealTests {
    @Test func miniLMConvertIsBitIdenticalToThePythonRoute() throws {
        let dir = TempDir()
        let model = try RealModelTests.model("minilm")
        let written = try pythonJSON("torch_fixtures.py", ["--model", model, dir.file("minilm")])
        let bin = try #require(written["path"]?.stringValue), expected = try #require(written["expected"]?.stringValue)
        let out = dir.file("minilm.safetensors")
        let r = try recast(["convert", bin, out])
        #expect(r.status == 0, "\(r.stderr)")
        let tensors = try pythonTensors([out, expected])
        #expect((tensors[expected]?.count ?? 0) > 100)
        #expect(tensors[out] == tensors[expected])
        let report = try JSON.parse(try recast(["inspect", dir.file("minilm"), "--json"]).stdout)
        #expect(report["format"]?.stringValue == "pytorch" && report["layout"]?.stringValue == "pytorch-zip")
        #expect(report["architecture"]?["family"]?.stringValue == "bert")
    }

    @Test func smolLM2ConvertIsBitIdenticalToThePythonRoute() throws {
        let dir = TempDir()
        let model = try RealModelTests.model("smollm2")
        let written = try pythonJSON("torch_fixtures.py", ["--model", model, dir.file("smollm2")])
        let bin = try #require(written["path"]?.stringValue), expected = try #require(written["expected"]?.stringValue)
        let out = dir.file("smollm2.safetensors")
        let r = try recast(["convert", bin, out])
        #expect(r.status == 0, "\(r.stderr)")
        let tensors = try pythonTensors([out, expected])
        #expect((tensors[expected]?.count ?? 0) > 200)
        #expect(tensors[out] == tensors[expected])
        let report = try JSON.parse(try recast(["inspect", dir.file("smollm2"), "--json"]).stdout)
        #expect(report["format"]?.stringValue == "pytorch" && report["layout"]?.stringValue == "pytorch-zip")
        #expect(report["architecture"]?["family"]?.stringValue == "llama")
    }
}
