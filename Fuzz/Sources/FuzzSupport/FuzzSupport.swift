import RecastCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the fuzz targets share: a scratch folder private to the process, the fixtures, the checks
/// that turn a broken promise of a reader into a crash libFuzzer records, and a reader that touches
/// every byte of every tensor.
public enum Fuzz {
    /// The repository's `fixtures/`: `$RECAST_FIXTURES`, else found from this file's location
    /// (`Fuzz/Sources/FuzzSupport/FuzzSupport.swift`).
    public static let fixtures: String = {
        if let env = getenv("RECAST_FIXTURES") { return String(cString: env) }
        var path = #filePath
        for _ in 0..<4 {
            if let slash = path.lastIndex(of: "/") { path = String(path[..<slash]) }
        }
        return path + "/fixtures"
    }()

    public static func fixture(_ relative: String) -> String { fixtures + "/" + relative }

    /// A folder of this process's own under `$TMPDIR` (or `/tmp`), created on first use and removed
    /// at a normal exit. Inputs are written to the same paths in it again and again.
    public static let scratch: String = {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        let path = FileSystem.join(base.isEmpty ? "/tmp" : base, "recast-fuzz-\(getpid())")
        FileSystem.removeTree(path)
        guard mkdir(path, 0o700) == 0 else { fatalError("fuzz set-up: cannot create \(path): \(errnoText())") }
        atexit { FileSystem.removeTree(Fuzz.scratch) }
        return path
    }()

    /// Writes an input to `name` in the scratch folder, replacing what was there; returns its path.
    @discardableResult
    public static func write(_ data: UnsafeRawBufferPointer, to name: String) -> String {
        let path = FileSystem.join(scratch, name)
        do {
            let out = try OutputFile(path: path)
            try out.write(data)
            try out.close()
        } catch {
            fatalError("fuzz set-up: cannot write \(path): \(error)")
        }
        return path
    }

    /// Copies a fixture into the scratch folder under `name`.
    public static func copyFixture(_ relative: String, as name: String) {
        do {
            let bytes = try FileSystem.readAll(fixture(relative))
            _ = bytes.withUnsafeBytes { write($0, to: name) }
        } catch {
            fatalError("fuzz set-up: cannot read fixture \(relative): \(error) (set RECAST_FIXTURES to the repository's fixtures folder)")
        }
    }

    /// A promise a reader makes about what it returns. Breaking it is a finding: crash, so libFuzzer
    /// keeps the input.
    public static func invariant(_ condition: Bool, _ message: @autoclosure () -> String,
                                 file: StaticString = #fileID, line: UInt = #line) {
        if !condition { fatalError("fuzz invariant broken: " + message(), file: file, line: line) }
    }

    /// Tensors larger than this are listed but not read. A safetensors file holds every byte it
    /// lists, but an HDF5 file may declare a dataset of any size whose chunks were never written
    /// (HDF5 fills them), and filling gigabytes would only measure memory bandwidth.
    public static let readLimit = 16 << 20

    /// Checks the listing of a store and reads every tensor through `withBytes`, decoding floating
    /// point to f32 with `Cast` and encoding that back to bf16 and f16. A tensor whose read throws
    /// is fine (the error is the reader's answer); the others are still read.
    public static func readEveryTensor(_ store: TensorStore, allowed: (any Error) -> Bool) {
        var names = Set<String>()
        for info in store.tensors {
            invariant(names.insert(info.name).inserted, "tensor '\(info.name)' is listed twice")
            invariant(store.info(named: info.name) == info, "info(named: '\(info.name)') disagrees with the listing")
            invariant(TensorInfo(name: info.name, dtype: info.dtype, shape: info.shape)?.byteCount == info.byteCount,
                      "tensor '\(info.name)' lists \(info.byteCount) bytes for \(info.dtype.rawValue) \(info.shape)")
            guard info.byteCount <= readLimit else { continue }
            do {
                try store.withBytes(of: info.name) { raw in
                    invariant(raw.count == info.byteCount,
                              "withBytes('\(info.name)') handed out \(raw.count) bytes; \(info.byteCount) listed")
                    decode(raw, info)
                }
            } catch {
                invariant(allowed(error), "withBytes('\(info.name)') threw an unexpected \(type(of: error)): \(error)")
            }
        }
    }

    /// Decodes a tensor's bytes: every byte is loaded (so a view past its mapping faults under ASan),
    /// floats go to f32 and back to bf16 and f16.
    public static func decode(_ raw: UnsafeRawBufferPointer, _ info: TensorInfo) {
        var checksum: UInt8 = 0
        for b in raw { checksum &+= b }
        sink(checksum)
        guard info.dtype.isFloatingPoint else { return }
        let n = info.elementCount
        var f32 = [Float](repeating: 0, count: n)
        let decoded = f32.withUnsafeMutableBytes { Cast.convert(raw, from: info.dtype, to: .f32, count: n, into: $0) }
        invariant(decoded, "Cast could not decode \(info.dtype.rawValue) tensor '\(info.name)' of \(n) elements")
        var half = [UInt16](repeating: 0, count: n)
        f32.withUnsafeBytes { src in
            half.withUnsafeMutableBytes { dst in
                invariant(Cast.convert(src, from: .f32, to: .bf16, count: n, into: dst), "f32 → bf16 refused")
                invariant(Cast.convert(src, from: .f32, to: .f16, count: n, into: dst), "f32 → f16 refused")
            }
        }
        sink(UInt8(truncatingIfNeeded: half.first ?? 0))
    }

    /// Keeps a value alive so the reads that produced it are not optimised away.
    @inline(never)
    public static func sink(_ value: UInt8) { sunk &+= value }

    nonisolated(unsafe) static var sunk: UInt8 = 0
}
