import Foundation
import Testing
import TestSupport
import RecastCore

/// A GGUF file whose metadata is one array of 20 million one-byte elements: each element becomes a
/// `GGUFValue` of 24 bytes in memory, so the 20 MB file asks for 480 MB. Under `ulimit -v` the parser
/// refuses it before allocating, naming the key and both sizes; without the limit it opens.
@Suite struct GGUFCostTests {
    @Test func metadataArraysAreCheckedAgainstTheMemoryLimit() throws {
        let dir = TempDir()
        let n = 20_000_000
        func string(_ s: String) -> [UInt8] { bytes([UInt64(s.utf8.count)]) + Array(s.utf8) }
        var file = Array("GGUF".utf8) + bytes([UInt32(3)]) + bytes([UInt64(0), UInt64(1)])
        file += string("big") + bytes([UInt32(9), UInt32(0)]) + bytes([UInt64(n)])
        file += [UInt8](repeating: 0, count: n)
        let path = dir.write("big-array.gguf", file)
        // AddressSanitizer reserves terabytes of address space, so `ulimit -v` cannot apply to its builds.
        let limit = recastBinary.contains(".build-asan") ? "" : "ulimit -v 400000; "
        let r = try runProcess("/bin/bash", ["-c", limit + "exec \"$0\" inspect \"$1\"", recastBinary, path], timeout: 600)
        #expect(!r.signalled && !r.timedOut, "\(r.stderr)")
        if limit.isEmpty {
            #expect(r.status == 0, "\(r.stderr)")
        } else {
            #expect(r.status == 1 && r.stderr.hasPrefix("recast: error: \(path) (byte 39): the value of key 'big': needs 480 MB"), "\(r.stderr)")
        }
    }
}
