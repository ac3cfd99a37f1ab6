import Foundation
import Testing
import TestSupport
import RecastCore
@testable import Runtime

/// A sentence-transformers folder's pooling, in both forms its Pooling config has had: the `pooling_mode_*_tokens`
/// flags (up to sentence-transformers 4) and `"pooling_mode": "mean"` (5 and later, what `save` writes today).
@Suite struct PoolingConfigTests {
    let dir = TempDir()

    /// The pooling of a folder whose `1_Pooling/config.json` is `config`, with a Normalize module; or the error.
    func pooling(_ config: String) -> Result<Pooling?, Error> {
        let name = "model-\(abs(config.hashValue))", folder = dir.file(name)
        try? FileManager.default.createDirectory(atPath: folder + "/1_Pooling", withIntermediateDirectories: true)
        dir.write(name + "/modules.json", #"""
            [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
             {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
             {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.base.modules.normalize.Normalize"}]
            """#)
        dir.write(name + "/1_Pooling/config.json", config)
        return Result { try Pooling.sentenceTransformers(model: folder) }
    }

    @Test func bothFormsGiveTheMode() throws {
        for (config, mode) in [(#"{"embedding_dimension": 384, "pooling_mode": "mean", "include_prompt": true}"#, Pooling.Mode.mean),
                               (#"{"pooling_mode": "cls"}"#, .cls), (#"{"pooling_mode": ["max"]}"#, .max),
                               (#"{"word_embedding_dimension": 32, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#, .cls),
                               (#"{"pooling_mode": "mean", "pooling_mode_mean_tokens": true}"#, .mean)] {
            #expect(try pooling(config).get() == Pooling(mode: mode, normalize: true), "\(config)")
        }
    }

    @Test func whatRecastCannotRunIsRefusedByName() {
        for (config, fragment) in [(#"{"pooling_mode": ["mean", "max"]}"#, "would concatenate them"),
                                   (#"{"pooling_mode": "weightedmean"}"#, "Recast does not support"),
                                   (#"{"pooling_mode": "median"}"#, "sentence-transformers does not know"),
                                   (#"{"pooling_mode": []}"#, "not a mode name"), (#"{"pooling_mode": ["mean", 3]}"#, "not a mode name"),
                                   (#"{"pooling_mode": 1}"#, "not a mode name"),
                                   (#"{"pooling_mode": "mean", "pooling_mode_cls_token": true}"#, "turn on another mode"),
                                   (#"{"word_embedding_dimension": 32}"#, "turns on no pooling mode")] {
            guard case .failure(let error) = pooling(config) else {
                Issue.record("\(config) was accepted")
                continue
            }
            #expect("\(error)".contains("1_Pooling/config.json") && "\(error)".contains(fragment), "\(config): \(error)")
        }
    }

    /// The length sentence-transformers truncates to: sentence_bert_config.json's max_seq_length, else (5 and later
    /// save it there) the tokenizer's model_max_length; transformers' "no limit" sentinel is no limit.
    @Test func maxLengthFromEitherFile() throws {
        func length(_ sbert: String, _ tokenizer: String?) throws -> Int? {
            let name = "len-\(abs((sbert + (tokenizer ?? "")).hashValue))", folder = dir.file(name)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            dir.write(name + "/sentence_bert_config.json", sbert)
            if let tokenizer { dir.write(name + "/tokenizer_config.json", tokenizer) }
            return try Pooling.sentenceTransformersMaxLength(model: folder)
        }
        #expect(try length(#"{"max_seq_length": 256}"#, #"{"model_max_length": 512}"#) == 256)
        #expect(try length(#"{"module_output_name": "token_embeddings"}"#, #"{"model_max_length": 256}"#) == 256)
        #expect(try length(#"{"module_output_name": "token_embeddings"}"#, #"{"model_max_length": 1000000000000000019884624838656}"#) == nil)
        #expect(try length(#"{}"#, nil) == nil)
    }
}
