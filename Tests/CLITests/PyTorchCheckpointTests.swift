import Foundation
import Testing
import TestSupport
import RecastCore

/// The files of tools/torch_fixtures.py (written by real `torch.save`, with the safetensors project's conversion
/// of each beside it) and of tools/hostile_pickles.py (payloads proved live by Python's own unpickler), generated
/// once for the suite: importing torch costs seconds.
struct PyTorchFiles: Sendable {
    let folder: TempDir
    /// torch_fixtures.py's folder and its JSON: name → {path, expected, format, tied, tensors, skipped}.
    let fixtures: String
    let checkpoints: [String: JSON]
    /// hostile_pickles.py's folder, the marker its payloads would create, and name → {path, kind, global}.
    let hostile: String
    let marker: String
    let hostileFiles: [String: JSON]

    init() throws {
        folder = TempDir()
        fixtures = folder.file("torch")
        hostile = folder.file("hostile")
        let written = try pythonJSON("torch_fixtures.py", [fixtures])
        checkpoints = Dictionary(uniqueKeysWithValues: written["files"]?.objectValue ?? [])
        let bad = try pythonJSON("hostile_pickles.py", [hostile])
        marker = bad["marker"]?.stringValue ?? hostile + "/marker"
        hostileFiles = Dictionary(uniqueKeysWithValues: bad["files"]?.objectValue ?? [])
    }

    static let shared = Result<PyTorchFiles, any Error>(catching: { try PyTorchFiles() })

    func path(_ name: String) -> String { fixtures + "/" + (checkpoints[name]?["path"]?.stringValue ?? name) }
    func expected(_ name: String) -> String { fixtures + "/" + (checkpoints[name]?["expected"]?.stringValue ?? name) }
}

/// `recast inspect`, `convert` (to safetensors, HDF5, GGUF) and `run` on checkpoints written by `torch.save`,
/// against the safetensors project's own conversion (`save_file` of `torch.load(weights_only=True)`).
@Suite struct PyTorchCheckpointTests {
    let dir = TempDir()

    var files: PyTorchFiles { get throws { try PyTorchFiles.shared.get() } }

    /// `inspect --json`: format `pytorch`, the layout of the file (zip, legacy, sharded), and every tensor with
    /// the name, dtype and shape of the safetensors the Python route writes; nested dicts' scalars go to the
    /// metadata. The output passes schemas/inspect.schema.json.
    @Test func inspectListsWhatTorchLoadReads() throws {
        let f = try files
        let names = f.checkpoints.keys.sorted()
        let expected = try pythonTensors(names.map(f.expected))
        var reports: [JSON] = []
        for name in names {
            let r = try recast(["inspect", f.path(name), "--json"])
            #expect(r.status == 0, "\(name): \(r.stderr)")
            let report = try JSON.parse(r.stdout)
            reports.append(report)
            #expect(report["format"]?.stringValue == "pytorch", "\(name)")
            #expect(report["layout"]?.stringValue == f.checkpoints[name]?["format"]?.stringValue, "\(name)")
            let listed = Dictionary(uniqueKeysWithValues: (report["tensors"]?.arrayValue ?? []).map {
                ($0["name"]?.stringValue ?? "", [$0["dtype"]?.stringValue ?? "",
                                                 "[" + ($0["shape"]?.arrayValue ?? []).map { "\($0.intValue ?? -1)" }.joined(separator: ", ") + "]"])
            })
            let want = (expected[f.expected(name)] ?? [:]).mapValues { Array($0.prefix(2)) }
            #expect(!want.isEmpty)
            #expect(listed == want, "\(name)")
        }
        let nested = try JSON.parse(try recast(["inspect", f.path("nested"), "--json"]).stdout)
        #expect(nested["metadata"]?["epoch"]?.stringValue == "3")
        #expect(nested["metadata"]?["optimizer_name"]?.stringValue == "adam")
        let errors = try schemaErrors(reports, schema: repoRoot + "/schemas/inspect.schema.json")
        #expect(errors.allSatisfy { $0.isEmpty }, "\(errors)")
    }

