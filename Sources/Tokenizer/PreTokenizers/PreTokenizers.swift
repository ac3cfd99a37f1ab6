import RecastCore

/// The pre-tokenizers of tokenizer.json, by their `type`. (Placeholder until the pre-tokenizers land.)
enum PreTokenizers {
    static func make(_ json: JSONView, file: String) throws -> any PreTokenizer {
        throw TokenizerError(file: file, "pre-tokenizer \(json["type"]?.stringValue ?? "?") is not supported yet")
    }
}
