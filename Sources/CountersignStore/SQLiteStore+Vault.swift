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
            _ = try AuditWriter.append(VaultRecords.keyEvent(key.id, "added", actor: actor, at: now), in: db)
        }
    }

    public func retireUnusedDataKeys(actor: String, now: Date) async throws -> [String] {
        try await transaction { db in
            // Cached access tokens are only a cache, and connect flows last minutes: those under old
            // keys are dropped, not resealed (a flow under way must be started again).
            try db.execute(
                sql: "DELETE FROM access_tokens WHERE key_id NOT IN (SELECT id FROM vault_keys WHERE state = 'active')"
            )
            try db.execute(
                sql: """
                    DELETE FROM connect_flows WHERE key_id IS NOT NULL
                    AND key_id NOT IN (SELECT id FROM vault_keys WHERE state = 'active')
                    """
            )
            let unused = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM vault_keys WHERE state = 'decrypt_only'
                    AND NOT EXISTS (SELECT 1 FROM connections WHERE key_id = vault_keys.id)
                    AND NOT EXISTS (SELECT 1 FROM provider_clients WHERE key_id = vault_keys.id)
                    AND NOT EXISTS (SELECT 1 FROM planner_models WHERE key_id = vault_keys.id)
                    ORDER BY created_at, id
                    """
            )
            for id in unused {
                try db.execute(
                    sql: "UPDATE vault_keys SET state = 'retired', wrapped = NULL, retired_at = ? WHERE id = ?",
                    arguments: [now.timeIntervalSince1970, id]
                )
                _ = try AuditWriter.append(VaultRecords.keyEvent(id, "retired", actor: actor, at: now), in: db)
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
                        created_at, updated_at, credential) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        connection.id, connection.principal, connection.provider, connection.account,
                        VaultRecords.scopesText(connection.scopes), Data(refreshToken.bytes),
                        refreshToken.keyID, connection.status.rawValue, connection.createdAt.timeIntervalSince1970,
                        connection.updatedAt.timeIntervalSince1970, connection.credential.rawValue,
                    ]
                )
            }
            _ = try AuditWriter.append(
                VaultRecords.connectionEvent(connection, "created", actor: actor, at: connection.createdAt),
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
        try await reseal(table: "connections", secret: "refresh_token", key: "id", connectionID, expected, replacement)
    }

    public func setPlannerModel(_ record: PlannerModelRecord, actor: String) async throws {
        try await transaction { db in
            try Self.refusingStaleKey {
                try db.execute(
                    sql: """
                        INSERT INTO planner_models (name, api, url, model, api_key, key_id, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (name) DO UPDATE SET api = excluded.api, url = excluded.url,
                        model = excluded.model, api_key = excluded.api_key, key_id = excluded.key_id,
                        updated_at = excluded.updated_at
                        """,
                    arguments: [
                        record.name, record.api, record.url, record.model, Data(record.apiKey.bytes),
                        record.apiKey.keyID, record.updatedAt.timeIntervalSince1970,
                    ]
                )
            }
            _ = try AuditWriter.append(
                VaultRecords.plannerModelEvent(
                    name: record.name,
                    change: "set",
                    record,
                    actor: actor,
                    at: record.updatedAt
                ),
                in: db
            )
        }
    }

    public func plannerModel(_ name: String) async throws -> PlannerModelRecord? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "\(Self.plannerModelSelect) WHERE name = ?", arguments: [name])
                .map(Self.plannerModel)
        }
    }

    public func plannerModels() async throws -> [PlannerModelRecord] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "\(Self.plannerModelSelect) ORDER BY name").map(Self.plannerModel)
        }
    }

    public func removePlannerModel(_ name: String, actor: String, now: Date) async throws -> Bool {
        try await transaction { db in
            try db.execute(sql: "DELETE FROM planner_models WHERE name = ?", arguments: [name])
            guard db.changesCount == 1 else { return false }
            _ = try AuditWriter.append(
                VaultRecords.plannerModelEvent(name: name, change: "removed", nil, actor: actor, at: now),
                in: db
            )
            return true
        }
    }

    public func resealPlannerModel(
        name: String,
        expected: SealedSecret,
        replacement: SealedSecret
    ) async throws -> Bool {
        try await reseal(table: "planner_models", secret: "api_key", key: "name", name, expected, replacement)
    }

    private static let plannerModelSelect =
        "SELECT name, api, url, model, api_key, key_id, updated_at FROM planner_models"

    private static func plannerModel(_ row: Row) -> PlannerModelRecord {
        PlannerModelRecord(
            name: row[0],
            api: row[1],
            url: row[2],
            model: row[3],
            apiKey: SealedSecret(keyID: row[5], bytes: Array(row[4] as Data)),
            updatedAt: Date(timeIntervalSince1970: row[6])
        )
    }

    /// Replaces a sealed secret with `replacement` if the row still holds `expected` (compare and swap).
    private func reseal(
        table: String,
        secret: String,
        key: String,
        _ row: String,
        _ expected: SealedSecret,
        _ replacement: SealedSecret
    ) async throws -> Bool {
        try await transaction { db in
            try Self.refusingStaleKey {
                try db.execute(
                    sql: """
                        UPDATE \(table) SET \(secret) = ?, key_id = ?
                        WHERE \(key) = ? AND key_id = ? AND \(secret) = ?
                        """,
                    arguments: [Data(replacement.bytes), replacement.keyID, row, expected.keyID, Data(expected.bytes)]
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
                VaultRecords.connectionDeleted(
                    id: id,
                    principal: row[0],
                    provider: row[1],
                    account: row[2],
                    providerRevocation: providerRevocation,
                    actor: actor,
                    at: now
                ),
                in: db
            )
        }
    }

    public func setProviderClient(_ record: ProviderClientRecord, actor: String) async throws {
        let settings = VaultRecords.settingsText(record.settings)
        try await transaction { db in
            try Self.refusingStaleKey {
                try db.execute(
                    sql: """
                        INSERT INTO provider_clients (provider, client_id, client_secret, key_id, redirect_uri, endpoints,
                        source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (provider) DO UPDATE SET client_id = excluded.client_id,
                        client_secret = excluded.client_secret, key_id = excluded.key_id,
                        redirect_uri = excluded.redirect_uri, endpoints = excluded.endpoints,
                        source = excluded.source, updated_at = excluded.updated_at
                        """,
                    arguments: [
                        record.provider, record.clientID, Data(record.clientSecret.bytes), record.clientSecret.keyID,
                        record.redirectURI, settings, record.source, record.updatedAt.timeIntervalSince1970,
                    ]
                )
            }
            _ = try AuditWriter.append(VaultRecords.providerClientEvent(record, actor: actor), in: db)
        }
    }

    public func providerClient(_ provider: String) async throws -> ProviderClientRecord? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "\(Self.providerClientSelect) WHERE provider = ?", arguments: [provider])
                .map(Self.providerClient)
        }
    }

    public func providerClients() async throws -> [ProviderClientRecord] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "\(Self.providerClientSelect) ORDER BY provider").map(Self.providerClient)
        }
    }

    public func resealProviderClient(
        provider: String,
        expected: SealedSecret,
        replacement: SealedSecret
    ) async throws -> Bool {
        try await reseal(
            table: "provider_clients",
            secret: "client_secret",
            key: "provider",
            provider,
            expected,
            replacement
        )
    }

    public func cachedAccessToken(connectionID: String, scopeKey: String) async throws -> CachedAccessToken? {
        try await writer.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT token, key_id, granted_scopes, expires_at FROM access_tokens
                        WHERE connection_id = ? AND scope_key = ?
                        """,
                    arguments: [connectionID, scopeKey]
                )
            else { return nil }
            return CachedAccessToken(
                connectionID: connectionID,
                scopeKey: scopeKey,
                token: SealedSecret(keyID: row[1], bytes: Array(row[0] as Data)),
                grantedScopes: try VaultRecords.scopes(row[2], of: connectionID),
                expiresAt: Date(timeIntervalSince1970: row[3])
            )
        }
    }

    public func claimRefresh(connectionID: String, owner: String, until: Date, now: Date) async throws -> RefreshClaim {
        try await transaction { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "\(Self.connectionColumns), refresh_owner, refresh_until FROM connections WHERE id = ?",
                    arguments: [connectionID]
                )
            else { throw VaultError(.connectionNotFound, "no connection \(connectionID)") }
            let (connection, sealed) = try Self.connection(from: row)
            guard connection.status == .active else { throw VaultRecords.needsReconsent(connection) }
            if let holder = row[11] as String?, holder != owner, let end = row[12] as Double?,
                end > now.timeIntervalSince1970
            {
                return .busy(until: Date(timeIntervalSince1970: end))
            }
            try db.execute(
                sql: "UPDATE connections SET refresh_owner = ?, refresh_until = ? WHERE id = ?",
                arguments: [owner, until.timeIntervalSince1970, connectionID]
            )
            return .claimed(connection: connection, refreshToken: sealed)
        }
    }

    public func finishRefresh(
        connectionID: String,
        owner: String,
        refreshToken: SealedSecret?,
        cache: CachedAccessToken,
        actor: String,
        now: Date
    ) async throws {
        let granted = VaultRecords.scopesText(cache.grantedScopes)
        try await transaction { db in
            try Self.refusingStaleKey {
                if let refreshToken {
                    try db.execute(
                        sql: """
                            UPDATE connections SET refresh_token = ?, key_id = ?, refresh_owner = NULL,
                            refresh_until = NULL, updated_at = ? WHERE id = ?
                            """,
                        arguments: [
                            Data(refreshToken.bytes), refreshToken.keyID, now.timeIntervalSince1970, connectionID,
                        ]
                    )
                } else {
                    try db.execute(
                        sql: "UPDATE connections SET refresh_owner = NULL, refresh_until = NULL WHERE id = ?",
                        arguments: [connectionID]
                    )
                }
                guard db.changesCount == 1 else {
                    throw VaultError(
                        .connectionNotFound,
                        "connection \(connectionID) was removed while it was refreshed"
                    )
                }
                try db.execute(
                    sql: """
                        INSERT INTO access_tokens (connection_id, scope_key, token, key_id, granted_scopes, expires_at)
                        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (connection_id, scope_key) DO UPDATE SET
                        token = excluded.token, key_id = excluded.key_id, granted_scopes = excluded.granted_scopes,
                        expires_at = excluded.expires_at
                        """,
                    arguments: [
                        connectionID, cache.scopeKey, Data(cache.token.bytes), cache.token.keyID, granted,
                        cache.expiresAt.timeIntervalSince1970,
                    ]
                )
            }
            if refreshToken != nil {
                _ = try AuditWriter.append(
                    VaultRecords.connectionChange(connectionID, "refresh_token_rotated", actor: actor, at: now),
                    in: db
                )
            }
        }
    }

    public func abandonRefresh(
        connectionID: String,
        owner: String,
        needsReconsent: String?,
        actor: String,
        now: Date
    ) async throws {
        try await transaction { db in
            try db.execute(
                sql: """
                    UPDATE connections SET refresh_owner = NULL, refresh_until = NULL
                    WHERE id = ? AND refresh_owner = ?
                    """,
                arguments: [connectionID, owner]
            )
            guard let needsReconsent else { return }
            try db.execute(
                sql: "UPDATE connections SET status = 'needs_reconsent', updated_at = ? WHERE id = ?",
                arguments: [now.timeIntervalSince1970, connectionID]
            )
            guard db.changesCount == 1 else { return }
            try db.execute(sql: "DELETE FROM access_tokens WHERE connection_id = ?", arguments: [connectionID])
            _ = try AuditWriter.append(
                VaultRecords.connectionChange(
                    connectionID,
                    "needs_reconsent",
                    reason: needsReconsent,
                    actor: actor,
                    at: now
                ),
                in: db
            )
        }
    }

    public func replaceConnection(_ connection: Connection, refreshToken: SealedSecret, actor: String) async throws {
        let scopes = VaultRecords.scopesText(connection.scopes)
        try await transaction { db in
            try Self.refusingStaleKey {
                try db.execute(
                    sql: """
                        UPDATE connections SET refresh_token = ?, key_id = ?, scopes = ?, status = 'active',
                        refresh_owner = NULL, refresh_until = NULL, updated_at = ?
                        WHERE id = ? AND principal = ? AND provider = ? AND account = ?
                        """,
                    arguments: [
                        Data(refreshToken.bytes), refreshToken.keyID, scopes,
                        connection.updatedAt.timeIntervalSince1970,
                        connection.id, connection.principal, connection.provider, connection.account,
                    ]
                )
            }
            guard db.changesCount == 1 else {
                throw VaultError(.connectionNotFound, "no connection \(connection.id) to replace")
            }
            try db.execute(sql: "DELETE FROM access_tokens WHERE connection_id = ?", arguments: [connection.id])
            _ = try AuditWriter.append(
                VaultRecords.connectionEvent(connection, "reconnected", actor: actor, at: connection.updatedAt),
                in: db
            )
        }
    }

    public func createConnectFlow(_ flow: ConnectFlow, startKeyHash: [UInt8]) async throws {
        try await transaction { db in
            // Flows that ended or expired long ago are of no use to anyone.
            try db.execute(
                sql: "DELETE FROM connect_flows WHERE expires_at < ?",
                arguments: [flow.createdAt.timeIntervalSince1970 - 86_400]
            )
            try db.execute(
                sql: """
                    INSERT INTO connect_flows (id, start_key_hash, provider, principal, scopes, actor, created_at, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    flow.id, Data(startKeyHash), flow.provider, flow.principal,
                    VaultRecords.scopesText(flow.scopes), flow.actor,
                    flow.createdAt.timeIntervalSince1970, flow.expiresAt.timeIntervalSince1970,
                ]
            )
        }
    }

    public func openConnectFlow(
        id: String,
        startKeyHash: [UInt8],
        stateHash: [UInt8],
        binderHash: [UInt8],
        verifier: SealedSecret,
        now: Date
    ) async throws -> ConnectFlow? {
        try await transaction { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql:
                        "\(Self.flowSelect), start_key_hash FROM connect_flows WHERE id = ? AND opened_at IS NULL AND expires_at > ?",
                    arguments: [id, now.timeIntervalSince1970]
                ),
                ConstantTime.equals(Array(row[8] as Data), startKeyHash)
            else { return nil }
            try Self.refusingStaleKey {
                try db.execute(
                    sql: """
                        UPDATE connect_flows SET state_hash = ?, binder_hash = ?, verifier = ?, key_id = ?, opened_at = ?
                        WHERE id = ? AND opened_at IS NULL
                        """,
                    arguments: [
                        Data(stateHash), Data(binderHash), Data(verifier.bytes), verifier.keyID,
                        now.timeIntervalSince1970, id,
                    ]
                )
            }
            return try Self.flow(from: row)
        }
    }

    public func finishConnectFlow(stateHash: [UInt8], binderHash: [UInt8], now: Date) async throws -> ConnectFlow? {
        try await transaction { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        \(Self.flowSelect), binder_hash, verifier, key_id FROM connect_flows
                        WHERE state_hash = ? AND finished_at IS NULL
                        """,
                    arguments: [Data(stateHash)]
                )
            else { return nil }
            // Used once, whatever the outcome: a wrong browser or a late callback ends the flow too.
            try db.execute(
                sql: "UPDATE connect_flows SET finished_at = ? WHERE id = ?",
                arguments: [now.timeIntervalSince1970, row[0] as String]
            )
            guard ConstantTime.equals(Array(row[8] as Data), binderHash), (row[6] as Double) > now.timeIntervalSince1970
            else { return nil }
            let flow = try Self.flow(from: row)
            return ConnectFlow(
                id: flow.id,
                provider: flow.provider,
                principal: flow.principal,
                scopes: flow.scopes,
                actor: flow.actor,
                createdAt: flow.createdAt,
                expiresAt: flow.expiresAt,
                verifier: SealedSecret(keyID: row[10], bytes: Array(row[9] as Data))
            )
        }
    }

    private static let flowSelect = """
        SELECT id, provider, principal, scopes, actor, created_at, expires_at, opened_at
        """

    private static func flow(from row: Row) throws -> ConnectFlow {
        let id: String = row[0]
        return ConnectFlow(
            id: id,
            provider: row[1],
            principal: row[2],
            scopes: try VaultRecords.scopes(row[3], of: id),
            actor: row[4],
            createdAt: Date(timeIntervalSince1970: row[5]),
            expiresAt: Date(timeIntervalSince1970: row[6])
        )
    }

    public func recordVend(
        requestID: String,
        digest: ActionDigest,
        state: RequestState,
        event: AuditEvent
    ) async throws -> Bool {
        let prepared = try AuditChain.prepare(event)
        return try await transaction { db in
            let stored = try Row.fetchOne(
                db,
                sql: "SELECT state, digest FROM action_requests WHERE id = ?",
                arguments: [requestID]
            )
            guard let stored, stored[0] as String == state.rawValue,
                stored[1] as String == digest.description
            else { return false }
            _ = try AuditWriter.append(prepared, in: db)
            return true
        }
    }

    private static let providerClientSelect = """
        SELECT provider, client_id, client_secret, key_id, redirect_uri, endpoints, updated_at, source FROM provider_clients
        """

    private static func providerClient(from row: Row) throws -> ProviderClientRecord {
        let provider: String = row[0]
        return ProviderClientRecord(
            provider: provider,
            clientID: row[1],
            clientSecret: SealedSecret(keyID: row[3], bytes: Array(row[2] as Data)),
            redirectURI: row[4],
            source: row[7],
            settings: try VaultRecords.settings(row[5], of: provider),
            updatedAt: Date(timeIntervalSince1970: row[6])
        )
    }

    /// Runs `body`, turning the schema's refusal of a secret sealed with a key that is not active into
    /// ``VaultError`` `.staleKey`, so that the vault reloads its keys and seals again.
    private static func refusingStaleKey(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as DatabaseError where error.message?.contains(VaultRecords.staleKeyMessage) == true {
            throw VaultRecords.staleKey
        }
    }

    private static let connectionColumns = """
        SELECT id, principal, provider, account, scopes, refresh_token, key_id, status, created_at, updated_at,
        credential
        """
    private static let connectionSelect = "\(connectionColumns) FROM connections"

    private static func connection(from row: Row) throws -> (connection: Connection, refreshToken: SealedSecret) {
        let id: String = row[0]
        guard let status = Connection.Status(rawValue: row[7]),
            let credential = Connection.Credential(rawValue: row[10]),
            let scopes = try? VaultRecords.scopes(row[4], of: id)
        else { throw StoreError.corrupt("connection \(id) is unreadable") }
        return (
            Connection(
                id: id,
                principal: row[1],
                provider: row[2],
                account: row[3],
                scopes: scopes,
                status: status,
                credential: credential,
                createdAt: Date(timeIntervalSince1970: row[8]),
                updatedAt: Date(timeIntervalSince1970: row[9])
            ),
            SealedSecret(keyID: row[6], bytes: Array(row[5] as Data))
        )
    }
}
