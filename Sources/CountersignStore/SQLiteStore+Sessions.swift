public import Countersign
public import Foundation
import GRDB

extension SQLiteStore: WebSessionStore {
    public func startSession(_ session: WebSession, replacing: String?, event: String) async throws {
        try await transaction { db in
            if let replacing { try db.execute(sql: "DELETE FROM web_sessions WHERE id = ?", arguments: [replacing]) }
            // Sessions that ended long ago are swept here rather than by a service of their own.
            try db.execute(
                sql: "DELETE FROM web_sessions WHERE created_at < ? OR last_seen_at < ?",
                arguments: [
                    session.createdAt.timeIntervalSince1970 - WebSession.absoluteTimeout,
                    session.createdAt.timeIntervalSince1970 - WebSession.idleTimeout,
                ]
            )
            let authentication = session.authentication
            try db.execute(
                sql: """
                    INSERT INTO web_sessions
                        (id, secret_hash, email, created_at, last_seen_at, auth_method, auth_time, acr, amr)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    session.id, Data(session.secretHash), session.email, session.createdAt.timeIntervalSince1970,
                    session.lastSeenAt.timeIntervalSince1970, authentication.method.rawValue,
                    authentication.authTime.timeIntervalSince1970, authentication.acr,
                    CanonicalJSON.string(.array(authentication.amr.map(JSONValue.string))),
                ]
            )
            _ = try AuditWriter.append(
                AuditEvent.userChange(
                    session.email,
                    change: event,
                    actor: "user:\(session.email)",
                    at: session.createdAt,
                    details: ["method": .string(authentication.method.rawValue)]
                ),
                in: db
            )
        }
    }

    public func session(id: String) async throws -> WebSession? {
        try await pointRead { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM web_sessions WHERE id = ?", arguments: [id]) else {
                return nil
            }
            guard let method = AuthenticationRecord.Method(rawValue: row["auth_method"]),
                let amr = try? JSONParser().parse(Array((row["amr"] as String).utf8)).arrayValue
            else { throw StoreError.corrupt("a web session's authentication") }
            return WebSession(
                id: row["id"],
                secretHash: Array(row["secret_hash"] as Data),
                email: row["email"],
                createdAt: Date(timeIntervalSince1970: row["created_at"]),
                lastSeenAt: Date(timeIntervalSince1970: row["last_seen_at"]),
                authentication: AuthenticationRecord(
                    method: method,
                    authTime: Date(timeIntervalSince1970: row["auth_time"]),
                    acr: row["acr"],
                    amr: amr.compactMap(\.stringValue)
                )
            )
        }
    }

    public func touchSession(id: String, at now: Date) async throws {
        try await transaction { db in
            try db.execute(
                sql: "UPDATE web_sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ?",
                arguments: [now.timeIntervalSince1970, id]
            )
        }
    }

    public func endSession(id: String, at now: Date) async throws {
        try await transaction { db in
            guard
                let email = try String.fetchOne(db, sql: "SELECT email FROM web_sessions WHERE id = ?", arguments: [id])
            else { return }
            try db.execute(sql: "DELETE FROM web_sessions WHERE id = ?", arguments: [id])
            _ = try AuditWriter.append(
                AuditEvent.userChange(email, change: "signed_out", actor: "user:\(email)", at: now),
                in: db
            )
        }
    }

    public func recordSignInFailure(keys: [String], at now: Date, forgetBefore: Date) async throws {
        try await transaction { db in
            try db.execute(
                sql: "DELETE FROM sign_in_failures WHERE at < ?",
                arguments: [forgetBefore.timeIntervalSince1970]
            )
            for key in keys {
                try db.execute(
                    sql: "INSERT INTO sign_in_failures (key, at) VALUES (?, ?)",
                    arguments: [key, now.timeIntervalSince1970]
                )
            }
        }
    }

    public func signInFailures(keys: [String], since: Date) async throws -> [String: [Date]] {
        try await writer.read { db in
            var failures: [String: [Date]] = [:]
            for key in keys {
                failures[key] = try Double.fetchAll(
                    db,
                    sql: "SELECT at FROM sign_in_failures WHERE key = ? AND at > ? ORDER BY at",
                    arguments: [key, since.timeIntervalSince1970]
                ).map(Date.init(timeIntervalSince1970:))
            }
            return failures
        }
    }

    public func clearSignInFailures(key: String) async throws {
        try await transaction { db in
            try db.execute(sql: "DELETE FROM sign_in_failures WHERE key = ?", arguments: [key])
        }
    }

    public func startPendingSignIn(_ pending: PendingSignIn, now: Date) async throws {
        try await transaction { db in
            try db.execute(
                sql: "DELETE FROM pending_sign_ins WHERE expires_at <= ?",
                arguments: [now.timeIntervalSince1970]
            )
            try db.execute(
                sql: "INSERT INTO pending_sign_ins (token_hash, email, browser_hash, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [
                    Data(pending.tokenHash), pending.email, Data(pending.browserHash),
                    pending.expiresAt.timeIntervalSince1970,
                ]
            )
        }
    }

    public func pendingSignIn(tokenHash: [UInt8], now: Date) async throws -> PendingSignIn? {
        try await writer.read { db in
            try Row.fetchOne(
                db,
                sql:
                    "SELECT email, browser_hash, expires_at FROM pending_sign_ins WHERE token_hash = ? AND expires_at > ?",
                arguments: [Data(tokenHash), now.timeIntervalSince1970]
            ).map {
                PendingSignIn(
                    tokenHash: tokenHash,
                    email: $0[0],
                    browserHash: Array($0[1] as Data),
                    expiresAt: Date(timeIntervalSince1970: $0[2])
                )
            }
        }
    }

    public func finishPendingSignIn(tokenHash: [UInt8]) async throws {
        try await transaction { db in
            try db.execute(sql: "DELETE FROM pending_sign_ins WHERE token_hash = ?", arguments: [Data(tokenHash)])
        }
    }
}
