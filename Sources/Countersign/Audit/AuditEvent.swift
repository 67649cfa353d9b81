public import Foundation

/// Something that happened, as the audit log records it.
///
/// It never carries a secret.
public struct AuditEvent: Sendable, Hashable, Codable {
    /// What happened, such as `action.proposed` or `token.vended`.
    public let kind: String
    /// Who did it: `agent:NAME`, `user:EMAIL` or `system`.
    public let actor: String
    /// The request concerned, if any.
    public let requestID: String?
    /// When it happened.
    public let at: Date
    /// Details; never a token, password, key or other secret.
    public let data: JSONValue

    /// Creates an event.
    public init(kind: String, actor: String, requestID: String? = nil, at: Date, data: JSONValue = .object([:])) {
        self.kind = kind
        self.actor = actor
        self.requestID = requestID
        self.at = at
        self.data = data
    }

    /// Member names that may never appear in an event's data, in any letter case.
    public static let forbiddenKeys: Set<String> = [
        "token", "access_token", "accesstoken", "refresh_token", "refreshtoken", "id_token", "password", "secret",
        "client_secret", "api_key", "apikey", "authorization", "cookie", "private_key", "totp_secret",
    ]

    /// The first forbidden member name found in `data`, if any.
    public var forbiddenKey: String? { Self.firstForbiddenKey(in: data) }

    private static func firstForbiddenKey(in value: JSONValue) -> String? {
        switch value {
        case .object(let members):
            for (key, member) in members {
                if forbiddenKeys.contains(key.lowercased()) && member != JSONValue.redacted { return key }
                if let found = firstForbiddenKey(in: member) { return found }
            }
            return nil
        case .array(let elements):
            for element in elements {
                if let found = firstForbiddenKey(in: element) { return found }
            }
            return nil
        default:
            return nil
        }
    }
}

/// The kinds of events Countersign records.
public enum AuditKind {
    public static let proposed = "action.proposed"
    public static let assessed = "action.assessed"
    public static let approvalRecorded = "action.approval_recorded"
    public static let approved = "action.approved"
    public static let autoApproved = "action.auto_approved"
    public static let denied = "action.denied"
    public static let rejected = "action.rejected"
    public static let expired = "action.expired"
    public static let extended = "action.extended"
    public static let edited = "action.edited"
    public static let blastRadius = "action.blast_radius"
    public static let executing = "action.executing"
    public static let tokenVended = "token.vended"
    public static let executed = "action.executed"
    public static let failed = "action.failed"
    public static let outcomeUnknown = "action.outcome_unknown"
    public static let policyChanged = "policy.changed"
    public static let userChanged = "user.changed"
    public static let agentChanged = "agent.changed"
    public static let keyChanged = "key.changed"
}
