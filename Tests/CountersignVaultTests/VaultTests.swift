import Countersign
import CountersignStore
import Foundation
import GRDB
import Synchronization
import Testing

@testable import CountersignVault

@Suite("Vault")
struct VaultTests {
    let files: VaultFiles
    var directory: URL { files.directory }
    var databasePath: String { files.databasePath }
    var keyPath: String { files.keyPath }
    static let canary = "ghr_CANARY7f3a9b2c1d0e4f5a6b7c8d9e0f1a2b3c4d5e6f"

    init() throws {
        files = try VaultFiles()
    }

    func source(environment: String? = nil, file: String? = nil) -> MasterKey.Source {
        MasterKey.Source(environment: environment, file: file, defaultFile: keyPath)
    }

    func openVault(_ store: SQLiteStore, environment: String? = nil) async throws -> Vault {
        try await Vault.open(store: store, masterKey: source(environment: environment), actor: "test")
    }

    @discardableResult
    func connect(_ vault: Vault, _ principal: String, token: String = canary) async throws -> Connection {
        try await vault.importConnection(
            provider: "github",
            principal: principal,
            account: principal.split(separator: "@")[0].description,
            scopes: ["repo", "read:user"],
            refreshToken: Secret(token),
            actor: "test"
        )
    }

    @Test("the first start creates a master key file only its owner can read, and one active data key")
    func firstStart() async throws {
        let store = try SQLiteStore(path: databasePath)
        let vault = try await openVault(store)
        let mode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
        #expect(mode.map { $0 & 0o777 } == 0o600)
        guard case .unsealed(let active, let count) = await vault.status else {
            Issue.record("the vault is sealed")
            return
        }
        #expect(count == 1)
        let keys = try await store.dataKeys()
        #expect(keys.map(\.id) == [active])
        #expect(keys.first?.state == .active)
    }

    @Test("a refresh token is sealed at rest and opens for its own connection")
    func sealsAndOpens() async throws {
        let store = try SQLiteStore(path: databasePath)
        let vault = try await openVault(store)
        let connection = try await connect(vault, "ana@acme.test")
        let opened = try await vault.refreshToken(connectionID: connection.id)
        #expect(opened.token.reveal() == Self.canary)
        #expect(opened.connection.scopes == ["read:user", "repo"])
        // Nowhere in the files, nor in the audit log.
        for suffix in ["", "-wal"] {
            let bytes = try Data(contentsOf: URL(filePath: databasePath + suffix))
            #expect(bytes.range(of: Data(Self.canary.utf8)) == nil)
            #expect(bytes.range(of: Data("CANARY".utf8)) == nil)
        }
        let entries = try await store.auditEntries(after: 0, limit: 100)
        #expect(entries.contains { String(decoding: $0.body, as: UTF8.self).contains(connection.id) })
        #expect(!entries.contains { String(decoding: $0.body, as: UTF8.self).contains("CANARY") })
    }

    @Test("a ciphertext copied to another row does not open there")
    func movedCiphertext() async throws {
        let store = try SQLiteStore(path: databasePath)
        let vault = try await openVault(store)
        let ana = try await connect(vault, "ana@acme.test")
        let bob = try await connect(vault, "bob@acme.test", token: "ghr_bob_token")
        try await DatabaseQueue(path: databasePath).write { db in
            try db.execute(
                sql:
                    "UPDATE connections SET refresh_token = (SELECT refresh_token FROM connections WHERE id = ?) WHERE id = ?",
                arguments: [ana.id, bob.id]
            )
        }
        await #expect(throws: VaultError.self) { _ = try await vault.refreshToken(connectionID: bob.id) }
        #expect(try await vault.refreshToken(connectionID: ana.id).token.reveal() == Self.canary)
    }

