import Foundation
import Testing
import TestSupport
import RecastCore

/// Names from files reach the terminal escaped: a tensor name, metadata entry, config string or path
/// holding a line break, ESC or a bidi override cannot forge output lines, clear the screen, retitle
/// the window or reorder text. `--json` stays JSON that parses back to the same names.
@Suite struct EscapingTests {
    let dir = TempDir()

    /// Hostile strings: a forged line, a carriage return and screen clear, an OSC title change, a bidi
    /// override, an 8-bit CSI (C1), DEL and BEL (a NUL is refused by the reader), bidi isolates, and a backslash that must stay unambiguous.
    static let hostile = [
        "forged\nrecast: error: fake",
        "clear\r\u{1b}[2J",
        "title\u{1b}]0;pwned\u{7}",
        "bidi\u{202E}exe.txt",
        "csi\u{9b}31m",
        "del\u{7f}bel\u{7}",
        "iso\u{2066}x\u{2069}",
        "back\\slash",
    ]

    /// Scalars a terminal acts on: C0 except the line feed that ends our own lines, DEL, C1, line and
    /// paragraph separators, bidi controls.
    func unsafeScalars(_ s: String) -> [Unicode.Scalar] {
        s.unicodeScalars.filter { $0 != "\n" && TerminalText.isUnsafe($0) }
    }

