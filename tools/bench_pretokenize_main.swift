import Foundation
let files = try FileManager.default.contentsOfDirectory(atPath: "/usr/share/common-licenses").sorted()
var text = ""
for f in files { if let s = try? String(contentsOfFile: "/usr/share/common-licenses/" + f, encoding: .utf8) { text += s } }
let regex = try TokenizerRegex(#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#)
let s = NormalizedString(text)
var best = Double.infinity
var count = 0
for _ in 0..<5 {
    let t0 = Date()
    let pieces = try s.split(.regex(regex), .isolated)
    best = min(best, Date().timeIntervalSince(t0))
    count = pieces.count
}
print("bytes \(text.utf8.count) pieces \(count) best \(best * 1000) ms  \(Double(text.utf8.count) / best / 1e6) MB/s")
