import Foundation
import HDF5
import RecastCore
import Testing

/// A fresh directory under the system temporary folder, removed when the value is dropped.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/recast-hdf5-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CheckpointError(file: NSTemporaryDirectory(), "cannot create a temporary directory")
        }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { FileSystem.removeTree(path) }
}

struct PythonFailure: Error, CustomStringConvertible {
    var status: Int32
    var output: String
    var description: String { "python3 exited with status \(status):\n\(output)" }
}

/// Runs `python3 -c script args…` and returns its standard output; throws with its output on failure.
@discardableResult
func python(_ script: String, _ arguments: [String] = []) throws -> String {
    let scratch = try TemporaryDirectory()
    let errorPath = scratch.file("stderr")
    guard FileManager.default.createFile(atPath: errorPath, contents: nil) else {
        throw CheckpointError(file: errorPath, "cannot create")
    }
    let errorFile = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + arguments
    let out = Pipe()
    process.standardOutput = out
    // Standard error goes to a file, so neither stream can fill its pipe while the other is read.
    process.standardError = errorFile
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try errorFile.close()
    let text = String(decoding: stdout, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        let stderr = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
        throw PythonFailure(status: process.terminationStatus, output: text + stderr)
    }
    return text
}

/// Reads a tensor's bytes out of a store.
func bytes(_ store: TensorStore, _ name: String) throws -> [UInt8] {
    try store.withBytes(of: name) { Array($0) }
}

/// Little-endian bytes of values.
func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

func le(_ values: [Float]) -> [UInt8] { le(values.map(\.bitPattern)) }
func le(_ values: [Double]) -> [UInt8] { le(values.map(\.bitPattern)) }
func leHalf(_ values: [Float]) -> [UInt8] { le(values.map { Float16($0).bitPattern }) }

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state >> 24)
    }
}

/// An output tensor from raw bytes.
func tensor(_ name: String, _ dtype: DType, _ shape: [Int], _ data: [UInt8]) -> OutputTensor {
    OutputTensor(info: TensorInfo(name: name, dtype: dtype, shape: shape, byteCount: data.count)) { consume in
        try data.withUnsafeBytes { try consume($0) }
    }
}

/// Counts bytes reported by a writer.
final class CountingProgress: ProgressSink {
    var total = 0
    var calls = 0
    func advance(by bytes: Int) {
        total += bytes
        calls += 1
    }
}

/// Hex of bytes, for passing expected values to python.
func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

/// Parses `hex` into bytes.
func unhex(_ text: Substring) -> [UInt8] {
    var out: [UInt8] = []
    var i = text.startIndex
    while i < text.endIndex, let j = text.index(i, offsetBy: 2, limitedBy: text.endIndex) {
        out.append(UInt8(text[i..<j], radix: 16) ?? 0)
        i = j
    }
    return out
}
