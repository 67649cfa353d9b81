public import Countersign
public import Foundation
import PostgresNIO

extension PostgresStore: VaultStore {
    /// Advisory lock classes (the two-key space, apart from the migrations' single key): one for
    /// the vault's data keys, one per connection for its token refresh.
    static let dataKeysLockClass: Int32 = 0x6373_6B01
    static let refreshLockClass: Int32 = 0x6373_6B02

    public func dataKeys() async throws -> [WrappedDataKey] {
        try await rows("SELECT id, wrapped, state, created_at FROM vault_keys ORDER BY created_at, id").map { row in
            let cells = row.makeRandomAccess()
            let id = try cells[0].decode(String.self)
            guard let state = WrappedDataKey.State(rawValue: try cells[2].decode(String.self)) else {
                throw StoreError.corrupt("data key \(id) has an unknown state")
            }
            return WrappedDataKey(
                id: id,
                wrapped: try cells[1].decode(Data?.self).map { Array($0) },
                state: state,
                createdAt: Date(timeIntervalSince1970: try cells[3].decode(Double.self))
            )
        }
    }

    public func addDataKey(_ key: WrappedDataKey, actor: String, now: Date) async throws {
        guard key.state == .active, let wrapped = key.wrapped else {
            throw VaultError(.invalidInput, "a new data key must be active and have its material")
        }
        try await transaction { connection in
            // Instances rotating at once take turns; each one's new key becomes the active one in turn.
            try await Self.lockDataKeys(on: connection, logger: logger)
            // Demoted first: the unique index allows one active key at a time.
            try await connection.query(
                "UPDATE vault_keys SET state = 'decrypt_only' WHERE state = 'active'",
                logger: logger
            )
            try await connection.query(
                "INSERT INTO vault_keys (id, wrapped, state, created_at) VALUES (\(key.id), \(Data(wrapped)), 'active', \(key.createdAt.timeIntervalSince1970))",
                logger: logger
            )
            try await PostgresAudit.append(
                VaultRecords.keyEvent(key.id, "added", actor: actor, at: now),
                on: connection,
                logger: logger
            )
        }
    }

    public func retireUnusedDataKeys(actor: String, now: Date) async throws -> [String] {
        try await transaction { connection in
            try await Self.lockDataKeys(on: connection, logger: logger)
            // Cached access tokens are only a cache, and connect flows last minutes: those under old
            // keys are dropped, not resealed (a flow under way must be started again).
            try await connection.query(
                "DELETE FROM access_tokens WHERE key_id NOT IN (SELECT id FROM vault_keys WHERE state = 'active')",
                logger: logger
            )
            try await connection.query(
                """
                DELETE FROM connect_flows WHERE key_id IS NOT NULL
                AND key_id NOT IN (SELECT id FROM vault_keys WHERE state = 'active')
                """,
                logger: logger
            )
            let unused = try await rows(
                """
                SELECT id FROM vault_keys WHERE state = 'decrypt_only'
                AND NOT EXISTS (SELECT 1 FROM connections WHERE key_id = vault_keys.id)
                AND NOT EXISTS (SELECT 1 FROM provider_clients WHERE key_id = vault_keys.id)
                AND NOT EXISTS (SELECT 1 FROM planner_models WHERE key_id = vault_keys.id)
                ORDER BY created_at, id
                """,
                on: connection
            ).map { try $0.decode(String.self) }
            for id in unused {
                try await connection.query(
                    "UPDATE vault_keys SET state = 'retired', wrapped = NULL, retired_at = \(now.timeIntervalSince1970) WHERE id = \(id)",
                    logger: logger
                )
                try await PostgresAudit.append(
                    VaultRecords.keyEvent(id, "retired", actor: actor, at: now),
                    on: connection,
                    logger: logger
                )
            }
            return unused
        }
    }

