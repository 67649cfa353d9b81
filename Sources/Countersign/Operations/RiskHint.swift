/// A function of an operation's arguments that can raise its risk level, with a reason.
///
/// Hints are part of the operation, not of the policy: no policy rule can remove them.
public struct RiskHint: Sendable {
    /// A short identifier, such as `outside_root` or `many_recipients`.
    public let name: String
    private let rule: @Sendable (ProposedAction) -> [(name: String, level: RiskLevel, text: String)]

    /// Creates a hint.
    ///
    /// - Parameters:
    ///   - name: A short identifier shown as the reason's source.
    ///   - rule: Returns the level and the reason when the arguments warrant it, `nil` otherwise.
    public init(_ name: String, _ rule: @escaping @Sendable (JSONValue) -> (RiskLevel, String)?) {
        self.name = name
        self.rule = { action in rule(action.arguments).map { [(name, $0.0, $0.1)] } ?? [] }
    }

    /// Creates a hint that reads the whole action: the arguments and on whose behalf (for example,
    /// recipients outside the principal's own domain).
    public init(action name: String, _ rule: @escaping @Sendable (ProposedAction) -> (RiskLevel, String)?) {
        self.name = name
        self.rule = { action in rule(action).map { [(name, $0.0, $0.1)] } ?? [] }
    }

    /// Creates a hint that can give several reasons from one look at the arguments (for example, one
    /// pass over a list of paths that finds both a path outside the root and a credential file).
    ///
    /// - Parameters:
    ///   - name: A name for the group, used in diagnostics.
    ///   - rule: Returns each reason's own name, level and text.
    public init(
        group name: String,
        _ rule: @escaping @Sendable (JSONValue) -> [(name: String, level: RiskLevel, text: String)]
    ) {
        self.name = name
        self.rule = { action in rule(action.arguments) }
    }

    /// Evaluates the hint on a validated action.
    public func evaluate(_ action: ProposedAction) -> [RiskReason] {
        rule(action).map { RiskReason(source: .hint, name: $0.name, level: $0.level, text: $0.text) }
    }
}
