import Foundation
import Testing
import TestSupport
import RecastCore
import Tokenizer
@testable import GGUF

/// A folder or file tools/models.py prints (RECAST_MODEL_CACHE chooses the cache).
func modelPath(_ name: String) throws -> String {
    let r = try python([repoRoot + "/tools/models.py", name])
    guard r.status == 0 else { throw CheckpointError(file: "tools/models.py", "\(name) failed: \(r.stderr)") }
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

func readJSON(_ path: String) throws -> JSON {
    try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
}

/// A header holding only `metadata`, as a GGUF file written with it would parse.
func header(_ metadata: [(key: String, value: GGUFValue)]) -> GGUFHeader {
    GGUFHeader(version: 3, metadata: metadata, tensors: [], alignment: 32, dataStart: 0)
}

/// Encodes the exactness corpus (tools/tokenizer_corpus.py, about 12,600 entries: licence texts,
/// pydoc topics, digits, white space runs, scripts, special tokens) with Python `tokenizers` loading both
/// files, and expects identical ids for every entry.
func expectEncodesLike(_ reference: String, _ candidate: String, _ label: String) throws {
    let r = try pythonJSON("gguf_tokenizers.py", ["compare", reference, candidate])
    let entries = r["entries"]?.intValue ?? 0
    #expect(entries > 12_000, "\(label): the corpus has only \(entries) entries")
    #expect(r["tokens"]?.intValue ?? 0 > 100_000, "\(label)")
    #expect(r["differing"]?.intValue == 0, "\(label): \(r["differing"]?.intValue ?? -1) of \(entries) entries encode differently, e.g. \(r["examples"]?.serialized() ?? "")")
}

/// A value against gguf-py's dump of it (tools/gguf_fixtures.py dump), naming the first differing element.
func expectSameValue(_ value: GGUFValue, _ expected: JSON, _ label: String) throws {
    guard value.type == .array else {
        #expect(canonical(value) == expected["value"], "\(label)")
        return
    }
    let got = leaves(value), want = expected["value"]?.arrayValue ?? []
    #expect(got.count == want.count, "\(label): \(got.count) elements, gguf-py reads \(want.count)")
    if let i = zip(got, want).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
        Issue.record("\(label): element \(i) is \(got[i].serialized()), gguf-py reads \(want[i].serialized())")
    }
}

/// tokenizer.json from GGUF tokenizer metadata, and GGUF tokenizer metadata from tokenizer.json.
@Suite(.serialized) struct TokenizerTests {
    /// The GGUF tokenizer fixtures tools/gguf_tokenizers.py writes with gguf-py, each with its reference.
    static let fixtures: (dir: TempDir, files: JSON) = {
        let dir = TempDir()
        let files = (try? pythonJSON("gguf_tokenizers.py", ["write", dir.path])) ?? .object([])
        return (dir, files)
    }()

    func ggufFixture(_ name: String) throws -> (gguf: String, reference: String) {
        guard let entry = Self.fixtures.files[name], let g = entry["gguf"]?.stringValue, let r = entry["reference"]?.stringValue else {
            throw CheckpointError(file: "tools/gguf_tokenizers.py", "wrote no fixture '\(name)'")
        }
        return (g, r)
    }

    /// The real SmolLM2 GGUF reads back as the tokenizer.json built in Python from it (tools/models.py
    /// smollm2_tokenizer), entry by entry; Recast's own tokenizer loads it and agrees on real text.
    @Test func smolLM2EncodesLikeItsPythonTokenizer() throws {
        let gguf = try modelPath("smollm2-gguf"), folder = try modelPath("smollm2")
        let file = try GGUFFile(path: gguf)
        let json = try GGUFTokenizer.tokenizerJSON(from: file.header, file: gguf)
        let dir = TempDir()
        let mine = dir.write("tokenizer.json", json.serialized())
        try expectEncodesLike(folder + "/tokenizer.json", mine, "SmolLM2")

        let recast = try Tokenizer(file: mine), reference = try Tokenizer(file: folder + "/tokenizer.json")
        let texts = try String(contentsOfFile: "/usr/share/common-licenses/GPL-3", encoding: .utf8)
            .split(separator: "\n").prefix(300).map(String.init)
            + ["12345 67.89", "  multiple   spaces\t\ttabs\n\n", "Café déjà vu — 你好 👍🏽", "<|im_start|>user\nhi<|im_end|>"]
        for text in texts {
            #expect(try recast.encode(text).ids == reference.encode(text).ids, "\(text)")
        }
    }

