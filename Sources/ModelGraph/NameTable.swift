import RecastCore

/// The store's tensors under their canonical (Hugging Face PyTorch) names.
///
/// PyTorch checkpoints keep their names. Hugging Face TensorFlow checkpoints (`tf_model.h5`) are
/// renamed the way Hugging Face's TF↔PyTorch conversion does, and dense kernels are marked as stored
/// transposed (`[in, out]` against `Linear`'s `[out, in]`).
public struct NameTable: Sendable {
    public struct Entry: Sendable, Hashable {
        public var storeName: String
        public var canonicalName: String
        public var shape: [Int]
        public var transposed: Bool
    }

    public private(set) var entries: [Entry] = []
    private var byCanonical: [String: Int] = [:]
    public var usesTensorFlowNames: Bool

    /// The table of `store`. `config` is the model's `config.json`: its `architectures` names the PyTorch
    /// class that TensorFlow names are mapped for (see `stripsBasePrefix`).
    public init(store: TensorStore, config: JSON? = nil) {
        // TensorFlow weight names end in `:0` (`…/kernel:0`), in an HDF5 file or in a safetensors file
        // converted from one with the names kept.
        let tf = store.tensors.contains { NameTable.isTensorFlowName($0.name) }
        usesTensorFlowNames = tf
        var mapped: [String: (name: String, transpose: Bool)] = [:]
        if tf {
            for t in store.tensors { mapped[t.name] = NameTable.pytorchName(hdf5Name: t.name) }
            let architecture = config?["architectures"]?.arrayValue?.first?.stringValue
            let scope = store.tensors.lazy.compactMap { NameTable.tensorFlowScope(hdf5Name: $0.name) }.first
            let firsts = Set(mapped.values.map { $0.name.split(separator: ".", maxSplits: 1).first.map(String.init) ?? "" })
            if let main = firsts.first, firsts.count == 1, !main.isEmpty,
               NameTable.stripsBasePrefix(architecture: architecture, scope: scope) {
                for (k, v) in mapped { mapped[k] = (String(v.name.dropFirst(main.count + 1)), v.transpose) }
            }
        }
        for t in store.tensors {
            var canonical = t.name
            var transposed = false
            if let m = mapped[t.name] {
                canonical = m.name
                transposed = m.transpose && t.shape.count == 2
            }
            let shape = transposed ? [t.shape[1], t.shape[0]] : t.shape
            if byCanonical[canonical] == nil { byCanonical[canonical] = entries.count }
            entries.append(Entry(storeName: t.name, canonicalName: canonical, shape: shape, transposed: transposed))
        }
    }

    /// Whether PyTorch names drop the base-model prefix (`bert.`, `transformer.`, `roberta.`, `model.`).
    ///
    /// Hugging Face's rule (`load_tf2_state_dict_in_pytorch_model` in `modeling_tf_pytorch_utils.py`): when
    /// none of the PyTorch model's own keys starts with its `base_model_prefix`, that prefix plus "." is
    /// removed from every converted TensorFlow name. The keys lack it exactly for the base-model class
    /// (`BertModel`: `embeddings.…`, `encoder.…`) and have it for every class with a head (`BertForMaskedLM`:
    /// `bert.encoder.…`, `cls.predictions.…`). TensorFlow's main layer is named by that prefix
    /// (`tf_bert_model/bert/…`), so the prefix removed is the first component every name shares.
    ///
    /// The class is the config's `architectures[0]` (what `save_pretrained` recorded); without one, the
    /// scope of the TensorFlow weights names the TF class (`tf_bert_model` is `TFBertModel`,
    /// `tf_bert_for_masked_lm` is `TFBertForMaskedLM`).
    public static func stripsBasePrefix(architecture: String?, scope: String?) -> Bool {
        if let a = architecture {
            let name = a.hasPrefix("TF") ? String(a.dropFirst(2)) : a
            return name.hasSuffix("Model") && !name.contains("For") && !name.hasSuffix("HeadModel") && !name.hasSuffix("HeadsModel")
        }
        guard let s = scope else { return false }
        return s.hasSuffix("_model") && !s.contains("_for_") && !s.hasSuffix("head_model") && !s.hasSuffix("heads_model")
    }

    /// The TensorFlow model scope of an HDF5 dataset path from a Hugging Face TF checkpoint
    /// (`bert/tf_bert_model/bert/…:0` → `tf_bert_model`).
    public static func tensorFlowScope(hdf5Name: String) -> String? {
        guard isTensorFlowName(hdf5Name) else { return nil }
        let parts = hdf5Name.split(separator: "/")
        return parts.count > 2 ? String(parts[1]) : nil
    }

    static func isTensorFlowName(_ name: String) -> Bool {
        guard let colon = name.lastIndex(of: ":"), name.contains("/") else { return false }
        let suffix = name[name.index(after: colon)...]
        return !suffix.isEmpty && suffix.allSatisfy(\.isNumber)
    }

    public func entry(_ canonical: String) -> Entry? { byCanonical[canonical].map { entries[$0] } }

    public func ref(_ canonical: String) -> TensorRef? {
        entry(canonical).map { TensorRef(name: $0.storeName, shape: $0.shape, storedTransposed: $0.transposed) }
    }

    public var canonicalNames: [String] { entries.map(\.canonicalName) }

    /// The PyTorch name of an HDF5 dataset path from a Hugging Face TF checkpoint:
    /// `bert/tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0` →
    /// (`bert.encoder.layer.0.attention.self.query.weight`, transpose).
    public static func pytorchName(hdf5Name: String) -> (name: String, transpose: Bool)? {
        // The dataset sits under its Keras layer group; the weight name proper follows it.
        guard let slash = hdf5Name.firstIndex(of: "/") else { return nil }
        return pytorchName(tfWeightName: String(hdf5Name[hdf5Name.index(after: slash)...]))
    }

    /// Hugging Face's `convert_tf_weight_name_to_pt_weight_name` for a TF weight name.
    public static func pytorchName(tfWeightName: String) -> (name: String, transpose: Bool)? {
        var name = tfWeightName
        if let colon = name.lastIndex(of: ":"), name[name.index(after: colon)...].allSatisfy(\.isNumber) {
            name = String(name[..<colon])
        }
        var parts = name.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        // `scope___name` keeps only the name (Hugging Face's `/[^/]*___([^/]*)/` rule).
        parts = parts.enumerated().map { i, p in
            if i > 0, i < parts.count - 1, let r = p.firstRange(of: "___") { return String(p[r.upperBound...]) }
            return p
        }
        // `layer_._3` → `layer/3`
        parts = parts.flatMap { p -> [String] in
            p.contains("_._") ? p.components(separatedBy: "_._").filter { !$0.isEmpty } : [p]
        }
        guard parts.count > 1 else { return nil }
        parts.removeFirst()  // the model-level scope, e.g. tf_bert_model
        let last = parts[parts.count - 1]
        let transpose = ["kernel", "pointwise_kernel", "depthwise_kernel"].contains(last)
        switch last {
        case "kernel", "gamma", "embeddings": parts[parts.count - 1] = "weight"
        case "beta": parts[parts.count - 1] = "bias"
        default: break
        }
        return (parts.joined(separator: "."), transpose)
    }
}

extension String {
    func components(separatedBy sep: String) -> [String] {
        var out: [String] = []
        var rest = Substring(self)
        while let r = rest.firstRange(of: sep) {
            out.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}
