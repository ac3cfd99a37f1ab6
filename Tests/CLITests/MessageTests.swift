import Foundation
import Testing
import TestSupport
import RecastCore

/// Every failure, whoever detects it (the argument parser, a command's checks, the library), reaches the
/// user the same way: a first line `recast: error: …`, detail on indented lines, a documented status.
@Suite struct MessageTests {
    let dir = TempDir()

    /// The first line is `recast: error: …`, every other line is indented, and nothing else is printed.
    func expectFormat(_ r: ProcessResult, status: Int32, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == status, "\(context): status \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, "\(context): \(r.stdout)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(r.stderr.hasSuffix("\n"), "\(context): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(lines.first?.hasPrefix("recast: error: ") == true, "\(context): \(r.stderr)", sourceLocation: sourceLocation)
        for line in lines.dropFirst() {
            #expect(line.hasPrefix("  ") && line.count > 2, "\(context): detail line not indented: '\(line)'", sourceLocation: sourceLocation)
        }
    }

    @Test func usageErrorsStartWithTheRecastPrefix() throws {
        let cases: [([String], String)] = [
            (["inspect"], "Missing expected argument '<path>'"),
            (["inspect", fixture("gpt2"), "--bogus"], "Unknown option '--bogus'"),
            (["frobnicate"], "Unexpected argument 'frobnicate'"),
            (["convert", fixture("gpt2"), dir.file("o.safetensors"), "--dtype", "f64"], "--dtype must be one of keep, f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1 (got 'f64')"),
            (["swap", fixture("gpt2"), dir.file("s")], "Missing expected argument '--feature-map <feature-map>'"),
            (["run", fixture("gpt2"), "--out", dir.file("o.safetensors")], "give the input: --tokens 1,2,3, --length N, --text STRING, --text-file FILE, --lines FILE or --tokens-file FILE"),
            (["run", fixture("gpt2"), "--length", "two", "--out", dir.file("o.safetensors")], "The value 'two' is invalid for '--length <length>'"),
        ]
        for (args, message) in cases {
            let r = try recast(args)
            expectFormat(r, status: 64, "\(args)")
            let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
            #expect(first.contains(message), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("Error: "), "the parser's own prefix is replaced: \(r.stderr)")
        }
        // The usage line follows, indented, naming the command.
        let r = try recast(["swap", fixture("gpt2"), dir.file("s")])
        #expect(r.stderr.contains("\n  Usage: recast swap <source> <destination>"), "\(r.stderr)")
        #expect(r.stderr.contains("\n  See 'recast swap --help' for more information."), "\(r.stderr)")
    }

    /// A check a command makes once it runs (here: shards for HDF5 output) is still a usage error.
    @Test func checksMadeWhileRunningFollowTheFormat() throws {
        let r = try recast(["convert", fixture("gpt2"), dir.file("o.h5"), "--max-shard-size", "1MB"])
        expectFormat(r, status: 64, "shards for .h5")
        #expect(r.stderr.hasPrefix("recast: error: --max-shard-size applies to safetensors output only\n"), "\(r.stderr)")
        #expect(r.stderr.contains("  See 'recast convert --help' for more information."), "\(r.stderr)")
        #expect(dir.entries().isEmpty)
    }

    /// Library errors stay one line with status 1.
    @Test func libraryErrorsAreOneLine() throws {
        let r = try recast(["inspect", dir.file("missing.safetensors")])
        expectFormat(r, status: 1, "missing file")
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(dir.file("missing.safetensors")), "\(r.stderr)")
    }