    /// tokenizer_config.json from the GGUF names the tokens and the chat template the Python-built folder has.
    @Test func smolLM2TokenizerConfig() throws {
        let gguf = try modelPath("smollm2-gguf"), folder = try modelPath("smollm2")
        let config = try #require(try GGUFTokenizer.tokenizerConfig(from: try GGUFFile(path: gguf).header, file: gguf))
        let expected = try readJSON(folder + "/tokenizer_config.json")
        for key in ["bos_token", "eos_token", "unk_token", "pad_token", "chat_template"] {
            #expect(config[key] != nil && config[key] == expected[key], "\(key)")
        }
        #expect(config["add_bos_token"] == .bool(false))
    }

    /// metadata(...) of the Python-built SmolLM2 tokenizer.json equals the GGUF's own tokenizer.ggml.*
    /// values as gguf-py reads them, for every key both have (the five of the brief at least).
    @Test func smolLM2MetadataMatchesTheGGUF() throws {
        let gguf = try modelPath("smollm2-gguf"), folder = try modelPath("smollm2")
        let entries = try GGUFTokenizer.metadata(tokenizerJSON: try readJSON(folder + "/tokenizer.json"),
                                                 tokenizerConfig: try readJSON(folder + "/tokenizer_config.json"), file: folder)
        let py = try ggufPyDump(gguf)
        var stored: [String: JSON] = [:]
        for m in py["metadata"]?.arrayValue ?? [] { if let k = m["key"]?.stringValue { stored[k] = m } }
        let keys = entries.map(\.key)
        for key in ["tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"] {
            #expect(keys.contains(key), "\(key) not written")
        }
        for (key, value) in entries {
            guard let expected = stored[key] else { continue }
            #expect(typeNames(value) == (expected["types"]?.arrayValue ?? []).compactMap(\.stringValue), "\(key)")
            try expectSameValue(value, expected, key)
        }
        #expect(keys.filter { stored[$0] != nil }.count >= 10, "too few keys compared: \(keys)")
    }

    /// Each fixture GGUF, written with gguf-py as llama.cpp's converter would, reads back as a
    /// tokenizer.json that encodes the corpus exactly like the tokenizer it came from.
    @Test(arguments: ["gpt2-bpe", "llama3", "qwen2", "llama-spm", "bert"])
    func fixtureEncodesLikeItsSource(_ name: String) throws {
        let (gguf, reference) = try ggufFixture(name)
        let json = try GGUFTokenizer.tokenizerJSON(from: try GGUFFile(path: gguf).header, file: gguf)
        let dir = TempDir()
        let mine = dir.write("tokenizer.json", json.serialized())
        try expectEncodesLike(reference, mine, name)
        _ = try Tokenizer(file: mine)
    }

    /// tokenizer.json → metadata → tokenizer.json encodes like the original.
    @Test(arguments: ["gpt2-bpe", "llama-bpe", "minilm", "smollm2", "llama3", "qwen2"])
    func metadataRoundTrip(_ name: String) throws {
        let path: String, config: JSON?
        switch name {
        case "gpt2-bpe", "llama-bpe":
            path = fixture("tokenizers/\(name)/tokenizer.json")
            config = name == "llama-bpe" ? .object([("bos_token", .string("<s>")), ("eos_token", .string("</s>")), ("unk_token", .string("<unk>"))]) : nil
        case "minilm", "smollm2":
            let folder = try modelPath(name)
            path = folder + "/tokenizer.json"
            config = try readJSON(folder + "/tokenizer_config.json")
        default:
            path = try ggufFixture(name).reference
            config = .object([("bos_token", .string("<|endoftext|>")), ("eos_token", .string("<|endoftext|>"))])
        }
        let entries = try GGUFTokenizer.metadata(tokenizerJSON: try readJSON(path), tokenizerConfig: config, file: path)
        let json = try GGUFTokenizer.tokenizerJSON(from: header(entries), file: "round trip")
        let dir = TempDir()
        try expectEncodesLike(path, dir.write("tokenizer.json", json.serialized()), name)
    }

