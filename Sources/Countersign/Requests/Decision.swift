public import Foundation

/// How an approver proved who they are for a decision.
public struct AuthenticationRecord: Sendable, Hashable, Codable {
    /// The means of authentication.
    public enum Method: String, Sendable, Hashable, Codable {
        /// A password (a session or personal token established with one).
        case password
        /// A TOTP code checked at the moment of the decision.
        case totp
        /// An OpenID Connect sign-in; `acr`, `amr` and `authTime` come from the verified ID token.
        case oidc
        /// A personal API token of the approver.
        case apiToken = "api_token"
        /// The principal's answer in the agent's own MCP client (form elicitation), relayed by the
        /// agent with its key. Proves no more than the agent key does; policy must permit it, and
        /// only for Low and Medium requests.
        case mcpClient = "mcp_client"
    }

    /// The means.
    public let method: Method
    /// When the approver authenticated.
    public let authTime: Date
    /// The OIDC authentication context class, when known.
    public let acr: String?
    /// The OIDC authentication methods, when known.
    public let amr: [String]

    /// Creates a record.
    public init(method: Method, authTime: Date, acr: String? = nil, amr: [String] = []) {
        self.method = method
        self.authTime = authTime
        self.acr = acr
        self.amr = amr
    }

    /// Whether this counts as step-up at `now`: a fresh TOTP or OIDC authentication within `maxAge`.
    public func isStepUp(at now: Date, maxAge: TimeInterval) -> Bool {
        guard method == .totp || method == .oidc else { return false }
        let age = now.timeIntervalSince(authTime)
        return age >= -5 && age <= maxAge
    }
}

/// A human's approval or denial of one request, bound to the digest they saw.
public struct Decision: Sendable, Hashable, Codable {
    /// Approve or deny.
    public enum Verdict: String, Sendable, Hashable, Codable {
        case approve
        case deny
    }

    /// The request decided.
    public let requestID: String
    /// Who decided (the approver's account name).
    public let approver: String
    /// Approve or deny.
    public let verdict: Verdict
    /// The digest the approver was shown and approved; any other payload is not approved.
    public let digest: ActionDigest
    /// How the approver authenticated.
    public let authentication: AuthenticationRecord
    /// When the decision was made.
    public let decidedAt: Date
    /// The approver's reason (required to deny).
    public let reason: String?
    /// The confirmation text the approver typed, for High requests.
    public let confirmation: String?

    /// Creates a decision.
    public init(
        requestID: String,
        approver: String,
        verdict: Verdict,
        digest: ActionDigest,
        authentication: AuthenticationRecord,
        decidedAt: Date,
        reason: String? = nil,
        confirmation: String? = nil
    ) {
        self.requestID = requestID
        self.approver = approver
        self.verdict = verdict
        self.digest = digest
        self.authentication = authentication
        self.decidedAt = decidedAt
        self.reason = reason
        self.confirmation = confirmation
    }
}
