#if canImport(Glibc)
import Glibc
#endif
import RecastCore

enum Terminal {
    static func error(_ message: String) {
        writeStderr("recast: error: \(message)\n")
    }

    static func writeStderr(_ s: String) {
        var s = s
        s.withUTF8 { buf in
            var p = buf.baseAddress, left = buf.count
            while left > 0, let base = p {
                let n = write(2, base, left)
                if n <= 0 { break }
                p = base + n
                left -= n
            }
        }
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }
    static var stdoutIsTerminal: Bool { isatty(1) == 1 }
}

/// A progress bar on stderr (bytes done of total, rate, time left), drawn only on a terminal.
final class ProgressBar: ProgressSink {
    let total: Int
    let label: String
    private var done = 0
    private let start = ProgressBar.now()
    private var lastDraw = 0.0

    init(total: Int, label: String) {
        self.total = max(total, 1)
        self.label = label
    }

    /// A bar when stderr is a terminal, nothing otherwise.
    static func make(total: Int, label: String) -> ProgressBar? {
        Terminal.stderrIsTerminal ? ProgressBar(total: total, label: label) : nil
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    func advance(by bytes: Int) {
        done += bytes
        let t = ProgressBar.now()
        if t - lastDraw < 0.1 && done < total { return }
        lastDraw = t
        draw(elapsed: t - start)
    }

    private func draw(elapsed: Double) {
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let left = rate > 0 ? Double(total - done) / rate : 0
        let line = "\r\(label) \(bar) \(ByteSize.format(done))/\(ByteSize.format(total))  \(ByteSize.format(Int(rate)))/s  \(formatFixed(left, digits: 0))s left  "
        Terminal.writeStderr(line)
    }

    func finish() {
        draw(elapsed: ProgressBar.now() - start)
        Terminal.writeStderr("\n")
    }
}