    /// `convert X Y.safetensors` on every file (zip and legacy; every dtype, tied, strided, nested,
    /// OrderedDict, sharded, a transformers GPT-2): tensor by tensor, dtype, shape and bytes equal those of
    /// `save_file({k: v.contiguous()})` after `torch.load(weights_only=True)`. The output names the tensors
    /// that shared a storage (written as separate copies).
    @Test func convertToSafetensorsIsBitIdenticalToThePythonRoute() throws {
        let f = try files
        let names = f.checkpoints.keys.sorted()
        var pairs: [(name: String, out: String)] = []
        for name in names {
            let out = dir.file("\(name).safetensors")
            let r = try recast(["convert", f.path(name), out])
            #expect(r.status == 0, "\(name): \(r.stderr)")
            for group in f.checkpoints[name]?["tied"]?.arrayValue ?? [] {
                let tied = (group.arrayValue ?? []).compactMap(\.stringValue)
                #expect(r.stdout.contains("tied") && tied.allSatisfy { r.stdout.contains($0) }, "\(name): \(r.stdout)")
            }
            pairs.append((name, out))
        }
        let tensors = try pythonTensors(pairs.map(\.out) + names.map(f.expected))
        for (name, out) in pairs {
            let want = tensors[f.expected(name)] ?? [:]
            #expect(!want.isEmpty && tensors[out] == want, "\(name)")
        }
    }

    /// `convert X Y.h5` (values read back by h5py) and `convert FOLDER Y.gguf` (read by gguf-py): the tensors of
    /// the .bin are those of the Python route, and the GGUF of the transformers-saved .bin folder holds the
    /// same tensors as the GGUF of the original safetensors folder.
    @Test func convertToHDF5AndGGUF() throws {
        let f = try files
        var outputs: [String: String] = [:]
        for name in ["ordered", "strided-legacy", "nested"] {
            let out = dir.file("\(name).h5")
            let r = try recast(["convert", f.path(name), out])
            #expect(r.status == 0, "\(name): \(r.stderr)")
            outputs[name] = out
        }
        let tensors = try pythonTensors(Array(outputs.values) + outputs.keys.map(f.expected))
        for (name, out) in outputs {
            // HDF5 nests names in groups: compare each tensor's (dtype, shape, bytes), whatever its path.
            let got = (tensors[out] ?? [:]).values.map { $0.joined(separator: " ") }.sorted()
            let want = (tensors[f.expected(name)] ?? [:]).values.map { $0.joined(separator: " ") }.sorted()
            #expect(!want.isEmpty && got == want, "\(name)")
        }
        let fromBin = dir.file("bin.gguf"), fromSafetensors = dir.file("st.gguf")
        let a = try recast(["convert", f.fixtures + "/hf-gpt2", fromBin])
        let b = try recast(["convert", fixture("gpt2"), fromSafetensors])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        // Offsets differ (the .bin's tied lm_head is written as `output.weight`, a copy of `token_embd.weight`,
        // where the safetensors folder has no lm_head); every tensor's other fields and bytes agree.
        func ggufTensors(_ path: String) throws -> [String: [String: JSON]] {
            var out: [String: [String: JSON]] = [:]
            for t in try pythonJSON("gguf_fixtures.py", ["dump", path])["tensors"]?.arrayValue ?? [] {
                var fields: [String: JSON] = [:]
                for (key, value) in t.objectValue ?? [] where !key.hasSuffix("offset") && key != "name" { fields[key] = value }
                out[t["name"]?.stringValue ?? ""] = fields
            }
            return out
        }
        var dumpA = try ggufTensors(fromBin)
        let dumpB = try ggufTensors(fromSafetensors)
        if let output = dumpA.removeValue(forKey: "output.weight") { #expect(output == dumpA["token_embd.weight"]) }
        #expect(!dumpA.isEmpty && dumpA == dumpB)
    }

    /// `run` on the folder transformers saved as pytorch_model.bin gives the logits of the same model's
    /// safetensors folder, bit for bit; a folder with both prefers model.safetensors, as transformers does.
    @Test func runOnAPytorchFolderEqualsTheSafetensorsFolder() throws {
        let f = try files
        let fromBin = dir.file("bin-run.safetensors"), fromSafetensors = dir.file("st-run.safetensors")
        let a = try recast(["run", f.fixtures + "/hf-gpt2", "--tokens", "5,17,42,3,63,0", "--out", fromBin])
        let b = try recast(["run", fixture("gpt2"), "--tokens", "5,17,42,3,63,0", "--out", fromSafetensors])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        let tensors = try pythonTensors([fromBin, fromSafetensors])
        #expect(tensors[fromBin]?["logits"] != nil && tensors[fromBin] == tensors[fromSafetensors])

        let both = dir.file("both")
        try FileSystem.makeDirectory(both)
        for entry in ["config.json", "pytorch_model.bin"] { try InputFile.copy(f.fixtures + "/hf-gpt2/" + entry, to: both + "/" + entry) }
        try InputFile.copy(fixture("gpt2") + "/model.safetensors", to: both + "/model.safetensors")
        let report = try JSON.parse(try recast(["inspect", both, "--json"]).stdout)
        let listed = (report["files"]?.arrayValue ?? []).compactMap(\.stringValue)
        #expect(report["format"]?.stringValue == "safetensors" && listed.contains { $0.hasSuffix("model.safetensors") }
                && !listed.contains { $0.hasSuffix(".bin") }, "\(report)")
    }

