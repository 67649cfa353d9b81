import Countersign
import GRDB

/// The schema, as code.
///
/// Constraints live here, not only in Swift: states are checked, illegal
/// transitions are refused by a trigger, and the audit log is append-only.
enum Migrations {
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: requests, decisions, audit log") { db in
            let states = RequestState.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            let initial = RequestState.initialStates.map { "'\($0.rawValue)'" }.sorted().joined(separator: ", ")
            let legal = RequestState.legalTransitions
                .map { "('\($0.from.rawValue)', '\($0.to.rawValue)')" }
                .sorted()
                .joined(separator: ", ")
            try db.execute(
                sql: """
                    CREATE TABLE action_requests (
                        id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
                        operation TEXT NOT NULL,
                        arguments TEXT NOT NULL,
                        principal TEXT NOT NULL,
                        agent TEXT NOT NULL,
                        digest TEXT NOT NULL CHECK (digest LIKE 'sha256:%' AND length(digest) = 71),
                        state TEXT NOT NULL CHECK (state IN (\(states))),
                        assessment TEXT NOT NULL,
                        level TEXT NOT NULL CHECK (level IN ('low', 'medium', 'high', 'critical')),
                        impact TEXT NOT NULL,
                        scopes TEXT NOT NULL,
                        agent_reason TEXT,
                        idempotency_key TEXT,
                        run_id TEXT,
                        created_at REAL NOT NULL,
                        expires_at REAL NOT NULL CHECK (expires_at >= created_at),
                        updated_at REAL NOT NULL,
                        result TEXT,
                        failure TEXT,
                        UNIQUE (agent, idempotency_key)
                    ) STRICT;
                    CREATE INDEX action_requests_state_expiry ON action_requests (state, expires_at);
                    CREATE INDEX action_requests_agent_created ON action_requests (agent, created_at);
                    CREATE TRIGGER action_requests_initial_state BEFORE INSERT ON action_requests
                    WHEN NEW.state NOT IN (\(initial))
                    BEGIN SELECT RAISE(ABORT, 'a request must start pending, auto_approved or rejected'); END;
                    CREATE TRIGGER action_requests_legal_transition BEFORE UPDATE OF state ON action_requests
                    WHEN NEW.state IS NOT OLD.state AND (OLD.state, NEW.state) NOT IN (VALUES \(legal))
                    BEGIN SELECT RAISE(ABORT, 'illegal state transition'); END;

                    CREATE TABLE decisions (
                        id INTEGER PRIMARY KEY,
                        request_id TEXT NOT NULL REFERENCES action_requests (id),
                        approver TEXT NOT NULL,
                        verdict TEXT NOT NULL CHECK (verdict IN ('approve', 'deny')),
                        digest TEXT NOT NULL,
                        auth_method TEXT NOT NULL CHECK (auth_method IN ('password', 'totp', 'oidc', 'api_token')),
                        auth_time REAL NOT NULL,
                        acr TEXT,
                        amr TEXT NOT NULL,
                        decided_at REAL NOT NULL,
                        reason TEXT,
                        confirmation TEXT,
                        UNIQUE (request_id, approver)
                    ) STRICT;

                    CREATE TABLE audit_log (
                        seq INTEGER PRIMARY KEY CHECK (seq >= 1),
                        body BLOB NOT NULL,
                        prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),
                        hash BLOB NOT NULL CHECK (length(hash) = 32),
                        request_id TEXT
                    ) STRICT;
                    CREATE INDEX audit_log_request ON audit_log (request_id) WHERE request_id IS NOT NULL;
                    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    """
            )
        }
        migrator.registerMigration("v2: agents") { db in
            try db.execute(
                sql: """
                    CREATE TABLE agents (
                        key_id TEXT PRIMARY KEY NOT NULL CHECK (length(key_id) = 16),
                        name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
                        key_hash TEXT NOT NULL CHECK (length(key_hash) = 64),
                        created_at REAL NOT NULL,
                        revoked_at REAL CHECK (revoked_at IS NULL OR revoked_at >= created_at)
                    ) STRICT;
                    CREATE UNIQUE INDEX agents_active_name ON agents (name) WHERE revoked_at IS NULL;
                    """
            )
        }
        migrator.registerMigration("v3: users and personal tokens") { db in
            try db.execute(
                sql: """
                    CREATE TABLE users (
                        email TEXT PRIMARY KEY NOT NULL CHECK (length(email) BETWEEN 3 AND 254 AND email = lower(email)),
                        role TEXT NOT NULL CHECK (role IN ('approver', 'admin')),
                        password_hash TEXT NOT NULL CHECK (password_hash LIKE '$2_$%' AND length(password_hash) = 60),
                        totp_secret_sealed BLOB CHECK (totp_secret_sealed IS NULL OR length(totp_secret_sealed) > 28),
                        totp_last_step INTEGER,
                        created_at REAL NOT NULL,
                        disabled_at REAL CHECK (disabled_at IS NULL OR disabled_at >= created_at)
                    ) STRICT;
                    CREATE TABLE personal_tokens (
                        token_id TEXT PRIMARY KEY NOT NULL CHECK (length(token_id) = 16),
                        email TEXT NOT NULL REFERENCES users (email),
                        token_hash TEXT NOT NULL CHECK (length(token_hash) = 64),
                        created_at REAL NOT NULL,
                        revoked_at REAL CHECK (revoked_at IS NULL OR revoked_at >= created_at)
                    ) STRICT;
                    CREATE INDEX personal_tokens_email ON personal_tokens (email);
                    """
            )
        }
        migrator.registerMigration("v4: vault data keys and connections") { db in
            try db.execute(
                sql: """
                    CREATE TABLE vault_keys (
                        id TEXT PRIMARY KEY NOT NULL CHECK (id LIKE 'dk_%' AND length(id) = 19),
                        wrapped BLOB CHECK ((wrapped IS NULL) = (state = 'retired')),
                        state TEXT NOT NULL CHECK (state IN ('active', 'decrypt_only', 'retired')),
                        created_at REAL NOT NULL,
                        retired_at REAL
                    ) STRICT;
                    CREATE UNIQUE INDEX vault_keys_one_active ON vault_keys (state) WHERE state = 'active';
                    CREATE TABLE connections (
                        id TEXT PRIMARY KEY NOT NULL CHECK (id LIKE 'conn_%' AND length(id) = 29),
                        principal TEXT NOT NULL,
                        provider TEXT NOT NULL,
                        account TEXT NOT NULL,
                        scopes TEXT NOT NULL,
                        refresh_token BLOB NOT NULL CHECK (length(refresh_token) > 28),
                        key_id TEXT NOT NULL REFERENCES vault_keys (id),
                        status TEXT NOT NULL CHECK (status IN ('active', 'needs_reconsent')),
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL,
                        UNIQUE (principal, provider, account)
                    ) STRICT;
                    CREATE INDEX connections_key ON connections (key_id);
                    -- A key's material may only be destroyed once nothing is sealed with it.
                    CREATE TRIGGER vault_keys_retire_unused BEFORE UPDATE OF state ON vault_keys
                    WHEN NEW.state = 'retired' AND EXISTS (SELECT 1 FROM connections WHERE key_id = NEW.id)
                    BEGIN SELECT RAISE(ABORT, 'a data key still in use cannot be retired'); END;
                    CREATE TRIGGER connections_active_key BEFORE INSERT ON connections
                    WHEN (SELECT state FROM vault_keys WHERE id = NEW.key_id) IS NOT 'active'
                    BEGIN SELECT RAISE(ABORT, 'sealed with a data key that is not active'); END;
                    CREATE TRIGGER connections_active_key_on_update BEFORE UPDATE OF key_id, refresh_token ON connections
                    WHEN (SELECT state FROM vault_keys WHERE id = NEW.key_id) IS NOT 'active'
                    BEGIN SELECT RAISE(ABORT, 'sealed with a data key that is not active'); END;
                    CREATE TRIGGER vault_keys_no_delete BEFORE DELETE ON vault_keys
                    BEGIN SELECT RAISE(ABORT, 'data keys are retired, never deleted'); END;
                    """
            )
        }
        migrator.registerMigration("v5: provider clients, refresh leases, access token cache") { db in
            try db.execute(
                sql: """
                    CREATE TABLE provider_clients (
                        provider TEXT PRIMARY KEY NOT NULL,
                        client_id TEXT NOT NULL CHECK (length(client_id) > 0),
                        client_secret BLOB NOT NULL CHECK (length(client_secret) > 28),
                        key_id TEXT NOT NULL REFERENCES vault_keys (id),
                        redirect_uri TEXT NOT NULL,
                        endpoints TEXT NOT NULL,
                        updated_at REAL NOT NULL
                    ) STRICT;
                    CREATE TRIGGER provider_clients_active_key BEFORE INSERT ON provider_clients
                    WHEN (SELECT state FROM vault_keys WHERE id = NEW.key_id) IS NOT 'active'
                    BEGIN SELECT RAISE(ABORT, 'sealed with a data key that is not active'); END;
                    CREATE TRIGGER provider_clients_active_key_on_update
                    BEFORE UPDATE OF key_id, client_secret ON provider_clients
                    WHEN (SELECT state FROM vault_keys WHERE id = NEW.key_id) IS NOT 'active'
                    BEGIN SELECT RAISE(ABORT, 'sealed with a data key that is not active'); END;
                    ALTER TABLE connections ADD COLUMN refresh_owner TEXT;
                    ALTER TABLE connections ADD COLUMN refresh_until REAL;
                    CREATE TABLE access_tokens (
                        connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
                        scope_key TEXT NOT NULL,
                        token BLOB NOT NULL CHECK (length(token) > 28),
                        key_id TEXT NOT NULL REFERENCES vault_keys (id),
                        granted_scopes TEXT NOT NULL,
                        expires_at REAL NOT NULL,
                        PRIMARY KEY (connection_id, scope_key)
                    ) STRICT;
                    CREATE TRIGGER access_tokens_active_key BEFORE INSERT ON access_tokens
                    WHEN (SELECT state FROM vault_keys WHERE id = NEW.key_id) IS NOT 'active'
                    BEGIN SELECT RAISE(ABORT, 'sealed with a data key that is not active'); END;
                    DROP TRIGGER vault_keys_retire_unused;
                    CREATE TRIGGER vault_keys_retire_unused BEFORE UPDATE OF state ON vault_keys
                    WHEN NEW.state = 'retired' AND (
                        EXISTS (SELECT 1 FROM connections WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM provider_clients WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM access_tokens WHERE key_id = NEW.id))
                    BEGIN SELECT RAISE(ABORT, 'a data key still in use cannot be retired'); END;
                    """
            )
        }
        migrator.registerMigration("v6: connect flows") { db in
            try db.execute(
                sql: """
                    CREATE TABLE connect_flows (
                        id TEXT PRIMARY KEY NOT NULL CHECK (id LIKE 'flow_%' AND length(id) = 29),
                        start_key_hash BLOB NOT NULL CHECK (length(start_key_hash) = 32),
                        state_hash BLOB UNIQUE CHECK (state_hash IS NULL OR length(state_hash) = 32),
                        binder_hash BLOB CHECK (binder_hash IS NULL OR length(binder_hash) = 32),
                        verifier BLOB,
                        key_id TEXT REFERENCES vault_keys (id),
                        provider TEXT NOT NULL,
                        principal TEXT NOT NULL,
                        scopes TEXT NOT NULL,
                        actor TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        expires_at REAL NOT NULL,
                        opened_at REAL,
                        finished_at REAL,
                        CHECK ((opened_at IS NULL) = (state_hash IS NULL)),
                        CHECK ((verifier IS NULL) = (key_id IS NULL))
                    ) STRICT;
                    CREATE TRIGGER connect_flows_active_key BEFORE UPDATE OF verifier ON connect_flows
                    WHEN NEW.key_id IS NOT NULL AND (SELECT state FROM vault_keys WHERE id = NEW.key_id) IS NOT 'active'
                    BEGIN SELECT RAISE(ABORT, 'sealed with a data key that is not active'); END;
                    DROP TRIGGER vault_keys_retire_unused;
                    CREATE TRIGGER vault_keys_retire_unused BEFORE UPDATE OF state ON vault_keys
                    WHEN NEW.state = 'retired' AND (
                        EXISTS (SELECT 1 FROM connections WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM provider_clients WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM access_tokens WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM connect_flows WHERE key_id = NEW.id))
                    BEGIN SELECT RAISE(ABORT, 'a data key still in use cannot be retired'); END;
                    """
            )
        }
        migrator.registerMigration("v7: token sources") { db in
            try db.execute(
                sql: """
                    ALTER TABLE provider_clients ADD COLUMN source TEXT NOT NULL DEFAULT 'oauth'
                    CHECK (source IN ('oauth', 'auth0', 'auth0-management'));
                    """
            )
        }
        migrator.registerMigration("v8: long-lived access tokens") { db in
            try db.execute(
                sql: """
                    ALTER TABLE connections ADD COLUMN credential TEXT NOT NULL DEFAULT 'refresh_token'
                    CHECK (credential IN ('refresh_token', 'access_token'));
                    """
            )
        }
        migrator.registerMigration("v9: decisions taken in the agent's MCP client") { db in
            // SQLite cannot change a CHECK constraint in place: the table is rebuilt, rows kept.
            try db.execute(
                sql: """
                    CREATE TABLE decisions_v9 (
                        id INTEGER PRIMARY KEY,
                        request_id TEXT NOT NULL REFERENCES action_requests (id),
                        approver TEXT NOT NULL,
                        verdict TEXT NOT NULL CHECK (verdict IN ('approve', 'deny')),
                        digest TEXT NOT NULL,
                        auth_method TEXT NOT NULL
                            CHECK (auth_method IN ('password', 'totp', 'oidc', 'api_token', 'mcp_client')),
                        auth_time REAL NOT NULL,
                        acr TEXT,
                        amr TEXT NOT NULL,
                        decided_at REAL NOT NULL,
                        reason TEXT,
                        confirmation TEXT,
                        UNIQUE (request_id, approver)
                    ) STRICT;
                    INSERT INTO decisions_v9 SELECT * FROM decisions;
                    DROP TABLE decisions;
                    ALTER TABLE decisions_v9 RENAME TO decisions;
                    """
            )
        }
        migrator.registerMigration("v10: web sessions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE web_sessions (
                        id TEXT PRIMARY KEY,
                        secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32),
                        email TEXT NOT NULL REFERENCES users (email),
                        created_at REAL NOT NULL,
                        last_seen_at REAL NOT NULL,
                        auth_method TEXT NOT NULL CHECK (auth_method IN ('password', 'totp', 'oidc')),
                        auth_time REAL NOT NULL,
                        acr TEXT,
                        amr TEXT NOT NULL
                    ) STRICT;
                    CREATE INDEX web_sessions_email ON web_sessions (email);
                    """
            )
        }
        migrator.registerMigration("v11: approvers' edits") { db in
            try db.execute(
                sql: """
                    CREATE TABLE request_edits (
                        request_id TEXT PRIMARY KEY REFERENCES action_requests (id),
                        editor TEXT NOT NULL,
                        edited_at REAL NOT NULL,
                        original_digest TEXT NOT NULL,
                        original_arguments TEXT NOT NULL,
                        changed TEXT NOT NULL
                    ) STRICT;
                    """
            )
        }
        migrator.registerMigration("v12: sign-in state shared by instances") { db in
            try db.execute(
                sql: """
                    CREATE TABLE sign_in_failures (
                        key TEXT NOT NULL,
                        at REAL NOT NULL
                    ) STRICT;
                    CREATE INDEX sign_in_failures_key ON sign_in_failures (key, at);
                    CREATE TABLE pending_sign_ins (
                        token_hash BLOB PRIMARY KEY NOT NULL CHECK (length(token_hash) = 32),
                        email TEXT NOT NULL,
                        browser_hash BLOB NOT NULL CHECK (length(browser_hash) = 32),
                        expires_at REAL NOT NULL
                    ) STRICT;
                    """
            )
        }
        migrator.registerMigration("v13: runs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE runs (
                        id TEXT PRIMARY KEY NOT NULL CHECK (id LIKE 'run_%' AND length(id) = 28),
                        goal TEXT NOT NULL,
                        principal TEXT NOT NULL,
                        agent TEXT NOT NULL,
                        planner TEXT NOT NULL,
                        state TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
                        steps TEXT NOT NULL,
                        failure TEXT,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL,
                        version INTEGER NOT NULL CHECK (version >= 0)
                    ) STRICT;
                    CREATE INDEX runs_agent ON runs (agent, created_at);
                    CREATE INDEX runs_state ON runs (state);
                    """
            )
        }
        migrator.registerMigration("v14: planner models, run conversations") { db in
            try db.execute(
                sql: """
                    CREATE TABLE planner_models (
                        name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
                        api TEXT NOT NULL CHECK (api IN ('openai', 'anthropic')),
                        url TEXT NOT NULL,
                        model TEXT NOT NULL CHECK (length(model) > 0),
                        api_key BLOB NOT NULL CHECK (length(api_key) > 28),
                        key_id TEXT NOT NULL REFERENCES vault_keys (id),
                        updated_at REAL NOT NULL
                    ) STRICT;
                    CREATE TRIGGER planner_models_active_key BEFORE INSERT ON planner_models
                    WHEN (SELECT state FROM vault_keys WHERE id = NEW.key_id) IS NOT 'active'
                    BEGIN SELECT RAISE(ABORT, 'sealed with a data key that is not active'); END;
                    CREATE TRIGGER planner_models_active_key_on_update
                    BEFORE UPDATE OF key_id, api_key ON planner_models
                    WHEN (SELECT state FROM vault_keys WHERE id = NEW.key_id) IS NOT 'active'
                    BEGIN SELECT RAISE(ABORT, 'sealed with a data key that is not active'); END;
                    DROP TRIGGER vault_keys_retire_unused;
                    CREATE TRIGGER vault_keys_retire_unused BEFORE UPDATE OF state ON vault_keys
                    WHEN NEW.state = 'retired' AND (
                        EXISTS (SELECT 1 FROM connections WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM provider_clients WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM access_tokens WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM connect_flows WHERE key_id = NEW.id)
                        OR EXISTS (SELECT 1 FROM planner_models WHERE key_id = NEW.id))
                    BEGIN SELECT RAISE(ABORT, 'a data key still in use cannot be retired'); END;
                    ALTER TABLE runs ADD COLUMN conversation TEXT;
                    """
            )
        }
        return migrator
    }
}
