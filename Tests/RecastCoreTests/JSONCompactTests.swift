#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import RecastCore

/// The compact parse (`JSONDocument`): the same answers as the tree, strings and numbers read on
/// demand, duplicate keys found in objects of any size, and a bounded memory cost per input byte.
@Suite struct JSONCompactTests {
    @Test func viewsAnswerLikeTheTree() throws {
        let text = #"{"b": [1, 2.5, -3e2, -9223372036854775808, 9223372036854775808], "a": {"x": null, "y": true, "z": false}, "s": "h\u00e9\n\ud83d\ude00 \"q\" \/", "e": {}, "f": []}"#
        let doc = try JSONDocument.parse(Array(text.utf8))
        let v = doc.root
        #expect(v.kind == .object && v.count == 5)
        #expect(v.objectValue?.map(\.0) == ["b", "a", "s", "e", "f"])
        let b = try #require(v["b"]?.arrayValue)
        #expect(b.map(\.intValue) == [1, nil, nil, Int.min, nil])
        #expect(b[2].doubleValue == -300 && b[1].numberText == "2.5")
        #expect(v["a"]?["x"]?.isNull == true && v["a"]?["y"]?.boolValue == true && v["a"]?["z"]?.boolValue == false)
        #expect(v["s"]?.stringValue == "hé\n😀 \"q\" /")
        #expect(v["e"]?.count == 0 && v["f"]?.arrayValue?.isEmpty == true && v["missing"] == nil)
        #expect(v.json == (try JSON.parse(text)))
        #expect(v.json.serialized() == #"{"b":[1,2.5,-3e2,-9223372036854775808,9223372036854775808],"a":{"x":null,"y":true,"z":false},"s":"hé\n😀 \"q\" /","e":{},"f":[]}"#)
        #expect(v["b"]?.offset == 6 && v["s"]?.offset == 111, "offsets point into the source")
    }

    @Test func keysWithEscapesAreFoundByTheirDecodedText() throws {
        let v = try JSONDocument.parse(Array(#"{"a\u0062": 1, "c\"d": 2}"#.utf8)).root
        #expect(v["ab"]?.intValue == 1 && v["c\"d"]?.intValue == 2)
    }

    /// Objects of more than 16 keys are checked through sorted hashes: a duplicate is found wherever it
    /// is, spelled with or without escapes, and the error points at its second occurrence.
    @Test func duplicateKeysInLargeObjects() throws {
        var members = (0..<1000).map { "\"k\($0)\": \($0)" }
        #expect(try JSONDocument.parse(Array(("{" + members.joined(separator: ",") + "}").utf8)).root.count == 1000)
        members.insert(#""k\u0037\u0037": 0"#, at: 900)
        let text = "{" + members.joined(separator: ",") + "}"
        do {
            _ = try JSONDocument.parse(Array(text.utf8))
            Issue.record("a duplicate key was accepted")
        } catch {
            #expect(error.message == "duplicate key 'k77'")
            #expect(Array(text.utf8)[error.offset] == UInt8(ascii: "\""))
            #expect(String(decoding: Array(text.utf8)[error.offset...].prefix(8), as: UTF8.self) == #""k\u0037"#)
        }
    }

    @Test func rejectsWhatTheTreeParserRejected() throws {
        let bad = ["{", "{\"a\":1,}", "[1 2]", "{\"a\":1,\"a\":2}", "\"\\x\"", "01", "{\"a\":1} x", "\"\u{1}\"", "[\"\\ud800\"]",
                   "[\"\\udc00\"]", "[1.]", "[-]", "[1e]", "tru", "[\"\\u12\"]", "{1:2}", "[\"a\" : 1]"]
        for text in bad {
            #expect(throws: JSONError.self, "\(text)") { try JSONDocument.parse(Array(text.utf8)) }
        }
        // Invalid UTF-8 inside a string and outside one.
        for bytes: [UInt8] in [[0x22, 0xC3, 0x28, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x5B, 0xFF, 0x5D], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22]] {
            #expect(throws: JSONError.self) { try JSONDocument.parse(bytes) }
        }
        #expect(throws: JSONError.self) { try JSONDocument.parse(Array(String(repeating: "[", count: 200).utf8)) }
        #expect(try JSONDocument.parse([0x22, 0xF0, 0x9F, 0x98, 0x80, 0x22]).root.stringValue == "😀")
    }

    /// The finding: a tree of `JSON` values cost about 28 bytes per input byte. The compact form holds
    /// the text and 12 bytes per value, so a header-shaped text of short names stays under 4 bytes per
    /// byte, and reading it builds nothing beyond what is asked.
    @Test func memoryPerInputByteIsBounded() throws {
        var text = "{"
        for i in 0..<50_000 {
            if i > 0 { text += "," }
            text += "\"t\(i)\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[\(4 * i),\(4 * i + 8)]}"
        }
        text += "}"
        let bytes = Array(text.utf8)
        let doc = try JSONDocument.parse(bytes)
        let perByte = Double(doc.memoryFootprint) / Double(bytes.count)
        #expect(perByte < 4, "\(perByte) bytes of memory per input byte")
        #expect(MemoryLayout<JSONDocument.Node>.stride == 12)
        var count = 0
        try doc.root.forEachMember { key, value in
            let name = try #require(key.stringValue)
            #expect(value["data_offsets"]?.arrayValue?.last?.intValue == 4 * Int(name.dropFirst())! + 8)
            count += 1
        }
        #expect(count == 50_000)
    }
}

/// The caps on JSON files that have no reason to be large.
@Suite struct JSONFileLimitTests {
    @Test func fileOverTheCapIsRefusedWithBothSizes() throws {
        let path = "/tmp/recast-json-cap-\(getpid()).json"
        defer { unlink(path) }
        try FileSystem.writeAll(path, Array(("[" + String(repeating: "0,", count: 600) + "0]").utf8))
        #expect(throws: CheckpointError.self) { try JSONFileLimit.read(path, limit: 1000, what: "a config.json") }
        do {
            _ = try JSONFileLimit.read(path, limit: 1000, what: "a config.json")
        } catch let e as CheckpointError {
            #expect(e.file == path && e.reason.contains("1.20 kB (1203 bytes)") && e.reason.contains("1.00 kB (1000 bytes)"), "\(e)")
        }
        #expect(try JSONFileLimit.read(path, limit: 2000, what: "a config.json").root.count == 601)
    }
}
