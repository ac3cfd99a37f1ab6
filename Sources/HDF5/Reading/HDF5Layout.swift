
/// The conventions an HDF5 checkpoint follows, decided from its root attributes and groups.
///
/// Rules, in order:
/// 1. `keras-legacy`: a Keras 2 full-model file (`model.save("m.h5")`): a root group `model_weights`,
///    with root attributes `model_config`, `keras_version` or `backend`, or a `layer_names` attribute
///    on `model_weights`.
/// 2. A root attribute `layer_names` (or its split form `layer_names0`, `layer_names1`, …) marks a
///    Keras 2 `save_weights` file. It is `hf-tensorflow` (a Hugging Face `tf_model.h5`) when
///    - a layer group's `weight_names` holds a name whose first component starts with `tf_`
///      (transformers' Keras model names: `tf_bert_model/bert/embeddings/…:0`), or
///    - no listed layer has a group with a `weight_names` attribute: transformers' sharded
///      `tf_model-0000k-of-0000n.h5`, whose `layer_names` lists the weights themselves.
///    Otherwise it is `keras2`.
/// 3. `keras3`: a Keras 3 `.weights.h5`: a root group `layers` or `vars` and every dataset at
///    `…/vars/<index>` (or no dataset and a root group `vars`).
/// 4. `generic`: anything else.
public enum HDF5Layout: String, Sendable, CaseIterable {
    case keras2 = "keras2"
    case huggingFaceTensorFlow = "hf-tensorflow"
    case kerasLegacy = "keras-legacy"
    case keras3 = "keras3"
    case generic = "generic"

    static func detect(document: HDF5File, root: [HDF5Attribute], rootGroups: [String: HDF5Object],
                       tensorNames: [String]) throws -> HDF5Layout {
        let rootNames = Set(root.map(\.name))
        if let weights = rootGroups["model_weights"] {
            var legacy = !rootNames.isDisjoint(with: ["model_config", "keras_version", "backend"])
            if !legacy {
                legacy = try splitStrings(try weights.attributes(), "layer_names", document) != nil
            }
            if legacy { return .kerasLegacy }
        }

        if let layers = try splitStrings(root, "layer_names", document) {
            var groupsWithWeightNames = 0
            var looked: Set<String> = []
            // Each layer group once, however often the list names it.
            for layer in layers {
                guard let group = rootGroups[layer], looked.insert(layer).inserted,
                      let weights = try splitStrings(try group.attributes(), "weight_names", document) else { continue }
                groupsWithWeightNames += 1
                if weights.contains(where: { $0.split(separator: "/").first?.hasPrefix("tf_") == true }) {
                    return .huggingFaceTensorFlow
                }
            }
            if groupsWithWeightNames == 0 && !layers.isEmpty { return .huggingFaceTensorFlow }
            return .keras2
        }

        if rootGroups["layers"] != nil || rootGroups["vars"] != nil {
            if tensorNames.isEmpty ? rootGroups["vars"] != nil : tensorNames.allSatisfy(isKeras3Variable) {
                return .keras3
            }
        }
        return .generic
    }

    /// The value of a Keras attribute that may be split into `name0`, `name1`, … when it outgrew an
    /// object header. nil when neither form exists; `[]` for a present but empty or non-string one.
    static func splitStrings(_ attributes: [HDF5Attribute], _ name: String, _ document: HDF5File) throws -> [String]? {
        var byName: [String: HDF5Attribute] = [:]
        for attribute in attributes where byName[attribute.name] == nil { byName[attribute.name] = attribute }
        if let whole = byName[name] { return try whole.strings(in: document) ?? [] }
        var parts: [String]?
        var chunk = 0
        while let part = byName["\(name)\(chunk)"] {
            parts = parts ?? []
            parts?.append(contentsOf: try part.strings(in: document) ?? [])
            chunk += 1
        }
        return parts
    }

    /// `…/vars/<index>` or `vars/<index>`.
    static func isKeras3Variable(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[parts.count - 2] == "vars", let last = parts.last, !last.isEmpty else { return false }
        return last.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
