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
    streamEveryTensor(store)
}

/// Streams every small tensor in small pieces (many slabs) and checks that the pieces add up to what
/// `withBytes` hands out: the same bytes, or an error from both.
func streamEveryTensor(_ store: HDF5Store) {
    for info in store.tensors where info.byteCount <= 1 << 20 {
        var whole: [UInt8]?
        var streamed: [UInt8]? = []
        do {
            whole = try store.withBytes(of: info.name) { Array($0) }
        } catch {
            Fuzz.invariant(allowed(error), "withBytes('\(info.name)') threw an unexpected \(type(of: error)): \(error)")
        }
        do {
            try store.streamBytes(of: info.name, pieceBytes: max(info.byteCount / 7, 1)) { piece in
                Fuzz.invariant(piece.count > 0, "streamBytes('\(info.name)') handed out an empty piece")
                streamed?.append(contentsOf: piece)
            }
        } catch {
            Fuzz.invariant(allowed(error), "streamBytes('\(info.name)') threw an unexpected \(type(of: error)): \(error)")
            streamed = nil
        }
        Fuzz.invariant((whole == nil) == (streamed == nil), "withBytes and streamBytes disagree on whether '\(info.name)' can be read")
        if let whole, let streamed {
            Fuzz.invariant(whole == streamed, "streamBytes('\(info.name)') handed out other bytes than withBytes")
        }
    }
}
