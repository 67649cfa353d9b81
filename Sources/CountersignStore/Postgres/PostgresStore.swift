import Countersign
public import Foundation
public import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The store on PostgreSQL, for several Countersign instances on one database.
///
/// Every state change is one transaction together with the audit entries that record it. Request
/// transitions are conditional updates (the row changes only if it is still in a state the
/// transition starts from); decisions on one request are serialised by a row lock; claiming a
/// request for execution is a single conditional update that increments the request's fencing
/// number. Audit appends are serialised in the database by a lock on the one-row chain head, so
/// all instances extend one hash chain. Schema changes run once, under an advisory lock, so
/// instances starting together do not race.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// How long a claim holds an execution before another instance may end it as outcome_unknown.
    public let lease: TimeInterval
    /// How long an operation waits for a connection before it fails as unavailable.
    public let connectionWait: TimeInterval
    private let runner: Task<Void, Never>
    /// The fencing number of each claim this instance holds: its completion (and each renewal of
    /// its lease) applies only while the request still carries that number.
    let heldFences = Mutex<[String: Int64]>([:])

    /// Connects to `url` (`postgres://user[:password]@host[:port]/database[?sslmode=disable|require]`)
    /// and brings the schema up to date.
    ///
    /// - Parameters:
    ///   - url: The database's URL.
    ///   - lease: How long a claim holds an execution (renewed while its connector runs).
    ///   - connectionWait: How long an operation waits for a connection before it fails.
    ///   - logger: Where the driver logs (never with query values).
    /// - Throws: ``StoreError`` for a malformed URL; the driver's error when the database cannot
    ///   be reached or migrated.
    public init(
        url: String,
        lease: TimeInterval = 300,
        connectionWait: TimeInterval = 5,
        logger: Logger = Logger(label: "countersign.postgres")
    ) async throws {
        self.logger = logger
        self.lease = lease
        self.connectionWait = connectionWait
        self.place = Self.place(url)
        let client = PostgresClient(configuration: try Self.configuration(url), backgroundLogger: logger)
        self.client = client
        // Started at once, so that the pool runs before the migrations lease their connection.
        runner = Task.immediate { await client.run() }
        do {
            try await PostgresMigrations.migrate(client, logger: logger)
        } catch {
            runner.cancel()
            throw Self.unavailable(error, url: url)
        }
    }

    deinit { runner.cancel() }

    /// The schema's version: how many migration steps the database has applied.
    public func schemaVersion() async throws -> Int {
        try await rows("SELECT coalesce(max(version), 0) FROM countersign_migrations").first?.makeRandomAccess()[0]
            .decode(Int.self) ?? 0
    }

    /// Where the database is, for messages: host and port, never the URL's password.
    public let place: String

    /// Stops the connection pool.
    public func close() { runner.cancel() }

    /// A driver's error in words that name the server but never the password.
    static func unavailable(_ error: any Error, url: String) -> StoreError {
        let server = place(url)
        if let error = error as? PSQLError, let message = error.serverInfo?[.message] {
            return .unavailable("PostgreSQL at \(server) refused: \(message)")
        }
        return .unavailable("could not connect to PostgreSQL at \(server)")
    }

    static func place(_ url: String) -> String {
        URLComponents(string: url).map { "\($0.host ?? "?"):\($0.port ?? 5432)" } ?? "?"
    }

    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme),
            let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty
        else {
            throw StoreError.unavailable(
                "the database URL must look like postgres://user[:password]@host[:port]/database"
            )
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let mode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS =
            switch mode {
            case "disable": .disable
            case "require", "verify-full": .require(.makeClientConfiguration())
            default: .prefer(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: host,
            port: components.port ?? 5432,
            username: user.removingPercentEncoding ?? user,
            password: components.password?.removingPercentEncoding,
            database: database.isEmpty ? nil : database,
            tls: tls
        )
        configuration.options.maximumConnections = 20
        return configuration
    }

    /// Runs `body` on a connection from the pool, failing closed when none can be had within
    /// ``connectionWait`` (the database is down or unreachable): the pool would otherwise wait for
    /// as long as the outage lasts, and so would every agent and approver.
    ///
    /// - Throws: ``StoreError`` `.unavailable` when no connection could be had in time.
    func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let race = LeaseRace()
        let (client, wait, place) = (client, connectionWait, place)
        let unavailable = StoreError.unavailable("no connection to PostgreSQL at \(place) within \(Int(wait)) s")
        return try await withoutActuallyEscaping(body) { body in
            let body = UncheckedSendable(body)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await client.withConnection { connection in
                        // A connection that comes after the time ran out is not used: the caller
                        // was told the database is unavailable, so nothing may happen now.
                        guard race.acquire() else { throw unavailable }
                        return try await body.value(connection)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(wait))
                    guard race.expire() else { return nil }
                    throw unavailable
                }
                while let next = try await group.next() {
                    if let value = next {
                        group.cancelAll()
                        return value
                    }
                }
                throw CancellationError()
            }
        }
    }

    /// Runs `body` in one transaction on a leased connection; it commits when `body` returns.
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                let value = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return value
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// The channel every instance hears request changes on.
    static let changesChannel = "countersign_requests"

    /// Tells every instance, when the transaction commits, that a request changed (`NOTIFY` is
    /// transactional: a rolled-back change is never announced).
    func notifyChange(of requestID: String, on connection: PostgresConnection) async throws {
        try await connection.query("SELECT pg_notify(\(Self.changesChannel), \(requestID))", logger: logger)
    }

    /// Calls `onChange` with the id of each request any instance changes, until cancelled or the
    /// connection fails (it throws then; call again to resume).
    ///
    /// Notifications are a hint, the table is the truth: a listener that was away misses them, so
    /// whoever waits on a request re-reads it as well.
    ///
    /// - Parameter onChange: Called with a request's id after the change committed.
    /// - Throws: The driver's error when the connection fails.
    public func listenForChanges(_ onChange: @escaping @Sendable (String) -> Void) async throws {
        try await withConnection { connection in
            try await connection.listen(on: Self.changesChannel) { notifications in
                for try await notification in notifications { onChange(notification.payload) }
            }
        }
    }

    /// The rows of a query.
    func rows(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> [PostgresRow] {
        if let connection { return try await connection.query(query, logger: logger).collect() }
        return try await withConnection { try await $0.query(query, logger: logger).collect() }
    }
}

