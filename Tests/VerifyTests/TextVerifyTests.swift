import Foundation
import Testing
import TestSupport
import RecastCore
import Runtime
import SafeTensors
@testable import Verify

/// The NumPy side of the cross-checks: both models run by the float64 reference (tools/reference.py),
/// and the figures computed here from their published definitions, not from the Swift code.
///
/// stdin: {"original": dir, "converted": dir, "sequences": [[ids]], "scored_from": [p] | null,
///         "document": {"tokens": [ids], "max_length": n, "stride": n} | null, "pooling": "mean"|"cls"|"max"}
/// A document is cut into windows as Hugging Face's strided perplexity recipe does (each window's labels
/// before its last `end - prev_end` tokens masked), and the windows and their first scored prediction
/// are returned for the Swift side to run.
let numpyFigures = """
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1] + "/tools")
    import reference
    spec = json.load(sys.stdin)
    models = {k: reference.Model(spec[k], weights=reference.load_weights(spec[k])) for k in ("original", "converted")}
    seqs, starts = spec["sequences"], spec.get("scored_from")
    doc = spec.get("document")
    if doc:
        toks, L, S = doc["tokens"], doc["max_length"], doc["stride"]
        seqs, starts, prev_end = [], [], 0
        for begin in range(0, len(toks), S):
            end = min(begin + L, len(toks))
            trg_len = end - prev_end
            labels = [-100 if i < (end - begin) - trg_len else t for i, t in enumerate(toks[begin:end])]
            # label i is predicted by position i - 1: the first scored prediction
            first = next((i - 1 for i in range(1, len(labels)) if labels[i] != -100), len(labels) - 1)
            seqs.append(toks[begin:end]); starts.append(first)
            prev_end = end
            if end == len(toks):
                break
    starts = starts or [0] * len(seqs)
    def log_softmax(x):
        m = x.max(-1, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))
    out = {"windows": seqs, "scored_from": starts}
    nll = {"o": 0.0, "c": 0.0}; correct = {"o": 0, "c": 0}; agree = 0; kl = 0.0; n = 0
    emb = {"o": [], "c": []}
    for seq, start in zip(seqs, starts):
        ho, lo = models["original"].run(seq, "parallel")
        hc, lc = models["converted"].run(seq, "parallel")
        if lo is not None:
            p, q = log_softmax(np.asarray(lo, np.float64)), log_softmax(np.asarray(lc, np.float64))
            for pos in range(start, len(seq) - 1):
                t = seq[pos + 1]
                nll["o"] -= p[pos, t]; nll["c"] -= q[pos, t]
                correct["o"] += int(np.argmax(p[pos]) == t); correct["c"] += int(np.argmax(q[pos]) == t)
                agree += int(np.argmax(p[pos]) == np.argmax(q[pos]))
                kl += max(float(np.sum(np.exp(p[pos]) * (p[pos] - q[pos]))), 0.0)
                n += 1
        else:
            pool = {"mean": lambda h: h.mean(0), "cls": lambda h: h[0], "max": lambda h: h.max(0)}[spec.get("pooling", "mean")]
            emb["o"].append(pool(np.asarray(ho, np.float64))); emb["c"].append(pool(np.asarray(hc, np.float64)))
    if n:
        out["text"] = {"tokens": n, "perplexity": [float(np.exp(nll["o"] / n)), float(np.exp(nll["c"] / n))],
                       "accuracy": [correct["o"] / n, correct["c"] / n], "agreement": agree / n, "kl": kl / n}
    if emb["o"]:
        a = np.array(emb["o"]); b = np.array(emb["c"])
        a /= np.linalg.norm(a, axis=1, keepdims=True); b /= np.linalg.norm(b, axis=1, keepdims=True)
        cos = (a * b).sum(1)
        def neighbours(u):
            s = u @ u.T
            np.fill_diagonal(s, -np.inf)
            return s.argmax(1)
        out["embeddings"] = {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
                             "neighbour_agreement": float((neighbours(a) == neighbours(b)).mean()) if len(a) > 1 else None}
    print(json.dumps(out))
    """

