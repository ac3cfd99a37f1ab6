/// The only globals a pickle may name: what `torch.save` writes for tensors, storages, dtypes and state
/// dicts. Stricter than torch's `weights_only` unpickler, which also admits sets, numpy arrays,
/// tensor subclasses and user-registered globals: none of those are needed to read weights.
///
/// A global is only ever a tag: the machine recognises it and builds plain values; nothing is imported,
/// looked up or called.
enum AllowedGlobal: Sendable, Hashable {
    case rebuildTensorV2
    case rebuildTensorV3
    case rebuildParameter
    case storageClass(TorchStorageType)
    case dtype(TorchDType)
    case orderedDict
    case size
    case device

    /// The global `module.name` resolves to, or nil when it is not on the list.
    init?(module: String, name: String) {
        switch (module, name) {
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor_v3"): self = .rebuildTensorV3
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch.storage", "UntypedStorage"), ("torch", "UntypedStorage"): self = .storageClass(.untyped)
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch", "Size"): self = .size
        case ("torch", "device"): self = .device
        case ("torch", _):
            if let t = TorchDType(storageClass: name) {
                self = .storageClass(.typed(t))
            } else if let t = TorchDType(rawValue: name) {
                self = .dtype(t)
            } else {
                return nil
            }
        default: return nil
        }
    }

    /// Whether REDUCE may apply this global to arguments (the machine then builds the value itself).
    var isCallable: Bool {
        switch self {
        case .rebuildTensorV2, .rebuildTensorV3, .rebuildParameter, .orderedDict, .size, .device: true
        case .storageClass, .dtype: false
        }
    }
}
