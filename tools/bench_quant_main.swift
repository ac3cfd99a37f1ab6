// Times Recast's dequantisation on the files tools/bench_quant.py writes; see that script for the build line.
import Foundation

@main struct BenchQuant {
    static func main() throws {
        let folder = CommandLine.arguments[1]
        let repeats = 5
        var results: [String] = []
        for line in try String(contentsOfFile: folder + "/list.txt", encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: " ")
            let (file, typeName) = (String(parts[0]), String(parts[1]))
            guard let type = DType(rawValue: typeName) else { fatalError("unknown type \(typeName)") }
            let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + file))
            let count = data.count / type.bytesPerBlock * type.blockSize
            var out = [Float](repeating: 0, count: count)
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                try data.withUnsafeBytes { bytes in
                    try out.withUnsafeMutableBufferPointer { try Dequantize.rows(type: type, bytes: bytes, count: count, into: $0.baseAddress!) }
                }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            results.append("\(file) \(best)")
        }
        print(results.joined(separator: "\n"))
    }
}