func numpy(_ spec: JSON) throws -> JSON {
    let r = try runProcess("/usr/bin/env", ["python3", "-c", numpyFigures, repoRoot], stdin: spec.serialized())
    guard r.status == 0 else { throw VerifyError("numpy figures failed (\(r.status)): \(r.stderr)") }
    return try JSON.parse(r.stdout)
}

/// Validates reports against schemas/verify.schema.json with Python's jsonschema (Draft 2020-12);
/// returns each report's error messages (empty when valid).
func verifySchemaErrors(_ reports: [JSON]) throws -> [[String]] {
    try schemaErrors(reports, schema: repoRoot + "/schemas/verify.schema.json")
}

func ids(_ j: JSON?) -> [[Int]] { (j?.arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.intValue) } }

func close(_ a: Double?, _ b: Double?, rel: Double, abs tolerance: Double = 0) -> Bool {
    guard let a, let b else { return false }
    return Swift.abs(a - b) <= max(rel * Swift.abs(b), tolerance)
}

@Suite struct TextVerifyTests {
    /// Three sequences of different lengths, one scored from position 2: perplexity, accuracy,
    /// agreement and KL against the NumPy figures over the same predictions.
    @Test func languageModelFiguresMatchNumPy() throws {
        let sequences = [[5, 17, 3, 60, 22, 9, 41, 8, 33], [2, 2, 50, 13, 7], [63, 1, 0, 28, 44, 19, 6, 37, 12, 55, 30, 11]]
        let scoredFrom = [0, 2, 0]
        for converted in ["gpt2-t2r", "llama-hedgehog"] {
            let original = converted == "gpt2-t2r" ? "gpt2" : "llama"
            let expected = try numpy(.object([
                ("original", .string(fixture(original))), ("converted", .string(fixture(converted))),
                ("sequences", .array(sequences.map { .array($0.map(JSON.int)) })), ("scored_from", .array(scoredFrom.map(JSON.int))),
            ]))
            let r = try Verifier.verify(original: fixture(original), converted: fixture(converted),
                                        input: VerifyInput(kind: .lines, sequences: sequences, scoredFrom: scoredFrom))
            let t = try #require(r.textFigures), e = expected["text"]
            // Position p predicts token p + 1; the last position has no target.
            #expect(t.tokens == 8 + 2 + 11 && e?["tokens"]?.intValue == t.tokens)
            #expect(t.sequences == 3 && r.sequences == 3 && r.tokens == 26 && r.input == .lines)
            let ppl = e?["perplexity"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            #expect(close(t.perplexity.original, ppl.first, rel: 1e-4) && close(t.perplexity.converted, ppl.last, rel: 1e-4),
                    "\(converted): \(t.perplexity) against \(ppl)")
            let acc = e?["accuracy"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            #expect(t.nextTokenAccuracy.original == acc.first && t.nextTokenAccuracy.converted == acc.last, "\(t.nextTokenAccuracy) against \(acc)")
            #expect(t.top1Agreement == e?["agreement"]?.doubleValue)
            #expect(close(t.meanKL, e?["kl"]?.doubleValue, rel: 1e-4, abs: 1e-7), "\(t.meanKL)")
            // The end-to-end figures on text are the same predictions'.
            #expect(r.top1Agreement == t.top1Agreement && r.meanKL == t.meanKL)
            #expect(r.embeddings == nil)
            // Parallel against recurrent runs on the first sequence only.
            #expect(r.parallelRecurrent?.tokens == sequences[0].count)
        }
    }

    /// The attention errors on several sequences are the mean of each sequence's own.
    @Test func layerErrorsAreAveragedOverSequences() throws {
        let sequences = [[5, 17, 3, 60, 22, 9], [2, 2, 50, 13, 7, 40, 41]]
        let both = try Verifier.verify(original: fixture("gpt2"), converted: fixture("gpt2-t2r"), input: VerifyInput(kind: .lines, sequences: sequences))
        let alone = try sequences.map { try Verifier.verify(original: fixture("gpt2"), converted: fixture("gpt2-t2r"), tokens: $0, length: 0, seed: 0) }
        for l in both.layers {
            let mean = (alone[0].layers[l.layer].relativeError + alone[1].layers[l.layer].relativeError) / 2
            #expect(l.linear && Swift.abs(l.relativeError - mean) <= 1e-12 * mean && mean > 0)
        }
    }

    /// A document cut into overlapping windows (Hugging Face's strided recipe, built by the NumPy side):
    /// every token after the first is a target exactly once, and the figures match.
    @Test func stridedWindowsScoreEachTokenOnce() throws {
        let document = (0..<40).map { ($0 * 37 + 11) % 64 }
        let expected = try numpy(.object([
            ("original", .string(fixture("gpt2"))), ("converted", .string(fixture("gpt2-t2r"))), ("sequences", .array([])),
            ("document", .object([("tokens", .array(document.map(JSON.int))), ("max_length", .int(16)), ("stride", .int(6))])),
        ]))
        let windows = ids(expected["windows"])
        let scoredFrom = (expected["scored_from"]?.arrayValue ?? []).compactMap(\.intValue)
        #expect(windows.count > 3 && windows.count == scoredFrom.count)
        let r = try Verifier.verify(original: fixture("gpt2"), converted: fixture("gpt2-t2r"),
                                    input: VerifyInput(kind: .document, sequences: windows, scoredFrom: scoredFrom, source: "doc.txt"))
        let t = try #require(r.textFigures)
        #expect(t.tokens == document.count - 1 && expected["text"]?["tokens"]?.intValue == document.count - 1)
        let ppl = expected["text"]?["perplexity"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        #expect(close(t.perplexity.converted, ppl.last, rel: 1e-4) && close(t.perplexity.original, ppl.first, rel: 1e-4))
        #expect(r.lines.contains { $0.contains("doc.txt, \(windows.count) windows") })
        // Without overlap, each window's first token has no context: windows × (length − 1) predictions.
        let plain = [Array(document[0..<16]), Array(document[16..<32]), Array(document[32..<40])]
        let p = try Verifier.verify(original: fixture("gpt2"), converted: fixture("gpt2-t2r"),
                                    input: VerifyInput(kind: .document, sequences: plain, scoredFrom: [0, 0, 0]))
        #expect(p.textFigures?.tokens == 15 + 15 + 7)
    }

    /// Encoders: cosine between the sentence embeddings and neighbour agreement against NumPy's.
    @Test func encoderEmbeddingsMatchNumPy() throws {
        let sequences = [[1, 5, 9, 2], [1, 7, 7, 30, 12, 2], [1, 40, 3, 2], [1, 5, 9, 11, 2], [1, 22, 23, 24, 25, 26, 2]]
        for converted in ["bert-elu", "bert-t2r"] {
            let expected = try numpy(.object([
                ("original", .string(fixture("bert"))), ("converted", .string(fixture(converted))),
                ("sequences", .array(sequences.map { .array($0.map(JSON.int)) })),
            ]))
            let r = try Verifier.verify(original: fixture("bert"), converted: fixture(converted), input: VerifyInput(kind: .lines, sequences: sequences))
            let e = try #require(r.embeddings)
            #expect(r.textFigures == nil && r.top1Agreement == nil && r.parallelRecurrent == nil)
            #expect(e.sequences == 5 && e.pooling == Pooling(mode: .mean, normalize: false) && e.poolingSource == "default")
            #expect(close(e.cosineMean, expected["embeddings"]?["cosine_mean"]?.doubleValue, rel: 0, abs: 1e-5), "\(converted): \(e.cosineMean)")
            #expect(close(e.cosineMin, expected["embeddings"]?["cosine_min"]?.doubleValue, rel: 0, abs: 1e-5), "\(converted): \(e.cosineMin)")
            #expect(e.cosineMin <= e.cosineMean && e.cosineMean < 1)
            #expect(e.neighbourAgreement == expected["embeddings"]?["neighbour_agreement"]?.doubleValue)
        }
        // One sentence: no neighbours to agree on.
        let one = try Verifier.verify(original: fixture("bert"), converted: fixture("bert-elu"), input: VerifyInput(kind: .text, sequences: [[1, 5, 9, 2]]))
        #expect(one.embeddings?.neighbourAgreement == nil && one.embeddings?.sequences == 1)
        #expect(one.lines.contains { $0.contains("n/a (one sequence)") })
        // A pooling the caller gives is used and reported as given.
        let cls = try Verifier.verify(original: fixture("bert"), converted: fixture("bert-elu"), input: VerifyInput(kind: .lines, sequences: sequences),
                                      pooling: Pooling(mode: .cls, normalize: true))
        let expectedCLS = try numpy(.object([
            ("original", .string(fixture("bert"))), ("converted", .string(fixture("bert-elu"))),
            ("sequences", .array(sequences.map { .array($0.map(JSON.int)) })), ("pooling", .string("cls")),
        ]))
        #expect(cls.embeddings?.poolingSource == "given")
        #expect(close(cls.embeddings?.cosineMean, expectedCLS["embeddings"]?["cosine_mean"]?.doubleValue, rel: 0, abs: 1e-5))
    }

    /// A model against itself: equal perplexity and accuracy, agreement 1, KL 0, cosine 1.
    @Test func aModelAgainstItselfOnText() throws {
        let sequences = [[5, 17, 3, 60, 22, 9, 41, 8, 33], [2, 2, 50, 13, 7]]
        for model in ["llama-hedgehog", "gpt2-t2r", "qwen2-performer"] {
            let r = try Verifier.verify(original: fixture(model), converted: fixture(model), input: VerifyInput(kind: .lines, sequences: sequences))
            let t = try #require(r.textFigures)
            #expect(t.perplexity.original == t.perplexity.converted && t.perplexity.original > 1, "\(model)")
            #expect(t.nextTokenAccuracy.original == t.nextTokenAccuracy.converted)
            #expect(t.top1Agreement == 1 && t.meanKL == 0 && r.hiddenRelativeError == 0, "\(model): KL \(t.meanKL)")
        }
        for model in ["bert-elu", "bert-t2r"] {
            let r = try Verifier.verify(original: fixture(model), converted: fixture(model),
                                        input: VerifyInput(kind: .lines, sequences: [[1, 5, 9, 2], [1, 7, 30, 2], [1, 40, 3, 8, 2]]))
            let e = try #require(r.embeddings)
            #expect(Swift.abs(e.cosineMin - 1) < 1e-12 && Swift.abs(e.cosineMean - 1) < 1e-12 && e.neighbourAgreement == 1, "\(model)")
        }
    }

    /// Every kind of report validates against schemas/verify.schema.json, and the text figures use the
    /// names the issue gives.
    @Test func jsonValidatesAgainstTheSchema() throws {
        let lines = VerifyInput(kind: .lines, sequences: [[5, 17, 3, 60, 22], [2, 2, 50]], source: "lines.txt")
        let reports = [
            try Verifier.verify(original: fixture("gpt2"), converted: fixture("gpt2-t2r"), input: lines),
            try Verifier.verify(original: fixture("llama"), converted: fixture("llama-hedgehog"), input: lines),
            try Verifier.verify(original: fixture("bert"), converted: fixture("bert-elu"), input: lines),
            try Verifier.verify(original: fixture("bert"), converted: fixture("bert-elu"), input: VerifyInput(kind: .text, sequences: [[1, 2]])),
            try Verifier.verify(original: fixture("gpt2"), converted: fixture("gpt2-t2r"), tokens: nil, length: 12, seed: 3),
            try Verifier.verify(original: fixture("bert"), converted: fixture("bert-t2r"), tokens: [1, 2, 3], length: 0, seed: 0),
        ].map(\.json)
        let errors = try verifySchemaErrors(reports)
        #expect(errors.count == reports.count && errors.allSatisfy(\.isEmpty), "\(errors)")
        let text = try JSON.parse(reports[0].serialized())["text"]
        #expect(text?.objectValue?.map(\.0) == ["tokens", "sequences", "perplexity", "next_token_accuracy", "top1_agreement", "mean_kl"])
        #expect(text?["perplexity"]?.objectValue?.map(\.0) == ["original", "converted"])
        let embeddings = try JSON.parse(reports[2].serialized())["embeddings"]
        for key in ["sequences", "cosine_mean", "cosine_min", "neighbour_agreement"] { #expect(embeddings?[key] != nil, "\(key)") }
        #expect(reports[4]["text"]?.isNull == true && reports[4]["embeddings"]?.isNull == true)
        // The schema is not vacuous: a report missing a field or with a share above 1 fails.
        var broken = reports[0]
        broken.set("text", .object([("tokens", .int(3))]))
        var above = reports[1]
        above.set("end_to_end", .object([("hidden_relative_error", .int(0)), ("top1_agreement", .int(2)), ("mean_kl", .int(0))]))
        let bad = try verifySchemaErrors([broken, above])
        #expect(bad.allSatisfy { !$0.isEmpty }, "\(bad)")
    }

    /// Inputs that cannot be verified are refused before any model runs, naming the sequence.
    @Test func badInputsAreRefused() throws {
        func message(_ input: VerifyInput, _ original: String = "gpt2", _ converted: String = "gpt2-t2r") -> String {
            do {
                _ = try Verifier.verify(original: fixture(original), converted: fixture(converted), input: input)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(message(VerifyInput(kind: .lines, sequences: [[1, 2], [3, 64, 5]], source: "ids.json"))
            == "ids.json: sequence 2: token 64 at position 1 is outside the vocabulary of 64")
        #expect(message(VerifyInput(kind: .lines, sequences: [[1, 2], []], source: "ids.json")) == "ids.json: sequence 2 is empty")
        #expect(message(VerifyInput(kind: .lines, sequences: [], source: "ids.json")) == "ids.json: no sequences to verify")
        #expect(message(VerifyInput(kind: .lines, sequences: [[7], [9]], source: "one.txt")).hasPrefix("one.txt: no next-token prediction to score"))
        #expect(message(VerifyInput(kind: .lines, sequences: [Array(repeating: 1, count: 2000)], source: "long.json")).contains("positions"))
        // Single tokens are fine for an encoder: each still has an embedding.
        #expect(message(VerifyInput(kind: .lines, sequences: [[7], [9]]), "bert", "bert-elu") == "no error")
    }

    /// The command on a tokens file: the JSON report validates, the text figures are there, and a text
    /// input to a model folder without a tokenizer is refused naming the folder.
    @Test func commandOnATokensFile() throws {
        let dir = TempDir()
        let file = dir.write("ids.jsonl", "[5, 17, 3, 60, 22, 9]\n\n[2, 2, 50, 13]\n")
        let r = try recast(["verify", fixture("gpt2"), fixture("gpt2-t2r"), "--tokens-file", file, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSON.parse(r.stdout)
        #expect(j["input"]?.stringValue == "lines" && j["source"]?.stringValue == file && j["sequences"]?.intValue == 2)
        #expect(j["text"]?["tokens"]?.intValue == 5 + 3 && j["text"]?["sequences"]?.intValue == 2)
        #expect(try verifySchemaErrors([j]) == [[]])
        let human = try recast(["verify", fixture("bert"), fixture("bert-elu"), "--tokens-file", file])
        #expect(human.status == 0 && human.stdout.contains("sentence embeddings (2 sequences; mean pooling") && human.stdout.contains("same nearest neighbour"), "\(human.stdout)")
        // fixtures/gpt2 has no tokenizer: text cannot be tokenized.
        let text = dir.write("lines.txt", "one line\nanother\n")
        let refused = try recast(["verify", fixture("gpt2"), fixture("gpt2-t2r"), "--lines", text])
        #expect(refused.status == 1 && refused.stderr.contains(fixture("gpt2")) && refused.stderr.contains("tokenizer") && refused.stdout.isEmpty,
                "\(refused.stderr)")
        let bad = try recast(["verify", fixture("gpt2"), fixture("gpt2-t2r"), "--tokens-file", dir.write("bad.json", "[[1, 2], [3, 99]]")])
        #expect(bad.status == 1 && bad.stderr.contains("bad.json") && bad.stderr.contains("99"), "\(bad.stderr)")
    }

    /// The real all-MiniLM-L6-v2 and a T2R swap of it, on sentences of real English tokenized by Python's
    /// `tokenizers`: the pooling comes from its sentence-transformers files, and the figures match NumPy's.
    @Test func realMiniLMEmbeddings() throws {
        let folder = try python([repoRoot + "/tools/models.py", "minilm"])
        #expect(folder.status == 0, "\(folder.stderr)")
        let minilm = folder.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let dir = TempDir()
        let swapped = dir.file("minilm-t2r")
        let swap = try recast(["swap", minilm, swapped, "--feature-map", "t2r", "--seed", "0"])
        #expect(swap.status == 0, "\(swap.stderr)")
        let script = """
            import json, sys, tokenizers
            t = tokenizers.Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
            t.no_padding(); t.no_truncation()
            lines = [l.strip() for l in open("/usr/share/common-licenses/Apache-2.0") if len(l.split()) > 4][:16]
            print(json.dumps([t.encode(l).ids for l in lines]))
            """
        let encoded = try runProcess("/usr/bin/env", ["python3", "-c", script, minilm])
        #expect(encoded.status == 0, "\(encoded.stderr)")
        let sequences = ids(try JSON.parse(encoded.stdout))
        #expect(sequences.count == 16)
        let file = dir.write("ids.json", encoded.stdout)
        let r = try recast(["verify", minilm, swapped, "--tokens-file", file, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSON.parse(r.stdout)
        #expect(try verifySchemaErrors([j]) == [[]])
        let e = j["embeddings"]
        #expect(e?["pooling"]?["mode"]?.stringValue == "mean" && e?["pooling"]?["normalize"]?.boolValue == true
            && e?["pooling"]?["from"]?.stringValue == "sentence-transformers")
        let expected = try numpy(.object([
            ("original", .string(minilm)), ("converted", .string(swapped)), ("sequences", .array(sequences.map { .array($0.map(JSON.int)) })),
        ]))["embeddings"]
        #expect(close(e?["cosine_mean"]?.doubleValue, expected?["cosine_mean"]?.doubleValue, rel: 0, abs: 1e-5), "\(String(describing: e))")
        #expect(close(e?["cosine_min"]?.doubleValue, expected?["cosine_min"]?.doubleValue, rel: 0, abs: 1e-5))
        #expect(e?["neighbour_agreement"]?.doubleValue == expected?["neighbour_agreement"]?.doubleValue)
        // An untrained swap moves the embeddings: the figures are not trivially 1.
        #expect((e?["cosine_min"]?.doubleValue ?? 1) < 0.999)
    }

    /// Parallel against recurrent: each output against its own largest magnitude (a logit difference is
    /// no longer divided by the hidden states' scale), from `recast run` in both modes.
    @Test func parallelRecurrentOnEachOutputsScale() throws {
        let dir = TempDir()
        for (original, converted) in [("gpt2", "gpt2-t2r"), ("llama", "llama-hedgehog"), ("qwen2", "qwen2-performer")] {
            let tokens = [5, 17, 3, 60, 22, 9, 41, 8, 33, 12, 0, 63]
            let report = try Verifier.verify(original: fixture(original), converted: fixture(converted), tokens: tokens, length: 0, seed: 0)
            var outputs: [String: SafeTensorsFile] = [:]
            for mode in ["parallel", "recurrent"] {
                let out = dir.file("\(converted)-\(mode).safetensors")
                let r = try recast(["run", fixture(converted), "--tokens", tokens.map(String.init).joined(separator: ","), "--mode", mode, "--out", out])
                try #require(r.status == 0, "\(r.stderr)")
                outputs[mode] = try SafeTensorsFile(path: out)
            }
            let p = try #require(report.parallelRecurrent)
            for (name, figure) in [("hidden_states", p.hiddenStates), ("logits", try #require(p.logits))] {
                let a = try #require(outputs["parallel"]).loadFloat32(name), b = try #require(outputs["recurrent"]).loadFloat32(name)
                let diff = zip(a, b).map { Swift.abs(Double($0) - Double($1)) }.max() ?? 0
                let scale = a.map { Swift.abs(Double($0)) }.max() ?? 0
                // The differences are rounding noise, so only their size is compared; the scale is exact.
                #expect(figure.maxAbs > 0 && diff > 0 && figure.maxAbs < 10 * diff && diff < 10 * figure.maxAbs, "\(converted) \(name)")
                #expect(Swift.abs(figure.maxAbs / figure.maxRel - scale) <= 1e-5 * scale, "\(converted) \(name): scale \(figure.maxAbs / figure.maxRel) against \(scale)")
                // What the tests hold on the two-layer fixtures.
                #expect(figure.maxRel < 1e-5, "\(converted) \(name): \(figure.maxRel)")
            }
            #expect(p.maxRel == max(p.hiddenStates.maxRel, p.logits?.maxRel ?? 0) && p.tokens == tokens.count)
        }
    }
}
