import Foundation
import Testing
import TestSupport
import RecastCore
@testable import GGUF

/// One test per validation rule: each mutates bytes of a file gguf-py wrote and checks the message,
/// which names the file and, where the rule concerns a place in it, the byte offset.
@Suite struct ValidationTests {
    let fixtures: Fixtures
    /// aligned64.gguf: keys general.architecture, general.alignment (64), qwen2.block_count; tensors
    /// a (F32 [3]), b (Q8_0 [32, 2]), c (F16 [5, 5]).
    let original: [UInt8]
    let py: JSON
    /// Where this test writes its malformed files (the fixtures are shared by tests running in parallel).
    let dir = TempDir()

    init() throws {
        fixtures = try Fixtures.shared.get()
        original = try Array(Data(contentsOf: URL(fileURLWithPath: fixtures.path("aligned"))))
        py = fixtures.alignedDump
    }

    /// The file offset of metadata key `key` (where its key length starts), from gguf-py.
    func keyOffset(_ key: String, in dump: JSON? = nil) -> Int {
        ((dump ?? py)["metadata"]?.arrayValue ?? []).first { $0["key"]?.stringValue == key }?["offset"]?.intValue ?? -1
    }

    /// The offset of a field of tensor info `name`: its dimension count, dimension `d`, type or data offset.
    enum Field { case dimensionCount, dimension(Int), type, offset }
    func tensorField(_ name: String, _ field: Field) -> Int {
        let info = (py["tensors"]?.arrayValue ?? []).first { $0["name"]?.stringValue == name }
        let start = (info?["info_offset"]?.intValue ?? -1) + 8 + name.utf8.count
        let rank = info?["dims"]?.arrayValue?.count ?? 0
        switch field {
        case .dimensionCount: return start
        case let .dimension(d): return start + 4 + 8 * d
        case .type: return start + 4 + 8 * rank
        case .offset: return start + 8 + 8 * rank
        }
    }

