public import Countersign
public import Foundation
import GRDB

extension SQLiteStore: VaultStore {
    public func dataKeys() async throws -> [WrappedDataKey] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, wrapped, state, created_at FROM vault_keys ORDER BY created_at, id")
                .map { row in
                    guard let state = WrappedDataKey.State(rawValue: row[2]) else {
                        throw StoreError.corrupt("data key \(row[0] as String) has an unknown state")
                    }
                    return WrappedDataKey(
                        id: row[0],
                        wrapped: (row[1] as Data?).map { Array($0) },
                        state: state,
                        createdAt: Date(timeIntervalSince1970: row[3])
                    )
                }
        }
    }

    public func addDataKey(_ key: WrappedDataKey, actor: String, now: Date) async throws {
        guard key.state == .active, let wrapped = key.wrapped else {
            throw VaultError(.invalidInput, "a new data key must be active and have its material")
        }
        try await transaction { db in
            // Demoted first: the unique index allows one active key at a time.
            try db.execute(sql: "UPDATE vault_keys SET state = 'decrypt_only' WHERE state = 'active'")
            try db.execute(
                sql: "INSERT INTO vault_keys (id, wrapped, state, created_at) VALUES (?, ?, 'active', ?)",
                arguments: [key.id, Data(wrapped), key.createdAt.timeIntervalSince1970]
            )
            _ = try AuditWriter.append(
                AuditEvent(
                    kind: AuditKind.vaultKeyChanged,
                    actor: actor,
                    at: now,
                    data: ["key": .string(key.id), "change": "added"]
                ),
                in: db
            )
        }
    }

    public func retireUnusedDataKeys(actor: String, now: Date) async throws -> [String] {
        try await transaction { db in
            let unused = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM vault_keys WHERE state = 'decrypt_only'
                    AND NOT EXISTS (SELECT 1 FROM connections WHERE key_id = vault_keys.id) ORDER BY created_at, id
                    """
            )
            for id in unused {
                try db.execute(
                    sql: "UPDATE vault_keys SET state = 'retired', wrapped = NULL, retired_at = ? WHERE id = ?",
                    arguments: [now.timeIntervalSince1970, id]
                )
                _ = try AuditWriter.append(
                    AuditEvent(
                        kind: AuditKind.vaultKeyChanged,
                        actor: actor,
                        at: now,
                        data: ["key": .string(id), "change": "retired"]
                    ),
                    in: db
                )
            }
            return unused
        }
    }

    public func createConnection(_ connection: Connection, refreshToken: SealedSecret, actor: String) async throws {
        try await transaction { db in
            let taken = try Bool.fetchOne(
                db,
                sql: "SELECT EXISTS (SELECT 1 FROM connections WHERE principal = ? AND provider = ? AND account = ?)",
                arguments: [connection.principal, connection.provider, connection.account]
            )
            guard taken == false else {
                throw VaultError(
                    .connectionExists,
                    "\(connection.principal) already has \(connection.provider) account \(connection.account) connected; revoke it first"
                )
            }
            try Self.refusingStaleKey {
                try db.execute(
                    sql: """
                        INSERT INTO connections (id, principal, provider, account, scopes, refresh_token, key_id, status,
                        created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        connection.id, connection.principal, connection.provider, connection.account,
                        CanonicalJSON.string(.array(connection.scopes.map(JSONValue.string))), Data(refreshToken.bytes),
                        refreshToken.keyID, connection.status.rawValue, connection.createdAt.timeIntervalSince1970,
                        connection.updatedAt.timeIntervalSince1970,
                    ]
                )
            }
            _ = try AuditWriter.append(
                AuditEvent(
                    kind: AuditKind.connectionChanged,
                    actor: actor,
                    at: connection.createdAt,
                    data: [
                        "connection": .string(connection.id),
                        "change": "created",
                        "principal": .string(connection.principal),
                        "provider": .string(connection.provider),
                        "account": .string(connection.account),
                        "scopes": .array(connection.scopes.map(JSONValue.string)),
                    ]
                ),
                in: db
            )
        }
    }

    public func connections(principal: String?) async throws -> [Connection] {
        try await writer.read { db in
            let rows =
                if let principal {
                    try Row.fetchAll(
                        db,
                        sql: "\(Self.connectionSelect) WHERE principal = ? ORDER BY principal, provider, account",
                        arguments: [principal]
                    )
                } else {
                    try Row.fetchAll(db, sql: "\(Self.connectionSelect) ORDER BY principal, provider, account")
                }
            return try rows.map { try Self.connection(from: $0).connection }
        }
    }

    public func connection(id: String) async throws -> (connection: Connection, refreshToken: SealedSecret)? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "\(Self.connectionSelect) WHERE id = ?", arguments: [id]).map(Self.connection)
        }
    }

    public func connectionsSealed(
        notWith keyID: String,
        after: String?,
        limit: Int
    ) async throws -> [(
        connection: Connection, refreshToken: SealedSecret
    )] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: "\(Self.connectionSelect) WHERE key_id != ? AND id > ? ORDER BY id LIMIT ?",
                arguments: [keyID, after ?? "", limit]
            ).map(Self.connection)
        }
    }

    public func resealRefreshToken(
        connectionID: String,
        expected: SealedSecret,
        replacement: SealedSecret
    ) async throws -> Bool {
        try await transaction { db in
            try Self.refusingStaleKey {
                try db.execute(
                    sql: """
                        UPDATE connections SET refresh_token = ?, key_id = ?
                        WHERE id = ? AND key_id = ? AND refresh_token = ?
                        """,
                    arguments: [
                        Data(replacement.bytes), replacement.keyID, connectionID, expected.keyID, Data(expected.bytes),
                    ]
                )
            }
            return db.changesCount == 1
        }
    }

    public func deleteConnection(id: String, actor: String, now: Date, providerRevocation: String) async throws {
        try await transaction { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT principal, provider, account FROM connections WHERE id = ?",
                    arguments: [id]
                )
            else {
                throw VaultError(.connectionNotFound, "no connection \(id); `countersign connections list` shows them")
            }
            try db.execute(sql: "DELETE FROM connections WHERE id = ?", arguments: [id])
            _ = try AuditWriter.append(
                AuditEvent(
                    kind: AuditKind.connectionChanged,
                    actor: actor,
                    at: now,
                    data: [
                        "connection": .string(id),
                        "change": "deleted",
                        "principal": .string(row[0]),
                        "provider": .string(row[1]),
                        "account": .string(row[2]),
                        "providerRevocation": .string(providerRevocation),
                    ]
                ),
                in: db
            )
        }
    }

    /// Runs `body`, turning the schema's refusal of a secret sealed with a key that is not active into
    /// ``VaultError`` `.staleKey`, so that the vault reloads its keys and seals again.
    private static func refusingStaleKey(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as DatabaseError where error.message?.contains(staleKeyMessage) == true {
            throw VaultError(.staleKey, "the data key is no longer active; another process rotated the vault's key")
        }
    }

    static let staleKeyMessage = "sealed with a data key that is not active"

    private static let connectionSelect = """
        SELECT id, principal, provider, account, scopes, refresh_token, key_id, status, created_at, updated_at
        FROM connections
        """

    private static func connection(from row: Row) throws -> (connection: Connection, refreshToken: SealedSecret) {
        let id: String = row[0]
        guard let status = Connection.Status(rawValue: row[7]),
            let scopes = try JSONParser().parse(row[4] as String).arrayValue?.compactMap(\.stringValue)
        else { throw StoreError.corrupt("connection \(id) is unreadable") }
        return (
            Connection(
                id: id,
                principal: row[1],
                provider: row[2],
                account: row[3],
                scopes: scopes,
                status: status,
                createdAt: Date(timeIntervalSince1970: row[8]),
                updatedAt: Date(timeIntervalSince1970: row[9])
            ),
            SealedSecret(keyID: row[6], bytes: Array(row[5] as Data))
        )
    }
}
