import Foundation
import RecastCore
import Synchronization

/// Every `TempDir` still alive. A `static let` one (shared by a suite) is never deinitialised, so the folders
/// left here are removed when the test process exits.
private let liveTempDirs = Mutex<Set<String>>([])
private let removeLiveTempDirsAtExit: Void = {
    atexit {
        for path in liveTempDirs.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }
}()

/// A fresh temporary folder, removed when the value is dropped, or when the process exits if it never is.
public final class TempDir: Sendable {
    public let path: String

    public init() {
        let base = NSTemporaryDirectory() + "recast-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
        removeLiveTempDirsAtExit
        liveTempDirs.withLock { _ = $0.insert(base) }
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    @discardableResult
    public func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    @discardableResult
    public func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }

    /// A copy of the fixture model folder `name` in this folder (to add files and links to, or to edit its config).
    public func copyFixture(_ name: String) throws -> String {
        let folder = file(name)
        try FileSystem.makeDirectory(folder)
        for entry in FileSystem.list(fixture(name)) { try InputFile.copy(fixture(name) + "/" + entry, to: folder + "/" + entry) }
        return folder
    }

    public func entries() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path).sorted()) ?? [] }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
        liveTempDirs.withLock { _ = $0.remove(path) }
    }
}

/// The repository root, found from this file's location.
public let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

public func fixture(_ name: String) -> String { repoRoot + "/fixtures/" + name }

public struct ProcessResult {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// The process ended by a signal (a crash, or our kill after a time-out), not by exiting.
    public var signalled = false
    public var timedOut = false
}

/// Runs a program to completion, capturing its output (through files, so no pipe can fill up and stall it).
@discardableResult
public func runProcess(_ executable: String, _ arguments: [String], stdin: String? = nil,
                       environment: [String: String]? = nil, timeout: Double? = nil) throws -> ProcessResult {
    let tmp = TempDir()
    let outPath = tmp.file("stdout"), errPath = tmp.file("stderr")
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    p.currentDirectoryURL = URL(fileURLWithPath: repoRoot)
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    p.standardOutput = outHandle
    p.standardError = errHandle
    if let stdin {
        let inPath = tmp.write("stdin", stdin)
        p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
    } else {
        p.standardInput = FileHandle.nullDevice
    }
    try p.run()
    var timedOut = false
    if let timeout {
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning {
            if Date() > deadline {
                kill(p.processIdentifier, SIGKILL)
                timedOut = true
                break
            }
            usleep(2000)
        }
    }
    p.waitUntilExit()
    try outHandle.close()
    try errHandle.close()
    let out = FileManager.default.contents(atPath: outPath) ?? Data()
    let err = FileManager.default.contents(atPath: errPath) ?? Data()
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                         stderr: String(decoding: err, as: UTF8.self),
                         signalled: p.terminationReason == .uncaughtSignal, timedOut: timedOut)
}

/// Runs `python3 <script> args…` from the repository root.
public func python(_ arguments: [String]) throws -> ProcessResult {
    try runProcess("/usr/bin/env", ["python3"] + arguments)
}

/// Runs a tool from `tools/` and parses its stdout as JSON.
public func pythonJSON(_ script: String, _ arguments: [String]) throws -> JSON {
    let r = try python([repoRoot + "/tools/" + script] + arguments)
    guard r.status == 0 else { throw CheckpointError(file: script, "python failed (\(r.status)): \(r.stderr)") }
    return try JSON.parse(r.stdout)
}

/// Little-endian bytes of a sequence of values.
public func bytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

/// A safetensors file built by hand, for malformed-input tests.
public func safetensorsBytes(header: String, data: [UInt8], headerLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    var out = bytes([UInt64(headerLength ?? UInt64(h.count)).littleEndian])
    out += h
    out += data
    return out
}

/// The hex SHA-256 of bytes.
public func sha256Hex(_ data: UnsafeRawBufferPointer) -> String { SHA256.hex(data) }

/// Path of the built `recast` executable beside the test bundle.
public let recastBinary: String = {
    let candidates = [
        Bundle.main.bundleURL.appendingPathComponent("recast").path,
        Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("recast").path,
    ]
    for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
    // Tests run from .build/<config>/; fall back to the conventional locations.
    for c in [repoRoot + "/.build/debug/recast", repoRoot + "/.build/release/recast"] where FileManager.default.isExecutableFile(atPath: c) {
        return c
    }
    return repoRoot + "/.build/debug/recast"
}()

public func recast(_ arguments: [String]) throws -> ProcessResult { try runProcess(recastBinary, arguments) }

/// Relative difference ‖a − b‖∞ / max(‖b‖∞, tiny).
public func maxRelativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var diff = 0.0, scale = 0.0
    for (x, y) in zip(a, b) {
        diff = max(diff, abs(Double(x) - Double(y)))
        scale = max(scale, abs(Double(y)))
    }
    return diff / max(scale, 1e-30)
}

/// Validates JSON instances against a JSON Schema file (Draft 2020-12) with Python's `jsonschema`, after
/// checking the schema itself; returns each instance's error messages (empty when valid).
public func schemaErrors(_ instances: [JSON], schema: String) throws -> [[String]] {
    let script = """
        import json, sys
        from jsonschema import Draft202012Validator
        schema = json.load(open(sys.argv[1]))
        Draft202012Validator.check_schema(schema)
        v = Draft202012Validator(schema)
        print(json.dumps([[e.message for e in v.iter_errors(i)] for i in json.load(sys.stdin)]))
        """
    let r = try runProcess("/usr/bin/env", ["python3", "-c", script, schema], stdin: JSON.array(instances).serialized())
    guard r.status == 0 else { throw CheckpointError(file: schema, "jsonschema failed (\(r.status)): \(r.stderr)") }
    return (try JSON.parse(r.stdout).arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.stringValue) }
}
