/// One problem in a policy file, with where it is.
public struct PolicyIssue: Sendable, Hashable, CustomStringConvertible {
    /// The 1-based line.
    public let line: Int
    /// The 1-based column.
    public let column: Int
    /// What is wrong and how to fix it.
    public let message: String

    /// Creates an issue.
    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(line):\(column): \(message)" }
}

/// A policy file that cannot be used, with every problem found in it.
public struct PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Every problem, in file order.
    public let issues: [PolicyIssue]

    /// Creates an error.
    public init(issues: [PolicyIssue]) {
        self.issues = issues.sorted { ($0.line, $0.column) < ($1.line, $1.column) }
    }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