    /// `swap`, `verify` and `calibrate` read a PyTorch folder as they read the same model in safetensors: the
    /// swapped weights are the same tensors, byte for byte, verify compares the .bin original with its swap,
    /// and calibrating either swap trains the same feature maps.
    @Test func swapAndVerifyOnAPytorchFolder() throws {
        let f = try files
        let fromBin = dir.file("bin-swap"), fromSafetensors = dir.file("st-swap")
        let a = try recast(["swap", f.fixtures + "/hf-gpt2", fromBin, "--feature-map", "hedgehog", "--seed", "0"])
        let b = try recast(["swap", fixture("gpt2"), fromSafetensors, "--feature-map", "hedgehog", "--seed", "0"])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        // The .bin folder is transformers' GPT2LMHeadModel (`transformer.` prefix, the tied `lm_head.weight`); the
        // fixture is the bare GPT2Model (with its `attn.bias` buffers): the same tensors under the prefix.
        let weights = [fromBin + "/model.safetensors", fromSafetensors + "/model.safetensors"]
        let tensors = try pythonTensors(weights)
        let bin = tensors[weights[0]] ?? [:], safetensors = tensors[weights[1]] ?? [:]
        var compared = 0, featureMaps = 0
        for (name, value) in bin where name.hasPrefix("transformer.") {
            let bare = String(name.dropFirst("transformer.".count))
            #expect(safetensors[bare] == value, "\(name)")
            compared += 1
            if name.contains("feature_map") { featureMaps += 1 }
        }
        #expect(compared > 20 && featureMaps == 8, "\(compared) tensors, \(featureMaps) feature-map tensors")
        let v = try recast(["verify", f.fixtures + "/hf-gpt2", fromBin, "--length", "16", "--json"])
        #expect(v.status == 0, "\(v.stderr)")
        let report = try JSON.parse(v.stdout)
        #expect((report["layers"]?.arrayValue ?? []).count == 2, "\(v.stdout.prefix(300))")
        // calibrate on both swaps, with the same data and seed: the same trained feature maps, bit for bit.
        var sequences: [String] = []
        for s in 0..<6 {
            let ids: [String] = (0..<20).map { (t: Int) -> String in String((s * 7 + t * 3) % 60) }
            sequences.append("[" + ids.joined(separator: ",") + "]")
        }
        let data = dir.write("calibration.json", "[" + sequences.joined(separator: ",") + "]")
        let calibrated = [dir.file("bin-calibrated"), dir.file("st-calibrated")]
        for (source, out) in zip([fromBin, fromSafetensors], calibrated) {
            let c = try recast(["calibrate", source, out, "--tokens-file", data, "--max-length", "20", "--steps", "4", "--seed", "1"])
            #expect(c.status == 0, "\(c.stderr)")
        }
        let trained = try pythonTensors(calibrated.map { $0 + "/model.safetensors" })
        let binMaps = (trained[calibrated[0] + "/model.safetensors"] ?? [:]).filter { $0.key.contains("feature_map") }
        let stMaps = trained[calibrated[1] + "/model.safetensors"] ?? [:]
        #expect(binMaps.count == 8)
        for (name, value) in binMaps {
            let bare = String(name.dropFirst("transformer.".count))
            #expect(stMaps[bare] == value, "\(name)")
        }
        #expect(binMaps.contains { bin[$0.key] != $0.value }, "calibration changed no feature map")
    }

