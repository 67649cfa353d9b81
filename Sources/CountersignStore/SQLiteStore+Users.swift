public import Countersign
public import Foundation
import GRDB

extension SQLiteStore: UserStore {
    public func createUser(_ user: User, actor: String) async throws {
        guard User.normalizedEmail(user.email) == user.email else { throw UserError.invalidEmail(user.email) }
        try await transaction { db in
            let taken = try Bool.fetchOne(
                db,
                sql: "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?)",
                arguments: [user.email]
            )
            guard taken == false else { throw UserError.exists(user.email) }
            try db.execute(
                sql: """
                    INSERT INTO users (email, role, password_hash, totp_secret_sealed, totp_last_step, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    user.email, user.role.rawValue, user.passwordHash, user.sealedTOTPSecret.map { Data($0) },
                    user.totpLastStep, user.createdAt.timeIntervalSince1970,
                ]
            )
            _ = try AuditWriter.append(
                AuditEvent.userChange(
                    user.email,
                    change: "created",
                    actor: actor,
                    at: user.createdAt,
                    details: ["role": .string(user.role.rawValue)]
                ),
                in: db
            )
        }
    }

    public func user(email: String) async throws -> User? {
        try await pointRead { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE email = ?", arguments: [email]).map {
                try Self.user($0)
            }
        }
    }

    public func users() async throws -> [User] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM users ORDER BY email").map { try Self.user($0) }
        }
    }

    public func enrollTOTP(email: String, sealedSecret: [UInt8], actor: String, now: Date) async throws {
        try await transaction { db in
            try db.execute(
                sql: """
                    UPDATE users SET totp_secret_sealed = ?, totp_last_step = NULL
                    WHERE email = ? AND disabled_at IS NULL
                    """,
                arguments: [Data(sealedSecret), email]
            )
            guard db.changesCount == 1 else { throw UserError.notFound(email) }
            _ = try AuditWriter.append(
                AuditEvent.userChange(email, change: "totp_enrolled", actor: actor, at: now),
                in: db
            )
        }
    }

    public func consumeTOTP(email: String, step: Int64) async throws -> Bool {
        try await transaction { db in
            try db.execute(
                sql: """
                    UPDATE users SET totp_last_step = ?
                    WHERE email = ? AND disabled_at IS NULL AND (totp_last_step IS NULL OR totp_last_step < ?)
                    """,
                arguments: [step, email, step]
            )
            return db.changesCount == 1
        }
    }

    public func createToken(_ token: PersonalToken, actor: String) async throws {
        try await transaction { db in
            let active = try Bool.fetchOne(
                db,
                sql: "SELECT EXISTS (SELECT 1 FROM users WHERE email = ? AND disabled_at IS NULL)",
                arguments: [token.email]
            )
            guard active == true else { throw UserError.notFound(token.email) }
            try db.execute(
                sql: "INSERT INTO personal_tokens (token_id, email, token_hash, created_at) VALUES (?, ?, ?, ?)",
                arguments: [token.id, token.email, token.hash, token.createdAt.timeIntervalSince1970]
            )
            _ = try AuditWriter.append(
                AuditEvent.userChange(
                    token.email,
                    change: "token_issued",
                    actor: actor,
                    at: token.createdAt,
                    details: ["tokenID": .string(token.id)]
                ),
                in: db
            )
        }
    }

    public func personalToken(id: String) async throws -> PersonalToken? {
        try await pointRead { db in
            try Row.fetchOne(db, sql: "SELECT * FROM personal_tokens WHERE token_id = ?", arguments: [id]).map { row in
                PersonalToken(
                    id: row["token_id"],
                    email: row["email"],
                    hash: row["token_hash"],
                    createdAt: Date(timeIntervalSince1970: row["created_at"]),
                    revokedAt: (row["revoked_at"] as Double?).map(Date.init(timeIntervalSince1970:))
                )
            }
        }
    }

    public func disableUser(email: String, actor: String, now: Date) async throws {
        try await transaction { db in
            try db.execute(
                sql: "UPDATE users SET disabled_at = ? WHERE email = ? AND disabled_at IS NULL",
                arguments: [now.timeIntervalSince1970, email]
            )
            guard db.changesCount == 1 else { throw UserError.notFound(email) }
            try db.execute(
                sql: "UPDATE personal_tokens SET revoked_at = ? WHERE email = ? AND revoked_at IS NULL",
                arguments: [now.timeIntervalSince1970, email]
            )
            _ = try AuditWriter.append(AuditEvent.userChange(email, change: "disabled", actor: actor, at: now), in: db)
        }
    }

    static func user(_ row: Row) throws -> User {
        guard let role = User.Role(rawValue: row["role"]) else { throw StoreError.corrupt("unknown role of a user") }
        return User(
            email: row["email"],
            role: role,
            passwordHash: row["password_hash"],
            sealedTOTPSecret: (row["totp_secret_sealed"] as Data?).map { Array($0) },
            totpLastStep: row["totp_last_step"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            disabledAt: (row["disabled_at"] as Double?).map(Date.init(timeIntervalSince1970:))
        )
    }
}
