import FuzzSupport
import HDF5
import RecastCore

/// The HDF5 reader (Recast's own parser of the file format): the input is written to a file, opened,
/// walked (tensors, skipped objects, layout, root metadata) and every dataset listed as a tensor is
/// read. Opening must succeed or throw a `CheckpointError` or `HDF5Error`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHDF5(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Fuzz.write(UnsafeRawBufferPointer(start: data, count: size), to: "input.h5")
    read(path)
    return 0
}

func allowed(_ error: any Error) -> Bool { error is CheckpointError || error is HDF5Error }

func read(_ path: String) {
    let store: HDF5Store
    do {
        store = try HDF5Store(path: path)
    } catch {
        Fuzz.invariant(allowed(error), "opening threw an unexpected \(type(of: error)): \(error)")
        return
    }
    _ = store.layout
    for (key, value) in store.metadata { Fuzz.sink(UInt8(truncatingIfNeeded: key.utf8.count &+ value.utf8.count)) }
    for object in store.skipped { Fuzz.sink(UInt8(truncatingIfNeeded: object.reason.utf8.count)) }
    Fuzz.readEveryTensor(store, allowed: allowed)
}
