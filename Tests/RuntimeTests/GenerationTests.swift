import Foundation
import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
import SafeTensors
@testable import Runtime

/// Generation on the recurrent path: greedy decoding against the argmax of the parallel forward pass and of
/// the NumPy reference, seeded sampling, the sampling distribution against transformers' warpers
/// (re-implemented in NumPy from their published definitions), the state memory of swapped models, and
/// the refusals.
@Suite struct GenerationTests {
    static let decoders = ["gpt2", "llama", "qwen2", "mistral", "gpt2-t2r", "llama-hedgehog", "qwen2-performer"]

    /// A copy of a fixture whose config allows `positions` positions (rotary models have no table to outgrow).
    func withPositions(_ name: String, _ positions: Int, in dir: TempDir) throws -> String {
        let copy = try dir.copyFixture(name)
        var config = try JSON.parse(try FileSystem.readAll(copy + "/config.json"))
        config.set("max_position_embeddings", .int(positions))
        try FileSystem.writeAll(copy + "/config.json", Array(config.serialized(pretty: true).utf8))
        return copy
    }

    func transformer(_ path: String) throws -> Transformer {
        let m = try Model(path: path)
        return try Transformer(graph: try m.graph(), store: m.store)
    }

    func argmax(_ row: ArraySlice<Float>) -> Int { row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! - row.startIndex }

    /// Each greedy token is the argmax of the parallel pass's logits at the position before it, and of the
    /// float64 NumPy reference's (up to a near-tie there).
    @Test(arguments: decoders)
    func greedyIsTheArgmaxOfTheParallelLogits(_ name: String) throws {
        let model = try load(name)
        let vocab = model.graph.vocabSize
        let prompt = syntheticTokens(length: 5, seed: 21, vocab: vocab)
        let generated = try Generation(model: model, prompt: prompt, options: GenerationOptions(maxTokens: 40)).run()
        #expect(generated.count == 40)
        // Not one token over and over: the check covers different choices (and the window of mistral).
        #expect(Set(generated).count >= 3, "\(generated)")
        let all = prompt + generated
        let logits = try #require(try model.forward(tokens: all).logits).data
        for (i, token) in generated.enumerated() {
            let row = prompt.count - 1 + i
            #expect(argmax(logits[(row * vocab)..<((row + 1) * vocab)]) == token, "\(name): token \(i)")
        }
        let dir = TempDir()
        let out = dir.file("ref.safetensors")
        let r = try python([repoRoot + "/tools/reference.py", fixture(name), "--tokens", all.map(String.init).joined(separator: ","), "--out", out])
        try #require(r.status == 0, "\(r.stderr)")
        let reference = try SafeTensorsFile(path: out).loadFloat32("logits")
        let scale = reference.map(abs).max() ?? 1
        for (i, token) in generated.enumerated() {
            let row = prompt.count - 1 + i
            let slice = reference[(row * vocab)..<((row + 1) * vocab)]
            let best = argmax(slice)
            let gap = slice[row * vocab + best] - slice[row * vocab + token]
            #expect(best == token || gap < 1e-5 * scale, "\(name): token \(i): reference \(best), ours \(token), gap \(gap)")
        }
    }

    @Test func seededSamplingIsReproducibleAndSeedsDiffer() throws {
        let model = try load("llama")
        let prompt = [5, 17, 42]
        func sample(_ seed: UInt64) throws -> [Int] {
            let sampling = SamplingOptions(temperature: 1, topP: 0.95, seed: seed)
            return try Generation(model: model, prompt: prompt, options: GenerationOptions(maxTokens: 30, sampling: sampling)).run()
        }
        let a = try sample(7)
        #expect(a == (try sample(7)))
        #expect(a != (try sample(8)))
        let greedy = try Generation(model: model, prompt: prompt, options: GenerationOptions(maxTokens: 30)).run()
        #expect(a != greedy)
    }

    @Test func topKOfOneIsGreedy() throws {
        for name in ["gpt2", "qwen2-performer"] {
            let model = try load(name)
            let prompt = [3, 9, 27, 81 % 64]
            let greedy = try Generation(model: model, prompt: prompt, options: GenerationOptions(maxTokens: 25)).run()
            let k1 = SamplingOptions(temperature: 1.5, topK: 1, seed: 99)
            #expect(try Generation(model: model, prompt: prompt, options: GenerationOptions(maxTokens: 25, sampling: k1)).run() == greedy, "\(name)")
        }
    }

