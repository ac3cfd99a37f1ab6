import Foundation
import Testing
import TestSupport
import RecastCore
@testable import GGUF

/// What gguf-py's `GGUFReader` reports about a file (tools/gguf_fixtures.py dump).
func ggufPyDump(_ path: String) throws -> JSON { try pythonJSON("gguf_fixtures.py", ["dump", path]) }

/// A scalar as tools/gguf_fixtures.py prints it: integers in decimal, floats as bit patterns.
func canonical(_ value: GGUFValue) -> JSON {
    switch value {
    case let .float32(v): .string("f32:" + hex(UInt64(v.bitPattern), digits: 8))
    case let .float64(v): .string("f64:" + hex(v.bitPattern, digits: 16))
    case let .bool(b): .string(b ? "true" : "false")
    case let .string(s): .string(s)
    case let .array(a): .array(a.elements.map(canonical))
    default: .string(value.description)
    }
}

func hex(_ v: UInt64, digits: Int) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, digits - s.count)) + s
}

/// The leaves of a value, depth first: gguf-py's `contents()` flattens nested arrays this way.
func leaves(_ value: GGUFValue) -> [JSON] {
    if case let .array(a) = value { return a.elements.flatMap(leaves) }
    return [canonical(value)]
}

/// gguf-py's `types` of a field: the type, then for an array the types of its first element.
func typeNames(_ value: GGUFValue) -> [String] {
    if case let .array(a) = value {
        return ["ARRAY"] + (a.elements.first.map(typeNames) ?? [])
    }
    return [value.type.name]
}

/// Compares everything the Swift reader reports about `path` with gguf-py's reader.
func expectMatchesGGUFPy(_ path: String) throws {
    let file = try GGUFFile(path: path)
    let py = try ggufPyDump(path)
    #expect(file.header.version == py["version"]?.intValue)
    #expect(file.header.alignment == py["alignment"]?.intValue)
    #expect(file.header.dataStart == py["data_offset"]?.intValue)

    let pyMetadata = py["metadata"]?.arrayValue ?? []
    #expect(file.header.metadata.count == pyMetadata.count)
    for (entry, expected) in zip(file.header.metadata, pyMetadata) {
        #expect(entry.key == expected["key"]?.stringValue)
        #expect(typeNames(entry.value) == (expected["types"]?.arrayValue ?? []).compactMap(\.stringValue), "\(entry.key)")
        let value = entry.value.type == .array ? JSON.array(leaves(entry.value)) : canonical(entry.value)
        #expect(value == expected["value"], "\(entry.key): \(value) vs \(String(describing: expected["value"]))")
    }

    let pyTensors = py["tensors"]?.arrayValue ?? []
    #expect(file.tensorInfos.count == pyTensors.count)
    for (t, expected) in zip(file.tensorInfos, pyTensors) {
        #expect(t.name == expected["name"]?.stringValue)
        #expect(t.type.ggmlID.map(Int.init) == expected["type"]?.intValue, "\(t.name)")
        #expect(t.type.rawValue == expected["type_name"]?.stringValue, "\(t.name)")
        #expect(t.dimensions == (expected["dims"]?.arrayValue ?? []).compactMap(\.intValue), "\(t.name)")
        #expect(t.elementCount == expected["n_elements"]?.intValue, "\(t.name)")
        #expect(t.byteCount == expected["n_bytes"]?.intValue, "\(t.name)")
        #expect(file.fileRange(of: t.name)?.lowerBound == expected["data_offset"]?.intValue, "\(t.name)")
        #expect(t.infoOffset == expected["info_offset"]?.intValue, "\(t.name)")
        let digest = try file.withBytes(of: t.name) { sha256Hex($0) }
        #expect(digest == expected["sha256"]?.stringValue, "\(t.name)")
    }
}

/// The fixtures of tools/gguf_fixtures.py, written by gguf-py's GGUFWriter into a temporary folder
/// once per test run, with gguf-py's dumps of the two the malformed-file tests mutate.
struct Fixtures: Sendable {
    let dir = TempDir()
    let written: JSON
    let allTypesDump: JSON
    let alignedDump: JSON

    static let shared = Result { try Fixtures() }