    /// The metadata written for the fixtures is what llama.cpp's converter wrote into them (gguf-py's
    /// view), for the keys both have.
    @Test(arguments: ["gpt2-bpe", "bert"])
    func metadataMatchesConverterFixture(_ name: String) throws {
        let (gguf, reference) = try ggufFixture(name)
        let config: JSON? = name == "bert" ? try readJSON(try modelPath("minilm") + "/tokenizer_config.json")
            : .object([("bos_token", .string("<|endoftext|>")), ("eos_token", .string("<|endoftext|>"))])
        let entries = try GGUFTokenizer.metadata(tokenizerJSON: try readJSON(reference), tokenizerConfig: config, file: reference)
        let py = try ggufPyDump(gguf)
        var stored: [String: JSON] = [:]
        for m in py["metadata"]?.arrayValue ?? [] { if let k = m["key"]?.stringValue { stored[k] = m } }
        var compared = 0
        for (key, value) in entries {
            guard let expected = stored[key] else { continue }
            compared += 1
            try expectSameValue(value, expected, "\(name): \(key)")
        }
        #expect(compared >= 6, "\(name): only \(compared) keys compared")
    }

    /// A SentencePiece tokenizer whose normalizer only replaces spaces (no `▁` put first) gets
    /// add_space_prefix false, and reads back encoding like it; an unknown space handling is refused.
    @Test func sentencePieceWithoutSpacePrefix() throws {
        let path = fixture("tokenizers/llama-bpe/tokenizer.json")
        var json = try readJSON(path)
        let replace = try #require(json["normalizer"]?["normalizers"]?.arrayValue?.last)
        json.set("normalizer", replace)
        let dir = TempDir()
        let variant = dir.write("variant.json", json.serialized())
        let config = JSON.object([("bos_token", .string("<s>")), ("eos_token", .string("</s>")), ("unk_token", .string("<unk>"))])
        let entries = try GGUFTokenizer.metadata(tokenizerJSON: json, tokenizerConfig: config, file: variant)
        #expect(entries.first { $0.key == "tokenizer.ggml.add_space_prefix" }?.value == .bool(false))
        let back = try GGUFTokenizer.tokenizerJSON(from: header(entries), file: "round trip")
        try expectEncodesLike(variant, dir.write("tokenizer.json", back.serialized()), "llama-bpe without the space prefix")

        json.set("normalizer", .object([("type", .string("NFKC"))]))
        #expect(throws: CheckpointError.self) { try GGUFTokenizer.metadata(tokenizerJSON: json, tokenizerConfig: config, file: variant) }
        do {
            _ = try GGUFTokenizer.metadata(tokenizerJSON: json, tokenizerConfig: config, file: variant)
        } catch let e as CheckpointError {
            #expect(e.file == variant && e.object == "'normalizer'" && e.reason.contains("NFKC"), "\(e)")
        }
    }

    /// `tokenizer.ggml.pre` "default", or none, reads as llama.cpp's own split, checked piece by piece on
    /// the corpus against that split written in Python with the `regex` module; the JSON loads in Recast,
    /// and its metadata names "default" again.
    @Test func llamaCppDefaultPreTokenizer() throws {
        let m = try validMetadata()
        let named = try GGUFTokenizer.tokenizerJSON(from: header(replacing(m, "tokenizer.ggml.pre", .string("default"))), file: "default.gguf")
        let unnamed = try GGUFTokenizer.tokenizerJSON(from: header(replacing(m, "tokenizer.ggml.pre", nil)), file: "none.gguf")
        #expect(named == unnamed)
        let dir = TempDir()
        let path = dir.write("tokenizer.json", named.serialized())
        let r = try pythonJSON("gguf_tokenizers.py", ["presplit", path])
        #expect(r["entries"]?.intValue ?? 0 > 12_000)
        #expect(r["differing"]?.intValue == 0, "\(r["examples"]?.serialized() ?? "")")
        _ = try Tokenizer(file: path)
        let back = try GGUFTokenizer.metadata(tokenizerJSON: named, tokenizerConfig: nil, file: path)
        #expect(back.first { $0.key == "tokenizer.ggml.pre" }?.value == .string("default"))
    }

    // MARK: malformed metadata

