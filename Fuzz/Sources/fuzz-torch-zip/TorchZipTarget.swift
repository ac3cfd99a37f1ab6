import FuzzSupport
import RecastCore
import TorchPickle

/// A whole PyTorch checkpoint from memory, zip or legacy format: the zip directory (`ZipArchive`, every
/// entry's contents read), then `TorchCheckpoint(bytes:file:)` and every tensor read and decoded. Each step
/// must either throw a `CheckpointError` naming the file or keep its promises: entries inside the input,
/// tensors listed once with the bytes their dtype and shape need.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTorchZip(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let file = "input.pt"
    let namesFile: (any Error) -> Bool = { ($0 as? CheckpointError)?.file == file }
    do {
        let archive = try ZipArchive(bytes, file: file)
        for entry in archive.entries {
            do {
                try archive.withContents(of: entry) { contents in
                    Fuzz.invariant(contents.count <= size || contents.count <= Fuzz.readLimit,
                                   "an entry of \(contents.count) bytes came out of \(size) input bytes")
                    var checksum: UInt8 = 0
                    for b in contents { checksum &+= b }
                    Fuzz.sink(checksum)
                }
            } catch {
                Fuzz.invariant(namesFile(error), "withContents threw an unexpected \(type(of: error)): \(error)")
            }
        }
    } catch {
        Fuzz.invariant(namesFile(error), "ZipArchive threw an unexpected \(type(of: error)): \(error)")
    }
    do {
        let checkpoint = try TorchCheckpoint(bytes: bytes, file: file)
        Fuzz.readEveryTensor(checkpoint, allowed: namesFile)
        let listed = Set(checkpoint.tensors.map(\.name))
        for group in checkpoint.tiedTensors {
            Fuzz.invariant(group.count > 1 && group.allSatisfy(listed.contains), "tied group \(group) is not of listed tensors")
        }
    } catch {
        Fuzz.invariant(namesFile(error), "TorchCheckpoint threw an unexpected \(type(of: error)): \(error)")
    }
    return 0
}
