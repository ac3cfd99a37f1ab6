import Foundation
import Testing
import TestSupport
import RecastCore

/// `recast calibrate` and `recast swap --calibrate-on` on the tiny fixtures (random weights, random token ids):
/// what calibration improves (checked by `recast verify`, an independent path), what it keeps (every other tensor,
/// read back with Python's safetensors), what it writes (schema, a model that runs, the same bytes twice), and what
/// it refuses.
@Suite struct CalibrateTests {
    let dir = TempDir()

    /// `count` windows of `length` synthetic ids as JSON lines.
    func tokensFile(_ name: String, count: Int, length: Int, seed: UInt64, vocab: Int = 64) -> String {
        var random = SplitMix64(seed: seed)
        var lines: [String] = []
        for _ in 0..<count {
            let ids: [String] = (0..<length).map { _ in String(random.next() % UInt64(vocab)) }
            lines.append("[" + ids.joined(separator: ",") + "]")
        }
        return dir.write(name, lines.joined(separator: "\n") + "\n")
    }

    func swap(_ family: String, _ map: String, _ extra: [String] = []) throws -> String {
        let out = dir.file("\(family)-\(map)\(extra.joined())")
        let r = try recast(["swap", fixture(family), out, "--feature-map", map] + extra)
        #expect(r.status == 0, "\(r.stderr)")
        return out
    }

