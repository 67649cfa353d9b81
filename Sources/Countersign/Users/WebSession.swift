public import Foundation

/// A signed-in approver in the web app.
///
/// The browser holds `id.secret`; the store keeps only the secret's SHA-256, so a copy of the
/// database cannot be replayed as a cookie. Sessions end after ``idleTimeout`` without use and
/// ``absoluteTimeout`` after sign-in, whatever happens; signing in again or stepping up replaces the
/// session with a new one.
public struct WebSession: Sendable, Hashable {
    /// How long an unused session lasts.
    public static let idleTimeout: TimeInterval = 30 * 60
    /// How long any session lasts.
    public static let absoluteTimeout: TimeInterval = 12 * 3600

    /// The session's public identifier (the cookie's first half).
    public let id: String
    /// SHA-256 of the session's secret (the cookie's second half).
    public let secretHash: [UInt8]
    /// The approver.
    public let email: String
    /// When the session began.
    public let createdAt: Date
    /// When the session was last used.
    public var lastSeenAt: Date
    /// How the approver last proved who they are: sign-in, or a later step-up.
    public let authentication: AuthenticationRecord

    /// Creates a session.
    public init(
        id: String,
        secretHash: [UInt8],
        email: String,
        createdAt: Date,
        lastSeenAt: Date,
        authentication: AuthenticationRecord
    ) {
        self.id = id
        self.secretHash = secretHash
        self.email = email
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.authentication = authentication
    }

    /// Whether the session may still be used at `now`.
    public func isLive(at now: Date) -> Bool {
        now.timeIntervalSince(lastSeenAt) < Self.idleTimeout && now.timeIntervalSince(createdAt) < Self.absoluteTimeout
            && now >= createdAt.addingTimeInterval(-5)
    }
}

/// Where web sessions are kept.
public protocol WebSessionStore: Sendable {
    /// Records a new session, ending `replacing` (the session it rotates) in the same transaction,
    /// and audits the sign-in or step-up.
    ///
    /// - Parameters:
    ///   - session: The new session.
    ///   - replacing: The id of the session it replaces, if any.
    ///   - event: `signed_in` or `stepped_up`, for the audit log.
    /// - Throws: When the store cannot record it.
    func startSession(_ session: WebSession, replacing: String?, event: String) async throws

    /// The session with this id, if it exists (live or not).
    func session(id: String) async throws -> WebSession?

    /// Records that the session was used at `now`.
    func touchSession(id: String, at now: Date) async throws

    /// Ends a session (sign-out), audited.
    func endSession(id: String, at now: Date) async throws
}
