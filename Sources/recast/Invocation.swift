#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecastCore

/// How a command line becomes a run and an exit status. Every failure, whether the parser's, a command's
/// validation or the library's, reaches the user the same way: a first line `recast: error: …` on
/// stderr, any detail (a list of problems, the usage line) on indented lines below it, and the exit status
/// 1 for a failure, 64 for a command line that is wrong.
enum Invocation {
    /// Parses and runs the command line (without the program name), then exits.
    static func run(_ arguments: [String]) -> Never {
        let arguments = joiningNegativeValues(arguments, valueOptions: { valueOptionNames(of: Recast.self) })
        var command: ParsableCommand
        do {
            command = try Recast.parseAsRoot(arguments)
        } catch {
            exit(reportingParserError: error)
        }
        do {
            try command.run()
        } catch let code as ExitCode {
            exit(code.rawValue)  // already reported (reportingErrors)
        } catch let error as ValidationError {
            // A check the command makes once it runs: still the command line's fault.
            Terminal.error(error.message, details: ["See '\(commandPath(type(of: command))) --help' for more information."])
            exit(ExitCode.validationFailure.rawValue)
        } catch where isParserOutcome(error) {
            // `--help` parses into the parser's own help command, whose run throws its request.
            exit(reportingParserError: error)
        } catch {
            Terminal.error(error)
            exit(ExitCode.failure.rawValue)
        }
        exit(0)
    }

    /// The parser's own outcomes: help and version on stdout with status 0; a usage error as
    /// `recast: error: MESSAGE` with the parser's help and usage lines indented below it, status 64.
    static func exit(reportingParserError error: Error) -> Never {
        let code = Recast.exitCode(for: error)
        let text = Recast.fullMessage(for: error)
        if code.isSuccess {
            if !text.isEmpty { print(text) }
            exit(code.rawValue)
        }
        let (headline, details) = usageMessage(text, message: Recast.message(for: error))
        if !headline.isEmpty { Terminal.error(headline, details: details) }
        exit(code.rawValue)
    }

    /// An error of the argument parser's own (help and version requests, parse errors), which it
    /// formats; any other error comes from Recast and is reported by `Terminal.error`.
    static func isParserOutcome(_ error: Error) -> Bool {
        error is CleanExit || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.")
    }

    static func exit(_ status: Int32) -> Never {
        Glibc.exit(status)
    }

    /// Splits the parser's text (`Error: MESSAGE`, `Help: …`, `Usage: …`, `  See '…' for more
    /// information.`) into the message and the lines that follow it. The message is taken whole, so a line
    /// break inside it (an argument's value quoted back) stays part of it, escaped, and cannot pose as a
    /// line of its own.
    static func usageMessage(_ text: String, message: String) -> (headline: String, details: [String]) {
        var rest = Substring(text)
        var headline = message
        if !message.isEmpty, let r = rest.firstRange(of: message) {
            rest = rest[r.upperBound...]
        } else {
            let first = rest.prefix { $0 != "\n" }
            headline = String(first)
            if headline.hasPrefix("Error: ") { headline.removeFirst("Error: ".count) }
            rest = rest.dropFirst(first.count)
        }
        let details = rest.split(separator: "\n", omittingEmptySubsequences: true).map(trimmed).filter { !$0.isEmpty }
        return (headline, details)
    }

    static func trimmed(_ s: Substring) -> String {
        String(s.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }

    /// `recast swap`: the words that name a command on the command line.
    static func commandPath(_ type: ParsableCommand.Type) -> String {
        func search(_ node: ParsableCommand.Type, _ path: [String]) -> [String]? {
            let here = path + [node._commandName]
            if node == type { return here }
            for sub in node.configuration.subcommands {
                if let found = search(sub, here) { return found }
            }
            return nil
        }
        return (search(Recast.self, []) ?? ["recast", type._commandName]).joined(separator: " ")
    }

    // MARK: negative numbers as option values

    /// Joins `--option -1` into `--option=-1` for options that take a value, so that a negative number
    /// reaches the check that explains why it is refused instead of being read as an unknown flag
    /// ("Missing value for '--eps'"). Applies to `-1`, `-0.5`, `-.5`, `-1,2`, `-1e-3`, `-inf`, `-nan`;
    /// stops at `--`, after which everything is an argument. The option names are asked for only when a
    /// token looks like a negative number.
    static func joiningNegativeValues(_ arguments: [String], valueOptions: () -> Set<String>) -> [String] {
        guard arguments.contains(where: looksLikeNegativeNumber) else { return arguments }
        let options = valueOptions()
        var out: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--" {
                out += arguments[i...]
                break
            }
            if a.hasPrefix("--"), !a.contains("="), options.contains(String(a.dropFirst(2))),
               i + 1 < arguments.count, looksLikeNegativeNumber(arguments[i + 1]) {
                out.append(a + "=" + arguments[i + 1])
                i += 2
            } else {
                out.append(a)
                i += 1
            }
        }
        return out
    }

    /// `-` followed by a digit, by `.` and a digit, or by `inf`, `infinity` or `nan`: no option is spelled so.
    static func looksLikeNegativeNumber(_ s: String) -> Bool {
        guard s.hasPrefix("-") else { return false }
        let rest = s.dropFirst()
        if let c = rest.first, c.isASCII, c.isNumber { return true }
        if rest.first == ".", let c = rest.dropFirst().first, c.isASCII, c.isNumber { return true }
        return ["inf", "infinity", "nan"].contains(rest.lowercased())
    }

    /// The long names of every option that takes a value, in every command (from the parser's own
    /// description of the command tree, so a new option is covered without being listed here).
    static func valueOptionNames(of root: ParsableCommand.Type) -> Set<String> {
        guard let tree = try? JSON.parse(root._dumpHelp()) else { return [] }
        var names: Set<String> = []
        func visit(_ command: JSON) {
            for argument in command["arguments"]?.arrayValue ?? [] where argument["kind"]?.stringValue == "option" {
                for name in argument["names"]?.arrayValue ?? [] where name["kind"]?.stringValue == "long" {
                    if let n = name["name"]?.stringValue { names.insert(n) }
                }
            }
            for sub in command["subcommands"]?.arrayValue ?? [] { visit(sub) }
        }
        if let command = tree["command"] { visit(command) }
        return names
    }
}