    /// An error that lists several problems puts each on its own indented line.
    @Test func aListOfProblemsFollowsOnIndentedLines() throws {
        let model = dir.file("model")
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixture("gpt2/model.safetensors"), toPath: model + "/model.safetensors")
        var config = try JSON.parse(String(contentsOfFile: fixture("gpt2/config.json"), encoding: .utf8))
        config.set("n_head", .int(5))  // 32 is not divisible by 5
        config.set("n_layer", .int(7))  // the checkpoint has 2
        dir.write("model/config.json", config.serialized(pretty: true))
        let r = try recast(["run", model, "--length", "3", "--out", dir.file("o.safetensors")])
        expectFormat(r, status: 1, "bad config")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count >= 3, "a headline and one line per problem: \(r.stderr)")
        #expect(lines[0].hasPrefix("recast: error: \(model)") && lines[0].hasSuffix("problems:"), "\(r.stderr)")
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("  - ") }, "\(r.stderr)")
    }

    /// `--eps -1` used to say "Missing value for '--eps <eps>'": the number now reaches the check that
    /// explains why it is refused.
    @Test(arguments: ["-1", "-0.5", "-.5", "-1e-3", "-inf"])
    func aNegativeEpsReachesItsCheck(_ value: String) throws {
        let r = try recast(["swap", fixture("gpt2"), dir.file("s"), "--feature-map", "t2r", "--eps", value])
        expectFormat(r, status: 64, "--eps \(value)")
        #expect(r.stderr.hasPrefix("recast: error: --eps must be a positive number (got -"), "\(r.stderr)")
        #expect(!r.stderr.contains("Missing value"), "\(r.stderr)")
        #expect(!FileSystem.exists(dir.file("s")))
    }

    @Test func negativeNumbersForOtherOptions() throws {
        let out = dir.file("o.safetensors")
        let tokens = try recast(["run", fixture("gpt2"), "--tokens", "-1,2", "--out", out])
        expectFormat(tokens, status: 1, "--tokens -1,2")
        #expect(tokens.stderr.contains("token -1 at position 0 is outside the vocabulary of 64"), "\(tokens.stderr)")
        let length = try recast(["run", fixture("gpt2"), "--length", "-5", "--out", out])
        expectFormat(length, status: 64, "--length -5")
        #expect(length.stderr.hasPrefix("recast: error: --length must be positive"), "\(length.stderr)")
        let dim = try recast(["swap", fixture("gpt2"), dir.file("s"), "--feature-map", "t2r", "--feature-dim", "-3"])
        expectFormat(dim, status: 64, "--feature-dim -3")
        #expect(dim.stderr.contains("--feature-dim must be a positive number of features (got -3)"), "\(dim.stderr)")
        let seed = try recast(["run", fixture("gpt2"), "--length", "2", "--seed", "-1", "--out", out])
        expectFormat(seed, status: 64, "--seed -1")
        #expect(seed.stderr.contains("'-1' is invalid for '--seed <seed>'"), "\(seed.stderr)")
        // The joined form works as well, and a flag is not given a value.
        let joined = try recast(["swap", fixture("gpt2"), dir.file("s"), "--feature-map", "t2r", "--eps=-2"])
        #expect(joined.status == 64 && joined.stderr.contains("(got -2.0)"), "\(joined.stderr)")
        let flag = try recast(["swap", fixture("gpt2"), dir.file("s"), "--feature-map", "t2r", "--force", "-1"])
        expectFormat(flag, status: 64, "--force -1")
        #expect(!FileSystem.exists(dir.file("s")) && !FileSystem.exists(out))
    }

    /// The hidden timing harness crashed on a negative length ("Range requires lowerBound <= upperBound").
    @Test func benchRefusesNonPositiveNumbers() throws {
        for args in [["bench", "decode", fixture("gpt2"), "--lengths", "-3"], ["bench", "decode", fixture("gpt2"), "--steps", "0"],
                     ["bench", "forward", fixture("gpt2"), "--length", "-1"], ["bench", "forward", fixture("gpt2"), "--repeat", "0"]] {
            let r = try recast(args)
            #expect(!r.signalled, "\(args) crashed")
            expectFormat(r, status: 64, "\(args)")
        }
    }

    /// `bench forward --paced` (bench_runtime.py's lockstep with PyTorch): 'ready' once loaded, one pass per line of
    /// standard input with the logits that line asks for, and a clear refusal of any other line.
    @Test func pacedBenchRunsOnePassPerLine() throws {
        let r = try runProcess(recastBinary, ["bench", "forward", fixture("gpt2"), "--length", "8", "--paced"], stdin: "last\nall\n\n")
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4 && lines[0] == "ready", "\(r.stdout)")
        for line in lines.dropFirst() {
            let words = line.split(separator: " ")
            #expect(words.count == 2 && words[0] == "pass_seconds" && (Double(words[1]) ?? -1) > 0, "\(line)")
        }
        let bad = try runProcess(recastBinary, ["bench", "forward", fixture("gpt2"), "--length", "8", "--paced"], stdin: "last\nfirst\n")
        #expect(!bad.signalled && bad.status == 64, "\(bad.status) \(bad.stderr)")
        #expect(bad.stdout.split(separator: "\n").count == 2, "one pass before the bad line: \(bad.stdout)")
        #expect(bad.stderr.contains("--paced reads 'all', 'last' or an empty line (got 'first')"), "\(bad.stderr)")
    }

    /// A negative number where an argument is expected, and anything after `--`, is left alone.
    @Test func negativeArgumentsAreNotJoined() throws {
        let r = try recast(["inspect", "--", "-1"])
        expectFormat(r, status: 1, "inspect -- -1")
        #expect(r.stderr.hasPrefix("recast: error: -1"), "the path '-1' reached inspect: \(r.stderr)")
    }

    @Test func helpAndVersionAreNotErrors() throws {
        for args in [["--help"], ["swap", "--help"], ["help", "run"]] {
            let r = try recast(args)
            #expect(r.status == 0 && r.stderr.isEmpty && r.stdout.contains("USAGE: recast"), "\(args): \(r.stderr)")
        }
        let v = try recast(["--version"])
        #expect(v.status == 0 && v.stdout == "0.1.0\n", "\(v.stdout)")
        let bare = try recast([])
        #expect(bare.status == 0 && bare.stdout.contains("SUBCOMMANDS"), "\(bare.stdout)\(bare.stderr)")
    }

    /// The README says what the tool does: the exit statuses it lists are the ones used here.
    @Test func readmeDocumentsTheExitStatuses() throws {
        let readme = try String(contentsOfFile: repoRoot + "/README.md", encoding: .utf8)
        let commands = try #require(readme.range(of: "## Commands").map { String(readme[$0.upperBound...].prefix(2000)) })
        for phrase in ["recast: error:", "`64`", "`1`", "`0`", "indented"] {
            #expect(commands.contains(phrase), "README Commands intro lacks \(phrase)")
        }
    }
}
