/// Text from files (tensor names, metadata, shard names, config strings, HDF5 object names, paths) made
/// safe to show on a terminal: a name holding ESC, a line break or a bidi override must not forge output
/// lines, clear the screen, retitle the window or reorder what is shown.
extension String {
    /// The text with every character a terminal would act on written as an escape instead:
    /// `\n`, `\r`, `\t` and `\u{1b}`-style escapes for the C0 controls, DEL, the C1 controls, the line and
    /// paragraph separators and the bidirectional formatting characters (U+061C, U+200E, U+200F,
    /// U+202A–U+202E, U+2066–U+2069). A backslash becomes `\\`, so the escaped text reads back unambiguously.
    /// Text that needs nothing is returned as it is, without copying.
    public var escapedForTerminal: String {
        guard TerminalText.mayNeedEscaping(self) else { return self }
        var out = ""
        out.reserveCapacity(utf8.count + 16)
        for u in unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if TerminalText.isUnsafe(u) {
                    out += "\\u{" + String(u.value, radix: 16) + "}"
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out
    }
}

public enum TerminalText {
    /// Whether a terminal could act on this scalar rather than print it.
    public static func isUnsafe(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00...0x1F, 0x7F...0x9F: true  // C0, DEL, C1 (0x9B is a one-byte CSI)
        case 0x061C, 0x200E, 0x200F: true  // Arabic letter mark, left-to-right and right-to-left marks
        case 0x2028, 0x2029: true  // line and paragraph separators
        case 0x202A...0x202E, 0x2066...0x2069: true  // bidi embeddings, overrides and isolates
        default: false
        }
    }

    /// A UTF-8 byte that can start (or be) an unsafe scalar or a backslash; anything else is plain text.
    /// Lead bytes: 0xC2 for C1, 0xD8 for U+061C, 0xE2 for U+2000–U+2FFF.
    static func mayNeedEscaping(_ b: UInt8) -> Bool {
        b < 0x20 || b == 0x7F || b == 0x5C || b == 0xC2 || b == 0xD8 || b == 0xE2
    }

    /// Whether any byte of the text may need escaping: one tight pass over contiguous UTF-8.
    static func mayNeedEscaping(_ s: String) -> Bool {
        let found = s.utf8.withContiguousStorageIfAvailable { buf -> Bool in
            for b in buf where mayNeedEscaping(b) { return true }
            return false
        }
        return found ?? s.utf8.contains(where: mayNeedEscaping)
    }

    /// Lines of human-readable output, each escaped on its own and joined with line breaks: the one way
    /// lines that may hold text from files reach the terminal. A line break inside an element is text
    /// from a file, and is shown as `\n`.
    public static func lines(_ lines: [String]) -> String {
        lines.map(\.escapedForTerminal).joined(separator: "\n")
    }
}

/// An error whose message is a headline and a list, such as every problem found in a config: shown as
/// `recast: error: HEADLINE` with one indented line per detail below it. Other errors are one line.
public protocol DetailedError: Error {
    /// The first line, without a line break.
    var headline: String { get }
    /// One entry per line, without line breaks; empty for an error that is one line.
    var details: [String] { get }
}