/// The schema on PostgreSQL, as code, applied once under an advisory lock.
enum PostgresMigrations {
    /// An advisory lock key only Countersign's migrations take.
    static let lockKey: Int64 = 0x636F_756E_7465_7273

    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                // Held until commit: a second instance waits here, then finds the work done.
                try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS countersign_migrations (version integer PRIMARY KEY, applied_at double precision NOT NULL)",
                    logger: logger
                )
                let applied =
                    try await connection.query(
                        "SELECT coalesce(max(version), 0) FROM countersign_migrations",
                        logger: logger
                    ).collect().first?.decode(Int.self) ?? 0
                for (index, statements) in steps.enumerated() where index + 1 > applied {
                    for statement in statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO countersign_migrations (version, applied_at) VALUES (\(index + 1), \(Date().timeIntervalSince1970))",
                        logger: logger
                    )
                }
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Each step's statements, in order; a step is applied once.
    static var steps: [[String]] {
        let states = RequestState.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        let initial = RequestState.initialStates.map { "'\($0.rawValue)'" }.sorted().joined(separator: ", ")
        let legal = RequestState.legalTransitions.map { "'\($0.from.rawValue)>\($0.to.rawValue)'" }.sorted()
            .joined(separator: ", ")
        let genesis = Hex.encode(AuditChain.genesis)
        return [
            [
                """
                CREATE TABLE action_requests (
                    id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
                    operation text NOT NULL,
                    arguments text NOT NULL,
                    principal text NOT NULL,
                    agent text NOT NULL,
                    digest text NOT NULL CHECK (digest LIKE 'sha256:%' AND length(digest) = 71),
                    state text NOT NULL CHECK (state IN (\(states))),
                    assessment text NOT NULL,
                    level text NOT NULL CHECK (level IN ('low', 'medium', 'high', 'critical')),
                    impact text NOT NULL,
                    scopes text NOT NULL,
                    agent_reason text,
                    idempotency_key text,
                    run_id text,
                    created_at double precision NOT NULL,
                    expires_at double precision NOT NULL CHECK (expires_at >= created_at),
                    updated_at double precision NOT NULL,
                    result text,
                    failure text,
                    fence bigint NOT NULL DEFAULT 0,
                    UNIQUE (agent, idempotency_key)
                )
                """,
                "CREATE INDEX action_requests_state_expiry ON action_requests (state, expires_at)",
                "CREATE INDEX action_requests_created ON action_requests (created_at)",
                """
                CREATE FUNCTION countersign_request_states() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'INSERT' AND NEW.state NOT IN (\(initial)) THEN
                        RAISE EXCEPTION 'a request must start pending, auto_approved or rejected';
                    END IF;
                    IF TG_OP = 'UPDATE' AND NEW.state IS DISTINCT FROM OLD.state
                        AND (OLD.state || '>' || NEW.state) NOT IN (\(legal)) THEN
                        RAISE EXCEPTION 'illegal state transition';
                    END IF;
                    RETURN NEW;
                END $$
                """,
                """
                CREATE TRIGGER action_requests_states BEFORE INSERT OR UPDATE OF state ON action_requests
                FOR EACH ROW EXECUTE FUNCTION countersign_request_states()
                """,
                """
                CREATE TABLE decisions (
                    id bigserial PRIMARY KEY,
                    request_id text NOT NULL REFERENCES action_requests (id),
                    approver text NOT NULL,
                    verdict text NOT NULL CHECK (verdict IN ('approve', 'deny')),
                    digest text NOT NULL,
                    auth_method text NOT NULL CHECK (auth_method IN ('password', 'totp', 'oidc', 'api_token', 'mcp_client')),
                    auth_time double precision NOT NULL,
                    acr text,
                    amr text NOT NULL,
                    decided_at double precision NOT NULL,
                    reason text,
                    confirmation text,
                    UNIQUE (request_id, approver)
                )
                """,
                """
                CREATE TABLE request_edits (
                    request_id text PRIMARY KEY REFERENCES action_requests (id),
                    editor text NOT NULL,
                    edited_at double precision NOT NULL,
                    original_digest text NOT NULL,
                    original_arguments text NOT NULL,
                    changed text NOT NULL
                )
                """,
                """
                CREATE TABLE audit_log (
                    seq bigint PRIMARY KEY CHECK (seq >= 1),
                    body bytea NOT NULL,
                    prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
                    hash bytea NOT NULL CHECK (length(hash) = 32),
                    request_id text
                )
                """,
                "CREATE INDEX audit_log_request ON audit_log (request_id) WHERE request_id IS NOT NULL",
                """
                CREATE FUNCTION countersign_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$
                """,
                """
                CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
                FOR EACH ROW EXECUTE FUNCTION countersign_append_only()
                """,
                "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log EXECUTE FUNCTION countersign_append_only()",
                // The chain's head, one row: appends lock it, so one chain grows in one order.
                """
                CREATE TABLE audit_head (
                    id integer PRIMARY KEY CHECK (id = 1),
                    seq bigint NOT NULL,
                    hash bytea NOT NULL CHECK (length(hash) = 32)
                )
                """,
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode('\(genesis)', 'hex'))",
                """
                CREATE TABLE agents (
                    key_id text PRIMARY KEY CHECK (length(key_id) = 16),
                    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
                    key_hash text NOT NULL CHECK (length(key_hash) = 64),
                    created_at double precision NOT NULL,
                    revoked_at double precision CHECK (revoked_at IS NULL OR revoked_at >= created_at)
                )
                """,
                "CREATE UNIQUE INDEX agents_active_name ON agents (name) WHERE revoked_at IS NULL",
                """
                CREATE TABLE users (
                    email text PRIMARY KEY CHECK (length(email) BETWEEN 3 AND 254 AND email = lower(email)),
                    role text NOT NULL CHECK (role IN ('approver', 'admin')),
                    password_hash text NOT NULL CHECK (password_hash LIKE '$2_$%' AND length(password_hash) = 60),
                    totp_secret_sealed bytea CHECK (totp_secret_sealed IS NULL OR length(totp_secret_sealed) > 28),
                    totp_last_step bigint,
                    created_at double precision NOT NULL,
                    disabled_at double precision CHECK (disabled_at IS NULL OR disabled_at >= created_at)
                )
                """,
                """
                CREATE TABLE personal_tokens (
                    token_id text PRIMARY KEY CHECK (length(token_id) = 16),
                    email text NOT NULL REFERENCES users (email),
                    token_hash text NOT NULL CHECK (length(token_hash) = 64),
                    created_at double precision NOT NULL,
                    revoked_at double precision CHECK (revoked_at IS NULL OR revoked_at >= created_at)
                )
                """,
                "CREATE INDEX personal_tokens_email ON personal_tokens (email)",
            ],
            [
                // An execution's lease: another instance may end it as outcome_unknown only after it.
                "ALTER TABLE action_requests ADD COLUMN lease_until double precision",
                "CREATE INDEX action_requests_executing_lease ON action_requests (lease_until) WHERE state = 'executing'",
            ],
            [
                """
                CREATE TABLE web_sessions (
                    id text PRIMARY KEY,
                    secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
                    email text NOT NULL REFERENCES users (email),
                    created_at double precision NOT NULL,
                    last_seen_at double precision NOT NULL,
                    auth_method text NOT NULL CHECK (auth_method IN ('password', 'totp', 'oidc')),
                    auth_time double precision NOT NULL,
                    acr text,
                    amr text NOT NULL
                )
                """,
                "CREATE INDEX web_sessions_email ON web_sessions (email)",
            ],
            vaultStep,
            [
                // Sign-in state any instance may take the next step of.
                "CREATE TABLE sign_in_failures (key text NOT NULL, at double precision NOT NULL)",
                "CREATE INDEX sign_in_failures_key ON sign_in_failures (key, at)",
                """
                CREATE TABLE pending_sign_ins (
                    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
                    email text NOT NULL,
                    browser_hash bytea NOT NULL CHECK (length(browser_hash) = 32),
                    expires_at double precision NOT NULL
                )
                """,
            ],
            [
                """
                CREATE TABLE runs (
                    id text PRIMARY KEY CHECK (id LIKE 'run_%' AND length(id) = 28),
                    goal text NOT NULL,
                    principal text NOT NULL,
                    agent text NOT NULL,
                    planner text NOT NULL,
                    state text NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
                    steps text NOT NULL,
                    failure text,
                    created_at double precision NOT NULL,
                    updated_at double precision NOT NULL,
                    version integer NOT NULL CHECK (version >= 0)
                )
                """,
                "CREATE INDEX runs_agent ON runs (agent, created_at)",
                "CREATE INDEX runs_state ON runs (state)",
            ],
            [
                """
                CREATE TABLE planner_models (
                    name text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
                    api text NOT NULL CHECK (api IN ('openai', 'anthropic')),
                    url text NOT NULL,
                    model text NOT NULL CHECK (length(model) > 0),
                    api_key bytea NOT NULL CHECK (length(api_key) > 28),
                    key_id text NOT NULL REFERENCES vault_keys (id),
                    updated_at double precision NOT NULL
                )
                """,
                """
                CREATE TRIGGER planner_models_active_key BEFORE INSERT OR UPDATE OF key_id, api_key
                ON planner_models FOR EACH ROW EXECUTE FUNCTION countersign_sealed_with_active_key()
                """,
                """
                CREATE OR REPLACE FUNCTION countersign_retire_unused_key() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.state = 'retired' AND (
                        EXISTS (SELECT 1 FROM connections WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM provider_clients WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM access_tokens WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM connect_flows WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM planner_models WHERE key_id = NEW.id)) THEN
                        RAISE EXCEPTION 'a data key still in use cannot be retired';
                    END IF;
                    RETURN NEW;
                END $$
                """,
                "ALTER TABLE runs ADD COLUMN conversation text",
            ],
        ]
    }

    /// The vault's tables: data keys, connections, provider clients, cached access tokens and
    /// connect flows.
    ///
    /// A secret may only be written sealed with the active data key (checked with
    /// the key's row locked, so a rotation committing meanwhile waits), and a key's material is
    /// destroyed only once nothing is sealed with it.
    static var vaultStep: [String] {
        [
            """
            CREATE TABLE vault_keys (
                id text PRIMARY KEY CHECK (id LIKE 'dk_%' AND length(id) = 19),
                wrapped bytea CHECK ((wrapped IS NULL) = (state = 'retired')),
                state text NOT NULL CHECK (state IN ('active', 'decrypt_only', 'retired')),
                created_at double precision NOT NULL,
                retired_at double precision
            )
            """,
            "CREATE UNIQUE INDEX vault_keys_one_active ON vault_keys (state) WHERE state = 'active'",
            """
            CREATE TABLE connections (
                id text PRIMARY KEY CHECK (id LIKE 'conn_%' AND length(id) = 29),
                principal text NOT NULL,
                provider text NOT NULL,
                account text NOT NULL,
                scopes text NOT NULL,
                refresh_token bytea NOT NULL CHECK (length(refresh_token) > 28),
                key_id text NOT NULL REFERENCES vault_keys (id),
                status text NOT NULL CHECK (status IN ('active', 'needs_reconsent')),
                created_at double precision NOT NULL,
                updated_at double precision NOT NULL,
                credential text NOT NULL DEFAULT 'refresh_token' CHECK (credential IN ('refresh_token', 'access_token')),
                refresh_owner text,
                refresh_until double precision,
                UNIQUE (principal, provider, account)
            )
            """,
            "CREATE INDEX connections_key ON connections (key_id)",
            """
            CREATE TABLE provider_clients (
                provider text PRIMARY KEY,
                client_id text NOT NULL CHECK (length(client_id) > 0),
                client_secret bytea NOT NULL CHECK (length(client_secret) > 28),
                key_id text NOT NULL REFERENCES vault_keys (id),
                redirect_uri text NOT NULL,
                endpoints text NOT NULL,
                updated_at double precision NOT NULL,
                source text NOT NULL DEFAULT 'oauth' CHECK (source IN ('oauth', 'auth0', 'auth0-management'))
            )
            """,
            """
            CREATE TABLE access_tokens (
                connection_id text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
                scope_key text NOT NULL,
                token bytea NOT NULL CHECK (length(token) > 28),
                key_id text NOT NULL REFERENCES vault_keys (id),
                granted_scopes text NOT NULL,
                expires_at double precision NOT NULL,
                PRIMARY KEY (connection_id, scope_key)
            )
            """,
            """
            CREATE TABLE connect_flows (
                id text PRIMARY KEY CHECK (id LIKE 'flow_%' AND length(id) = 29),
                start_key_hash bytea NOT NULL CHECK (length(start_key_hash) = 32),
                state_hash bytea UNIQUE CHECK (state_hash IS NULL OR length(state_hash) = 32),
                binder_hash bytea CHECK (binder_hash IS NULL OR length(binder_hash) = 32),
                verifier bytea,
                key_id text REFERENCES vault_keys (id),
                provider text NOT NULL,
                principal text NOT NULL,
                scopes text NOT NULL,
                actor text NOT NULL,
                created_at double precision NOT NULL,
                expires_at double precision NOT NULL,
                opened_at double precision,
                finished_at double precision,
                CHECK ((opened_at IS NULL) = (state_hash IS NULL)),
                CHECK ((verifier IS NULL) = (key_id IS NULL))
            )
            """,
            """
            CREATE FUNCTION countersign_sealed_with_active_key() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.key_id IS NOT NULL
                    AND (SELECT state FROM vault_keys WHERE id = NEW.key_id FOR SHARE) IS DISTINCT FROM 'active' THEN
                    RAISE EXCEPTION '\(VaultRecords.staleKeyMessage)';
                END IF;
                RETURN NEW;
            END $$
            """,
            """
            CREATE TRIGGER connections_active_key BEFORE INSERT OR UPDATE OF key_id, refresh_token ON connections
            FOR EACH ROW EXECUTE FUNCTION countersign_sealed_with_active_key()
            """,
            """
            CREATE TRIGGER provider_clients_active_key BEFORE INSERT OR UPDATE OF key_id, client_secret
            ON provider_clients FOR EACH ROW EXECUTE FUNCTION countersign_sealed_with_active_key()
            """,
            """
            CREATE TRIGGER access_tokens_active_key BEFORE INSERT OR UPDATE ON access_tokens
            FOR EACH ROW EXECUTE FUNCTION countersign_sealed_with_active_key()
            """,
            """
            CREATE TRIGGER connect_flows_active_key BEFORE UPDATE OF verifier ON connect_flows
            FOR EACH ROW EXECUTE FUNCTION countersign_sealed_with_active_key()
            """,
            """
            CREATE FUNCTION countersign_retire_unused_key() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.state = 'retired' AND (
                    EXISTS (SELECT 1 FROM connections WHERE key_id = NEW.id)
                    OR EXISTS (SELECT 1 FROM provider_clients WHERE key_id = NEW.id)
                    OR EXISTS (SELECT 1 FROM access_tokens WHERE key_id = NEW.id)
                    OR EXISTS (SELECT 1 FROM connect_flows WHERE key_id = NEW.id)) THEN
                    RAISE EXCEPTION 'a data key still in use cannot be retired';
                END IF;
                RETURN NEW;
            END $$
            """,
            """
            CREATE TRIGGER vault_keys_retire_unused BEFORE UPDATE OF state ON vault_keys
            FOR EACH ROW EXECUTE FUNCTION countersign_retire_unused_key()
            """,
            """
            CREATE FUNCTION countersign_keys_not_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'data keys are retired, never deleted'; END $$
            """,
            """
            CREATE TRIGGER vault_keys_no_delete BEFORE DELETE ON vault_keys
            FOR EACH ROW EXECUTE FUNCTION countersign_keys_not_deleted()
            """,
        ]
    }
}

extension PostgresStore: DatabaseHealth {
    public var databaseKind: String { "postgresql" }

    public func checkHealth() async throws {
        do {
            _ = try await rows("SELECT 1")
        } catch {
            throw StoreError.unavailable("PostgreSQL at \(place) does not answer")
        }
    }
}

/// Which came first, the connection or the end of the wait: exactly one of ``acquire()`` and
/// ``expire()`` succeeds.
final class LeaseRace: Sendable {
    private enum Outcome { case waiting, acquired, expired }
    private let outcome = Mutex(Outcome.waiting)

    /// Whether the connection came in time (and may be used).
    func acquire() -> Bool { settle(.acquired) }

    /// Whether the wait ended first (and the caller is told the database is unavailable).
    func expire() -> Bool { settle(.expired) }

    private func settle(_ result: Outcome) -> Bool {
        outcome.withLock { outcome in
            guard outcome == .waiting else { return outcome == result }
            outcome = result
            return true
        }
    }
}

/// A value used by one task at a time, moved into a child task that the caller awaits.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
