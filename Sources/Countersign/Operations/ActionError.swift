/// A proposed action cannot be accepted as it stands.
public struct ActionError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable { case unknownOperation, invalidArguments, deniedEdit }
    private let base: Base
    /// The operation named, for an unknown operation.
    public let operation: String?
    /// Every way the arguments fail their schema.
    public let violations: [SchemaViolation]

    /// No operation has this identifier.
    public static func unknownOperation(_ operation: String) -> Self {
        Self(base: .unknownOperation, operation: operation, violations: [])
    }

    /// The arguments do not satisfy the operation's schema.
    public static func invalidArguments(_ violations: [SchemaViolation]) -> Self {
        Self(base: .invalidArguments, operation: nil, violations: violations)
    }

    /// Policy denies the action as an approver edited it (the reason in ``operation``'s place).
    public static func deniedEdit(_ reason: String) -> Self {
        Self(base: .deniedEdit, operation: reason, violations: [])
    }

    /// Whether the operation is unknown.
    public var isUnknownOperation: Bool { base == .unknownOperation }

    public var description: String {
        switch base {
        case .unknownOperation:
            "unknown operation \"\(operation ?? "")\"; GET /v1/catalog lists the operations"
        case .invalidArguments:
            "invalid arguments: " + violations.map(\.description).joined(separator: "; ")
        case .deniedEdit:
            "policy would deny the action as edited: \(operation ?? "")"
        }
    }
}