    /// Per swapped layer, verify's relative attention error (the converted layer fed the original layer's input).
    func layerErrors(original: String, converted: String, data: String) throws -> [Int: Double] {
        let r = try recast(["verify", original, converted, "--tokens-file", data, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSON.parse(r.stdout)
        var out: [Int: Double] = [:]
        for l in report["layers"]?.arrayValue ?? [] where l["linear"]?.boolValue == true {
            if let i = l["layer"]?.intValue, let e = l["attention_relative_error"]?.doubleValue { out[i] = e }
        }
        return out
    }

    static let cases: [(family: String, map: String, extra: [String])] = [
        ("llama", "hedgehog", []), ("gpt2", "t2r", []), ("bert", "hedgehog", []), ("llama", "hedgehog", ["--window", "8"]),
        ("gpt2", "performer", ["--window", "8"]), ("llama", "hedgehog", ["--window", "8", "--sinks", "4"]),
        ("bert", "t2r", ["--window", "4", "--sinks", "2"]),
    ]

    /// Calibration lowers every swapped layer's validation error (its own record), and the error verify measures on
    /// different held-out windows; the output validates against the schema, runs, and keeps every other tensor.
    @Test(arguments: cases)
    func lowersEveryLayersError(_ c: (family: String, map: String, extra: [String])) throws {
        let swapped = try swap(c.family, c.map, c.extra)
        let train = tokensFile("train.jsonl", count: 24, length: 32, seed: 1000)
        let heldOut = tokensFile("held-out.jsonl", count: 6, length: 32, seed: 5000)
        let out = dir.file("calibrated")
        let r = try recast(["calibrate", swapped, out, "--tokens-file", train, "--max-length", "32", "--steps", "40", "--batch", "4",
                            "--lr", "0.05", "--json"])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty, "nothing on a pipe: \(r.stderr)")
        let report = try JSON.parse(r.stdout)
        let config = try JSON.parse(try FileSystem.readAll(out + "/config.json"))
        let block = try #require(config["linear_attention"])
        let record = try #require(block["calibration"])
        let swappedLayers = (block["layers"]?.arrayValue ?? []).compactMap(\.intValue)
        let recorded = record["layers"]?.arrayValue ?? []
        #expect(recorded.compactMap { $0["layer"]?.intValue } == swappedLayers)
        for l in recorded {
            let before = try #require(l["error_before"]?.doubleValue), after = try #require(l["error_after"]?.doubleValue)
            #expect(after < before, "\(c) layer \(l["layer"]?.intValue ?? -1): \(before) → \(after)")
        }
        #expect(record["data"]?["tokens"]?.intValue == 24 * 32 && record["data"]?["windows"]?.intValue == 24)
        #expect(record["data"]?["sha256"]?.stringValue == sha256(of: train))
        #expect(record["steps"]?.intValue == 40 && record["batch"]?.intValue == 4 && record["validation"]?.doubleValue == 0.1)
        #expect(report["calibration"] == record)
        // The sinks stay in the block the calibrated model carries, and the report names them.
        let sinks = c.extra.firstIndex(of: "--sinks").map { Int(c.extra[$0 + 1])! } ?? 0
        #expect(block["sinks"]?.intValue == (sinks > 0 ? sinks : nil) && report["sinks"]?.intValue == sinks, "\(c)")
        // The memory bound worked out before starting is an upper bound of the process's peak resident set
        // (getrusage); AddressSanitizer's shadow memory is outside any bound.
        if !recastBinary.contains(".build-asan") {
            let peak = try #require(report["peak_memory_bytes"]?.intValue), bound = try #require(report["memory_bound_bytes"]?.intValue)
            #expect(peak > 0 && peak <= bound, "\(c): peak \(peak) bytes above the bound \(bound)")
        }

        // Measured independently on windows calibration never saw.
        let before = try layerErrors(original: fixture(c.family), converted: swapped, data: heldOut)
        let after = try layerErrors(original: fixture(c.family), converted: out, data: heldOut)
        #expect(Set(before.keys) == Set(swappedLayers) && Set(after.keys) == Set(swappedLayers))
        for l in swappedLayers {
            #expect(after[l]! < before[l]!, "\(c) layer \(l): verify's error \(before[l]!) → \(after[l]!)")
        }

        #expect(try schemaErrors([block], schema: repoRoot + "/schemas/linear-attention.schema.json") == [[]])
        #expect(try schemaErrors([report], schema: repoRoot + "/schemas/calibrate.schema.json") == [[]])
        let run = try recast(["run", out, "--tokens", "1,2,3,4,5", "--out", dir.file("run.safetensors")])
        #expect(run.status == 0, "\(run.stderr)")

        // Every tensor but the trained ones is the swap's, bit for bit; the trained ones changed.
        let compare = try python(["-c", """
            import json, sys, glob, struct
            def tensors(d):
                # Raw safetensors: an 8-byte header length, the JSON header, then the data (any dtype, bf16 included).
                out = {}
                for f in sorted(glob.glob(d + "/*.safetensors")):
                    data = open(f, "rb").read()
                    n = struct.unpack("<Q", data[:8])[0]
                    for name, t in json.loads(data[8:8 + n]).items():
                        if name != "__metadata__":
                            a, b = t["data_offsets"]
                            out[name] = (t["dtype"], t["shape"], data[8 + n + a:8 + n + b])
                return out
            a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
            trained = lambda n: ".feature_map" in n or n.endswith(".window_factors")
            print(json.dumps({"names": sorted(a) == sorted(b),
                              "kept": [n for n in a if not trained(n) and a[n] != b[n]],
                              "changed": sorted(n for n in a if trained(n) and a[n][2] != b[n][2]),
                              "same_dtypes": all(a[n][:2] == b[n][:2] for n in a),
                              "trained": sorted(n for n in a if trained(n) and "projection" not in n)}))
            """, swapped, out])
        let diff = try JSON.parse(compare.stdout)
        #expect(compare.status == 0 && diff["names"]?.boolValue == true && diff["same_dtypes"]?.boolValue == true, "\(compare.stderr)")
        #expect(diff["kept"]?.arrayValue == [], "originals changed: \(diff["kept"]?.serialized() ?? "")")
        #expect(diff["changed"] == diff["trained"], "trained tensors unchanged: \(diff.serialized())")
    }

    /// The same data, options and seed give the same bytes; another seed gives another split.
    @Test func secondRunIsByteIdentical() throws {
        let swapped = try swap("llama", "hedgehog", ["--window", "4"])
        let data = tokensFile("data.jsonl", count: 12, length: 24, seed: 7)
        func calibrate(_ name: String, seed: String) throws -> [String: [UInt8]] {
            let out = dir.file(name)
            let r = try recast(["calibrate", swapped, out, "--tokens-file", data, "--max-length", "24", "--steps", "12", "--batch", "2",
                                "--seed", seed, "--plot", dir.file(name + ".svg")])
            try #require(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("error before") && r.stdout.contains("wrote"), "\(r.stdout)")
            var files: [String: [UInt8]] = [:]
            for f in try FileManager.default.contentsOfDirectory(atPath: out) { files[f] = try FileSystem.readAll(out + "/" + f) }
            return files
        }
        let first = try calibrate("one", seed: "3"), second = try calibrate("two", seed: "3"), other = try calibrate("three", seed: "4")
        #expect(first.keys.sorted() == second.keys.sorted() && !first.isEmpty)
        for (name, bytes) in first { #expect(second[name] == bytes, "\(name) differs between two identical runs") }
        #expect(other["config.json"] != first["config.json"])
        let svg = String(decoding: try FileSystem.readAll(dir.file("one.svg")), as: UTF8.self)
        #expect(svg.hasPrefix("<svg") && svg.contains("layer 0") && svg.contains("layer 1") && svg.contains("polyline"))
    }

    /// `swap --calibrate-on` is swap then calibrate, in one step, to the same bytes.
    @Test func swapCalibratesInOneStep() throws {
        let data = tokensFile("data.json", count: 10, length: 20, seed: 9)
        let oneStep = dir.file("one-step")
        let r = try recast(["swap", fixture("gpt2"), oneStep, "--feature-map", "t2r", "--seed", "2", "--calibrate-on", data,
                            "--max-length", "20", "--steps", "8"])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("swapped layers") && r.stdout.contains("error before"), "\(r.stdout)")
        let swapped = try swap("gpt2", "t2r", ["--seed", "2"])
        let twoSteps = dir.file("two-steps")
        let c = try recast(["calibrate", swapped, twoSteps, "--tokens-file", data, "--max-length", "20", "--steps", "8", "--seed", "2"])
        try #require(c.status == 0, "\(c.stderr)")
        for f in try FileManager.default.contentsOfDirectory(atPath: twoSteps) {
            #expect(try FileSystem.readAll(oneStep + "/" + f) == FileSystem.readAll(twoSteps + "/" + f), "\(f)")
        }
        // Nothing but DST is left beside it.
        #expect(dir.entries().filter { $0.contains("one-step") } == ["one-step"], "\(dir.entries())")
        // The report and the plot name the source, not the temporary swapped folder (gone, and named by the process):
        // two runs draw the same plot.
        var plots: [[UInt8]] = []
        for name in ["again-1", "again-2"] {
            let again = try recast(["swap", fixture("gpt2"), dir.file(name), "--feature-map", "t2r", "--seed", "2", "--calibrate-on", data,
                                    "--max-length", "20", "--steps", "8", "--plot", dir.file(name + ".svg"), "--json"])
            try #require(again.status == 0, "\(again.stderr)")
            #expect(try JSON.parse(again.stdout)["converted"]?.stringValue == fixture("gpt2"), "\(again.stdout)")
            plots.append(try FileSystem.readAll(dir.file(name + ".svg")))
        }
        #expect(plots[0] == plots[1] && !plots[0].isEmpty)
        #expect(!String(decoding: plots[0], as: UTF8.self).contains("uncalibrated"))
    }

    /// Calibrating a calibrated model again (here one layer of two) keeps the earlier record under `earlier`; a batch of
    /// more than the training windows is all of them, and the record says so.
    @Test func recalibrationKeepsTheHistory() throws {
        let swapped = try swap("llama", "hedgehog")
        let data = tokensFile("data.jsonl", count: 10, length: 16, seed: 11)
        let first = dir.file("first"), second = dir.file("second")
        let a = try recast(["calibrate", swapped, first, "--tokens-file", data, "--max-length", "16", "--steps", "3"])
        try #require(a.status == 0, "\(a.stderr)")
        let b = try recast(["calibrate", first, second, "--tokens-file", data, "--max-length", "16", "--steps", "3", "--layers", "1",
                            "--batch", "1000", "--lr", "0.02"])
        try #require(b.status == 0, "\(b.stderr)")
        let block = try #require(try JSON.parse(try FileSystem.readAll(second + "/config.json"))["linear_attention"])
        let record = try #require(block["calibration"])
        #expect(record["layers"]?.arrayValue?.compactMap { $0["layer"]?.intValue } == [1])
        #expect(record["batch"]?.intValue == 9, "10 windows, one held out: \(record)")
        let earlier = try #require(record["earlier"]?.arrayValue)
        let previous = try #require(try JSON.parse(try FileSystem.readAll(first + "/config.json"))["linear_attention"]?["calibration"])
        #expect(earlier == [previous], "\(earlier)")
        #expect(try schemaErrors([block], schema: repoRoot + "/schemas/linear-attention.schema.json") == [[]])
        // A third calibration adds to the one list, oldest first, and the result still reads and runs.
        let third = dir.file("third")
        let c = try recast(["calibrate", second, third, "--tokens-file", data, "--max-length", "16", "--steps", "2", "--layers", "0"])
        try #require(c.status == 0, "\(c.stderr)")
        let last = try #require(try JSON.parse(try FileSystem.readAll(third + "/config.json"))["linear_attention"]?["calibration"])
        let secondWithout = JSON.object((record.objectValue ?? []).filter { $0.0 != "earlier" })
        #expect(last["earlier"]?.arrayValue == [previous, secondWithout])
        let run = try recast(["run", third, "--tokens", "1,2,3", "--out", dir.file("run.safetensors")])
        #expect(run.status == 0, "\(run.stderr)")
    }

    // MARK: refusals

    /// A clean refusal: exit 1, one error line naming `file` and the reason, and nothing written.
    func expectRefusal(_ args: [String], naming file: String, _ fragments: [String], destination: String,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = dir.entries()
        let r = try recast(args)
        #expect(r.status != 0 && !r.signalled, "status \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(file), "\(r.stderr)", sourceLocation: sourceLocation)
        for f in fragments { #expect(r.stderr.contains(f), "missing '\(f)' in: \(r.stderr)", sourceLocation: sourceLocation) }
        #expect(!FileManager.default.fileExists(atPath: destination), sourceLocation: sourceLocation)
        #expect(dir.entries() == before, "left behind: \(Set(dir.entries()).subtracting(before))", sourceLocation: sourceLocation)
    }

    @Test func refusals() throws {
        let data = tokensFile("data.jsonl", count: 8, length: 16, seed: 1)
        let out = dir.file("out")
        let hedgehog = try swap("llama", "hedgehog")
        // Not a swapped model.
        try expectRefusal(["calibrate", fixture("llama"), out, "--tokens-file", data, "--max-length", "16"],
                          naming: "llama/config.json", ["no linear_attention block", "recast swap"], destination: out)
        // Nothing to train: performer or elu without a window (the fixture and a fresh swap).
        try expectRefusal(["calibrate", fixture("qwen2-performer"), out, "--tokens-file", data, "--max-length", "16"],
                          naming: "qwen2-performer/config.json", ["performer has no trained parameters", "--window"], destination: out)
        let elu = try swap("gpt2", "elu")
        try expectRefusal(["calibrate", elu, out, "--tokens-file", data, "--max-length", "16"],
                          naming: "config.json", ["elu has no trained parameters"], destination: out)
        try expectRefusal(["swap", fixture("gpt2"), out, "--feature-map", "performer", "--calibrate-on", data, "--max-length", "16"],
                          naming: "--feature-map performer", ["no trained parameters"], destination: out)
        // Data shorter than one window, and a single window.
        let short = tokensFile("short.jsonl", count: 1, length: 10, seed: 2)
        try expectRefusal(["calibrate", hedgehog, out, "--tokens-file", short, "--max-length", "16"],
                          naming: "short.jsonl", ["holds 10 tokens", "fewer than one window of --max-length 16"], destination: out)
        try expectRefusal(["calibrate", hedgehog, out, "--tokens-file", data, "--max-length", "64", "--tokens", "50"],
                          naming: "data.jsonl", ["holds 50 tokens (--tokens 50)", "fewer than one window"], destination: out)
        let single = tokensFile("single.jsonl", count: 1, length: 16, seed: 3)
        try expectRefusal(["calibrate", hedgehog, out, "--tokens-file", single, "--max-length", "16"],
                          naming: "single.jsonl", ["a single window", "validation"], destination: out)
        // A failing calibration in `swap --calibrate-on` leaves no DST and no temporary.
        try expectRefusal(["swap", fixture("llama"), out, "--feature-map", "hedgehog", "--calibrate-on", short, "--max-length", "16"],
                          naming: "short.jsonl", ["fewer than one window"], destination: out)
        // Layers that are not swapped, bad values.
        let partial = try swap("gpt2", "t2r", ["--layers", "1"])
        try expectRefusal(["calibrate", partial, out, "--tokens-file", data, "--max-length", "16", "--layers", "0"],
                          naming: "config.json", ["--layers names layer 0, which is not swapped"], destination: out)
        for (option, value, message) in [("--validation", "1.5", "strictly between 0 and 1"), ("--validation", "0", "strictly between 0 and 1"),
                                         ("--lr", "0", "positive learning rate"), ("--lr", "nan", "positive learning rate"),
                                         ("--epochs", "-1", "--epochs"), ("--steps", "0", "--steps"), ("--batch", "0", "--batch")] {
            try expectRefusal(["calibrate", hedgehog, out, "--tokens-file", data, "--max-length", "16", option, value],
                              naming: option, [message], destination: out)
        }
        try expectRefusal(["calibrate", hedgehog, out, "--tokens-file", data, "--lines", data], naming: "one data file", [], destination: out)
        // Sizes that cannot be are usage errors (64, with the usage), before any model is read.
        for (option, value) in [("--max-length", "0"), ("--max-length", "-3"), ("--tokens", "0"), ("--tokens", "-3")] {
            let r = try recast(["calibrate", hedgehog, out, "--tokens-file", data, option, value])
            #expect(r.status == 64 && r.stderr.contains(option) && r.stderr.contains("positive") && r.stderr.contains("Usage"),
                    "\(option) \(value): \(r.status) \(r.stderr)")
        }
        try expectRefusal(["calibrate", hedgehog, out, "--tokens-file", data, "--max-length", "100"],
                          naming: "config.json", ["--max-length 100 is more than the model's 64 positions"], destination: out)
        try expectRefusal(["swap", fixture("gpt2"), out, "--feature-map", "t2r", "--steps", "5"], naming: "--calibrate-on", [], destination: out)
        // Values that would overflow or enumerate a range far beyond the model.
        try expectRefusal(["calibrate", hedgehog, out, "--tokens-file", data, "--max-length", "16", "--epochs", "1e300"],
                          naming: "--epochs", ["steps per layer"], destination: out)
        try expectRefusal(["calibrate", hedgehog, out, "--tokens-file", data, "--max-length", "16", "--steps", "1000000000000000000"],
                          naming: "--steps", ["at most"], destination: out)
        try expectRefusal(["calibrate", hedgehog, out, "--tokens-file", data, "--max-length", "16", "--layers", "0-2000000000"],
                          naming: "--layers 0-2000000000", ["out of range"], destination: out)
        // DST may not replace the data it trains on, nor hold the plot (written after DST is published).
        let holder = dir.file("holder")
        try FileManager.default.createDirectory(atPath: holder, withIntermediateDirectories: false)
        let inside = holder + "/data.jsonl"
        try FileManager.default.copyItem(atPath: data, toPath: inside)
        let replaced = try recast(["calibrate", hedgehog, holder, "--tokens-file", inside, "--max-length", "16", "--force"])
        #expect(replaced.status == 1 && replaced.stderr.contains("reads"), "\(replaced.stderr)")
        #expect(FileManager.default.fileExists(atPath: inside))
        let plotted = try recast(["calibrate", hedgehog, holder, "--tokens-file", data, "--max-length", "16", "--force",
                                  "--plot", holder + "/loss.svg"])
        #expect(plotted.status == 1 && plotted.stderr.contains("lies inside"), "\(plotted.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: holder) == ["data.jsonl"])
        // DST exists without --force: left as it was.
        let existing = dir.file("existing")
        try FileManager.default.createDirectory(atPath: existing, withIntermediateDirectories: false)
        let r = try recast(["calibrate", hedgehog, existing, "--tokens-file", data, "--max-length", "16"])
        #expect(r.status == 1 && r.stderr.contains("existing") && r.stderr.contains("already exists; pass --force"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: existing).isEmpty)
    }

    /// Data whose hidden states would not fit is refused before the model is loaded, with both figures.
    @Test func refusesDataThatDoesNotFit() throws {
        // AddressSanitizer reserves terabytes of address space, so `ulimit -v` cannot apply to its builds.
        guard !recastBinary.contains(".build-asan") else { return }
        let hedgehog = try swap("llama", "hedgehog")
        // 1,500,000 tokens need about 1 KB each here: far more than the 700 MB limit leaves.
        let ids = (0..<1_500_000).map { String($0 % 64) }.joined(separator: ",")
        let data = dir.write("big.json", "[[" + ids + "]]")
        let out = dir.file("out")
        let quoted = [recastBinary, "calibrate", hedgehog, out, "--tokens-file", data, "--max-length", "64"].map { "'\($0)'" }.joined(separator: " ")
        let r = try runProcess("/bin/sh", ["-c", "ulimit -v 700000 && exec " + quoted], timeout: 120)
        #expect(r.status == 1 && !r.signalled, "\(r.status): \(r.stderr)")
        #expect(r.stderr.contains("big.json") && r.stderr.contains("calibrating on 1500000 tokens") && r.stderr.contains("is available")
                && r.stderr.contains("--tokens"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    func sha256(of path: String) -> String {
        (try? FileSystem.readAll(path)).map { b in b.withUnsafeBytes { sha256Hex($0) } } ?? ""
    }
}
