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

    /// Records a failed sign-in against each key (`account:EMAIL`, `address:IP`), and forgets
    /// failures recorded before `forgetBefore`.
    func recordSignInFailure(keys: [String], at now: Date, forgetBefore: Date) async throws

    /// The times of the failed sign-ins recorded against each of `keys` since `since`, oldest first.
    func signInFailures(keys: [String], since: Date) async throws -> [String: [Date]]

    /// Forgets the failed sign-ins recorded against a key (its account signed in).
    func clearSignInFailures(key: String) async throws

    /// Records a sign-in that passed its password and waits for its TOTP code, and forgets those
    /// that expired.
    func startPendingSignIn(_ pending: PendingSignIn, now: Date) async throws

    /// The pending sign-in whose token hashes to `tokenHash`, if it has not expired.
    func pendingSignIn(tokenHash: [UInt8], now: Date) async throws -> PendingSignIn?

    /// Ends a pending sign-in (finished, or given up).
    func finishPendingSignIn(tokenHash: [UInt8]) async throws
}

/// A sign-in that passed its password and waits for the approver's TOTP code, kept in the store so
/// that any instance can take the second step; only hashes of its token and of the browser's
/// sign-in cookie are kept.
public struct PendingSignIn: Sendable, Hashable {
    /// SHA-256 of the token the sign-in page carries.
    public let tokenHash: [UInt8]
    /// The approver.
    public let email: String
    /// SHA-256 of the browser's sign-in cookie: the second step must come from the same browser.
    public let browserHash: [UInt8]
    /// When the sign-in must be started again.
    public let expiresAt: Date

    /// Creates one.
    public init(tokenHash: [UInt8], email: String, browserHash: [UInt8], expiresAt: Date) {
        self.tokenHash = tokenHash
        self.email = email
        self.browserHash = browserHash
        self.expiresAt = expiresAt
    }
}
