public import Foundation

/// A person who may approve or deny actions.
public struct User: Sendable, Hashable {
    /// What a user may do.
    public enum Role: String, Sendable, Hashable, CaseIterable, Codable {
        /// Reviews, approves and denies requests.
        case approver
        /// An approver who may also manage users, agents and policy through the API.
        case admin
    }

    /// The user's email address, their account name (stored in lower case).
    public let email: String
    /// What they may do.
    public var role: Role
    /// The bcrypt hash of their password.
    public let passwordHash: String
    /// Their TOTP secret, sealed with the data directory's secrets key; `nil` until enrolled.
    public var sealedTOTPSecret: [UInt8]?
    /// The time step of the last TOTP code accepted from them: a code is good once.
    public var totpLastStep: Int64?
    /// When the account was created.
    public let createdAt: Date
    /// When the account was disabled, if it was.
    public var disabledAt: Date?

    /// Creates a user record.
    public init(
        email: String,
        role: Role,
        passwordHash: String,
        sealedTOTPSecret: [UInt8]? = nil,
        totpLastStep: Int64? = nil,
        createdAt: Date,
        disabledAt: Date? = nil
    ) {
        self.email = email
        self.role = role
        self.passwordHash = passwordHash
        self.sealedTOTPSecret = sealedTOTPSecret
        self.totpLastStep = totpLastStep
        self.createdAt = createdAt
        self.disabledAt = disabledAt
    }

    /// Whether the account may sign in.
    public var isActive: Bool { disabledAt == nil }

    /// Whether a TOTP authenticator is enrolled.
    public var hasTOTP: Bool { sealedTOTPSecret != nil }

    /// How the user appears as an actor in the audit log.
    public var actor: String { "user:\(email)" }

    /// The account name for an address: trimmed and in lower case, or `nil` when it is not shaped
    /// like an email address (one `@`, something either side, no spaces or control characters, at most 254 bytes).
    public static func normalizedEmail(_ text: String) -> String? {
        let email = text.trimmingCharacters(in: .whitespaces).lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."),
            !parts[1].hasSuffix("."), email.utf8.count <= 254,
            email.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F })
        else { return nil }
        return email
    }
}

/// An approver's personal API token, stored as the SHA-256 of the token.
public struct PersonalToken: Sendable, Hashable {
    /// The public id of the token.
    public let id: String
    /// The user it belongs to.
    public let email: String
    /// SHA-256 of the token, in hex.
    public let hash: String
    /// When it was issued.
    public let createdAt: Date
    /// When it was revoked, if it was.
    public var revokedAt: Date?

    /// Creates a token record.
    public init(id: String, email: String, hash: String, createdAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.email = email
        self.hash = hash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// Approvers and administrators, their authenticators and tokens.
///
/// Every change is recorded as `user.changed` in the audit log, in the same transaction; no secret,
/// hash or sealed value ever enters the log.
public protocol UserStore: Sendable {
    /// Adds a user.
    ///
    /// - Throws: ``UserError/exists`` when the address is taken.
    func createUser(_ user: User, actor: String) async throws

    /// The user with this (normalised) address.
    func user(email: String) async throws -> User?

    /// Every user, by address.
    func users() async throws -> [User]

    /// Stores a newly sealed TOTP secret for the user, replacing any earlier one.
    ///
    /// - Throws: ``UserError/notFound`` when there is no such user.
    func enrollTOTP(email: String, sealedSecret: [UInt8], actor: String, now: Date) async throws

    /// Records that the user's code for `step` was accepted, atomically.
    ///
    /// - Returns: `false` when a code of this step or a later one was already accepted: the code
    ///   has been used and must be refused.
    func consumeTOTP(email: String, step: Int64) async throws -> Bool

    /// Issues a personal token.
    ///
    /// - Throws: ``UserError/notFound`` when there is no active user with that address.
    func createToken(_ token: PersonalToken, actor: String) async throws

    /// The personal token with this id.
    func personalToken(id: String) async throws -> PersonalToken?

    /// Disables a user: their tokens stop working at once.
    ///
    /// - Throws: ``UserError/notFound`` when there is no active user with that address.
    func disableUser(email: String, actor: String, now: Date) async throws
}

extension UserStore {
    /// Authenticates a presented personal token.
    ///
    /// - Returns: The active user the token belongs to, or `nil` for an unknown, malformed or revoked
    ///   token or a disabled user.
    public func authenticate(token: String) async throws -> User? {
        guard let id = APIKey.id(of: token, kind: .personal), let stored = try await personalToken(id: id),
            stored.revokedAt == nil
        else { return nil }
        let presented = APIKey.hash(of: token)
        guard ConstantTime.equals(Array(presented.utf8), Array(stored.hash.utf8)) else { return nil }
        guard let user = try await user(email: stored.email), user.isActive else { return nil }
        return user
    }
}

/// A user operation that cannot be done.
public struct UserError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable { case exists, notFound, invalidEmail, weakPassword, noTOTP, badCode }
    private let base: Base
    private let detail: String

    /// A user already has this address.
    public static func exists(_ email: String) -> Self { Self(base: .exists, detail: email) }
    /// No active user has this address.
    public static func notFound(_ email: String) -> Self { Self(base: .notFound, detail: email) }
    /// The address is not acceptable.
    public static func invalidEmail(_ text: String) -> Self { Self(base: .invalidEmail, detail: text) }
    /// The password is too short or too long.
    public static let weakPassword = Self(base: .weakPassword, detail: "")
    /// Step-up needs a TOTP authenticator and the user has none.
    public static func noTOTP(_ email: String) -> Self { Self(base: .noTOTP, detail: email) }
    /// The TOTP code is wrong, expired or already used.
    public static let badCode = Self(base: .badCode, detail: "")

    /// Whether this is a refused one-time code.
    public var isBadCode: Bool { base == .badCode }

    public var description: String {
        switch base {
        case .exists: "a user \(detail) already exists"
        case .notFound: "no active user \(detail)"
        case .invalidEmail: "\"\(detail)\" is not an email address"
        case .weakPassword:
            "a password must have at least 12 characters and at most 72 bytes (bcrypt ignores the rest)"
        case .noTOTP: "\(detail) has no authenticator enrolled; run `countersign users totp \(detail)`"
        case .badCode: "the one-time code is wrong, expired or was already used; wait for the next code"
        }
    }
}