    /// The bytes of all_types.gguf, and the offset of the value of `key` in them (after its type code).
    func allTypes(valueOf key: String) throws -> (bytes: [UInt8], value: Int) {
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: fixtures.path("all_types"))))
        return (bytes, keyOffset(key, in: fixtures.allTypesDump) + 8 + key.utf8.count + 4)
    }

    func mutated(_ edit: (inout [UInt8]) -> Void) -> [UInt8] {
        var b = original
        edit(&b)
        return b
    }

    /// Opens the bytes as a file; returns the error text ("no error" when it opened).
    func open(_ bytes: [UInt8], expectOffset: Int? = nil) -> String {
        let path = dir.write("bad.gguf", bytes)
        do {
            _ = try GGUFFile(path: path)
            return "no error"
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix(path), "the message names the file: \(text)")
            if let expectOffset { #expect(text.contains("(byte \(expectOffset))"), "the message names byte \(expectOffset): \(text)") }
            return text
        }
    }

    @Test func theUnmodifiedFileOpens() {
        #expect(open(original) == "no error")
    }

    @Test func notGGUF() {
        #expect(open(mutated { $0[0] = UInt8(ascii: "X") }, expectOffset: 0).contains("does not start with the magic 'GGUF'"))
        #expect(open([0x47, 0x47]).contains("does not start with the magic 'GGUF'"))
        #expect(open([]).contains("does not start with the magic 'GGUF'"))
    }

    @Test func version1IsRecognisedAndRefused() {
        #expect(open(mutated { put(UInt32(1), at: 4, in: &$0) }, expectOffset: 4).contains("is GGUF version 1, which Recast does not read"))
    }

    @Test func bigEndianIsRecognisedAndRefused() {
        #expect(open(mutated { put(UInt32(3).byteSwapped, at: 4, in: &$0) }, expectOffset: 4).contains("is a big-endian GGUF file (version 3)"))
    }

    @Test func unknownVersion() {
        #expect(open(mutated { put(UInt32(4), at: 4, in: &$0) }, expectOffset: 4).contains("has GGUF version 4; Recast reads versions 2 and 3"))
    }

    @Test func truncatedInsideTheHeader() {
        // Cut two bytes into the UINT32 value of general.alignment.
        let value = keyOffset("general.alignment") + 8 + 17 + 4
        let text = open(Array(original[..<(value + 2)]), expectOffset: value)
        #expect(text.contains("the file ends at byte \(value + 2), inside the value of key 'general.alignment' (4 bytes needed): the file is truncated"))
    }

    @Test func truncatedInsideTensorData() {
        let text = open(Array(original[..<300]))
        #expect(text.contains("tensor 'b'") && text.contains("lies outside the data section") && text.contains("the file is truncated"))
    }

    @Test func countsBeyondTheFileSizeAreRefusedBeforeAllocating() {
        #expect(open(mutated { put(UInt64(1) << 40, at: 8, in: &$0) }, expectOffset: 8)
            .contains("declares 1099511627776 tensor infos, but each takes at least 24 bytes"))
        #expect(open(mutated { put(UInt64.max, at: 16, in: &$0) }, expectOffset: 16)
            .contains("declares 18446744073709551615 metadata entries, but each takes at least 13 bytes"))
    }

    @Test func arrayCountBeyondTheFileSize() throws {
        let key = "test.array.strings"
        let file = try allTypes(valueOf: key)
        var bytes = file.bytes
        let countAt = file.value + 4
        put(UInt64(1) << 60, at: countAt, in: &bytes)
        #expect(open(bytes, expectOffset: countAt).contains("declares 1152921504606846976 elements of type STRING in the value of key '\(key)'"))
    }

    @Test func stringLengthBeyondTheFileSize() {
        let at = keyOffset("general.architecture")
        #expect(open(mutated { put(UInt64(1) << 62, at: at, in: &$0) }, expectOffset: at)
            .contains("the key of metadata entry 0 declares a string of 4611686018427387904 bytes"))
        let name = tensorField("c", .dimensionCount) - 9
        #expect(open(mutated { put(UInt64(500), at: name, in: &$0) }, expectOffset: name)
            .contains("the name of tensor info 2 declares a string of 500 bytes"))
    }

    @Test func stringsMustBeUTF8() {
        let key = keyOffset("general.architecture") + 8
        #expect(open(mutated { $0[key + 3] = 0xFF }, expectOffset: key).contains("the key of metadata entry 0 is not valid UTF-8"))
        let value = keyOffset("general.architecture") + 8 + 20 + 4 + 8
        #expect(open(mutated { $0[value] = 0xC3 }, expectOffset: value).contains("the value of key 'general.architecture' is not valid UTF-8"))
        let name = tensorField("b", .dimensionCount) - 1
        #expect(open(mutated { $0[name] = 0x80 }, expectOffset: name).contains("the name of tensor info 1 is not valid UTF-8"))
    }

    @Test func duplicateKey() {
        // qwen2.block_count and general.alignment are both 17 bytes long.
        let at = keyOffset("qwen2.block_count")
        let text = open(mutated { $0.replaceSubrange((at + 8)..<(at + 25), with: Array("general.alignment".utf8)) }, expectOffset: at)
        #expect(text.contains("key 'general.alignment' (byte \(at)): appears twice (first at byte \(keyOffset("general.alignment")))"))
    }

    @Test func duplicateTensorName() {
        let name = tensorField("b", .dimensionCount) - 1
        let text = open(mutated { $0[name] = UInt8(ascii: "a") }, expectOffset: name - 8)
        #expect(text.contains("tensor 'a' (byte \(name - 8)): is listed twice (first at byte \(tensorField("a", .dimensionCount) - 9))"))
    }

    @Test func unknownValueType() {
        let at = keyOffset("general.alignment") + 8 + 17
        #expect(open(mutated { put(UInt32(13), at: at, in: &$0) }, expectOffset: at)
            .contains("key 'general.alignment' has value type 13, which GGUF does not define"))
    }

    @Test func boolOtherThanZeroOrOne() throws {
        let file = try allTypes(valueOf: "test.bool.true")
        var bytes = file.bytes
        let at = file.value
        bytes[at] = 2
        #expect(open(bytes, expectOffset: at).contains("is a BOOL holding 2; only 0 and 1 are booleans"))
    }

    @Test func arraysNestedTooDeep() {
        var b: [UInt8] = Array("GGUF".utf8) + bytes([UInt32(3)])
        b += bytes([UInt64(0), UInt64(1), UInt64(1)]) + [UInt8(ascii: "k")]
        b += bytes([UInt32(9)])
        for _ in 0...GGUFHeader.maxArrayDepth { b += bytes([UInt32(9)]) + bytes([UInt64(1)]) }
        b += bytes([UInt32(4)]) + bytes([UInt64(1)]) + bytes([UInt32(7)])
        #expect(open(b).contains("nests arrays more than \(GGUFHeader.maxArrayDepth) deep"))
    }

    @Test func alignmentMustBeAUInt32PowerOfTwo() {
        let type = keyOffset("general.alignment") + 8 + 17
        #expect(open(mutated { put(UInt32(48), at: type + 4, in: &$0) }).contains("key 'general.alignment' (byte \(keyOffset("general.alignment"))): is 48; it must be a power of two"))
        #expect(open(mutated { put(UInt32(5), at: type, in: &$0) }).contains("is a INT32; it must be a UINT32"))
        // 2^31 is a power of two, but every copy would pad each tensor with up to 2 GB.
        #expect(open(mutated { put(UInt32(1 << 31), at: type + 4, in: &$0) }).contains("is 2147483648; Recast reads alignments up to 1048576 bytes"))
    }

    @Test func tooManyDimensions() {
        let at = tensorField("a", .dimensionCount)
        #expect(open(mutated { put(UInt32(5), at: at, in: &$0) }, expectOffset: at).contains("tensor 'a' (byte \(at)): has 5 dimensions; GGML allows at most 4"))
    }

    @Test func unknownAndRemovedTensorTypes() {
        let at = tensorField("b", .type)
        #expect(open(mutated { put(UInt32(99), at: at, in: &$0) }, expectOffset: at).contains("has GGML type 99, which GGML does not define"))
        #expect(open(mutated { put(UInt32(4), at: at, in: &$0) }, expectOffset: at).contains("has GGML type 4 (Q4_2), which GGML has removed"))
    }

    @Test func dimensionBeyondSignedRange() {
        let at = tensorField("a", .dimension(0))
        #expect(open(mutated { put(UInt64(1) << 63, at: at, in: &$0) }, expectOffset: at).contains("dimension 0 is 9223372036854775808"))
    }

    @Test func dimensionProductOverflows() {
        let text = open(mutated {
            put(UInt64(1) << 37, at: tensorField("b", .dimension(0)), in: &$0)
            put(UInt64(1) << 40, at: tensorField("b", .dimension(1)), in: &$0)
        })
        #expect(text.contains("tensor 'b'") && text.contains("the element count of dimensions [137438953472, 1099511627776] overflows"))
    }

    @Test func byteSizeOverflows() {
        // 2^63 - 2^58 elements fit in an Int, but as blocks of 32 at 34 bytes each they do not.
        let text = open(mutated {
            put(UInt64(1) << 63 - UInt64(1) << 58, at: tensorField("b", .dimension(0)), in: &$0)
            put(UInt64(1), at: tensorField("b", .dimension(1)), in: &$0)
        })
        #expect(text.contains("the byte size of dimensions [8935141660703064064, 1] in Q8_0 overflows"))
    }

    @Test func rowsMustBeWholeBlocks() {
        let text = open(mutated { put(UInt64(33), at: tensorField("b", .dimension(0)), in: &$0) })
        #expect(text.contains("tensor 'b'") && text.contains("rows of 33 elements are not a whole number of Q8_0 blocks (32 elements each)"))
    }

    @Test func misalignedOffset() {
        let at = tensorField("b", .offset)
        #expect(open(mutated { put(UInt64(65), at: at, in: &$0) }, expectOffset: at).contains("data offset 65 is not a multiple of the alignment 64"))
    }

    @Test func overlappingTensors() {
        let dataStart = py["data_offset"]?.intValue ?? -1
        let text = open(mutated { put(UInt64(64), at: tensorField("c", .offset), in: &$0) }, expectOffset: dataStart + 64)
        #expect(text.contains("data [64, 114) overlaps tensor 'b' at [64, 132)"))
    }

    @Test func offsetOutsideTheDataSection() {
        let text = open(mutated { put(UInt64(1) << 20, at: tensorField("c", .offset), in: &$0) })
        #expect(text.contains("tensor 'c'") && text.contains("data [1048576, 1048626) lies outside the data section"))
        let huge = open(mutated { put(UInt64(Int.max) / 64 * 64, at: tensorField("b", .offset), in: &$0) })
        #expect(huge.contains("data [9223372036854775744, overflow) lies outside the data section"))
    }
}

