import RecastCore

/// The storages a pickle's value refers to, each declared consistently.
enum TorchStorageCatalog {
    /// Adds every storage reference inside `value` to `catalog`; one key declared with two types or
    /// sizes is an error.
    static func collect(_ value: PickleValue, into catalog: inout [String: TorchStorageReference], file: String) throws {
        func add(_ ref: TorchStorageReference) throws {
            if let known = catalog[ref.key], known.type != ref.type || known.count != ref.count {
                throw CheckpointError(file: file, object: "storage '\(ref.key)'",
                                      "is declared twice, as \(known.count) × \(known.type.name) and as \(ref.count) × \(ref.type.name)")
            }
            catalog[ref.key] = ref
        }
        switch value {
        case .tensor(let t): try add(t.storage)
        case .storage(let s): try add(s)
        case .list(let items), .tuple(let items): for v in items { try collect(v, into: &catalog, file: file) }
        case .dict(let entries): for e in entries { try collect(e.value, into: &catalog, file: file) }
        default: break
        }
    }
}
