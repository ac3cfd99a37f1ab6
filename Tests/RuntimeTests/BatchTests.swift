import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
import SafeTensors
@testable import Runtime

/// A batch of sequences of different lengths, packed into one pass, gives each sequence what it gives
/// run alone: positions, rotary angles, sliding windows and linear-attention sums restart per sequence,
/// and nothing leaks between sequences.
@Suite struct BatchTests {
    static let fixtures = ["gpt2", "gpt2-prefixed", "bert", "bert-tf", "llama", "qwen2", "mistral", "gpt2-t2r", "gpt2-t2r-folded",
                           "bert-t2r", "bert-elu", "llama-hedgehog", "qwen2-performer"]
    /// Lengths that differ, include 1 and the fixtures' 64 positions, and are not in sorted order.
    static let lengths = [5, 64, 1, 23, 40]

    func sequences(vocab: Int, lengths: [Int] = lengths) -> [[Int]] {
        lengths.enumerated().map { syntheticTokens(length: $1, seed: UInt64(20 + $0), vocab: vocab) }
    }

    @Test(arguments: fixtures)
    func batchEqualsEachSequenceAlone(_ name: String) throws {
        let model = try load(name)
        let batch = sequences(vocab: model.graph.vocabSize)
        let outputs = try model.forward(batch: batch)
        #expect(outputs.count == batch.count)
        for (s, tokens) in batch.enumerated() {
            let alone = try model.forward(tokens: tokens)
            #expect(outputs[s].hiddenStates.rows == tokens.count)
            #expect(maxRelativeError(outputs[s].hiddenStates.data, alone.hiddenStates.data) < 1e-5, "\(name) sequence \(s)")
            #expect((outputs[s].logits == nil) == (alone.logits == nil))
            if let logits = outputs[s].logits, let expected = alone.logits {
                #expect(maxRelativeError(logits.data, expected.data) < 1e-5, "\(name) sequence \(s) logits")
            }
        }
    }

    /// Last-position logits are the last row of the full logits; `.none` builds none.
    @Test(arguments: ["gpt2", "llama", "gpt2-t2r"])
    func lastLogitsAreTheLastRow(_ name: String) throws {
        let model = try load(name)
        let batch = sequences(vocab: model.graph.vocabSize)
        let full = try model.forward(batch: batch, logits: .all)
        let last = try model.forward(batch: batch, logits: .last)
        let none = try model.forward(batch: batch, logits: .none)
        for s in batch.indices {
            let l = try #require(last[s].logits)
            #expect(l.rows == 1 && l.cols == model.graph.vocabSize)
            let f = try #require(full[s].logits)
            #expect(maxRelativeError(l.data, Array(f.row(f.rows - 1))) < 1e-6)
            #expect(none[s].logits == nil)
            #expect(maxRelativeError(none[s].hiddenStates.data, full[s].hiddenStates.data) == 0)
        }
    }

    /// More tokens than one pass takes: the batch is split into passes, with the same results.
    @Test func batchesLargerThanOnePass() throws {
        let model = try load("qwen2")
        let count = Transformer.rowsPerPass / 60 + 3
        let batch = sequences(vocab: 64, lengths: (0..<count).map { 40 + $0 % 21 })
        let outputs = try model.forward(batch: batch, logits: .last)
        for s in [0, count / 2, count - 1] {
            let alone = try model.forward(tokens: batch[s])
            #expect(maxRelativeError(outputs[s].hiddenStates.data, alone.hiddenStates.data) < 1e-5, "sequence \(s)")
        }
    }

    /// Token type ids: batched equals alone, and type 1 on the model equals type 0 on a copy whose type-0
    /// row is the original's type-1 row, run by the NumPy reference (which knows only type 0).
    @Test(arguments: ["bert", "bert-t2r"])
    func tokenTypes(_ name: String) throws {
        let model = try load(name)
        let batch = sequences(vocab: model.graph.vocabSize)
        let types = batch.enumerated().map { s, tokens in tokens.indices.map { ($0 + s) % 2 } }
        let outputs = try model.forward(batch: batch, typeIds: types)
        for s in batch.indices {
            let alone = try model.forward(batch: [batch[s]], typeIds: [types[s]])[0]
            #expect(maxRelativeError(outputs[s].hiddenStates.data, alone.hiddenStates.data) < 1e-5, "sequence \(s)")
        }
        let dir = TempDir()
        let copy = dir.file(name)
        let script = """
            import shutil, sys, numpy as np
            from safetensors.numpy import load_file, save_file
            src, dst = sys.argv[1], sys.argv[2]
            shutil.copytree(src, dst)
            w = load_file(dst + "/model.safetensors")
            key = next(k for k in w if k.endswith("token_type_embeddings.weight"))
            w[key] = np.ascontiguousarray(w[key][::-1])
            save_file(w, dst + "/model.safetensors")
            """
        let r = try python(["-c", script, fixture(name), copy])
        try #require(r.status == 0, "\(r.stderr)")
        let tokens = batch[3]
        let ones = try model.forward(batch: [tokens], typeIds: [tokens.map { _ in 1 }])[0]
        let zeros = try model.forward(tokens: tokens)
        #expect(maxRelativeError(ones.hiddenStates.data, zeros.hiddenStates.data) > 1e-3, "type 1 must change the result")
        let out = dir.file("ref.safetensors")
        let ref = try python([repoRoot + "/tools/reference.py", copy, "--tokens", tokens.map(String.init).joined(separator: ","), "--out", out])
        try #require(ref.status == 0, "\(ref.stderr)")
        #expect(maxRelativeError(ones.hiddenStates.data, try SafeTensorsFile(path: out).loadFloat32("hidden_states")) < 1e-4)
    }

    @Test func refusalsNameTheSequence() throws {
        let model = try load("bert")
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch { return "\(error)" }
            return "no error"
        }
        #expect(message { _ = try model.forward(batch: [[1, 2], [3, 64]]) }.contains("token 64 at position 1 of sequence 1 is outside the vocabulary of 64"))
        #expect(message { _ = try model.forward(batch: [[1, 2], Array(repeating: 1, count: 65)]) }.contains("sequence 1: 65 tokens exceed the model's 64 positions"))
        #expect(message { _ = try model.forward(batch: [[1, 2], []]) }.contains("sequence 1: no tokens to run"))
        #expect(message { _ = try model.forward(batch: []) }.contains("no sequences to run"))
        #expect(message { _ = try model.forward(batch: [[1, 2]], typeIds: [[0]]) }.contains("1 token type ids for 2 tokens"))
        #expect(message { _ = try model.forward(batch: [[1, 2]], typeIds: [[0, 2]]) }.contains("token type 2 at position 1 is outside the model's 2 token types"))
    }
}