/// Writes `value` little-endian at `offset`.
func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<(offset + $0.count), with: $0) }
}

@Suite struct MutationTests {
    /// Random byte changes and cuts of a header gguf-py wrote: each either parses into tensors that lie
    /// inside the file without overlapping, or fails with a CheckpointError; never a trap.
    @Test func randomMutationsNeverTrap() throws {
        let fixtures = try Fixtures.shared.get()
        let original = try Array(Data(contentsOf: URL(fileURLWithPath: fixtures.path("all_types"))))
        let headerEnd = fixtures.allTypesDump["data_offset"]?.intValue ?? original.count
        var random = Xoshiro256StarStar(seed: 11)
        var refused = 0, parsed = 0
        for round in 0..<3000 {
            var b = original
            if round % 10 == 0 {
                b.removeLast(Int.random(in: 1...b.count, using: &random))
            } else {
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    b[Int.random(in: 0..<headerEnd, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            do {
                let header = try b.withUnsafeBytes { try GGUFHeader.parse($0, file: "mutated.gguf") }
                parsed += 1
                var end = 0
                for t in header.tensors.sorted(by: { $0.offset < $1.offset }) {
                    #expect(t.offset >= end && header.dataStart + t.offset + t.byteCount <= b.count, "round \(round): tensor '\(t.name)'")
                    end = t.offset + t.byteCount
                }
            } catch is CheckpointError {
                refused += 1
            }
        }
        // Both outcomes occur: changes inside string contents often leave a valid file.
        #expect(refused > 500 && parsed > 100, "refused \(refused), parsed \(parsed)")
    }
}
