public import Countersign
public import Foundation
import PostgresNIO

extension PostgresStore: WebSessionStore {
    public func startSession(_ session: WebSession, replacing: String?, event: String) async throws {
        let authentication = session.authentication
        let amr = CanonicalJSON.string(.array(authentication.amr.map(JSONValue.string)))
        let created = session.createdAt.timeIntervalSince1970
        try await transaction { connection in
            if let replacing {
                try await connection.query("DELETE FROM web_sessions WHERE id = \(replacing)", logger: logger)
            }
            // Sessions that ended long ago are swept here rather than by a service of their own.
            try await connection.query(
                "DELETE FROM web_sessions WHERE created_at < \(created - WebSession.absoluteTimeout) OR last_seen_at < \(created - WebSession.idleTimeout)",
                logger: logger
            )
            try await connection.query(
                """
                INSERT INTO web_sessions (id, secret_hash, email, created_at, last_seen_at, auth_method, auth_time, acr, amr)
                VALUES (\(session.id), \(Data(session.secretHash)), \(session.email), \(created),
                    \(session.lastSeenAt.timeIntervalSince1970), \(authentication.method.rawValue),
                    \(authentication.authTime.timeIntervalSince1970), \(authentication.acr), \(amr))
                """,
                logger: logger
            )
            try await PostgresAudit.append(
                AuditEvent.userChange(
                    session.email,
                    change: event,
                    actor: "user:\(session.email)",
                    at: session.createdAt,
                    details: ["method": .string(authentication.method.rawValue)]
                ),
                on: connection,
                logger: logger
            )
        }
    }

    public func session(id: String) async throws -> WebSession? {
        guard
            let row = try await rows(
                "SELECT id, secret_hash, email, created_at, last_seen_at, auth_method, auth_time, acr, amr FROM web_sessions WHERE id = \(id)"
            ).first?.makeRandomAccess()
        else { return nil }
        guard let method = AuthenticationRecord.Method(rawValue: try row[5].decode(String.self)),
            let amr = try? JSONParser().parse(Array(try row[8].decode(String.self).utf8)).arrayValue
        else { throw StoreError.corrupt("a web session's authentication") }
        return WebSession(
            id: try row[0].decode(String.self),
            secretHash: Array(try row[1].decode(Data.self)),
            email: try row[2].decode(String.self),
            createdAt: Date(timeIntervalSince1970: try row[3].decode(Double.self)),
            lastSeenAt: Date(timeIntervalSince1970: try row[4].decode(Double.self)),
            authentication: AuthenticationRecord(
                method: method,
                authTime: Date(timeIntervalSince1970: try row[6].decode(Double.self)),
                acr: try row[7].decode(String?.self),
                amr: amr.compactMap(\.stringValue)
            )
        )
    }

    public func touchSession(id: String, at now: Date) async throws {
        _ = try await rows(
            "UPDATE web_sessions SET last_seen_at = greatest(last_seen_at, \(now.timeIntervalSince1970)) WHERE id = \(id)"
        )
    }

    public func endSession(id: String, at now: Date) async throws {
        try await transaction { connection in
            guard
                let email = try await rows(
                    "DELETE FROM web_sessions WHERE id = \(id) RETURNING email",
                    on: connection
                ).first?.makeRandomAccess()[0].decode(String.self)
            else { return }
            try await PostgresAudit.append(
                AuditEvent.userChange(email, change: "signed_out", actor: "user:\(email)", at: now),
                on: connection,
                logger: logger
            )
        }
    }

    public func recordSignInFailure(keys: [String], at now: Date, forgetBefore: Date) async throws {
        try await transaction { connection in
            try await connection.query(
                "DELETE FROM sign_in_failures WHERE at < \(forgetBefore.timeIntervalSince1970)",
                logger: logger
            )
            for key in keys {
                try await connection.query(
                    "INSERT INTO sign_in_failures (key, at) VALUES (\(key), \(now.timeIntervalSince1970))",
                    logger: logger
                )
            }
        }
    }

    public func signInFailures(keys: [String], since: Date) async throws -> [String: [Date]] {
        var failures = Dictionary(uniqueKeysWithValues: keys.map { ($0, [Date]()) })
        for row in try await rows(
            "SELECT key, at FROM sign_in_failures WHERE key = ANY(\(keys)) AND at > \(since.timeIntervalSince1970) ORDER BY at"
        ) {
            let (key, at) = try row.decode((String, Double).self)
            failures[key, default: []].append(Date(timeIntervalSince1970: at))
        }
        return failures
    }

    public func clearSignInFailures(key: String) async throws {
        _ = try await rows("DELETE FROM sign_in_failures WHERE key = \(key)")
    }

    public func startPendingSignIn(_ pending: PendingSignIn, now: Date) async throws {
        try await transaction { connection in
            try await connection.query(
                "DELETE FROM pending_sign_ins WHERE expires_at <= \(now.timeIntervalSince1970)",
                logger: logger
            )
            try await connection.query(
                """
                INSERT INTO pending_sign_ins (token_hash, email, browser_hash, expires_at)
                VALUES (\(Data(pending.tokenHash)), \(pending.email), \(Data(pending.browserHash)),
                \(pending.expiresAt.timeIntervalSince1970))
                """,
                logger: logger
            )
        }
    }

    public func pendingSignIn(tokenHash: [UInt8], now: Date) async throws -> PendingSignIn? {
        try await rows(
            """
            SELECT email, browser_hash, expires_at FROM pending_sign_ins
            WHERE token_hash = \(Data(tokenHash)) AND expires_at > \(now.timeIntervalSince1970)
            """
        ).first.map {
            let (email, browser, expires) = try $0.decode((String, Data, Double).self)
            return PendingSignIn(
                tokenHash: tokenHash,
                email: email,
                browserHash: Array(browser),
                expiresAt: Date(timeIntervalSince1970: expires)
            )
        }
    }

    public func finishPendingSignIn(tokenHash: [UInt8]) async throws {
        _ = try await rows("DELETE FROM pending_sign_ins WHERE token_hash = \(Data(tokenHash))")
    }
}
