/// One reason behind a risk level, naming where it came from.
public struct RiskReason: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Where a reason came from.
    public enum Source: String, Sendable, Hashable, Codable {
        /// The operation's own default level.
        case operationDefault = "operation"
        /// One of the operation's risk hints, computed from the arguments.
        case hint
        /// A rule of the policy.
        case rule
        /// A signal from the context of the action (an earlier untrusted read, a rate, a look-up).
        case signal
        /// The policy's per-level defaults (for example, what a level requires).
        case policy
        /// A fact the connector looked up at the provider before the request was shown (read-only).
        case blastRadius = "blast_radius"
    }

    /// Where the reason came from.
    public let source: Source
    /// The hint, rule or signal's name; the operation's identifier for its default.
    public let name: String
    /// The level this reason asks for.
    public let level: RiskLevel
    /// The reason in words a person can read.
    public let text: String

    /// Creates a reason.
    public init(source: Source, name: String, level: RiskLevel, text: String) {
        self.source = source
        self.name = name
        self.level = level
        self.text = text
    }

    public var description: String { "[\(level.title)] \(text) (\(source.rawValue) \(name))" }
}
