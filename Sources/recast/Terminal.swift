#if canImport(Glibc)
import Glibc
#endif
import RecastCore

/// Where human-readable output reaches the terminal. Every line passes through `escapedForTerminal`, so
/// a name read from a file (a tensor, a metadata key, a shard, a config string, an HDF5 object, a path)
/// cannot forge lines or send the terminal control sequences. Each string given is one line: a line
/// break inside it came from a file and is shown as `\n`.
enum Terminal {
    /// `recast: error: MESSAGE` on stderr, and each detail on an indented line below it.
    static func error(_ message: String, details: [String] = []) {
        writeStderr(compose("recast: error: ", message, details))
    }

    /// An error as the user sees it: the headline and details of a `DetailedError`, else its description.
    static func error(_ error: Error) {
        if let e = error as? DetailedError {
            self.error(e.headline, details: e.details)
        } else {
            self.error(String(describing: error))
        }
    }

    /// `recast: warning: MESSAGE` on stderr, and any detail on indented lines below it.
    static func warning(_ message: String, details: [String] = []) {
        writeStderr(compose("recast: warning: ", message, details))
    }

    /// An error as a warning (a problem that does not stop the command).
    static func warning(_ prefix: String, _ error: Error) {
        if let e = error as? DetailedError {
            warning(prefix + e.headline, details: e.details)
        } else {
            warning(prefix + String(describing: error))
        }
    }

    /// The prefix, the escaped message, and each escaped detail on a line indented by two spaces.
    static func compose(_ prefix: String, _ message: String, _ details: [String]) -> String {
        prefix + message.escapedForTerminal + "\n" + details.map { "  " + $0.escapedForTerminal + "\n" }.joined()
    }

    /// Lines of human-readable output on stdout, each escaped.
    static func output(_ lines: [String]) {
        print(TerminalText.lines(lines))
    }

    /// One line of human-readable output on stdout, escaped.
    static func output(_ line: String) {
        print(line.escapedForTerminal)
    }

    /// Lines of status (timings, memory) on stderr, each escaped: they stay out of the way of stdout.
    static func status(_ lines: [String]) {
        writeStderr(lines.map { $0.escapedForTerminal + "\n" }.joined())
    }

    /// Generated text on stdout, written at once (unbuffered): exactly as produced when stdout is a file or
    /// pipe; on a terminal, line breaks and tabs print as such and every other character a terminal would
    /// act on (escape sequences, bidi overrides) is shown escaped.
    static func stream(_ text: String) {
        guard !text.isEmpty else { return }
        guard stdoutIsTerminal else { return write(text, to: 1) }
        write(text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map { String($0).escapedForTerminal }.joined(separator: "\t") }
            .joined(separator: "\n"), to: 1)
    }

    static func writeStderr(_ s: String) { write(s, to: 2) }

    static func write(_ s: String, to fd: Int32) {
        var s = s
        s.withUTF8 { buf in
            var p = buf.baseAddress, left = buf.count
            while left > 0, let base = p {
                let n = Glibc.write(fd, base, left)
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
    private(set) var total: Int
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

    func expect(total bytes: Int) {
        total = max(bytes, 1)
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
