import Foundation
import Testing
import TestSupport
import RecastCore

/// `recast generate` as a user runs it, on fixture models given a tokenizer: the streamed text against a
/// greedy loop over the NumPy reference (tools/reference.py) decoded by Python `tokenizers`.
@Suite struct GenerateTests {
    let dir = TempDir()

    /// Writes a byte-level BPE tokenizer.json whose ids fit the fixtures' vocabulary of 64: the bytes of
    /// common ASCII letters, of "é" and "😀" (so that characters span tokens), three merges and
    /// `<|endoftext|>` (63) come first; the other bytes follow, beyond what the model can produce.
    static let tokenizerScript = #"""
        import json, sys
        from tokenizers import Tokenizer, AddedToken, models, pre_tokenizers, decoders

        def bytes_to_unicode():  # GPT-2's byte-to-character table
            bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
            cs, n = bs[:], 0
            for b in range(256):
                if b not in bs:
                    bs.append(b); cs.append(256 + n); n += 1
            return dict(zip(bs, map(chr, cs)))

        table = bytes_to_unicode()
        first = list(b"helo wrdtansi.,!?\n") + [0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80]
        first += [b for b in b"bcfgkmpuvyxzjq0123456789THAEIOSW:;'-" if b not in first]
        vocab = {}
        for b in first:
            vocab[table[b]] = len(vocab)
        merges = [("h", "e"), ("l", "l"), (table[32], "w")]
        for a, b in merges:
            vocab[a + b] = len(vocab)
        assert len(vocab) <= 63, len(vocab)
        while len(vocab) < 63:
            vocab["<unused%d>" % len(vocab)] = len(vocab)
        vocab["<|endoftext|>"] = 63
        for b in range(256):
            if table[b] not in vocab:
                vocab[table[b]] = len(vocab)
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
        tok.save(sys.argv[1])
        print(json.dumps(tok.encode("hello world").ids))
        """#

    /// A copy of a fixture model with the tokenizer above.
    func model(_ name: String) throws -> String {
        let folder = try dir.copyFixture(name)
        let r = try python(["-c", GenerateTests.tokenizerScript, folder + "/tokenizer.json"])
        try #require(r.status == 0, "\(r.stderr)")
        #expect(try JSON.parse(r.stdout).arrayValue?.compactMap(\.intValue).allSatisfy { $0 < 63 } == true)
        return folder
    }

    /// The greedy continuation computed by Python: the NumPy reference's logits (float64), argmax, stopping
    /// at config.json's eos_token_id or <|endoftext|>; returns the generated ids and their decode.
    func reference(_ model: String, prompt: String, maxTokens: Int) throws -> (ids: [Int], text: String) {
        let script = #"""
            import json, sys
            import numpy as np
            sys.path.insert(0, sys.argv[1])
            import reference
            from tokenizers import Tokenizer
            folder, prompt, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
            tok = Tokenizer.from_file(folder + "/tokenizer.json")
            config = json.load(open(folder + "/config.json"))
            eos = config.get("eos_token_id")
            stop = {63} | (set(eos) if isinstance(eos, list) else {eos} if eos is not None else set())
            m = reference.Model(folder, weights=reference.load_weights(folder))
            ids = tok.encode(prompt).ids
            out = []
            for _ in range(n):
                _, logits = m.run(ids + out, "parallel")
                out.append(int(np.argmax(logits[-1])))
                if out[-1] in stop:
                    break
            print(json.dumps({"ids": out, "text": tok.decode(out, skip_special_tokens=True)}))
            """#
        let r = try python(["-c", script, repoRoot + "/tools", model, prompt, String(maxTokens)])
        try #require(r.status == 0, "\(r.stderr)")
        let json = try JSON.parse(r.stdout)
        return (json["ids"]?.arrayValue?.compactMap(\.intValue) ?? [], json["text"]?.stringValue ?? "")
    }

    @Test(arguments: ["gpt2", "llama", "qwen2-performer"])
    func greedyTextMatchesTheReference(_ name: String) throws {
        let folder = try model(name)
        let expected = try reference(folder, prompt: "hello world", maxTokens: 30)
        let r = try recast(["generate", folder, "--prompt", "hello world", "--max-tokens", "30"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == expected.text, "ids \(expected.ids)")
        #expect(r.stderr.contains("prompt: 8 tokens") && r.stderr.contains("generated: \(expected.ids.count) tokens"), "\(r.stderr)")
        #expect(r.stderr.contains("state: ") && r.stderr.contains("KV cache"), "\(r.stderr)")
        if name == "qwen2-performer" {
            #expect(r.stderr.contains("KV cache 0 B") && r.stderr.contains("softmax attention in every layer would hold"), "\(r.stderr)")
        }
    }

    /// The text stops before the first occurrence of a --stop string.
    @Test func stopStringsCutTheText() throws {
        let folder = try model("gpt2")
        let expected = try reference(folder, prompt: "hello world", maxTokens: 30).text
        let scalars = Array(expected.unicodeScalars)
        try #require(scalars.count > 12, "\(expected)")
        let stop = String(String.UnicodeScalarView(scalars[8..<10]))
        let cut = try #require(expected.range(of: stop))
        let r = try recast(["generate", folder, "--prompt", "hello world", "--max-tokens", "30", "--stop", stop, "--stop", "never-produced"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == String(expected[..<cut.lowerBound]))
        #expect(r.stderr.contains("stopped at the stop string"), "\(r.stderr)")
    }

    @Test func seededSamplingIsReproducible() throws {
        let folder = try model("llama")
        func sample(_ seed: Int) throws -> String {
            let r = try recast(["generate", folder, "--prompt", "hello", "--temperature", "1", "--top-p", "0.95", "--seed", String(seed), "--max-tokens", "25"])
            #expect(r.status == 0, "\(r.stderr)")
            return r.stdout
        }
        let a = try sample(1)
        #expect(a == (try sample(1)))
        #expect(a != (try sample(2)))
    }

    @Test func refusals() throws {
        let bert = try recast(["generate", fixture("bert"), "--prompt", "hello"])
        #expect(bert.status == 1 && bert.stderr.contains("bidirectional") && bert.stderr.contains("no next-token prediction"), "\(bert.stderr)")
        let noTokenizer = try recast(["generate", fixture("gpt2"), "--prompt", "hello"])
        #expect(noTokenizer.status == 1 && noTokenizer.stderr.contains("tokenizer.json"), "\(noTokenizer.stderr)")
        let folder = try model("gpt2")
        let long = try recast(["generate", folder, "--prompt", String(repeating: "hello ", count: 40)])
        #expect(long.status == 1 && long.stderr.contains("longer than the model's 64 positions"), "\(long.stderr)")
        let badP = try recast(["generate", folder, "--prompt", "hello", "--temperature", "1", "--top-p", "1.5"])
        #expect(badP.status == 64 && badP.stderr.contains("top-p"), "\(badP.stderr)")
        let emptyStop = try recast(["generate", folder, "--prompt", "hello", "--stop", ""])
        #expect(emptyStop.status == 64 && emptyStop.stderr.contains("--stop needs a non-empty string"), "\(emptyStop.stderr)")
    }
}