    private init() throws {
        written = try pythonJSON("gguf_fixtures.py", ["write", dir.path])
        allTypesDump = try ggufPyDump(dir.file(written["files"]?["all_types"]?.stringValue ?? ""))
        alignedDump = try ggufPyDump(dir.file(written["files"]?["aligned"]?.stringValue ?? ""))
    }

    func path(_ name: String) -> String { dir.file(written["files"]?[name]?.stringValue ?? name) }
}

@Suite struct ReaderTests {
    @Test func typeTableMatchesGGUFPy() throws {
        let py = try pythonJSON("gguf_fixtures.py", ["types"]).arrayValue ?? []
        #expect(py.count == DType.ggmlTypes.count)
        for entry in py {
            let id = UInt32(entry["id"]?.intValue ?? -1)
            let type = DType(ggmlID: id)
            #expect(type?.rawValue == entry["name"]?.stringValue, "id \(id)")
            #expect(type?.ggmlID == id, "id \(id)")
            #expect(type?.blockSize == entry["block_size"]?.intValue, "id \(id)")
            #expect(type?.bytesPerBlock == entry["bytes_per_block"]?.intValue, "id \(id)")
            #expect(type?.isQuantized == ((entry["block_size"]?.intValue ?? 0) > 1), "id \(id)")
            #expect(DType(ggmlName: entry["name"]?.stringValue ?? "") == type)
        }
        for id in DType.retiredGGMLTypes.keys { #expect(DType(ggmlID: id) == nil) }
        // Safetensors codes never name a block type.
        for t in DType.ggmlTypes where t.isQuantized { #expect(DType(code: t.rawValue) == nil, "\(t)") }
    }

    @Test func everyMetadataTypeAndTensorTypeMatchesGGUFPy() throws {
        let fixtures = try Fixtures.shared.get()
        try expectMatchesGGUFPy(fixtures.path("all_types"))
        // The file holds every value type and a tensor of each kind the fixture writes.
        let file = try GGUFFile(path: fixtures.path("all_types"))
        let types = Set(file.header.metadata.map(\.value.type))
        #expect(types == Set(GGUFValueType.allCases))
        #expect(file.tensorInfos.contains { $0.type == .q4_1 } && file.tensorInfos.contains { $0.type == .q6_K })
        #expect(file.architecture == "llama")
    }

    @Test func nestedArraysKeepTheirStructure() throws {
        let fixtures = try Fixtures.shared.get()
        let file = try GGUFFile(path: fixtures.path("all_types"))
        let nested = fixtures.written["nested"]?.objectValue ?? []
        #expect(nested.count == 3)
        for (key, expected) in nested {
            let value = try #require(file.header.value(key))
            #expect(canonical(value) == expected, "\(key)")
        }
    }

    @Test func customAlignmentAndMetadataOnlyMatchGGUFPy() throws {
        let fixtures = try Fixtures.shared.get()
        try expectMatchesGGUFPy(fixtures.path("aligned"))
        #expect(try GGUFFile(path: fixtures.path("aligned")).header.alignment == 64)
        try expectMatchesGGUFPy(fixtures.path("metadata_only"))
    }

    @Test func version2ReadsLikeVersion3() throws {
        let fixtures = try Fixtures.shared.get()
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: fixtures.path("all_types"))))
        bytes[4] = 2
        let path = fixtures.dir.write("v2.gguf", bytes)
        try expectMatchesGGUFPy(path)
        #expect(try GGUFFile(path: path).header.version == 2)
    }

    /// The real SmolLM2-135M-Instruct GGUF (Q4_1 linear weights, Q8_0 embedding, F32 norms).
    @Test func smolLM2MatchesGGUFPy() throws {
        let r = try python([repoRoot + "/tools/models.py", "smollm2-gguf"])
        #expect(r.status == 0, "tools/models.py failed: \(r.stderr)")
        let path = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try expectMatchesGGUFPy(path)
        let file = try GGUFFile(path: path)
        #expect(file.architecture == "llama")
        #expect(Set(file.tensorInfos.map(\.type.rawValue)) == ["Q4_1", "Q8_0", "F32"])
        #expect(file.header.value("tokenizer.ggml.tokens")?.arrayValue?.count == 49_152)
    }
}
