import RecastCore

/// Why a checkpoint could not be mapped onto a transformer graph. Lists every problem found, not only the first.
public struct GraphError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var problems: [String]

    public init(file: String, problems: [String]) {
        self.file = file
        self.problems = problems
    }

    public init(file: String, _ problem: String) { self.init(file: file, problems: [problem]) }

    public var description: String {
        if problems.count == 1 { return "\(file): \(problems[0])" }
        return "\(file): \(problems.count) problems:\n" + problems.map { "  - " + $0 }.joined(separator: "\n")
    }
}

extension GraphError: DetailedError {
    /// `FILE: N problems:` above one line per problem, or the one problem.
    public var headline: String { problems.count == 1 ? description : "\(file): \(problems.count) problems:" }
    public var details: [String] { problems.count == 1 ? [] : problems.map { "- " + $0 } }
}
