import Checkpoint
import GGUF
import HDF5
import ModelGraph
import RecastCore
import SafeTensors
import TestSupport
import TorchPickle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads an input the way its fuzz target in `Fuzz/` does, and answers with an exit status for an exit
/// test: 0 when the reader ended in a clean thrown error of its own type (or, for HDF5, read what it
/// could and skipped the rest), 2 when it accepted an input that it must refuse, 3 when it threw an
/// error of an unexpected type. A crash or a hang ends the child process by a signal instead.
enum Replay {
    static let clean: Int32 = 0
    static let accepted: Int32 = 2
    static let unexpected: Int32 = 3

    static func input(_ name: String) -> String { repoRoot + "/Tests/FuzzRegressionTests/Inputs/" + name }

    /// Bounds a child: a hang ends with SIGALRM, runaway memory in a failed allocation. Under
    /// AddressSanitizer (tools/test.sh's second stage) the address-space bound is left out: the
    /// sanitizer's shadow memory alone reserves terabytes of it.
    static func limit(seconds: UInt32 = 20, memory: Int = 4 << 30) {
        alarm(seconds)
        guard dlsym(nil, "__asan_init") == nil else { return }
        var bound = rlimit(rlim_cur: rlim_t(memory), rlim_max: rlim_t(memory))
        #if canImport(Glibc)
        _ = setrlimit(Int32(RLIMIT_AS.rawValue), &bound)
        #else
        _ = setrlimit(RLIMIT_AS, &bound)
        #endif
    }

    static func outcome(_ body: () throws -> Void, refusal: (any Error) -> Bool) -> Int32 {
        do {
            try body()
            return accepted
        } catch {
            return refusal(error) ? clean : unexpected
        }
    }

    /// `fuzz-safetensors-header`: the header parser and validator, from memory.
    static func safetensorsHeader(_ name: String) -> Int32 {
        limit()
        guard let bytes = try? FileSystem.readAll(input(name)) else { return unexpected }
        return outcome({
            _ = try bytes.withUnsafeBytes { try SafeTensorsHeader.parse($0, file: name) }
        }, refusal: { $0 is CheckpointError })
    }

    /// `fuzz-gguf`: the file opened as a `GGUFFile` (the header parsed and validated) and every tensor
    /// read as f32 through the store, which dequantises the block types Recast decodes.
    static func gguf(_ name: String) -> Int32 {
        limit()
        return outcome({
            let file = try GGUFFile(path: input(name))
            for t in file.tensorInfos where t.type.ggmlID != nil {
                do { _ = try file.loadFloat32(t.name) } catch is CheckpointError {}
            }
        }, refusal: { $0 is CheckpointError })
    }

    /// `fuzz-pickle`: the pickle machine on the bytes, and the value it returns walked as the target
    /// walks it (every key, item and tensor, up to 65,536 visits).
    static func pickle(_ name: String, seconds: UInt32) -> Int32 {
        limit(seconds: seconds, memory: 2 << 30)
        guard let bytes = try? FileSystem.readAll(input(name)) else { return unexpected }
        return outcome({
            let value = try bytes.withUnsafeBytes { try PickleMachine.load($0, file: name) }
            var visits = 0
            walk(value, &visits)
        }, refusal: { ($0 as? CheckpointError)?.file == name })
    }

    static func walk(_ value: PickleValue, _ visits: inout Int) {
        visits += 1
        guard visits < 1 << 16 else { return }
        switch value {
        case .dict(let entries):
            for entry in entries {
                walk(entry.key, &visits)
                walk(entry.value, &visits)
            }
        case .list(let items), .tuple(let items):
            for item in items { walk(item, &visits) }
        default:
            break
        }
    }

