import ModelGraph
import RecastCore

extension NameTable {
    /// The table of the checkpoint at `path`, with the `config.json` beside it (when there is one) deciding
    /// the PyTorch class its TensorFlow names map to.
    public init(store: TensorStore, modelPath path: String) throws {
        self.init(store: store, config: try Model.readConfig(path).map(\.json))
    }

    /// The conversion plan that writes every tensor under its PyTorch name and layout: TensorFlow
    /// kernels transposed back to `[out, in]`, other tensors unchanged.
    public var pytorchPlan: [TensorPlan] {
        entries.map { TensorPlan(source: $0.storeName, name: $0.canonicalName, transpose: $0.transposed) }
    }
}