    public func createConnection(_ connection: Connection, refreshToken: SealedSecret, actor: String) async throws {
        let exists = VaultError(
            .connectionExists,
            "\(connection.principal) already has \(connection.provider) account \(connection.account) connected; revoke it first"
        )
        do {
            try await transaction { database in
                try await Self.refusingStaleKey {
                    try await database.query(
                        """
                        INSERT INTO connections (id, principal, provider, account, scopes, refresh_token, key_id, status,
                        created_at, updated_at, credential) VALUES (\(connection.id), \(connection.principal),
                        \(connection.provider), \(connection.account), \(VaultRecords.scopesText(connection.scopes)),
                        \(Data(refreshToken.bytes)), \(refreshToken.keyID), \(connection.status.rawValue),
                        \(connection.createdAt.timeIntervalSince1970), \(connection.updatedAt.timeIntervalSince1970),
                        \(connection.credential.rawValue))
                        """,
                        logger: logger
                    )
                }
                try await PostgresAudit.append(
                    VaultRecords.connectionEvent(connection, "created", actor: actor, at: connection.createdAt),
                    on: database,
                    logger: logger
                )
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            // The unique (principal, provider, account), checked by the database across instances.
            throw exists
        }
    }

    public func connections(principal: String?) async throws -> [Connection] {
        let rows =
            if let principal {
                try await rows(
                    "SELECT \(unescaped: Self.connectionColumns) FROM connections WHERE principal = \(principal) ORDER BY principal, provider, account"
                )
            } else {
                try await rows(
                    "SELECT \(unescaped: Self.connectionColumns) FROM connections ORDER BY principal, provider, account"
                )
            }
        return try rows.map { try Self.connection($0).connection }
    }

    public func connection(id: String) async throws -> (connection: Connection, refreshToken: SealedSecret)? {
        try await rows("SELECT \(unescaped: Self.connectionColumns) FROM connections WHERE id = \(id)").first
            .map(Self.connection)
    }

    public func connectionsSealed(
        notWith keyID: String,
        after: String?,
        limit: Int
    ) async throws -> [(
        connection: Connection, refreshToken: SealedSecret
    )] {
        try await rows(
            """
            SELECT \(unescaped: Self.connectionColumns) FROM connections
            WHERE key_id <> \(keyID) AND id COLLATE "C" > \(after ?? "") ORDER BY id COLLATE "C" LIMIT \(limit)
            """
        ).map(Self.connection)
    }

    public func resealRefreshToken(
        connectionID: String,
        expected: SealedSecret,
        replacement: SealedSecret
    ) async throws -> Bool {
        try await reseal(table: "connections", secret: "refresh_token", key: "id", connectionID, expected, replacement)
    }

    public func deleteConnection(id: String, actor: String, now: Date, providerRevocation: String) async throws {
        try await transaction { connection in
            guard
                let row = try await rows(
                    "DELETE FROM connections WHERE id = \(id) RETURNING principal, provider, account",
                    on: connection
                ).first
            else {
                throw VaultError(.connectionNotFound, "no connection \(id); `countersign connections list` shows them")
            }
            let (principal, provider, account) = try row.decode((String, String, String).self)
            try await PostgresAudit.append(
                VaultRecords.connectionDeleted(
                    id: id,
                    principal: principal,
                    provider: provider,
                    account: account,
                    providerRevocation: providerRevocation,
                    actor: actor,
                    at: now
                ),
                on: connection,
                logger: logger
            )
        }
    }

    public func setProviderClient(_ record: ProviderClientRecord, actor: String) async throws {
        try await transaction { connection in
            try await Self.refusingStaleKey {
                try await connection.query(
                    """
                    INSERT INTO provider_clients (provider, client_id, client_secret, key_id, redirect_uri, endpoints,
                    source, updated_at) VALUES (\(record.provider), \(record.clientID), \(Data(record.clientSecret.bytes)),
                    \(record.clientSecret.keyID), \(record.redirectURI), \(VaultRecords.settingsText(record.settings)),
                    \(record.source), \(record.updatedAt.timeIntervalSince1970))
                    ON CONFLICT (provider) DO UPDATE SET client_id = excluded.client_id,
                    client_secret = excluded.client_secret, key_id = excluded.key_id,
                    redirect_uri = excluded.redirect_uri, endpoints = excluded.endpoints,
                    source = excluded.source, updated_at = excluded.updated_at
                    """,
                    logger: logger
                )
            }
            try await PostgresAudit.append(
                VaultRecords.providerClientEvent(record, actor: actor),
                on: connection,
                logger: logger
            )
        }
    }

    public func providerClient(_ provider: String) async throws -> ProviderClientRecord? {
        try await rows(
            "SELECT \(unescaped: Self.providerClientColumns) FROM provider_clients WHERE provider = \(provider)"
        ).first.map(Self.providerClient)
    }

    public func providerClients() async throws -> [ProviderClientRecord] {
        try await rows("SELECT \(unescaped: Self.providerClientColumns) FROM provider_clients ORDER BY provider")
            .map(Self.providerClient)
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

    public func setPlannerModel(_ record: PlannerModelRecord, actor: String) async throws {
        try await transaction { connection in
            try await Self.refusingStaleKey {
                try await connection.query(
                    """
                    INSERT INTO planner_models (name, api, url, model, api_key, key_id, updated_at)
                    VALUES (\(record.name), \(record.api), \(record.url), \(record.model), \(Data(record.apiKey.bytes)),
                    \(record.apiKey.keyID), \(record.updatedAt.timeIntervalSince1970))
                    ON CONFLICT (name) DO UPDATE SET api = excluded.api, url = excluded.url, model = excluded.model,
                    api_key = excluded.api_key, key_id = excluded.key_id, updated_at = excluded.updated_at
                    """,
                    logger: logger
                )
            }
            try await PostgresAudit.append(
                VaultRecords.plannerModelEvent(
                    name: record.name,
                    change: "set",
                    record,
                    actor: actor,
                    at: record.updatedAt
                ),
                on: connection,
                logger: logger
            )
        }
    }

    public func plannerModel(_ name: String) async throws -> PlannerModelRecord? {
        try await rows("SELECT \(unescaped: Self.plannerModelColumns) FROM planner_models WHERE name = \(name)")
            .first.map(Self.plannerModel)
    }

    public func plannerModels() async throws -> [PlannerModelRecord] {
        try await rows("SELECT \(unescaped: Self.plannerModelColumns) FROM planner_models ORDER BY name")
            .map(Self.plannerModel)
    }

    public func removePlannerModel(_ name: String, actor: String, now: Date) async throws -> Bool {
        try await transaction { connection in
            let removed = try await rows(
                "DELETE FROM planner_models WHERE name = \(name) RETURNING name",
                on: connection
            )
            guard removed.count == 1 else { return false }
            try await PostgresAudit.append(
                VaultRecords.plannerModelEvent(name: name, change: "removed", nil, actor: actor, at: now),
                on: connection,
                logger: logger
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

    /// Replaces a sealed secret with `replacement` if the row still holds `expected` (compare and
    /// swap); the names are this file's constants, never input.
    private func reseal(
        table: String,
        secret: String,
        key: String,
        _ row: String,
        _ expected: SealedSecret,
        _ replacement: SealedSecret
    ) async throws -> Bool {
        try await transaction { connection in
            try await Self.refusingStaleKey {
                try await rows(
                    """
                    UPDATE \(unescaped: table) SET \(unescaped: secret) = \(Data(replacement.bytes)),
                    key_id = \(replacement.keyID) WHERE \(unescaped: key) = \(row) AND key_id = \(expected.keyID)
                    AND \(unescaped: secret) = \(Data(expected.bytes)) RETURNING 1
                    """,
                    on: connection
                ).count == 1
            }
        }
    }

    private static let plannerModelColumns = "name, api, url, model, api_key, key_id, updated_at"

    private static func plannerModel(_ row: PostgresRow) throws -> PlannerModelRecord {
        let cells = row.makeRandomAccess()
        return PlannerModelRecord(
            name: try cells[0].decode(String.self),
            api: try cells[1].decode(String.self),
            url: try cells[2].decode(String.self),
            model: try cells[3].decode(String.self),
            apiKey: SealedSecret(keyID: try cells[5].decode(String.self), bytes: Array(try cells[4].decode(Data.self))),
            updatedAt: Date(timeIntervalSince1970: try cells[6].decode(Double.self))
        )
    }

    public func cachedAccessToken(connectionID: String, scopeKey: String) async throws -> CachedAccessToken? {
        guard
            let row = try await rows(
                """
                SELECT token, key_id, granted_scopes, expires_at FROM access_tokens
                WHERE connection_id = \(connectionID) AND scope_key = \(scopeKey)
                """
            ).first
        else { return nil }
        let (token, keyID, granted, expiresAt) = try row.decode((Data, String, String, Double).self)
        return CachedAccessToken(
            connectionID: connectionID,
            scopeKey: scopeKey,
            token: SealedSecret(keyID: keyID, bytes: Array(token)),
            grantedScopes: try VaultRecords.scopes(granted, of: connectionID),
            expiresAt: Date(timeIntervalSince1970: expiresAt)
        )
    }

    /// Takes the connection's refresh lease.
    ///
    /// The check and the take run under a transaction-scoped
    /// advisory lock on the connection, so instances asking at once take turns; the lock ends with
    /// the transaction (nothing is held across the provider's call, which is safe behind
    /// PgBouncer in transaction mode), and the lease it records keeps other instances waiting.
    public func claimRefresh(connectionID: String, owner: String, until: Date, now: Date) async throws -> RefreshClaim {
        try await transaction { connection in
            try await Self.lockRefresh(of: connectionID, on: connection, logger: logger)
            guard
                let row = try await rows(
                    "SELECT \(unescaped: Self.connectionColumns), refresh_owner, refresh_until FROM connections WHERE id = \(connectionID)",
                    on: connection
                ).first
            else { throw VaultError(.connectionNotFound, "no connection \(connectionID)") }
            let (found, sealed) = try Self.connection(row)
            guard found.status == .active else { throw VaultRecords.needsReconsent(found) }
            let cells = row.makeRandomAccess()
            if let holder = try cells[11].decode(String?.self), holder != owner,
                let end = try cells[12].decode(Double?.self), end > now.timeIntervalSince1970
            {
                return .busy(until: Date(timeIntervalSince1970: end))
            }
            try await connection.query(
                "UPDATE connections SET refresh_owner = \(owner), refresh_until = \(until.timeIntervalSince1970) WHERE id = \(connectionID)",
                logger: logger
            )
            return .claimed(connection: found, refreshToken: sealed)
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
        try await transaction { connection in
            try await Self.lockRefresh(of: connectionID, on: connection, logger: logger)
            try await Self.refusingStaleKey {
                let changed =
                    if let refreshToken {
                        try await rows(
                            """
                            UPDATE connections SET refresh_token = \(Data(refreshToken.bytes)), key_id = \(refreshToken.keyID),
                            refresh_owner = NULL, refresh_until = NULL, updated_at = \(now.timeIntervalSince1970)
                            WHERE id = \(connectionID) RETURNING id
                            """,
                            on: connection
                        )
                    } else {
                        try await rows(
                            "UPDATE connections SET refresh_owner = NULL, refresh_until = NULL WHERE id = \(connectionID) RETURNING id",
                            on: connection
                        )
                    }
                guard changed.count == 1 else {
                    throw VaultError(
                        .connectionNotFound,
                        "connection \(connectionID) was removed while it was refreshed"
                    )
                }
                try await connection.query(
                    """
                    INSERT INTO access_tokens (connection_id, scope_key, token, key_id, granted_scopes, expires_at)
                    VALUES (\(connectionID), \(cache.scopeKey), \(Data(cache.token.bytes)), \(cache.token.keyID),
                    \(VaultRecords.scopesText(cache.grantedScopes)), \(cache.expiresAt.timeIntervalSince1970))
                    ON CONFLICT (connection_id, scope_key) DO UPDATE SET token = excluded.token,
                    key_id = excluded.key_id, granted_scopes = excluded.granted_scopes, expires_at = excluded.expires_at
                    """,
                    logger: logger
                )
            }
            if refreshToken != nil {
                try await PostgresAudit.append(
                    VaultRecords.connectionChange(connectionID, "refresh_token_rotated", actor: actor, at: now),
                    on: connection,
                    logger: logger
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
        try await transaction { connection in
            try await Self.lockRefresh(of: connectionID, on: connection, logger: logger)
            try await connection.query(
                """
                UPDATE connections SET refresh_owner = NULL, refresh_until = NULL
                WHERE id = \(connectionID) AND refresh_owner = \(owner)
                """,
                logger: logger
            )
            guard let needsReconsent else { return }
            let marked = try await rows(
                "UPDATE connections SET status = 'needs_reconsent', updated_at = \(now.timeIntervalSince1970) WHERE id = \(connectionID) RETURNING id",
                on: connection
            )
            guard marked.count == 1 else { return }
            try await connection.query(
                "DELETE FROM access_tokens WHERE connection_id = \(connectionID)",
                logger: logger
            )
            try await PostgresAudit.append(
                VaultRecords.connectionChange(
                    connectionID,
                    "needs_reconsent",
                    reason: needsReconsent,
                    actor: actor,
                    at: now
                ),
                on: connection,
                logger: logger
            )
        }
    }

    public func replaceConnection(_ connection: Connection, refreshToken: SealedSecret, actor: String) async throws {
        try await transaction { database in
            try await Self.lockRefresh(of: connection.id, on: database, logger: logger)
            let replaced = try await Self.refusingStaleKey {
                try await rows(
                    """
                    UPDATE connections SET refresh_token = \(Data(refreshToken.bytes)), key_id = \(refreshToken.keyID),
                    scopes = \(VaultRecords.scopesText(connection.scopes)), status = 'active', refresh_owner = NULL,
                    refresh_until = NULL, updated_at = \(connection.updatedAt.timeIntervalSince1970)
                    WHERE id = \(connection.id) AND principal = \(connection.principal)
                    AND provider = \(connection.provider) AND account = \(connection.account) RETURNING id
                    """,
                    on: database
                )
            }
            guard replaced.count == 1 else {
                throw VaultError(.connectionNotFound, "no connection \(connection.id) to replace")
            }
            try await database.query("DELETE FROM access_tokens WHERE connection_id = \(connection.id)", logger: logger)
            try await PostgresAudit.append(
                VaultRecords.connectionEvent(connection, "reconnected", actor: actor, at: connection.updatedAt),
                on: database,
                logger: logger
            )
        }
    }

    public func createConnectFlow(_ flow: ConnectFlow, startKeyHash: [UInt8]) async throws {
        try await transaction { connection in
            // Flows that ended or expired long ago are of no use to anyone.
            try await connection.query(
                "DELETE FROM connect_flows WHERE expires_at < \(flow.createdAt.timeIntervalSince1970 - 86_400)",
                logger: logger
            )
            try await connection.query(
                """
                INSERT INTO connect_flows (id, start_key_hash, provider, principal, scopes, actor, created_at, expires_at)
                VALUES (\(flow.id), \(Data(startKeyHash)), \(flow.provider), \(flow.principal),
                \(VaultRecords.scopesText(flow.scopes)), \(flow.actor), \(flow.createdAt.timeIntervalSince1970),
                \(flow.expiresAt.timeIntervalSince1970))
                """,
                logger: logger
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
        try await transaction { connection in
            guard
                let row = try await rows(
                    """
                    SELECT \(unescaped: Self.flowColumns), start_key_hash FROM connect_flows
                    WHERE id = \(id) AND opened_at IS NULL AND expires_at > \(now.timeIntervalSince1970) FOR UPDATE
                    """,
                    on: connection
                ).first,
                ConstantTime.equals(Array(try row.makeRandomAccess()[8].decode(Data.self)), startKeyHash)
            else { return nil }
            try await Self.refusingStaleKey {
                try await connection.query(
                    """
                    UPDATE connect_flows SET state_hash = \(Data(stateHash)), binder_hash = \(Data(binderHash)),
                    verifier = \(Data(verifier.bytes)), key_id = \(verifier.keyID), opened_at = \(now.timeIntervalSince1970)
                    WHERE id = \(id) AND opened_at IS NULL
                    """,
                    logger: logger
                )
            }
            return try Self.flow(row)
        }
    }

    public func finishConnectFlow(stateHash: [UInt8], binderHash: [UInt8], now: Date) async throws -> ConnectFlow? {
        try await transaction { connection in
            guard
                let row = try await rows(
                    """
                    SELECT \(unescaped: Self.flowColumns), binder_hash, verifier, key_id FROM connect_flows
                    WHERE state_hash = \(Data(stateHash)) AND finished_at IS NULL FOR UPDATE
                    """,
                    on: connection
                ).first
            else { return nil }
            let cells = row.makeRandomAccess()
            let flow = try Self.flow(row)
            // Used once, whatever the outcome: a wrong browser or a late callback ends the flow too.
            try await connection.query(
                "UPDATE connect_flows SET finished_at = \(now.timeIntervalSince1970) WHERE id = \(flow.id)",
                logger: logger
            )
            guard ConstantTime.equals(Array(try cells[8].decode(Data.self)), binderHash), flow.expiresAt > now,
                let verifier = try cells[9].decode(Data?.self), let keyID = try cells[10].decode(String?.self)
            else { return nil }
            return ConnectFlow(
                id: flow.id,
                provider: flow.provider,
                principal: flow.principal,
                scopes: flow.scopes,
                actor: flow.actor,
                createdAt: flow.createdAt,
                expiresAt: flow.expiresAt,
                verifier: SealedSecret(keyID: keyID, bytes: Array(verifier))
            )
        }
    }

    public func recordVend(
        requestID: String,
        digest: ActionDigest,
        state: RequestState,
        event: AuditEvent
    ) async throws -> Bool {
        let prepared = try AuditChain.prepare(event)
        return try await transaction { connection in
            // Shared lock: the request cannot change state until the vend is recorded.
            guard
                let row = try await rows(
                    "SELECT state, digest FROM action_requests WHERE id = \(requestID) FOR SHARE",
                    on: connection
                ).first,
                try row.decode((String, String).self) == (state.rawValue, digest.description)
            else { return false }
            try await PostgresAudit.append(prepared, on: connection, logger: logger)
            return true
        }
    }

    /// Takes the data keys' lock until the transaction ends.
    private static func lockDataKeys(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(\(dataKeysLockClass), 0)", logger: logger)
    }

    /// Takes the connection's refresh lock until the transaction ends.
    private static func lockRefresh(
        of connectionID: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        try await connection.query(
            "SELECT pg_advisory_xact_lock(\(refreshLockClass), hashtext(\(connectionID)))",
            logger: logger
        )
    }

    /// Runs `body`, turning the schema's refusal of a secret sealed with a key that is not active
    /// into ``VaultError`` `.staleKey`, so that the vault reloads its keys and seals again.
    @discardableResult
    private static func refusingStaleKey<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PSQLError
            where error.serverInfo?[.message]?.contains(VaultRecords.staleKeyMessage) == true
        {
            throw VaultRecords.staleKey
        }
    }

    private static let connectionColumns = """
        id, principal, provider, account, scopes, refresh_token, key_id, status, created_at, updated_at, credential
        """

    private static func connection(_ row: PostgresRow) throws -> (connection: Connection, refreshToken: SealedSecret) {
        let cells = row.makeRandomAccess()
        let id = try cells[0].decode(String.self)
        guard let status = Connection.Status(rawValue: try cells[7].decode(String.self)),
            let credential = Connection.Credential(rawValue: try cells[10].decode(String.self)),
            let scopes = try? VaultRecords.scopes(try cells[4].decode(String.self), of: id)
        else { throw StoreError.corrupt("connection \(id) is unreadable") }
        return (
            Connection(
                id: id,
                principal: try cells[1].decode(String.self),
                provider: try cells[2].decode(String.self),
                account: try cells[3].decode(String.self),
                scopes: scopes,
                status: status,
                credential: credential,
                createdAt: Date(timeIntervalSince1970: try cells[8].decode(Double.self)),
                updatedAt: Date(timeIntervalSince1970: try cells[9].decode(Double.self))
            ),
            SealedSecret(keyID: try cells[6].decode(String.self), bytes: Array(try cells[5].decode(Data.self)))
        )
    }

    private static let providerClientColumns = """
        provider, client_id, client_secret, key_id, redirect_uri, endpoints, updated_at, source
        """

    private static func providerClient(_ row: PostgresRow) throws -> ProviderClientRecord {
        let cells = row.makeRandomAccess()
        let provider = try cells[0].decode(String.self)
        return ProviderClientRecord(
            provider: provider,
            clientID: try cells[1].decode(String.self),
            clientSecret: SealedSecret(
                keyID: try cells[3].decode(String.self),
                bytes: Array(try cells[2].decode(Data.self))
            ),
            redirectURI: try cells[4].decode(String.self),
            source: try cells[7].decode(String.self),
            settings: try VaultRecords.settings(try cells[5].decode(String.self), of: provider),
            updatedAt: Date(timeIntervalSince1970: try cells[6].decode(Double.self))
        )
    }

    private static let flowColumns = "id, provider, principal, scopes, actor, created_at, expires_at, opened_at"

    private static func flow(_ row: PostgresRow) throws -> ConnectFlow {
        let cells = row.makeRandomAccess()
        let id = try cells[0].decode(String.self)
        return ConnectFlow(
            id: id,
            provider: try cells[1].decode(String.self),
            principal: try cells[2].decode(String.self),
            scopes: try VaultRecords.scopes(try cells[3].decode(String.self), of: id),
            actor: try cells[4].decode(String.self),
            createdAt: Date(timeIntervalSince1970: try cells[5].decode(Double.self)),
            expiresAt: Date(timeIntervalSince1970: try cells[6].decode(Double.self))
        )
    }
}
