import RecastCore

/// The token windows attention transfer learns from, and what identifies the data in the `calibration` record.
public struct CalibrationData: Sendable {
    /// How the data file is read, as the record names it.
    public enum Format: String, Sendable {
        /// One document (`--text-file`), tokenized once and cut into consecutive windows of `maxLength` tokens.
        case textFile = "text-file"
        /// One sequence per line (`--lines`), each truncated to `maxLength` tokens.
        case lines
        /// Sequences of token ids (`--tokens-file`), each longer one cut into consecutive windows.
        case tokensFile = "tokens-file"
    }

    /// The windows, in the order of the data.
    public var windows: [[Int]]
    /// The data file, for messages.
    public var file: String
    public var format: Format
    /// Lowercase hex SHA-256 of the data file's bytes.
    public var sha256: String
    /// Tokens per window at most.
    public var maxLength: Int

    /// Tokens over every window.
    public var tokens: Int { windows.reduce(0) { $0 + $1.count } }

    /// The windows of `sequences` read from `file`: sequences longer than `maxLength` are cut into consecutive
    /// windows (their tail is a shorter window), and at most `tokenCap` tokens are kept, in order (the last
    /// window kept is cut short, except a `--lines` line, which is dropped whole so that it keeps its special
    /// tokens). Refuses data shorter than one window, or too short for one training and one validation window.
    public static func make(sequences: [[Int]], file: String, format: Format, maxLength: Int,
                            tokenCap: Int? = nil) throws -> CalibrationData {
        guard maxLength > 0 else { throw CalibrationError(file: "--max-length", "must be positive (got \(maxLength))") }
        var windows: [[Int]] = []
        var total = 0
        let cap = tokenCap ?? .max
        cutting: for s in sequences {
            for start in stride(from: 0, to: s.count, by: maxLength) {
                var w = Array(s[start..<min(start + maxLength, s.count)])
                if total + w.count > cap {
                    guard format != .lines, cap > total else { break cutting }
                    w = Array(w.prefix(cap - total))
                }
                windows.append(w)
                total += w.count
                if total >= cap { break cutting }
            }
        }
        let capped = tokenCap.map { " (--tokens \($0))" } ?? ""
        // A document (or token ids) is cut into windows of --max-length; lines are windows of their own, however short.
        guard format == .lines || total >= maxLength else {
            throw CalibrationError(file: file, "holds \(total) tokens\(capped), fewer than one window of --max-length \(maxLength): give more data or a smaller --max-length")
        }
        guard windows.count >= 2 else {
            throw CalibrationError(file: file, "makes a single window of \(total) tokens: calibration needs at least two, one to train on and one held out for validation; give more data or a smaller --max-length")
        }
        return CalibrationData(windows: windows, file: file, format: format, sha256: try SHA256.hex(file: file), maxLength: maxLength)
    }

    /// The windows held out for validation: `share` of them (at least one, and at least one left to train on),
    /// chosen by a generator seeded with `seed`. Returns the indices of the training and validation windows,
    /// each ascending.
    public func split(validation share: Double, seed: UInt64) -> (train: [Int], validation: [Int]) {
        let n = windows.count
        let held = min(max(1, Int((share * Double(n)).rounded())), n - 1)
        var order = Array(0..<n)
        var random = SplitMix64(seed: seed ^ 0x63616c6962726174)  // "calibrat": a stream of its own
        // Fisher–Yates with our own generator, so that the split is the same on every machine.
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(random.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return (order[held...].sorted(), order[..<held].sorted())
    }
}
