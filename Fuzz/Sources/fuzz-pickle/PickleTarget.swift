import FuzzSupport
import RecastCore
import TorchPickle

/// The pickle machine of Recast's PyTorch reader, on arbitrary bytes: a load must either throw a
/// `CheckpointError` naming the file or return a value, never crash, trap or hang, and never run anything
/// (it has nothing it could run). The value returned is walked entirely (every key, item and scalar), as
/// the checkpoint reader walks it to find tensors.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPickle(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    do {
        let value = try PickleMachine.load(bytes, file: "input.pkl")
        var visited = 0
        walk(value, &visited)
    } catch let error as CheckpointError {
        Fuzz.invariant(error.file == "input.pkl", "the error does not name the file: \(error)")
    } catch {
        Fuzz.invariant(false, "load threw an unexpected \(type(of: error)): \(error)")
    }
    return 0
}

/// Visits every value once per path, up to a budget (a memo can share one value under many parents: the
/// budget keeps the walk linear in the input, as the reader's own must be).
func walk(_ value: PickleValue, _ visited: inout Int) {
    visited += 1
    guard visited < 1 << 16 else { return }
    Fuzz.sink(UInt8(truncatingIfNeeded: value.kind.utf8.count &+ (value.scalarText?.utf8.count ?? 0)))
    switch value {
    case .dict(let entries):
        for entry in entries {
            walk(entry.key, &visited)
            walk(entry.value, &visited)
        }
    case .list(let items), .tuple(let items):
        for item in items { walk(item, &visited) }
    case .tensor(let t):
        Fuzz.sink(UInt8(truncatingIfNeeded: t.shape.count &+ t.strides.count &+ t.offset &+ t.storage.count))
    default:
        break
    }
}
