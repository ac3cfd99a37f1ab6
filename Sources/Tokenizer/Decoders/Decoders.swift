import RecastCore

/// Turns token strings back into text (`tokenizers`' `Decoder`): each decoder maps the list of token strings
/// to a new list (`decode_chain`); the final text is their concatenation.
protocol Decoder: Sendable {
    func decodeChain(_ tokens: [String]) -> [String]
}

extension Decoder {
    func decode(_ tokens: [String]) -> String { decodeChain(tokens).joined() }
}

enum Decoders {
    static func make(_ json: JSONView, file: String) throws -> any Decoder {
        let type = json["type"]?.stringValue ?? "?"
        let r = ComponentReader(json: json, file: file, component: "decoder \(type)")
        switch type {
        case "ByteLevel": return ByteLevelDecoder()
        case "WordPiece":
            return WordPieceDecoder(prefix: try r.string("prefix") ?? "##", cleanup: try r.bool("cleanup", default: true))
        case "Metaspace":
            let scheme = try r.string("prepend_scheme") ?? ((try r.bool("add_prefix_space", default: true)) ? "always" : "never")
            guard ["always", "first", "never"].contains(scheme) else { throw r.fail("'prepend_scheme' is '\(scheme)', not always, first or never") }
            return MetaspaceDecoder(replacement: try r.character("replacement", default: "\u{2581}"), prependScheme: scheme)
        case "ByteFallback": return ByteFallbackDecoder()
        case "Fuse": return FuseDecoder()
        case "Strip":
            let start = try r.int("start") ?? 0, stop = try r.int("stop") ?? 0
            guard start >= 0, stop >= 0 else { throw r.fail("'start' and 'stop' must not be negative") }
            return StripDecoder(content: try r.character("content", default: " "), start: start, stop: stop)
        case "Replace":
            guard let pattern = json["pattern"], let literal = pattern["String"]?.stringValue else {
                if json["pattern"]?["Regex"] != nil { throw r.fail("a Regex pattern is not supported (only a String pattern)") }
                throw r.fail("'pattern' is not {\"String\": …}")
            }
            guard !literal.isEmpty else { throw r.fail("the pattern is empty") }
            return ReplaceDecoder(pattern: literal, content: try r.string("content") ?? "")
        case "BPEDecoder":
            return BPESuffixDecoder(suffix: try r.string("suffix") ?? "</w>")
        case "Sequence":
            return SequenceDecoder(steps: try r.array("decoders").map { try make($0, file: file) })
        default:
            throw TokenizerError(file: file, "decoder '\(type)' is not supported (Recast knows ByteLevel, WordPiece, Metaspace, ByteFallback, Fuse, Strip, Replace, BPEDecoder, Sequence)")
        }
    }
}

/// Maps GPT-2's byte alphabet back to bytes; a token with a character outside the alphabet keeps its own
/// UTF-8 bytes. Invalid UTF-8 becomes U+FFFD.
struct ByteLevelDecoder: Decoder {
    func decodeChain(_ tokens: [String]) -> [String] {
        var bytes: [UInt8] = []
        for t in tokens {
            var mapped: [UInt8] = []
            var ok = true
            for c in t.unicodeScalars {
                guard let b = ByteLevelAlphabet.byte(of: c) else { ok = false; break }
                mapped.append(b)
            }
            bytes += ok ? mapped : Array(t.utf8)
        }
        return [String(decoding: bytes, as: UTF8.self)]
    }
}

/// Joins `##` continuations to the previous token and puts a space before the others; `cleanup` undoes
/// the spaces BERT's pre-tokenizer put before punctuation and contractions.
struct WordPieceDecoder: Decoder {
    let prefix: String
    let cleanup: Bool

    static func cleanUp(_ s: String) -> String {
        var s = s
        for (from, to) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                           (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            s = s.replacingAll(from, with: to)
        }
        return s
    }

    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.enumerated().map { i, token in
            var t = token
            if i != 0 {
                t = t.hasBytePrefix(prefix) ? t.droppingBytes(prefix.utf8.count) : " " + t
            }
            return cleanup ? WordPieceDecoder.cleanUp(t) : t
        }
    }
}

/// The replacement character (`▁`) back to spaces; the first token's are dropped when a prefix was prepended.
struct MetaspaceDecoder: Decoder {
    let replacement: Unicode.Scalar
    let prependScheme: String

    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.enumerated().map { i, token in
            var out = String.UnicodeScalarView()
            for c in token.unicodeScalars {
                if c == replacement {
                    if !(i == 0 && prependScheme != "never") { out.append(" ") }
                } else {
                    out.append(c)
                }
            }
            return String(out)
        }
    }
}

/// Runs of `<0xNN>` tokens back to the text their bytes spell (U+FFFD per byte when they are not UTF-8).
struct ByteFallbackDecoder: Decoder {
    static func byte(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"), u[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    func decodeChain(_ tokens: [String]) -> [String] {
        var out: [String] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let s = String(validating: pending, as: UTF8.self) {
                out.append(s)
            } else {
                out.append(contentsOf: [String](repeating: "\u{FFFD}", count: pending.count))
            }
            pending.removeAll()
        }
        for t in tokens {
            if let b = ByteFallbackDecoder.byte(t) {
                pending.append(b)
            } else {
                flush()
                out.append(t)
            }
        }
        flush()
        return out
    }
}

/// All tokens into one.
struct FuseDecoder: Decoder {
    func decodeChain(_ tokens: [String]) -> [String] { [tokens.joined()] }
}

/// Removes up to `start` leading and `stop` trailing `content` characters from each token.
struct StripDecoder: Decoder {
    let content: Unicode.Scalar
    let start: Int
    let stop: Int

    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.map { token in
            let chars = Array(token.unicodeScalars)
            var lo = 0
            while lo < min(start, chars.count), chars[lo] == content { lo += 1 }
            var hi = chars.count
            var removed = 0
            while removed < stop, hi > lo, chars[hi - 1] == content { hi -= 1; removed += 1 }
            return makeString(chars[lo..<hi])
        }
    }
}

/// Replaces every occurrence of a literal in each token.
struct ReplaceDecoder: Decoder {
    let pattern: String
    let content: String
    func decodeChain(_ tokens: [String]) -> [String] { tokens.map { $0.replacingAll(pattern, with: content) } }
}

/// The classic BPE end-of-word suffix (`</w>`) back to a space (nothing after the last token).
struct BPESuffixDecoder: Decoder {
    let suffix: String
    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.enumerated().map { i, t in t.replacingAll(suffix, with: i == tokens.count - 1 ? "" : " ") }
    }
}

/// The decoders in turn.
struct SequenceDecoder: Decoder {
    let steps: [any Decoder]
    func decodeChain(_ tokens: [String]) -> [String] { steps.reduce(tokens) { $1.decodeChain($0) } }
}

extension String {
    /// Every non-overlapping occurrence of `target` (left to right) replaced, on Unicode scalars (not
    /// grapheme clusters, so a combining mark after the match does not hide it).
    func replacingAll(_ target: String, with replacement: String) -> String {
        let t = Array(target.unicodeScalars)
        guard !t.isEmpty else { return self }
        let s = Array(unicodeScalars)
        guard s.count >= t.count else { return self }
        var out = String.UnicodeScalarView()
        var i = 0
        var changed = false
        while i < s.count {
            if i + t.count <= s.count, s[i] == t[0], Array(s[i..<(i + t.count)]) == t {
                out.append(contentsOf: replacement.unicodeScalars)
                i += t.count
                changed = true
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return changed ? String(out) : self
    }
}
