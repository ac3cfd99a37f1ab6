import Foundation
import Testing
import TestSupport
import RecastCore
import SafeTensors

/// The real models (all-MiniLM-L6-v2 and SmolLM2-135M-Instruct, fetched by tools/models.py into the
/// gitignored cache) on real English text, against the NumPy reference (tools/reference.py), which
/// tokenizes with Hugging Face `tokenizers` and computes in float64 from the published model definitions.
@Suite(.serialized) struct RealModelTests {
    /// The folder `python3 tools/models.py NAME` prints (fetching and building it once).
    static func model(_ name: String) throws -> String {
        let r = try python([repoRoot + "/tools/models.py", name])
        guard r.status == 0, let path = r.stdout.split(separator: "\n").last.map(String.init),
              FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError(file: "tools/models.py", "\(name): \(r.stderr)")
        }
        return path
    }

    /// Sentences of every length from a licence text: short and long lines in one batch, so most rows
    /// are padded.
    static func sentences() throws -> String {
        let text = try String(contentsOfFile: "/usr/share/common-licenses/Apache-2.0", encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.count > 3 }
        let picked = Array(lines.prefix(16)) + ["Hi.", lines.joined(separator: " ").prefix(600).description]
        return picked.joined(separator: "\n") + "\n"
    }

    /// About 520 SmolLM2 tokens of English prose: the GPL-3 preamble's first paragraphs.
    static func document() throws -> String {
        let text = try String(contentsOfFile: "/usr/share/common-licenses/GPL-3", encoding: .utf8)
        guard let start = text.range(of: "  The GNU General Public License is a free") else {
            throw CheckpointError(file: "/usr/share/common-licenses/GPL-3", "no preamble")
        }
        var out = ""
        for paragraph in text[start.lowerBound...].components(separatedBy: "\n\n") where out.count < 2300 {
            out += paragraph + "\n\n"
        }
        return out
    }

    static func floats(_ path: String, _ name: String) throws -> (values: [Float], shape: [Int]) {
        let file = try SafeTensorsFile(path: path)
        guard let info = file.info(named: name) else { throw CheckpointError(file: path, "no tensor \(name)") }
        return (try file.loadFloat32(name), info.shape)
    }

    /// `recast run MINILM --lines F --outputs embeddings`: one process, padded batches with attention
    /// masks, sentence-transformers pooling and normalisation from the model's own files. Each sentence's
    /// embedding must have cosine >= 0.99999 with the reference's (which pads its batches differently).
    @Test func miniLMEmbeddingsMatchTheReference() throws {
        let minilm = try Self.model("minilm")
        let tmp = TempDir()
        let lines = tmp.write("lines.txt", try Self.sentences())
        let out = tmp.file("recast.safetensors"), ref = tmp.file("reference.safetensors")
        let r = try recast(["run", minilm, "--lines", lines, "--outputs", "embeddings", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let p = try python([repoRoot + "/tools/reference.py", "embed", minilm, "--lines", lines, "--out", ref,
                            "--batch-size", "5"])
        #expect(p.status == 0, "\(p.stderr)")
        let (mine, shape) = try Self.floats(out, "embeddings")
        let (theirs, refShape) = try Self.floats(ref, "embeddings")
        #expect(shape == [18, 384] && refShape == shape)
        // the same tokens: the masks hold each sentence's token count
        let maskMine = try SafeTensorsFile(path: out).loadFloat32("attention_mask")
        let maskRef = try SafeTensorsFile(path: ref).loadFloat32("attention_mask")
        let counts = { (m: [Float], n: Int) in (0..<n).map { i in m[(i * m.count / n)..<((i + 1) * m.count / n)].reduce(0, +) } }
        #expect(counts(maskMine, 18) == counts(maskRef, 18))
        let d = 384
        for i in 0..<min(shape.first ?? 0, 18) {
            let a = mine[(i * d)..<((i + 1) * d)], b = theirs[(i * d)..<((i + 1) * d)]
            var dot = 0.0, na = 0.0, nb = 0.0
            for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
            let cosine = dot / (na.squareRoot() * nb.squareRoot())
            #expect(cosine >= 0.99999, "sentence \(i): cosine \(cosine)")
            #expect(abs(na.squareRoot() - 1) < 1e-4, "sentence \(i) is L2-normalised (2_Normalize)")
        }
    }

    /// `recast verify SMOLLM2 SWAPPED --text-file F --json` over windows of 256 tokens with a stride of
    /// 192 (overlapping windows, each token scored once): both models' perplexities equal the reference's
    /// within 1e-4 relative; the other figures agree too.
    @Test func smolLM2PerplexityMatchesTheReference() throws {
        let smollm2 = try Self.model("smollm2")
        let tmp = TempDir()
        let text = tmp.write("document.txt", try Self.document())
        let swapped = tmp.file("swapped")
        let s = try recast(["swap", smollm2, swapped, "--feature-map", "elu", "--layers", "20-29"])
        #expect(s.status == 0, "\(s.stderr)")
        let window = ["--text-file", text, "--max-length", "256", "--stride", "192"]
        let v = try recast(["verify", smollm2, swapped] + window + ["--json"])
        #expect(v.status == 0, "\(v.stderr)")
        let mine = try JSON.parse(v.stdout)["text"]
        let theirs = try pythonJSON("reference.py", ["compare", smollm2, swapped] + window)["text"]
        let tokens = theirs?["tokens"]?.intValue ?? 0
        #expect(tokens > 450 && tokens < 700 && mine?["tokens"]?.intValue == tokens)
        #expect(mine?["sequences"]?.intValue == theirs?["sequences"]?.intValue)
        for model in ["original", "converted"] {
            let a = mine?["perplexity"]?[model]?.doubleValue ?? .nan, b = theirs?["perplexity"]?[model]?.doubleValue ?? .nan
            #expect(abs(a - b) <= 1e-4 * b, "\(model) perplexity \(a) vs reference \(b)")
            let accA = mine?["next_token_accuracy"]?[model]?.doubleValue ?? .nan, accB = theirs?["next_token_accuracy"]?[model]?.doubleValue ?? .nan
            #expect(abs(accA - accB) <= 2.0 / Double(tokens), "\(model) accuracy \(accA) vs \(accB)")
        }
        let klA = mine?["mean_kl"]?.doubleValue ?? .nan, klB = theirs?["mean_kl"]?.doubleValue ?? .nan
        #expect(abs(klA - klB) <= 1e-3 * klB, "mean KL \(klA) vs \(klB)")
        let agreeA = mine?["top1_agreement"]?.doubleValue ?? .nan, agreeB = theirs?["top1_agreement"]?.doubleValue ?? .nan
        #expect(abs(agreeA - agreeB) <= 2.0 / Double(tokens), "top-1 agreement \(agreeA) vs \(agreeB)")
        // the swap must matter, or the converted column tests nothing
        #expect((theirs?["perplexity"]?["converted"]?.doubleValue ?? 0) > 1.2 * (theirs?["perplexity"]?["original"]?.doubleValue ?? .infinity))
    }
}