    /// The candidates and probabilities after temperature, top-k and top-p, against transformers'
    /// `TemperatureLogitsWarper`, `TopKLogitsWarper` and `TopPLogitsWarper` written out in NumPy.
    func expectTransformersDistribution(_ logits: [Float], _ temperature: Double, _ topK: Int?, _ topP: Double?) throws -> Int {
        let ours = Sampler(SamplingOptions(temperature: temperature, topK: topK, topP: topP)).distribution(logits)
        let script = """
            import json, sys, numpy as np
            logits, t, k, p = json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
            s = np.array(logits, dtype=np.float64) / t
            if k != "none":
                k = min(int(k), s.size)
                kth = np.sort(s)[::-1][k - 1]
                s = np.where(s < kth, -np.inf, s)
            if p != "none":
                p = float(p)
                order = np.argsort(s, kind="stable")
                sorted_s = s[order]
                probs = np.exp(sorted_s - sorted_s.max()); probs /= probs.sum()
                remove = np.cumsum(probs) <= 1 - p
                remove[-1] = False
                s[order[remove]] = -np.inf
            probs = np.exp(s - s.max()); probs /= probs.sum()
            print(json.dumps({str(i): float(q) for i, q in enumerate(probs) if q > 0}))
            """
        // Each f32 logit written as the exact double it is.
        let r = try python(["-c", script, "[" + logits.map { "\(Double($0))" }.joined(separator: ",") + "]", "\(temperature)",
                            topK.map(String.init) ?? "none", topP.map { "\($0)" } ?? "none"])
        try #require(r.status == 0, "\(r.stderr)")
        let theirs = try JSON.parse(r.stdout)
        let expected = Dictionary(uniqueKeysWithValues: (theirs.objectValue ?? []).map { (Int($0.0)!, $0.1.doubleValue!) })
        #expect(Set(ours.map(\.id)) == Set(expected.keys))
        for c in ours { #expect(abs(c.probability - (expected[c.id] ?? -1)) < 1e-12, "id \(c.id)") }
        #expect(abs(ours.reduce(0) { $0 + $1.probability } - 1) < 1e-12)
        return ours.count
    }

    /// 50 logits; every seventh is 1.5, so that top-k and top-p can cut through a tie.
    static let logits: [Float] = {
        var random = RandomStream(seed: 5)
        return (0..<50).map { i in i % 7 == 0 ? Float(1.5) : Float(random.gaussian() * 2) }
    }()

    @Test(arguments: [(0.7, 10, 0.8), (1.0, nil, 0.9), (1.3, 5, nil), (0.5, nil, nil), (1.0, 3, 1.0), (2.0, nil, 0.3)] as [(Double, Int?, Double?)])
    func distributionMatchesTransformersWarpers(_ temperature: Double, _ topK: Int?, _ topP: Double?) throws {
        _ = try expectTransformersDistribution(GenerationTests.logits, temperature, topK, topP)
    }

    /// transformers removes only the scores below the k-th largest: every token tied with it stays.
    @Test func topKKeepsTiesWithTheKthLargest() throws {
        let above = GenerationTests.logits.filter { $0 > 1.5 }.count
        let kept = try expectTransformersDistribution(GenerationTests.logits, 1, above + 1, nil)
        #expect(kept == above + 8)
    }

    /// Draws follow the distribution: frequencies over many draws within a few standard errors.
    @Test func drawsFollowTheDistribution() {
        let logits: [Float] = [2, 1, 0.5, 0, -1, -3]
        var sampler = Sampler(SamplingOptions(temperature: 1, seed: 11))
        let probabilities = sampler.distribution(logits)
        let n = 20_000
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<n { counts[sampler.next(logits)] += 1 }
        for c in probabilities {
            let p = c.probability, observed = Double(counts[c.id]) / Double(n)
            #expect(abs(observed - p) < 5 * (p * (1 - p) / Double(n)).squareRoot() + 1e-4, "id \(c.id): \(observed) vs \(p)")
        }
    }

    /// A model swapped in every layer holds the same state at 2,000 tokens as at 100; the hybrid
    /// (one softmax layer) and the original grow their KV cache linearly.
    @Test func swappedStateStaysFlat() throws {
        let dir = TempDir()
        func states(_ name: String) throws -> (at100: Int, at2000: Int, linear: Int) {
            let model = try transformer(try withPositions(name, 4096, in: dir))
            let sampling = SamplingOptions(temperature: 1, seed: 1)
            let g = try Generation(model: model, prompt: [1, 2, 3], options: GenerationOptions(maxTokens: 2000, sampling: sampling))
            var at100 = 0
            while let _ = try g.next() {
                if g.tokens.count == 100 { at100 = g.stateBytes }
            }
            #expect(g.tokens.count == 2000 && g.stopReason == .maxTokens)
            return (at100, g.stateBytes, g.linearStateBytes)
        }
        let swapped = try states("qwen2-performer")
        #expect(swapped.at100 == swapped.at2000 && swapped.at100 > 0 && swapped.linear == swapped.at2000)
        // Original qwen2: 2 layers × (K + V) × 2 kv heads × 8 × 4 bytes per token held.
        let original = try states("qwen2")
        let perToken = 2 * 2 * 2 * 8 * 4
        #expect(original.at2000 - original.at100 == (2002 - 102) * perToken)
        #expect(original.linear == 0)
        // llama-hedgehog: layer 0 keeps softmax attention (half the cache), layer 1 the constant state.
        let hybrid = try states("llama-hedgehog")
        #expect(hybrid.at2000 - hybrid.at100 == (2002 - 102) * perToken / 2)
        #expect(hybrid.linear > 0)
    }

    @Test func bidirectionalModelsAreRefused() throws {
        for name in ["bert", "bert-t2r"] {
            let model = try load(name)
            #expect { try Generation(model: model, prompt: [1, 2], options: GenerationOptions()) } throws: { error in
                "\(error)".contains("bidirectional") && "\(error)".contains("no next-token prediction")
            }
        }
    }

