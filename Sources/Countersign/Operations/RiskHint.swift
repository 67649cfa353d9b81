/// A function of an operation's arguments that can raise its risk level, with a reason.
///
/// Hints are part of the operation, not of the policy: no policy rule can remove them.
public struct RiskHint: Sendable {
    /// A short identifier, such as `outside_root` or `many_recipients`.
    public let name: String
    private let rule: @Sendable (JSONValue) -> (RiskLevel, String)?

    /// Creates a hint.
    ///
    /// - Parameters:
    ///   - name: A short identifier shown as the reason's source.
    ///   - rule: Returns the level and the reason when the arguments warrant it, `nil` otherwise.
    public init(_ name: String, _ rule: @escaping @Sendable (JSONValue) -> (RiskLevel, String)?) {
        self.name = name
        self.rule = rule
    }

    /// Evaluates the hint on validated arguments.
    public func evaluate(_ arguments: JSONValue) -> RiskReason? {
        guard let (level, text) = rule(arguments) else { return nil }
        return RiskReason(source: .hint, name: name, level: level, text: text)
    }
}