    func expectClean(_ r: ProcessResult, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!r.signalled, "\(context) crashed", sourceLocation: sourceLocation)
        #expect(unsafeScalars(r.stdout).isEmpty, "\(context): raw control characters on stdout: \(unsafeScalars(r.stdout).map { String($0.value, radix: 16) })", sourceLocation: sourceLocation)
        #expect(unsafeScalars(r.stderr).isEmpty, "\(context): raw control characters on stderr: \(r.stderr.debugDescription)", sourceLocation: sourceLocation)
        for line in (r.stdout + r.stderr).split(separator: "\n") {
            #expect(!line.hasPrefix("recast: error: fake"), "\(context): a forged line", sourceLocation: sourceLocation)
        }
    }

    /// A safetensors file whose tensor names and metadata keys and values are the hostile strings.
    /// With `badOffsets`, the last tensor's data lies past the end of the file.
    func hostileFile(_ name: String, badOffsets: Bool = false) -> String {
        var header: [(String, JSON)] = [("__metadata__", .object(Self.hostile.map { ("key " + $0, .string("value " + $0)) }))]
        for (i, n) in Self.hostile.enumerated() {
            let start = i * 4, end = badOffsets && i == Self.hostile.count - 1 ? 1 << 20 : start + 4
            header.append(("h.\(i).\(n)", .object([("dtype", .string("F32")), ("shape", .array([.int(1)])),
                                                  ("data_offsets", .array([.int(start), .int(end)]))])))
        }
        return dir.write(name, safetensorsBytes(header: JSON.object(header).serialized(), data: [UInt8](repeating: 0, count: 4 * Self.hostile.count)))
    }

    // MARK: the escaping itself

    @Test func escapesControlAndBidiCharacters() {
        #expect("a\nb".escapedForTerminal == "a\\nb")
        #expect("a\r\tb".escapedForTerminal == "a\\r\\tb")
        #expect("\u{1b}]0;pwned\u{7}".escapedForTerminal == "\\u{1b}]0;pwned\\u{7}")
        #expect("x\u{9b}y\u{7f}\u{0}".escapedForTerminal == "x\\u{9b}y\\u{7f}\\u{0}")
        #expect("\u{202E}\u{2066}\u{2069}\u{200F}\u{2028}".escapedForTerminal == "\\u{202e}\\u{2066}\\u{2069}\\u{200f}\\u{2028}")
        #expect("back\\slash".escapedForTerminal == "back\\\\slash")
        // Unambiguous: a backslash and an n is not a line break.
        #expect("\\n".escapedForTerminal != "\n".escapedForTerminal)
        // Printable text, including non-ASCII, is left alone.
        for plain in ["h.0.attn.c_attn.weight", "é ü ß 中文 θ ‖ ▇ ×", "/tmp/a b/model.safetensors", ""] {
            #expect(plain.escapedForTerminal == plain)
        }
    }

    /// Every Unicode scalar: the escaped text holds no scalar a terminal acts on, and only those change.
    @Test func everyScalarIsSafeAfterEscaping() {
        var all = ""
        for v in UInt32(0)...0x10FFFF { if let u = Unicode.Scalar(v) { all.unicodeScalars.append(u) } }
        let escaped = all.escapedForTerminal
        #expect(escaped.unicodeScalars.allSatisfy { !TerminalText.isUnsafe($0) })
        let changed = all.unicodeScalars.filter { String($0).escapedForTerminal != String($0) }
        #expect(changed.count == 32 + 1 + 32 + 3 + 2 + 5 + 4 + 1, "C0, DEL, C1, marks, separators, bidi, backslash: \(changed.count)")
    }

    // MARK: commands

    @Test func inspectTableAndMetadataAreEscaped() throws {
        let file = hostileFile("hostile.safetensors")
        for args in [["inspect", file], ["inspect", file, "--all"]] {
            let r = try recast(args)
            #expect(r.status == 0, "\(r.stderr)")
            expectClean(r, "\(args)")
            #expect(r.stdout.contains("title\\u{1b}]0;pwned\\u{7}"), "\(r.stdout)")
            #expect(r.stdout.contains("key forged\\nrecast: error: fake: value forged\\nrecast: error: fake"), "\(r.stdout)")
            #expect(r.stdout.contains("back\\\\slash"))
        }
        // The table stays aligned: every row of --all has its dtype column where the header has it.
        let all = try recast(["inspect", file, "--all"]).stdout.split(separator: "\n")
        let header = try #require(all.first { $0.hasPrefix("tensor") })
        let column = try #require(header.range(of: "dtype")).lowerBound.utf16Offset(in: header)
        for row in all.filter({ $0.hasPrefix("h.") }) {
            let units = Array(row.utf16)
            let dtype = units.count >= column + 3 ? Array(units[column..<(column + 3)]) : []
            #expect(dtype == Array("F32".utf16), "misaligned: \(row)")
        }
    }

    /// `--json` stays valid JSON, and Python reads back exactly the names and metadata that Python's
    /// safetensors reads from the file itself.
    @Test func inspectJSONRoundTripsTheNames() throws {
        let file = hostileFile("hostile.safetensors")
        let r = try recast(["inspect", file, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        // JSON shown raw on a terminal is safe too: every such scalar is a \u escape (the line feeds are
        // the pretty printer's own).
        #expect(!r.stdout.unicodeScalars.contains { $0 != "\n" && TerminalText.isUnsafe($0) })
        let out = dir.write("inspect.json", r.stdout)
        let check = try python(["-c", """
            import json, sys
            from safetensors import safe_open
            doc = json.load(open(sys.argv[1]))
            with safe_open(sys.argv[2], "np") as f:
                names, metadata = set(f.keys()), f.metadata()
            assert set(t["name"] for t in doc["tensors"]) == names, (doc["tensors"], names)
            assert doc["metadata"] == metadata, (doc["metadata"], metadata)
            assert any("\\x1b]0;pwned\\x07" in n for n in names)
            print(len(names))
            """, out, file])
        #expect(check.status == 0 && check.stdout == "\(Self.hostile.count)\n", "\(check.stderr)")
    }

    /// HDF5 object names, written by h5py: a dataset shown as a tensor, and a string dataset listed
    /// among the objects that are not tensors.
    @Test func hdf5ObjectNamesAreEscaped() throws {
        let file = dir.file("hostile.h5")
        let made = try python(["-c", """
            import sys, h5py, numpy as np
            with h5py.File(sys.argv[1], "w") as f:
                g = f.create_group("layer\\x1b[2J\\nrecast: error: fake")
                g.create_dataset("kernel\\x1b]0;pwned\\x07", data=np.ones((2, 3), dtype="f4"))
                g.create_dataset("note\\u202e", data="text")
            """, file])
        try #require(made.status == 0, "h5py: \(made.stderr)")
        for args in [["inspect", file], ["inspect", file, "--all"]] {
            let r = try recast(args)
            #expect(r.status == 0, "\(r.stderr)")
            expectClean(r, "\(args)")
            #expect(r.stdout.contains("layer\\u{1b}[2J\\nrecast: error: fake/kernel\\u{1b}]0;pwned\\u{7}"), "\(r.stdout)")
            #expect(r.stdout.contains("note\\u{202e}"), "\(r.stdout)")
        }
    }

    /// An error naming a hostile tensor, in inspect and convert.
    @Test func errorsNamingTensorsAreEscaped() throws {
        let file = hostileFile("bad.safetensors", badOffsets: true)
        for args in [["inspect", file], ["convert", file, dir.file("o.safetensors")]] {
            let r = try recast(args)
            #expect(r.status == 1, "\(args): \(r.stderr)")
            expectClean(r, "\(args)")
            #expect(r.stderr.hasPrefix("recast: error: ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(r.stderr.contains("back\\\\slash"), "names the tensor: \(r.stderr)")
        }
    }

    /// Paths are text from the user's file system: convert's report of a hostile destination is escaped.
    @Test func convertReportIsEscaped() throws {
        let file = hostileFile("hostile.safetensors")
        let dst = dir.file("out\u{1b}[2J\nwrote.safetensors")
        let r = try recast(["convert", file, dst])
        #expect(r.status == 0, "\(r.stderr)")
        expectClean(r, "convert")
        #expect(r.stdout.contains("out\\u{1b}[2J\\nwrote.safetensors"), "\(r.stdout)")
        #expect(FileSystem.exists(dst))
    }

    /// The command line is quoted back in usage errors: an argument holding a line break stays within
    /// the escaped first line, and an unknown option cannot forge a line either.
    @Test func usageErrorsQuotingArgumentsAreEscaped() throws {
        let dtype = try recast(["convert", fixture("gpt2"), dir.file("o.safetensors"), "--dtype", "f1\nrecast: error: fake\u{1b}[2J"])
        #expect(dtype.status == 64, "\(dtype.stderr)")
        expectClean(dtype, "--dtype")
        #expect(dtype.stderr.hasPrefix("recast: error: --dtype must be one of keep, f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1 (got 'f1\\nrecast: error: fake\\u{1b}[2J')\n"), "\(dtype.stderr)")
        let option = try recast(["inspect", fixture("gpt2"), "--x\u{1b}]0;pwned\u{7}\nrecast: error: fake"])
        #expect(option.status == 64, "\(option.stderr)")
        expectClean(option, "unknown option")
        #expect(option.stderr.split(separator: "\n").dropFirst().allSatisfy { $0.hasPrefix("  ") }, "\(option.stderr)")
    }

    /// A model folder whose name and config strings are hostile: run, swap and verify, failing and succeeding.
    @Test func modelCommandsEscapePathsAndConfigStrings() throws {
        let model = dir.file("model\u{1b}]0;pwned\u{7}\n")
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixture("gpt2/model.safetensors"), toPath: model + "/model.safetensors")
        let good = try String(contentsOfFile: fixture("gpt2/config.json"), encoding: .utf8)
        var config = try JSON.parse(good)

        // Failing: an unknown model_type, and (for inspect, a warning) an unknown activation.
        config.set("model_type", .string("gpt\u{1b}[2J\u{202E}"))
        try config.serialized().write(toFile: model + "/config.json", atomically: true, encoding: .utf8)
        let failures = [
            ["run", model, "--length", "2", "--out", dir.file("o.safetensors")],
            ["swap", model, dir.file("s"), "--feature-map", "elu"],
            ["verify", fixture("gpt2"), model, "--length", "2"],
        ]
        for args in failures {
            let r = try recast(args)
            #expect(r.status == 1, "\(args[0]): \(r.stderr)")
            expectClean(r, args[0])
            #expect(r.stderr.contains("gpt\\u{1b}[2J\\u{202e}"), "\(args[0]): \(r.stderr)")
        }
        config = try JSON.parse(good)
        config.set("activation_function", .string("gelu\n\u{1b}[31mred"))
        try config.serialized().write(toFile: model + "/config.json", atomically: true, encoding: .utf8)
        let warned = try recast(["inspect", model])
        #expect(warned.status == 0 && warned.stderr.hasPrefix("recast: warning: "), "\(warned.stderr)")
        expectClean(warned, "inspect warning")
        #expect(warned.stderr.contains("gelu\\n\\u{1b}[31mred"), "\(warned.stderr)")

        // Succeeding: every report that prints the hostile path.
        try good.write(toFile: model + "/config.json", atomically: true, encoding: .utf8)
        let out = dir.file("out\u{1b}[2J.safetensors"), swapped = dir.file("swapped\u{9b}2J")
        let run = try recast(["run", model, "--length", "3", "--out", out])
        #expect(run.status == 0, "\(run.stderr)")
        expectClean(run, "run")
        let swap = try recast(["swap", model, swapped, "--feature-map", "elu"])
        #expect(swap.status == 0, "\(swap.stderr)")
        expectClean(swap, "swap")
        let verify = try recast(["verify", model, swapped, "--length", "3"])
        #expect(verify.status == 0, "\(verify.stderr)")
        expectClean(verify, "verify")
        #expect(verify.stdout.contains("original:  \(dir.path)/model\\u{1b}]0;pwned\\u{7}\\n"), "\(verify.stdout)")
        let notConverted = try recast(["verify", model, model, "--length", "3"])
        #expect(notConverted.status == 1)
        expectClean(notConverted, "verify of a model against itself")
    }
}