    /// Every hostile file of tools/hostile_pickles.py, through `inspect` and `convert`: a non-zero exit (never a
    /// signal or a hang), a message naming the file and, for a payload inside a zip or legacy checkpoint, its
    /// global in backticks and "Recast never runs code from a checkpoint"; nothing written at the output; the
    /// payload's marker never created.
    /// The valid checkpoints written the same way convert.
    @Test func hostileFilesAreRefusedWithoutRunningAnything() throws {
        let f = try files
        #expect(f.hostileFiles.count > 100)
        for (name, info) in f.hostileFiles.sorted(by: { $0.key < $1.key }) {
            let path = f.hostile + "/" + (info["path"]?.stringValue ?? "")
            let out = dir.file("hostile-\(name).safetensors")
            for arguments in [["inspect", path], ["convert", path, out]] {
                let r = try runProcess(recastBinary, arguments, timeout: 60)
                #expect(!r.signalled && !r.timedOut, "\(name) \(arguments[0]): crashed or hung")
                if info["kind"]?.stringValue == "valid" {
                    #expect(r.status == 0, "\(name) \(arguments[0]): \(r.stderr)")
                    continue
                }
                #expect(r.status != 0, "\(name) \(arguments[0]) was accepted: \(r.stdout)")
                #expect(r.stderr.contains(FileSystem.split(path).base), "\(name): \(r.stderr)")
                // Bare pickles run through the same machine as checkpoints: either way the global is named.
                if let global = info["global"]?.stringValue {
                    #expect(r.stderr.contains("`\(global)`") && r.stderr.contains("Recast never runs code from a checkpoint"),
                            "\(name): \(r.stderr)")
                }
                #expect(!FileSystem.exists(f.marker), "\(name): the payload ran")
            }
            if info["kind"]?.stringValue != "valid" { #expect(!FileSystem.exists(out), "\(name): \(out) was written") }
        }
        // Nothing but the valid files' outputs in the output folder (no temporary left behind).
        let left = dir.entries().filter { $0.hasPrefix("hostile-") && !$0.hasPrefix("hostile-valid") }
        #expect(left.isEmpty, "\(left)")
    }

    /// A model folder whose pytorch_model.bin carries a payload: `run` refuses it and runs nothing.
    @Test func runRefusesAHostileModelFolder() throws {
        let f = try files
        let folder = dir.file("evil-model")
        try FileSystem.makeDirectory(folder)
        try InputFile.copy(fixture("gpt2") + "/config.json", to: folder + "/config.json")
        try InputFile.copy(f.hostile + "/os-system-global.pt", to: folder + "/pytorch_model.bin")
        let out = dir.file("evil-run.safetensors")
        let r = try runProcess(recastBinary, ["run", folder, "--tokens", "1,2", "--out", out], timeout: 60)
        #expect(r.status != 0 && !r.signalled, "\(r.stdout)")
        #expect(r.stderr.contains("`os.system`") && r.stderr.contains("Recast never runs code from a checkpoint"), "\(r.stderr)")
        #expect(!FileSystem.exists(f.marker) && !FileSystem.exists(out))
    }
}