    /// The metadata of the gpt2-bpe fixture, to break one key at a time.
    func validMetadata() throws -> [(key: String, value: GGUFValue)] {
        let path = fixture("tokenizers/gpt2-bpe/tokenizer.json")
        return try GGUFTokenizer.metadata(tokenizerJSON: try readJSON(path), tokenizerConfig: nil, file: path)
    }

    func expectRefused(_ metadata: [(key: String, value: GGUFValue)], key: String, mentioning words: [String] = []) {
        do {
            _ = try GGUFTokenizer.tokenizerJSON(from: header(metadata), file: "bad.gguf")
            Issue.record("accepted metadata with a broken \(key)")
        } catch let e as CheckpointError {
            #expect(e.file == "bad.gguf")
            #expect(e.object == "key '\(key)'", "\(e)")
            for w in words { #expect(e.reason.contains(w), "\(e)") }
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    func replacing(_ metadata: [(key: String, value: GGUFValue)], _ key: String, _ value: GGUFValue?) -> [(key: String, value: GGUFValue)] {
        var out = metadata.filter { $0.key != key }
        if let value { out.append((key, value)) }
        return out
    }

    @Test func missingTokensAreRefused() throws {
        expectRefused(replacing(try validMetadata(), "tokenizer.ggml.tokens", nil), key: "tokenizer.ggml.tokens", mentioning: ["missing"])
    }

    @Test func mergeWithoutASpaceIsRefused() throws {
        let m = try validMetadata()
        let merges = try #require(m.first { $0.key == "tokenizer.ggml.merges" }?.value.arrayValue)
        var bad = merges
        bad.elements[5] = .string("Ġthe")
        expectRefused(replacing(m, "tokenizer.ggml.merges", .array(bad)), key: "tokenizer.ggml.merges", mentioning: ["entry 5", "Ġthe"])
        bad.elements[5] = .string("Ġ t h")
        expectRefused(replacing(m, "tokenizer.ggml.merges", .array(bad)), key: "tokenizer.ggml.merges", mentioning: ["entry 5"])
        bad.elements[5] = .string("Ġ zzzq")
        expectRefused(replacing(m, "tokenizer.ggml.merges", .array(bad)), key: "tokenizer.ggml.merges", mentioning: ["zzzq", "not in"])
    }

    @Test func tokenTypeLengthMismatchIsRefused() throws {
        let m = try validMetadata()
        var types = try #require(m.first { $0.key == "tokenizer.ggml.token_type" }?.value.arrayValue)
        types.elements.removeLast()
        expectRefused(replacing(m, "tokenizer.ggml.token_type", .array(types)), key: "tokenizer.ggml.token_type", mentioning: ["1999 entries", "2000 tokens"])
        types.elements.append(.int32(9))
        expectRefused(replacing(m, "tokenizer.ggml.token_type", .array(types)), key: "tokenizer.ggml.token_type", mentioning: ["9"])
    }

    @Test func unknownModelAndPreAreRefused() throws {
        let m = try validMetadata()
        expectRefused(replacing(m, "tokenizer.ggml.model", .string("rwkv")), key: "tokenizer.ggml.model", mentioning: ["rwkv"])
        expectRefused(replacing(m, "tokenizer.ggml.model", nil), key: "tokenizer.ggml.model", mentioning: ["missing"])
        expectRefused(replacing(m, "tokenizer.ggml.pre", .string("deepseek-coder")), key: "tokenizer.ggml.pre", mentioning: ["deepseek-coder", "smollm"])
        expectRefused(replacing(m, "tokenizer.ggml.pre", .uint32(3)), key: "tokenizer.ggml.pre", mentioning: ["STRING"])
    }

    @Test func outOfRangeSpecialIDIsRefused() throws {
        let m = try validMetadata()
        expectRefused(replacing(m, "tokenizer.ggml.eos_token_id", .uint32(2000)), key: "tokenizer.ggml.eos_token_id", mentioning: ["2000"])
    }

    @Test func duplicateTokensAreRefused() throws {
        let m = try validMetadata()
        var tokens = try #require(m.first { $0.key == "tokenizer.ggml.tokens" }?.value.arrayValue)
        tokens.elements[7] = tokens.elements[8]
        expectRefused(replacing(m, "tokenizer.ggml.tokens", .array(tokens)), key: "tokenizer.ggml.tokens", mentioning: ["ids 7 and 8"])
    }
}
