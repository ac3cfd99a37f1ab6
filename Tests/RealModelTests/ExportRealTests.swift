import Foundation
import Testing
import TestSupport
import RecastCore

/// The finetuning hand-off (issue 14) on the real all-MiniLM-L6-v2: PyTorch loads what `recast swap` wrote
/// through its remote code (`AutoModel` and `SentenceTransformer`, trust_remote_code) and computes what
/// `recast run` computes. tools/remote_code_real.py does the work in one Python process; SmolLM2 (minutes of
/// CPU) is left to that script, run by hand (the README gives its figures).
@Suite struct ExportRealTests {
    /// Hedgehog in every layer, without and with `--window 8`, on ten licence lines of 3 to about 70 tokens:
    /// every tensor loads, the last hidden state of one sequence and of a right-padded batch with its mask,
    /// and sentence-transformers' embeddings (Recast tokenizing the lines itself) equal `recast run`'s within
    /// 1e-4 relative; sentence-transformers keeps the folder's mean pooling and normalisation.
    @Test func pyTorchComputesWhatRecastRunsOnMiniLM() throws {
        let dir = TempDir()
        let figures = dir.file("figures.json")
        let r = try python([repoRoot + "/tools/remote_code_real.py", "minilm", "--recast", recastBinary,
                            "--work", dir.path, "--json", figures])
        try #require(FileSystem.exists(figures),
                     "tools/remote_code_real.py wrote no figures (torch, transformers, sentence-transformers installed? pip install -r tools/requirements.txt): \(r.stderr)")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let results = try JSON.parse(try FileSystem.readAll(figures))
        for name in ["minilm-hedgehog", "minilm-hedgehog-w8"] {
            let result = try #require(results[name], "no figures for \(name)")
            #expect(result["missing"]?.arrayValue?.isEmpty == true, "\(name): missing \(result["missing"]?.serialized() ?? "")")
            #expect(result["unexpected"]?.arrayValue?.isEmpty == true, "\(name): unexpected \(result["unexpected"]?.serialized() ?? "")")
            for check in ["parallel_hidden", "batch_hidden", "embeddings"] {
                let error = try #require(result[check]?.doubleValue, "\(name): no \(check)")
                #expect(error < 1e-4, "\(name): \(check) relative error \(error)")
            }
            #expect(result["architecture"]?.stringValue == "RecastBertModel")
            #expect(result["modules"]?.arrayValue?.compactMap(\.stringValue) == ["Transformer", "Pooling", "Normalize"])
            #expect(result["pooling"]?.stringValue == "mean")
        }
    }
}
