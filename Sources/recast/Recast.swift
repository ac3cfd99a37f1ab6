#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecastCore

@main
struct Recast: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recast",
        abstract: "Inspect, convert and linearise pretrained transformer checkpoints.",
        discussion: """
            Recast reads safetensors (single or sharded) and HDF5 checkpoints, maps them onto a typed \
            transformer graph, swaps softmax attention for linear attention with per-head feature maps, \
            and runs and verifies the result on the CPU.
            """,
        version: "0.1.0",
        subcommands: [Inspect.self, Convert.self, Swap.self, Calibrate.self, Run.self, Generate.self, VerifyCommand.self, Tokenize.self, Bench.self]
    )

    static func main() {
        // First, before any thread starts: SIGINT, SIGTERM and SIGHUP remove the temporaries being written
        // and end the process with status 128 + the signal's number.
        Temporaries.removeOnSignals()
        // A file-size limit (ulimit -f) should fail a write with a message, not kill the process.
        signal(SIGXFSZ, SIG_IGN)
        Invocation.run(Array(CommandLine.arguments.dropFirst()))
    }
}

/// Runs a command body, turning library errors into `recast: error: …` on stderr (escaped, with any
/// detail lines indented: `Terminal.error`) and exit status 1. Usage errors pass through to `Invocation`.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        Terminal.error(error)
        throw ExitCode(1)
    }
}
