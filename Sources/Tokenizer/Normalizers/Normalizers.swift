import RecastCore

/// The normalizers of tokenizer.json, by their `type`. (Placeholder until the normalizers land.)
enum Normalizers {
    static func make(_ json: JSONView, file: String) throws -> any Normalizer {
        throw TokenizerError(file: file, "normalizer \(json["type"]?.stringValue ?? "?") is not supported yet")
    }
}