    /// `fuzz-torch-zip`: the bytes as a `torch.save` file, every tensor read; a refusal must name the file
    /// itself in `CheckpointError.file` (the archive entry goes in `object`).
    static func torchZip(_ name: String) -> Int32 {
        limit()
        guard let bytes = try? FileSystem.readAll(input(name)) else { return unexpected }
        return outcome({
            try bytes.withUnsafeBytes { try readEveryTensor(try TorchCheckpoint(bytes: $0, file: name)) }
        }, refusal: { ($0 as? CheckpointError)?.file == name })
    }

    /// `fuzz-sharded-index`: the index written beside the Llama fixture's shards (and the other
    /// safetensors fixtures the target offers), opened, every tensor read.
    static func shardedIndex(_ name: String) -> Int32 {
        limit()
        let dir = TempDir()
        for (fixtureName, copy) in [("llama/model-00001-of-00002.safetensors", "model-00001-of-00002.safetensors"),
                                  ("llama/model-00002-of-00002.safetensors", "model-00002-of-00002.safetensors"),
                                  ("dtypes.safetensors", "dtypes.safetensors"), ("casts.safetensors", "casts.safetensors"),
                                  ("gpt2/model.safetensors", "model.safetensors")] {
            guard let bytes = try? FileSystem.readAll(fixture(fixtureName)) else { return unexpected }
            dir.write(copy, bytes)
        }
        guard let index = try? FileSystem.readAll(input(name)) else { return unexpected }
        let path = dir.write("model.safetensors.index.json", index)
        return outcome({
            let store = try ShardedSafeTensors(indexPath: path)
            try readEveryTensor(store)
        }, refusal: { $0 is CheckpointError })
    }

    /// `fuzz-hdf5`: opened, walked and every listed dataset read, and streamed in small pieces (each
    /// non-empty, adding up to the tensor). HDF5 files may be partly readable, so opening with some
    /// objects skipped is as clean an outcome as a thrown error.
    static func hdf5(_ name: String) -> Int32 {
        limit(seconds: 8, memory: 16 << 30)
        do {
            let store = try HDF5Store(path: input(name))
            _ = (store.layout, store.metadata.count, store.skipped.count)
            for info in store.tensors where info.byteCount <= 16 << 20 {
                do {
                    try store.withBytes(of: info.name) { raw in _ = raw.reduce(0 as UInt8, &+) }
                } catch is CheckpointError {
                } catch is HDF5Error {
                }
                do {
                    var total = 0
                    var emptyPiece = false
                    try store.streamBytes(of: info.name, pieceBytes: max(info.byteCount / 7, 1)) { piece in
                        emptyPiece = emptyPiece || piece.isEmpty
                        total += piece.count
                    }
                    if emptyPiece || total != info.byteCount { return unexpected }
                } catch is CheckpointError {
                } catch is HDF5Error {
                }
            }
            return clean
        } catch is CheckpointError {
            return clean
        } catch is HDF5Error {
            return clean
        } catch {
            return unexpected
        }
    }

    /// `fuzz-config-graph`: a config.json mapped onto the GPT-2, Llama and BERT fixtures. Every input
    /// here is an invalid config, so each build must throw a `GraphError`.
    static func configGraph(_ name: String) -> Int32 {
        limit(seconds: 10)
        guard let bytes = try? FileSystem.readAll(input(name)), let config = try? JSON.parse(bytes) else { return unexpected }
        for model in ["gpt2", "llama", "bert"] {
            guard let store = try? Checkpoint.open(fixture(model)) else { return unexpected }
            let result = outcome({
                _ = try ModelGraph.build(config: config, configFile: input(name), store: store)
            }, refusal: { $0 is GraphError })
            if result != clean { return result }
        }
        return clean
    }

    static func readEveryTensor(_ store: TensorStore) throws {
        for info in store.tensors {
            try store.withBytes(of: info.name) { raw in
                guard raw.count == info.byteCount else {
                    throw ReplayError.short(info.name)
                }
            }
        }
    }

    enum ReplayError: Error { case short(String) }
}
