import Foundation
import RecastCore
import Testing
import TestSupport
import TorchPickle

/// CRC-32 (ISO-HDLC, the zip polynomial 0xEDB88320), bit by bit from its definition.
func crc32(_ data: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in data {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

/// Zip archives of stored entries written field by field (APPNOTE.TXT 4.3), with knobs to make them lie.
struct ZipBuilder {
    struct Entry {
        var name: String
        var data: [UInt8]
        var localName: String? = nil
        var method: UInt16 = 0
        var flags: UInt16 = 0
        /// Added to the local header offset the directory records.
        var offsetShift = 0
        /// Replaces the compressed and uncompressed sizes the directory and the local header record.
        var declaredSize: Int? = nil
        /// An entry with no local header of its own: the directory points at `sharedOffset` instead.
        var sharedOffset: Int? = nil
    }
    var entries: [Entry]
    var zip64 = false

    func le(_ v: Int, _ width: Int) -> [UInt8] { PickleBuilder.le(UInt64(v), width) }

    func localHeader(_ name: String, _ data: [UInt8], flags: UInt16 = 0, method: UInt16 = 0, size: Int? = nil) -> [UInt8] {
        let n = Array(name.utf8)
        return le(0x0403_4B50, 4) + le(20, 2) + le(Int(flags), 2) + le(Int(method), 2) + le(0, 4) + le(Int(crc32(data)), 4)
            + le(size ?? data.count, 4) + le(size ?? data.count, 4) + le(n.count, 2) + le(0, 2) + n
    }

    func build() -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        for e in entries {
            let offset = e.sharedOffset ?? out.count
            let name = Array(e.name.utf8)
            let crc = Int(crc32(e.data))
            if e.sharedOffset == nil { out += localHeader(e.localName ?? e.name, e.data, flags: e.flags, method: e.method, size: e.declaredSize) + e.data }
            let size = e.declaredSize ?? e.data.count
            let extra = zip64 ? le(1, 2) + le(24, 2) + le(size, 8) + le(size, 8) + le(offset + e.offsetShift, 8) : []
            central += le(0x0201_4B50, 4) + le(45, 2) + le(45, 2) + le(Int(e.flags), 2) + le(Int(e.method), 2) + le(0, 4) + le(crc, 4)
            central += zip64 ? le(0xFFFF_FFFF, 4) + le(0xFFFF_FFFF, 4) : le(size, 4) + le(size, 4)
            central += le(name.count, 2) + le(extra.count, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4)
            central += (zip64 ? le(0xFFFF_FFFF, 4) : le(offset + e.offsetShift, 4)) + name + extra
        }
        let cdOffset = out.count
        out += central
        if zip64 {
            let record = out.count
            out += le(0x0606_4B50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4)
            out += le(entries.count, 8) + le(entries.count, 8) + le(central.count, 8) + le(cdOffset, 8)
            out += le(0x0706_4B50, 4) + le(0, 4) + le(record, 8) + le(1, 4)
            out += le(0x0605_4B50, 4) + le(0xFFFF, 2) + le(0xFFFF, 2) + le(0xFFFF, 2) + le(0xFFFF, 2) + le(0xFFFF_FFFF, 4) + le(0xFFFF_FFFF, 4) + le(0, 2)
        } else {
            out += le(0x0605_4B50, 4) + le(0, 2) + le(0, 2) + le(entries.count, 2) + le(entries.count, 2) + le(central.count, 4) + le(cdOffset, 4) + le(0, 2)
        }
        return out
    }
}

/// The archives of this suite: some built here (which Python's zipfile must read as we meant them), some
/// written by Python's zipfile (stored, deflated, zip64 extra fields) for Recast to read. One Python process.
final class ZipFixtures: @unchecked Sendable {
    let dir = TempDir()
    /// archive → entry name → sha256 of the contents, as Python's zipfile reads them.
    var digests: [String: [String: String]] = [:]

    static let built: [String: ZipBuilder] = [
        "plain.zip": ZipBuilder(entries: [.init(name: "a/data.pkl", data: Array("pickle".utf8)), .init(name: "a/data/0", data: [1, 2, 3, 4])]),
        "zip64.zip": ZipBuilder(entries: [.init(name: "z/x", data: Array(repeating: 7, count: 100)), .init(name: "z/y", data: [])], zip64: true),
    ]

    static let shared: ZipFixtures = {
        let f = ZipFixtures()
        for (name, b) in built { f.dir.write(name, b.build()) }
        let script = #"""
import sys, os, zipfile, hashlib, json
d = sys.argv[1]
with zipfile.ZipFile(os.path.join(d, "python.zip"), "w") as z:
    z.writestr(zipfile.ZipInfo("p/stored"), b"s" * 1000, compress_type=zipfile.ZIP_STORED)
    z.writestr("p/deflated", bytes(range(256)) * 64, compress_type=zipfile.ZIP_DEFLATED)
    with z.open("p/forced64", "w", force_zip64=True) as w: w.write(b"64" * 300)
    z.writestr("p/empty", b"", compress_type=zipfile.ZIP_DEFLATED)
out = {}
for name in sorted(os.listdir(d)):
    with zipfile.ZipFile(os.path.join(d, name)) as z:
        out[name] = {i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist()}
print(json.dumps(out))
"""#
        if let r = try? python(["-c", script, f.dir.path]), r.status == 0, let json = try? JSON.parse(r.stdout) {
            for (archive, entries) in json.objectValue ?? [] {
                f.digests[archive] = Dictionary(uniqueKeysWithValues: (entries.objectValue ?? []).map { ($0.0, $0.1.stringValue ?? "") })
            }
        }
        return f
    }()
}

func readZip(_ bytes: [UInt8]) throws -> [String: [UInt8]] {
    try bytes.withUnsafeBytes { raw in
        let zip = try ZipArchive(raw, file: "test.zip")
        var out: [String: [UInt8]] = [:]
        for e in zip.entries { out[e.name] = try zip.withContents(of: e) { Array($0) } }
        return out
    }
}

func zipFailure(_ bytes: [UInt8]) -> String? {
    do {
        _ = try readZip(bytes)
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite struct ZipArchiveTests {
    let fixtures = ZipFixtures.shared

    @Test(arguments: ["plain.zip", "zip64.zip", "python.zip"])
    func entriesMatchPythonZipfile(archive: String) throws {
        let expected = try #require(fixtures.digests[archive], "python did not run")
        let bytes = try #require(FileManager.default.contents(atPath: fixtures.dir.file(archive)))
        let contents = try readZip(Array(bytes))
        #expect(Set(contents.keys) == Set(expected.keys))
        for (name, data) in contents { #expect(data.withUnsafeBytes { sha256Hex($0) } == expected[name], "\(archive) \(name)") }
    }

    @Test func deflatedEntryThatLiesIsRefused() throws {
        var bytes = Array(try #require(FileManager.default.contents(atPath: fixtures.dir.file("python.zip"))))
        let zip = try bytes.withUnsafeBytes { try ZipArchive($0, file: "python.zip") }
        let deflated = try #require(zip.entry(named: "p/deflated"))
        #expect(deflated.method == .deflated)
        // Damage the middle of its compressed data: zlib's error or the CRC catches it.
        bytes[deflated.dataOffset + deflated.compressedSize / 2] ^= 0x5A
        let e = zipFailure(bytes) ?? ""
        #expect(e.contains("p/deflated"), "\(e)")
    }

    @Test func structuralRulesRefuseLyingArchives() {
        func fails(_ entries: [ZipBuilder.Entry], _ phrase: String, zip64: Bool = false) {
            let e = zipFailure(ZipBuilder(entries: entries, zip64: zip64).build()) ?? "(read without error)"
            #expect(e.contains(phrase), "\(e)")
        }
        let a = ZipBuilder.Entry(name: "a/x", data: Array(repeating: 1, count: 40))
        // The directory names one thing, the local header another.
        fails([.init(name: "a/x", data: [1], localName: "a/y")], "disagree")
        // Path traversal and other names that are not plain relative paths.
        for bad in ["../evil", "a/../../evil", "/etc/passwd", "a\\b", "C:/x", "a/./b", ""] {
            fails([.init(name: bad, data: [1])], "not a plain relative path")
        }
        fails([a, a], "two entries named")
        // A second entry whose local header lies inside the first's data.
        var inside = ZipBuilder.Entry(name: "a/y", data: [2])
        inside.offsetShift = -30
        fails([a, inside], "points to a local header")
        // Sizes past the end of the data (into the directory).
        var big = a
        big.declaredSize = 10_000
        fails([big], "run past the start of the central directory")
        fails([.init(name: "a/x", data: [1], flags: 1)], "encrypted")
        fails([.init(name: "a/x", data: [1], method: 12)], "method 12")
        fails([big], "run past", zip64: true)
        // An entry whose local header and data lie inside another entry's data.
        let builder = ZipBuilder(entries: [])
        let hidden = builder.localHeader("a/y", [2]) + [2]
        let outer = ZipBuilder.Entry(name: "a/x", data: Array(repeating: 0, count: 10) + hidden + Array(repeating: 0, count: 5))
        fails([outer, .init(name: "a/y", data: [2], sharedOffset: 30 + 3 + 10)], "overlap")
        // A truncated archive has no end record.
        let whole = ZipBuilder(entries: [a]).build()
        #expect(zipFailure(Array(whole.dropLast(5)))?.contains("end-of-central-directory") == true)
        #expect(zipFailure([])?.contains("end-of-central-directory") == true)
    }

}
