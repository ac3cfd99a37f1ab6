import ModelGraph
import RecastCore

/// The Python file that makes a converted model a Hugging Face `transformers` model ("remote code"):
/// `swap` writes it beside the weights and points config.json's `auto_map` at its classes, so that
/// `AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)` (GPT-2 and Llama families) and
/// `AutoModel.from_pretrained(folder, trust_remote_code=True)` (BERT) load the model with Recast's semantics.
///
/// The file is python/recast_modeling/modeling_recast.py; `source` and `templateVersion` are generated from
/// it by tools/embed_remote_code.py (RemoteCodeTemplate.swift), so the binary carries it without resources.
/// Companion copying (`Companions.fileNames`) carries the file on through `calibrate` and `convert`.
public enum RemoteCode {
    /// The Python module: `auto_map` entries are `modeling_recast.<Class>`.
    public static let moduleName = "modeling_recast"
    /// The file's name beside the weights.
    public static let fileName = moduleName + ".py"

    /// The class-name stem per `model_type`, and whether the family loads through `AutoModel` alone (an encoder)
    /// rather than also through `AutoModelForCausalLM` (a decoder, whose `AutoModel` is the decoder without its head).
    static let families: [String: (stem: String, model: String, encoder: Bool)] = [
        "llama": ("RecastLlama", "RecastLlamaForCausalLM", false),
        "qwen2": ("RecastQwen2", "RecastQwen2ForCausalLM", false),
        "mistral": ("RecastMistral", "RecastMistralForCausalLM", false),
        "gpt2": ("RecastGPT2", "RecastGPT2LMHeadModel", false),
        "bert": ("RecastBert", "RecastBertModel", true),
    ]

    /// config.json's `auto_map` for a model of `modelType`: `AutoConfig`, `AutoModelForCausalLM` and `AutoModel`
    /// (the decoder without its head), or for BERT `AutoModel` and, when `architectures` names `BertForMaskedLM`
    /// (whose checkpoint holds the masked-LM head), `AutoModelForMaskedLM`; nil for a family the file does not define.
    public static func autoMap(modelType: String, architectures: [String] = []) -> JSON? {
        let type = ModelGraph.baseModelType(modelType)
        guard let f = families[type] else { return nil }
        var entries: [(String, JSON)] = [
            ("AutoConfig", .string("\(moduleName).\(f.stem)Config")),
            (f.encoder ? "AutoModel" : "AutoModelForCausalLM", .string("\(moduleName).\(f.model)")),
        ]
        if !f.encoder { entries.append(("AutoModel", .string("\(moduleName).\(f.stem)Model"))) }
        if type == "bert" && architectures.contains("BertForMaskedLM") {
            entries.append(("AutoModelForMaskedLM", .string("\(moduleName).RecastBertForMaskedLM")))
        }
        return .object(entries)
    }

    /// The `model_type` a swapped folder with this file gets ("recast_llama" for "llama"): one the library does not
    /// know, so that loading without `trust_remote_code` fails instead of giving softmax attention. The config
    /// classes of the file declare it, so `save_pretrained` writes it back.
    public static func swappedModelType(_ modelType: String) -> String {
        ModelGraph.swappedModelTypePrefix + ModelGraph.baseModelType(modelType)
    }

    /// Writes the file into the folder `dir`; its name.
    public static func write(into dir: String) throws -> String {
        try FileSystem.writeAll(FileSystem.join(dir, fileName), Array((source + "\n").utf8))
        return fileName
    }
}
