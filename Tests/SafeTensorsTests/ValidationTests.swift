import Testing
import TestSupport
import RecastCore
@testable import SafeTensors

/// One test per validation rule: each builds the malformed file and checks the message.
@Suite struct ValidationTests {
    let dir = TempDir()

    func open(_ bytes: [UInt8]) -> String {
        let path = dir.write("bad.safetensors", bytes)
        do {
            _ = try SafeTensorsFile(path: path)
            return "no error"
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix(path), "the message names the file: \(text)")
            return text
        }
    }

    let okEntry = #""t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
    let eight = [UInt8](repeating: 0, count: 8)

    @Test func fileShorterThanEightBytes() {
        #expect(open([1, 2, 3]).contains("is 3 bytes long"))
        #expect(open([]).contains("is 0 bytes long"))
    }

    @Test func gitLFSPointer() {
        let lfs = "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n"
        #expect(open(Array(lfs.utf8)).contains("Git LFS pointer"))
    }

    @Test func headerTooLarge() {
        #expect(open(safetensorsBytes(header: "{}", data: [], headerLength: 100_000_001)).contains("over the limit"))
    }

    @Test func headerPastEndOfFile() {
        #expect(open(safetensorsBytes(header: "{}", data: [], headerLength: 50)).contains("runs past the end of the file"))
    }

    @Test func headerNotUTF8() {
        var b = safetensorsBytes(header: "{\"a\":\"xx\"}", data: [])
        b[14] = 0xFF
        #expect(open(b).contains("not valid UTF-8"))
    }

    @Test func headerNotStartingWithBrace() {
        #expect(open(safetensorsBytes(header: " {}", data: [])).contains("does not start with '{'"))
    }

    @Test func headerNotJSON() {
        #expect(open(safetensorsBytes(header: "{\"t\": [", data: [])).contains("not valid JSON"))
    }

    @Test func headerNotAnObject() {
        // Starts with '{' but is not one object: trailing text.
        #expect(open(safetensorsBytes(header: "{} []", data: [])).contains("not valid JSON"))
    }

    @Test func metadataValueNotString() {
        let h = #"{"__metadata__":{"k":1},"# + okEntry + "}"
        #expect(open(safetensorsBytes(header: h, data: eight)).contains("__metadata__ value for 'k' is not a string"))
        let h2 = #"{"__metadata__":[1],"# + okEntry + "}"
        #expect(open(safetensorsBytes(header: h2, data: eight)).contains("__metadata__ is not a JSON object"))
    }

    @Test func missingAndIllTypedFields() {
        let cases: [(String, String)] = [
            (#"{"t":{"shape":[2],"data_offsets":[0,8]}}"#, "no 'dtype'"),
            (#"{"t":{"dtype":3,"shape":[2],"data_offsets":[0,8]}}"#, "'dtype' is not a string"),
            (#"{"t":{"dtype":"F32","data_offsets":[0,8]}}"#, "no 'shape'"),
            (#"{"t":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}"#, "'shape' is not an array"),
            (#"{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, "not a non-negative integer"),
            (#"{"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#, "not a non-negative integer"),
            (#"{"t":{"dtype":"F32","shape":[2]}}"#, "no 'data_offsets'"),
            (#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, "not a pair"),
            (#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}}"#, "not two non-negative integers"),
            (#"{"t":[1]}"#, "not a JSON object"),
        ]
        for (h, expected) in cases {
            let msg = open(safetensorsBytes(header: h, data: eight))
            #expect(msg.contains(expected), "\(h) → \(msg)")
            #expect(msg.contains("tensor 't'"), "names the tensor: \(msg)")
        }
    }

    @Test func unknownDType() {
        let msg = open(safetensorsBytes(header: #"{"t":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}}"#, data: eight))
        #expect(msg.contains("unknown dtype 'F12'") && msg.contains("tensor 't'"))
    }

    @Test func elementCountOverflow() {
        let h = #"{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#
        #expect(open(safetensorsBytes(header: h, data: eight)).contains("element count"))
    }

    @Test func byteSizeOverflow() {
        let h = #"{"t":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}"#
        #expect(open(safetensorsBytes(header: h, data: eight)).contains("byte size"))
    }

    @Test func subByteSizeNotWhole() {
        let h = #"{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}"#
        #expect(open(safetensorsBytes(header: h, data: [0])).contains("not a whole number of bytes"))
    }

    @Test func spanDiffersFromShape() {
        let h = #"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        #expect(open(safetensorsBytes(header: h, data: eight)).contains("span 8 bytes but shape [3] of F32 needs 12"))
    }

    @Test func reversedOffsets() {
        let h = #"{"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#
        #expect(open(safetensorsBytes(header: h, data: eight)).contains("end before they begin"))
    }

    @Test func holeInData() {
        let h = #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        #expect(open(safetensorsBytes(header: h, data: eight)).contains("has a hole"))
    }

    @Test func overlappingData() {
        let h = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        #expect(open(safetensorsBytes(header: h, data: eight)).contains("overlaps"))
    }

    @Test func dataShorterThanHeaderSays() {
        let msg = open(safetensorsBytes(header: "{" + okEntry + "}", data: [0, 0, 0]))
        #expect(msg.contains("truncated"))
    }

    @Test func trailingBytesAfterData() {
        let msg = open(safetensorsBytes(header: "{" + okEntry + "}", data: eight + [1, 2]))
        #expect(msg.contains("goes on for 2 more bytes"))
    }

    @Test func duplicateNames() {
        let h = #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        #expect(open(safetensorsBytes(header: h, data: eight)).contains("lists a name twice"))
    }

    @Test func nulInName() {
        let h = "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"
        #expect(open(safetensorsBytes(header: h, data: eight)).contains("NUL byte"))
    }

    @Test func validFileWithPaddingOpens() throws {
        let h = "{" + okEntry + "}   "
        let path = dir.write("ok.safetensors", safetensorsBytes(header: h, data: bytes([Float(1), 2])))
        let f = try SafeTensorsFile(path: path)
        #expect(f.tensors.map(\.name) == ["t"])
        #expect(try f.loadFloat32("t") == [1, 2])
    }
}