    @Test("three rotations, then retiring the old keys, leave every secret readable, here and after a restart")
    func rotations() async throws {
        let store = try SQLiteStore(path: databasePath)
        let vault = try await openVault(store)
        var tokens: [String: String] = [:]
        for index in 0..<25 {
            let token = "ghr_token_\(index)"
            tokens[try await connect(vault, "user\(index)@acme.test", token: token).id] = token
        }
        // The client secrets of providers are resealed too (one OAuth client, one Auth0 source).
        try await vault.setProviderClient(
            provider: "google",
            clientID: "g",
            clientSecret: Secret("google-secret"),
            redirectURI: "https://countersign.acme.test/oauth/callback",
            actor: "test"
        )
        try await vault.setAuth0Source(
            provider: "slack",
            domain: "acme.us.auth0.com",
            connection: "sign-in-with-slack",
            clientID: "a",
            credential: Secret("auth0-secret"),
            actor: "test"
        )
        // And a planner model's API key.
        try await vault.setPlannerModel(
            name: "claude",
            api: "anthropic",
            url: "https://api.anthropic.com",
            model: "claude-sonnet-4-5",
            apiKey: Secret("sk-ant-planner-key"),
            actor: "test"
        )
        let first = try await store.dataKeys().map(\.id)
        var reports: [Vault.RotationReport] = []
        let batches = Mutex<[Int]>([])
        for _ in 0..<3 {
            reports.append(
                try await vault.rotateKey(retireOld: false, batchSize: 10, actor: "test") { done, total in
                    #expect(total == 28)
                    batches.withLock { $0.append(done) }
                }
            )
        }
        #expect(reports.map(\.resealed) == [28, 28, 28])
        #expect(batches.withLock { $0 } == [10, 20, 25, 28, 10, 20, 25, 28, 10, 20, 25, 28])
        for (id, token) in tokens { #expect(try await vault.refreshToken(connectionID: id).token.reveal() == token) }
        let retired = try await vault.rotateKey(retireOld: true, actor: "test").retired
        #expect(retired.count == 4)
        #expect(retired.contains(first[0]))
        let keys = try await store.dataKeys()
        #expect(keys.filter { $0.state == .retired }.allSatisfy { $0.wrapped == nil })
        #expect(keys.filter { $0.state != .retired }.count == 1)
        for (id, token) in tokens { #expect(try await vault.refreshToken(connectionID: id).token.reveal() == token) }
        let restarted = try await openVault(try SQLiteStore(path: databasePath))
        for (id, token) in tokens {
            #expect(try await restarted.refreshToken(connectionID: id).token.reveal() == token)
        }
        #expect(try await restarted.oauthClient(for: "google").clientSecret.reveal() == "google-secret")
        #expect(try await restarted.plannerKey("claude").reveal() == "sk-ant-planner-key")
        let auth0 = try #require(try await restarted.tokenIssuer(for: "slack") as? Auth0TokenVault)
        guard case .secret(let secret) = auth0.credential else {
            Issue.record("the Auth0 credential changed kind")
            return
        }
        #expect(secret.reveal() == "auth0-secret")
    }

    @Test("another process keeps reading and writing while the key is rotated")
    func rotationByAnotherProcess() async throws {
        let server = try await openVault(try SQLiteStore(path: databasePath))
        let ana = try await connect(server, "ana@acme.test")
        let cli = try await openVault(try SQLiteStore(path: databasePath))
        _ = try await cli.rotateKey(retireOld: true, actor: "cli")
        // The server's ring predates the new key: it reloads to read, and seals with the new key.
        #expect(try await server.refreshToken(connectionID: ana.id).token.reveal() == Self.canary)
        let bob = try await connect(server, "bob@acme.test", token: "ghr_bob")
        #expect(try await cli.refreshToken(connectionID: bob.id).token.reveal() == "ghr_bob")
    }

    @Test("a planner model's key is sealed, bound to its endpoint, never audited, and refused when malformed")
    func plannerModels() async throws {
        let store = try SQLiteStore(path: databasePath)
        let vault = try await openVault(store)
        let key = "sk-CANARY-planner-4f1e2d3c"
        try await vault.setPlannerModel(
            name: "gpt",
            api: "openai",
            url: "https://api.openai.com/v1/",
            model: "gpt-4.1",
            apiKey: Secret(key),
            actor: "admin@acme.test"
        )
        #expect(try await vault.plannerModels().map(\.url) == ["https://api.openai.com/v1"])
        #expect(try await vault.plannerKey("gpt").reveal() == key)
        // Nowhere in the database in plaintext: not in its row, not in the audit.
        let database = try Data(contentsOf: URL(filePath: databasePath))
        #expect(database.range(of: Data(key.utf8)) == nil)
        let audit = try await store.auditEntries(after: 0, limit: 100).map { String(decoding: $0.body, as: UTF8.self) }
        #expect(audit.contains { $0.contains("\"model\":\"gpt-4.1\"") })
        #expect(!audit.contains { $0.contains(key) })
        // A key whose row is pointed at another endpoint does not open.
        let writer = try DatabaseQueue(path: databasePath)
        try await writer.write { db in
            try db.execute(sql: "UPDATE planner_models SET url = 'https://collector.example/v1' WHERE name = 'gpt'")
        }
        await #expect(throws: VaultError.self) { _ = try await vault.plannerKey("gpt") }
        for (name, api, url, model) in [
            ("GPT", "openai", "https://api.openai.com/v1", "gpt-4.1"),
            ("gpt", "gemini", "https://api.openai.com/v1", "gpt-4.1"),
            ("gpt", "openai", "http://10.0.0.2:11434/v1", "llama3"),
            ("gpt", "openai", "https://api.openai.com/v1", "two words"),
        ] {
            await #expect(throws: VaultError.self) {
                try await vault.setPlannerModel(
                    name: name,
                    api: api,
                    url: url,
                    model: model,
                    apiKey: Secret(key),
                    actor: "test"
                )
            }
        }
        #expect(try await vault.removePlannerModel("gpt", actor: "test"))
        #expect(try await vault.removePlannerModel("gpt", actor: "test") == false)
        await #expect(throws: VaultError.self) { _ = try await vault.plannerKey("gpt") }
    }

    @Test("a key still in use cannot be retired, and keys are never deleted, even with SQL")
    func keyGuards() async throws {
        let store = try SQLiteStore(path: databasePath)
        let vault = try await openVault(store)
        try await connect(vault, "ana@acme.test")
        let queue = try DatabaseQueue(path: databasePath)
        await #expect(throws: DatabaseError.self) {
            try await queue.write { db in
                try db.execute(sql: "UPDATE vault_keys SET state = 'retired', wrapped = NULL")
            }
        }
        await #expect(throws: DatabaseError.self) {
            try await queue.write { db in try db.execute(sql: "DELETE FROM vault_keys") }
        }
    }

    @Test("without its master key the vault is sealed, says why, and refuses every use of a secret")
    func sealedWithoutKey() async throws {
        let store = try SQLiteStore(path: databasePath)
        let ana = try await connect(try await openVault(store), "ana@acme.test")
        try FileManager.default.removeItem(atPath: keyPath)
        let vault = try await openVault(store)
        guard case .sealed(let reason) = await vault.status else {
            Issue.record("the vault opened without its key")
            return
        }
        #expect(reason.contains("COUNTERSIGN_MASTER_KEY"))
        #expect(!FileManager.default.fileExists(atPath: keyPath), "a missing key must not be replaced")
        #expect(try await vault.connections().map(\.id) == [ana.id])
        do {
            _ = try await vault.refreshToken(connectionID: ana.id)
            Issue.record("a sealed vault opened a secret")
        } catch let error as VaultError {
            #expect(error.code == .sealed)
        }
        await #expect(throws: VaultError.self) { try await connect(vault, "bob@acme.test") }
    }

    @Test("another master key leaves the vault sealed: it is not the key it was sealed with")
    func wrongKey() async throws {
        let store = try SQLiteStore(path: databasePath)
        try await connect(try await openVault(store), "ana@acme.test")
        let other = String(repeating: "ab", count: 32)
        let vault = try await openVault(store, environment: other)
        guard case .sealed(let reason) = await vault.status else {
            Issue.record("the vault opened with another key")
            return
        }
        #expect(reason.contains("not the key this vault was sealed with"))
        #expect(reason.contains("$COUNTERSIGN_MASTER_KEY"))
        #expect(!reason.contains(other))
    }

    @Test("a key file others can read is refused, and so is a malformed key")
    func refusedKeys() async throws {
        let store = try SQLiteStore(path: databasePath)
        _ = try await openVault(store)
        chmod(keyPath, 0o644)
        do {
            _ = try await openVault(store)
            Issue.record("a key file others can read was accepted")
        } catch let error as VaultError {
            #expect(error.code == .badKey)
            #expect(error.description.contains("chmod 600"))
        }
        await #expect(throws: VaultError.self) { _ = try await openVault(store, environment: "not-a-key") }
    }

    @Test("the master key may be given as hex or base64 in the environment")
    func environmentKey() async throws {
        let raw = (0..<32).map { UInt8($0) }
        #expect(MasterKey.decode(Hex.encode(raw)) == raw)
        #expect(MasterKey.decode(Data(raw).base64EncodedString()) == raw)
        let urlSafe = Data(raw).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        #expect(MasterKey.decode(urlSafe) == raw)
        #expect(MasterKey.decode(Hex.encode(raw.dropLast())) == nil)
        let store = try SQLiteStore(path: databasePath)
        let vault = try await openVault(store, environment: Hex.encode(raw))
        let ana = try await connect(vault, "ana@acme.test")
        #expect(!FileManager.default.fileExists(atPath: keyPath))
        let again = try await openVault(store, environment: Data(raw).base64EncodedString())
        #expect(try await again.refreshToken(connectionID: ana.id).token.reveal() == Self.canary)
    }

    @Test("bad input is refused with a reason: unknown provider, empty token, a connection made twice")
    func badInput() async throws {
        let vault = try await openVault(try SQLiteStore(path: databasePath))
        func code(_ body: () async throws -> Void) async -> VaultError.Code? {
            do {
                try await body()
                return nil
            } catch let error as VaultError {
                return error.code
            } catch {
                return nil
            }
        }
        #expect(
            await code {
                _ = try await vault.importConnection(
                    provider: "myspace",
                    principal: "ana@acme.test",
                    account: "ana",
                    scopes: [],
                    refreshToken: Secret("x"),
                    actor: "t"
                )
            } == .unknownProvider
        )
        #expect(await code { try await connect(vault, "ana@acme.test", token: "  \n") } == .invalidInput)
        #expect(await code { try await connect(vault, "not-an-address") } == .invalidInput)
        try await connect(vault, "ana@acme.test")
        #expect(await code { try await connect(vault, "ana@acme.test") } == .connectionExists)
    }
}