    @Test func badPromptsAreRefused() throws {
        let model = try load("gpt2")
        #expect { try Generation(model: model, prompt: Array(repeating: 1, count: 65), options: GenerationOptions()) } throws: { error in
            "\(error)".contains("65 tokens") && "\(error)".contains("64 positions")
        }
        #expect { try Generation(model: model, prompt: [3, 64], options: GenerationOptions()) } throws: { error in
            "\(error)".contains("token 64 (position 1)") && "\(error)".contains("vocabulary of 64")
        }
        #expect { try Generation(model: model, prompt: [], options: GenerationOptions()) } throws: { "\($0)".contains("no tokens") }
        #expect { try Generation(model: model, prompt: [1], options: GenerationOptions(sampling: SamplingOptions(temperature: 1, topP: 0))) } throws: {
            "\($0)".contains("top-p")
        }
    }

    /// Generation stops when the next token would not fit: a prompt of 60 in 64 positions gives 5 tokens
    /// (the fifth is sampled from the logits at position 64 and never fed).
    @Test func stopsAtThePositions() throws {
        let model = try load("gpt2")
        let g = try Generation(model: model, prompt: Array(repeating: 7, count: 60), options: GenerationOptions(maxTokens: 10))
        #expect(try g.run().count == 5 && g.stopReason == .positions && g.contextLength == 64)
    }

    @Test func stopsAtEndOfSequence() throws {
        let model = try load("mistral")
        let greedy = try Generation(model: model, prompt: [4, 8], options: GenerationOptions(maxTokens: 10)).run()
        let eos = greedy[3]
        let first = greedy.firstIndex(of: eos)!
        let g = try Generation(model: model, prompt: [4, 8], options: GenerationOptions(maxTokens: 10, endOfSequence: [eos]))
        #expect(try g.run() == Array(greedy[...first]) && g.stopReason == .endOfSequence)
    }
}

/// The text stream against decoding all the ids at once, with a byte-level decoder: each id stands for
/// some UTF-8 bytes, possibly a piece of a character.
@Suite struct TextStreamTests {
    /// "h", "é" split in two bytes, "llo", " wor", "ld", "!", "\n", "😀" split in 4 single bytes.
    static let pieces: [[UInt8]] = [Array("h".utf8), [0xC3], [0xA9], Array("llo".utf8), Array(" wor".utf8), Array("ld".utf8),
                                    Array("!".utf8), Array("\n".utf8), [0xF0], [0x9F], [0x98], [0x80]]

    static func decode(_ ids: [Int]) -> String { String(decoding: ids.flatMap { pieces[$0] }, as: UTF8.self) }

    func streamed(_ ids: [Int], stop: [String] = []) throws -> (chunks: [String], stopped: Bool) {
        var stream = TextStream(stopStrings: stop) { TextStreamTests.decode($0) }
        var chunks: [String] = []
        for id in ids {
            chunks.append(try stream.append(id))
            if stream.stopped { break }
        }
        chunks.append(try stream.finish())
        return (chunks, stream.stopped)
    }

    @Test func concatenationEqualsTheWholeDecode() throws {
        let ids = Array(0..<TextStreamTests.pieces.count)
        let (chunks, stopped) = try streamed(ids)
        #expect(chunks.joined() == "héllo world!\n😀" && !stopped)
        // Never half a character: "é" appears with its second byte, the emoji with its fourth.
        #expect(chunks[1] == "" && chunks[2] == "é" && chunks[8] == "" && chunks[11] == "😀")
        #expect(!chunks.joined().contains("\u{FFFD}"))
    }

    @Test func stopStringsEndTheTextBeforeThem() throws {
        let ids = Array(0..<TextStreamTests.pieces.count)
        // "o w" spans three tokens ("llo", " wor"): nothing after "hell" is shown.
        let a = try streamed(ids, stop: ["o w"])
        #expect(a.chunks.joined() == "héll" && a.stopped)
        // A held-back prefix ("ld" could start "ldx") is released once it cannot be a stop string.
        let b = try streamed(ids, stop: ["ldx"])
        #expect(b.chunks.joined() == "héllo world!\n😀" && !b.stopped)
        #expect(b.chunks[5] == "", "'ld' is held while it may start 'ldx'")
        // The earliest of several stop strings wins; one inside a multi-byte character never matches half of it.
        let c = try streamed(ids, stop: ["!", "wor"])
        #expect(c.chunks.joined() == "héllo " && c.stopped)
        let d = try streamed(ids, stop: ["😀"])
        #expect(d.chunks.joined() == "héllo world!\n" && d.stopped)
    }

    @Test func anIncompleteCharacterAtTheEndIsShownAsReplacement() throws {
        let (chunks, _) = try streamed([0, 1])
        #expect(chunks.joined() == TextStreamTests.decode([0, 1]) && chunks.joined().hasSuffix("\u{FFFD}"))
    }
}
