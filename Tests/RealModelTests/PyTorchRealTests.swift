import Foundation
import Testing
import TestSupport
import RecastCore

/// The real all-MiniLM-L6-v2 and SmolLM2-135M-Instruct (tools/models.py's Hugging Face folder, built from its
/// GGUF: f32 weights, a 538 MB state_dict), loaded by transformers and saved by `torch.save` as
/// pytorch_model.bin (tools/torch_fixtures.py --model): `recast convert` to safetensors equals, tensor by
/// tensor, the safetensors project's route (`save_file` of `torch.load(weights_only=True)`, made
/// contiguous); `inspect` reads the folder as a PyTorch checkpoint of the model's family.
@Suite(.serialized) struct PyTorchRealTests {
    @Test(arguments: [("minilm", "bert", 100), ("smollm2", "llama", 200)])
    func convertIsBitIdenticalToThePythonRoute(model name: String, family: String, moreTensorsThan least: Int) throws {
        let dir = TempDir()
        let model = try RealModelTests.model(name)
        let written = try pythonJSON("torch_fixtures.py", ["--model", model, dir.file(name)])
        let bin = try #require(written["path"]?.stringValue), expected = try #require(written["expected"]?.stringValue)
        let out = dir.file("\(name).safetensors")
        let r = try recast(["convert", bin, out])
        #expect(r.status == 0, "\(r.stderr)")
        let tensors = try pythonTensors([out, expected])
        #expect((tensors[expected]?.count ?? 0) > least)
        #expect(tensors[out] == tensors[expected])
        let report = try JSON.parse(try recast(["inspect", dir.file(name), "--json"]).stdout)
        #expect(report["format"]?.stringValue == "pytorch" && report["layout"]?.stringValue == "pytorch-zip")
        #expect(report["architecture"]?["family"]?.stringValue == family)
    }
}
