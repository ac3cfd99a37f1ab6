import FuzzSupport
import RecastCore
import SafeTensors

/// The sharded-checkpoint reader: the input is `model.safetensors.index.json`, written beside real
/// shards (the Llama fixture's two, and `dtypes.safetensors`, `casts.safetensors` and GPT-2's
/// `model.safetensors` for a mutated `weight_map` to name). The store must open or throw a
/// `CheckpointError`; every tensor it lists is then read.
let indexPath: String = {
    Fuzz.copyFixture("llama/model-00001-of-00002.safetensors", as: "model-00001-of-00002.safetensors")
    Fuzz.copyFixture("llama/model-00002-of-00002.safetensors", as: "model-00002-of-00002.safetensors")
    Fuzz.copyFixture("dtypes.safetensors", as: "dtypes.safetensors")
    Fuzz.copyFixture("casts.safetensors", as: "casts.safetensors")
    Fuzz.copyFixture("gpt2/model.safetensors", as: "model.safetensors")
    return FileSystem.join(Fuzz.scratch, "model.safetensors.index.json")
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShardedIndex(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Fuzz.write(UnsafeRawBufferPointer(start: data, count: size), to: "model.safetensors.index.json")
    let store: ShardedSafeTensors
    do {
        store = try ShardedSafeTensors(indexPath: indexPath)
    } catch let error as CheckpointError {
        Fuzz.invariant(error.file.hasPrefix(Fuzz.scratch), "the error names no file of the checkpoint: \(error)")
        return 0
    } catch {
        Fuzz.invariant(false, "opening threw an unexpected \(type(of: error)): \(error)")
        return 0
    }
    Fuzz.invariant(store.files.first == path, "the index is not listed first: \(store.files)")
    Fuzz.invariant(Set(store.files).count == store.files.count, "a file is listed twice: \(store.files)")
    _ = store.metadata.count
    Fuzz.readEveryTensor(store) { $0 is CheckpointError }
    return 0
}

// MARK: structure-aware mutation

/// Keys of an index and, as values, the shard files and tensor names the scratch folder holds.
let indexMutator: JSONMutator = {
    _ = indexPath
    let files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "dtypes.safetensors",
                 "casts.safetensors", "model.safetensors", "model.safetensors.index.json", "missing.safetensors", ".", ".."]
    var names: [String] = []
    for file in files.prefix(5) {
        if let shard = try? SafeTensorsFile(path: FileSystem.join(Fuzz.scratch, file)) { names += shard.tensors.map(\.name) }
    }
    return JSONMutator(keys: ["weight_map", "metadata", "total_size"] + names, strings: files + names)
}()

@_cdecl("LLVMFuzzerCustomMutator")
public func mutateShardedIndex(_ data: UnsafeMutablePointer<UInt8>?, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    Fuzz.mutateJSON(data, size, maxSize, seed, indexMutator)
}
