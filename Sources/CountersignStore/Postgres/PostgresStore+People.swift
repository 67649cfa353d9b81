public import Countersign
public import Foundation
import PostgresNIO

extension PostgresStore: AgentStore {
    public func createAgent(_ agent: Agent, actor: String) async throws {
        guard Agent.isValidName(agent.name) else { throw AgentError.invalidName(agent.name) }
        do {
            try await transaction { connection in
                try await connection.query(
                    "INSERT INTO agents (key_id, name, key_hash, created_at) VALUES (\(agent.keyID), \(agent.name), \(agent.keyHash), \(agent.createdAt.timeIntervalSince1970))",
                    logger: logger
                )
                try await PostgresAudit.append(
                    AuditEvent(
                        kind: AuditKind.agentChanged,
                        actor: actor,
                        at: agent.createdAt,
                        data: ["agent": .string(agent.name), "change": "created", "keyID": .string(agent.keyID)]
                    ),
                    on: connection,
                    logger: logger
                )
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            // The unique index on active names, checked by the database across instances.
            throw AgentError.nameTaken(agent.name)
        }
    }

    public func agents() async throws -> [Agent] {
        try await rows("SELECT name, key_id, key_hash, created_at, revoked_at FROM agents ORDER BY name, created_at")
            .map(Self.agent)
    }

    public func revokeAgent(named name: String, actor: String, now: Date) async throws {
        try await transaction { connection in
            let revoked = try await rows(
                "UPDATE agents SET revoked_at = \(now.timeIntervalSince1970) WHERE name = \(name) AND revoked_at IS NULL RETURNING key_id",
                on: connection
            )
            guard revoked.count == 1 else { throw AgentError.notFound(name) }
            try await PostgresAudit.append(
                AuditEvent(
                    kind: AuditKind.agentChanged,
                    actor: actor,
                    at: now,
                    data: ["agent": .string(name), "change": "revoked"]
                ),
                on: connection,
                logger: logger
            )
        }
    }

    public func agent(keyID: String) async throws -> Agent? {
        try await rows(
            "SELECT name, key_id, key_hash, created_at, revoked_at FROM agents WHERE key_id = \(keyID)"
        ).first.map(Self.agent)
    }

    static func agent(_ row: PostgresRow) throws -> Agent {
        let cells = row.makeRandomAccess()
        return Agent(
            name: try cells[0].decode(String.self),
            keyID: try cells[1].decode(String.self),
            keyHash: try cells[2].decode(String.self),
            createdAt: Date(timeIntervalSince1970: try cells[3].decode(Double.self)),
            revokedAt: try cells[4].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
        )
    }
}

extension PostgresStore: UserStore {
    public func createUser(_ user: User, actor: String) async throws {
        do {
            try await transaction { connection in
                try await connection.query(
                    """
                    INSERT INTO users (email, role, password_hash, totp_secret_sealed, totp_last_step, created_at)
                    VALUES (\(user.email), \(user.role.rawValue), \(user.passwordHash),
                        \(user.sealedTOTPSecret.map { Data($0) }), \(user.totpLastStep), \(user.createdAt.timeIntervalSince1970))
                    """,
                    logger: logger
                )
                try await PostgresAudit.append(
                    AuditEvent.userChange(
                        user.email,
                        change: "created",
                        actor: actor,
                        at: user.createdAt,
                        details: ["role": .string(user.role.rawValue)]
                    ),
                    on: connection,
                    logger: logger
                )
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw UserError.exists(user.email)
        }
    }

    public func user(email: String) async throws -> User? {
        try await rows("SELECT \(unescaped: Self.userColumns) FROM users WHERE email = \(email)").first.map(Self.user)
    }

    public func users() async throws -> [User] {
        try await rows("SELECT \(unescaped: Self.userColumns) FROM users ORDER BY email").map(Self.user)
    }

    public func enrollTOTP(email: String, sealedSecret: [UInt8], actor: String, now: Date) async throws {
        try await transaction { connection in
            let changed = try await rows(
                "UPDATE users SET totp_secret_sealed = \(Data(sealedSecret)), totp_last_step = NULL WHERE email = \(email) AND disabled_at IS NULL RETURNING email",
                on: connection
            )
            guard changed.count == 1 else { throw UserError.notFound(email) }
            try await PostgresAudit.append(
                AuditEvent.userChange(email, change: "totp_enrolled", actor: actor, at: now),
                on: connection,
                logger: logger
            )
        }
    }

    public func consumeTOTP(email: String, step: Int64) async throws -> Bool {
        // One conditional update: a code (its time step) is accepted once, on any instance.
        try await rows(
            """
            UPDATE users SET totp_last_step = \(step)
            WHERE email = \(email) AND disabled_at IS NULL AND (totp_last_step IS NULL OR totp_last_step < \(step))
            RETURNING email
            """
        ).count == 1
    }

    public func createToken(_ token: PersonalToken, actor: String) async throws {
        try await transaction { connection in
            let active = try await rows(
                "SELECT email FROM users WHERE email = \(token.email) AND disabled_at IS NULL FOR SHARE",
                on: connection
            )
            guard active.count == 1 else { throw UserError.notFound(token.email) }
            try await connection.query(
                "INSERT INTO personal_tokens (token_id, email, token_hash, created_at) VALUES (\(token.id), \(token.email), \(token.hash), \(token.createdAt.timeIntervalSince1970))",
                logger: logger
            )
            try await PostgresAudit.append(
                AuditEvent.userChange(
                    token.email,
                    change: "token_issued",
                    actor: actor,
                    at: token.createdAt,
                    details: ["tokenID": .string(token.id)]
                ),
                on: connection,
                logger: logger
            )
        }
    }

    public func personalToken(id: String) async throws -> PersonalToken? {
        try await rows(
            "SELECT token_id, email, token_hash, created_at, revoked_at FROM personal_tokens WHERE token_id = \(id)"
        ).first.map { row in
            let cells = row.makeRandomAccess()
            return PersonalToken(
                id: try cells[0].decode(String.self),
                email: try cells[1].decode(String.self),
                hash: try cells[2].decode(String.self),
                createdAt: Date(timeIntervalSince1970: try cells[3].decode(Double.self)),
                revokedAt: try cells[4].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
            )
        }
    }

    public func disableUser(email: String, actor: String, now: Date) async throws {
        try await transaction { connection in
            let changed = try await rows(
                "UPDATE users SET disabled_at = \(now.timeIntervalSince1970) WHERE email = \(email) AND disabled_at IS NULL RETURNING email",
                on: connection
            )
            guard changed.count == 1 else { throw UserError.notFound(email) }
            try await connection.query(
                "UPDATE personal_tokens SET revoked_at = \(now.timeIntervalSince1970) WHERE email = \(email) AND revoked_at IS NULL",
                logger: logger
            )
            try await PostgresAudit.append(
                AuditEvent.userChange(email, change: "disabled", actor: actor, at: now),
                on: connection,
                logger: logger
            )
        }
    }

    static let userColumns = "email, role, password_hash, totp_secret_sealed, totp_last_step, created_at, disabled_at"

    static func user(_ row: PostgresRow) throws -> User {
        let cells = row.makeRandomAccess()
        guard let role = User.Role(rawValue: try cells[1].decode(String.self)) else {
            throw StoreError.corrupt("unknown role of a user")
        }
        return User(
            email: try cells[0].decode(String.self),
            role: role,
            passwordHash: try cells[2].decode(String.self),
            sealedTOTPSecret: try cells[3].decode(Data?.self).map { Array($0) },
            totpLastStep: try cells[4].decode(Int64?.self),
            createdAt: Date(timeIntervalSince1970: try cells[5].decode(Double.self)),
            disabledAt: try cells[6].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
        )
    }
}
