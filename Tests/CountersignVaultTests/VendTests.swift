import Countersign
import CountersignStore
import Crypto
import Foundation
import GRDB
import Synchronization
import Testing

@testable import CountersignVault

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Vending access tokens: only to executing requests, for exactly their scopes, one refresh at a
/// time per connection, against in-test providers that enforce rotation.
@Suite("Vault vending")
struct VendTests {
    let files: VaultFiles
    var databasePath: String { files.databasePath }
    var keyPath: String { files.keyPath }

    init() throws {
        files = try VaultFiles()
    }

    func openVault(_ store: SQLiteStore, clock: TestClock = TestClock(), lease: TimeInterval = 60) async throws -> Vault
    {
        try await files.open(clock: clock, lease: lease).0
    }

    /// Registers the provider's client at the test server and imports a connection with a refresh
    /// token the server issued.
    func setUp(
        _ vault: Vault,
        server: TestAuthorizationServer,
        base: String,
        provider: String,
        scopes: [String]
    ) async throws -> Connection {
        try await vault.setProviderClient(
            provider: provider,
            clientID: server.configuration.clientID,
            clientSecret: Secret(server.configuration.clientSecret),
            redirectURI: server.configuration.redirectURI,
            endpoints: [
                "token": base + "/token", "authorization": base + "/authorize", "revocation": base + "/revoke",
            ],
            actor: "test"
        )
        return try await vault.importConnection(
            provider: provider,
            principal: "ana@acme.test",
            account: "octocat",
            scopes: scopes,
            refreshToken: Secret(server.grant(scopes: scopes, account: "octocat")),
            actor: "test"
        )
    }

    /// A request of Ana's, auto-approved and claimed: `executing`, as the executor holds it.
    func executingRequest(_ store: SQLiteStore, scopes: [String]) async throws -> ActionRequest {
        try await Self.executingRequest(store, scopes: scopes)
    }

    /// A request of Ana's, auto-approved and claimed: `executing`, as the executor holds it.
    static func executingRequest(_ store: SQLiteStore, scopes: [String]) async throws -> ActionRequest {
        let request = ActionRequest(
            action: ProposedAction(
                operation: OperationID("github.issue_create")!,
                arguments: ["repo": "acme/site", "title": .string(UUID().uuidString)],
                principal: "ana@acme.test",
                agent: "planner"
            ),
            state: .autoApproved,
            assessment: Assessment(
                level: .low,
                reasons: [],
                decision: .allow,
                requirements: Requirements(
                    approvals: 0,
                    stepUp: false,
                    confirmText: nil,
                    allowSelfApproval: false,
                    ttlSeconds: 600
                )
            ),
            impact: "Opens an issue in acme/site",
            scopes: scopes,
            createdAt: Date(),
            expiresAt: Date().addingTimeInterval(600)
        )
        let (claimed, ok) = try await store.createClaimed(request, now: Date())
        #expect(ok && claimed.state == .executing)
        return claimed
    }

    func context(_ request: ActionRequest, _ vault: Vault) -> ExecutionContext {
        ExecutionContext(requestID: request.id, principal: "ana@acme.test", agent: "planner", tokens: vault)
    }

    @Test("a look-up token goes only to a pending or executing request, for the read scopes asked, audited by purpose")
    func lookupTokens() async throws {
        let server = TestAuthorizationServer(.init(dialect: .github))
        try await server.run { base in
            let store = try SQLiteStore(path: databasePath)
            let vault = try await openVault(store)
            _ = try await setUp(vault, server: server, base: base, provider: "github", scopes: ["repo", "delete_repo"])
            var pending = try await Self.executingRequest(store, scopes: ["delete_repo"])
            // A pending request of its own (the helper's is claimed): made from the same action.
            pending = try await store.create(
                ActionRequest(
                    action: ProposedAction(
                        operation: OperationID("github.delete_repository")!,
                        arguments: ["owner": "acme", "repo": "site"],
                        principal: "ana@acme.test",
                        agent: "planner"
                    ),
                    state: .pending,
                    assessment: pending.assessment,
                    impact: "Deletes acme/site",
                    scopes: ["delete_repo"],
                    createdAt: Date(),
                    expiresAt: Date().addingTimeInterval(600)
                )
            )
            let lookup = LookupContext(requestID: pending.id, principal: "ana@acme.test", tokens: vault)
            let token = try await lookup.readToken(provider: "github", scopes: ["repo"])
            #expect(token.secret.reveal().hasPrefix("at_CANARY_"))
            let vended = try await store.auditEntries(forRequest: pending.id).map { try JSONParser().parse($0.body) }
                .filter { $0["kind"] == .string(AuditKind.tokenVended) }
            #expect(
                vended.first?["data"]?["purpose"] == "lookup" && vended.first?["data"]?["scopesRequested"] == ["repo"]
            )
            // Not for execution while pending; a look-up again while executing (the re-check before
            // execution, audited as such); none for a request neither pending nor executing.
            #expect(
                await vaultError { _ = try await vault.vend(requestID: pending.id, provider: "github", account: nil) }?
                    .code == .notExecuting
            )
            let executing = try await Self.executingRequest(store, scopes: ["repo"])
            _ = try await LookupContext(requestID: executing.id, principal: "ana@acme.test", tokens: vault)
                .readToken(provider: "github", scopes: ["repo"])
            let recheck = try await store.auditEntries(forRequest: executing.id).map { try JSONParser().parse($0.body) }
                .filter { $0["kind"] == .string(AuditKind.tokenVended) }
            #expect(recheck.last?["data"]?["purpose"] == "recheck")
            let waiting = try await store.create(
                ActionRequest(
                    action: ProposedAction(
                        operation: OperationID("github.delete_repository")!,
                        arguments: ["owner": "acme", "repo": "other"],
                        principal: "ana@acme.test",
                        agent: "planner"
                    ),
                    state: .autoApproved,
                    assessment: pending.assessment,
                    impact: "Deletes acme/other",
                    scopes: ["delete_repo"],
                    createdAt: Date(),
                    expiresAt: Date().addingTimeInterval(600)
                )
            )
            await #expect(throws: ConnectorError.self) {
                _ = try await LookupContext(requestID: waiting.id, principal: "ana@acme.test", tokens: vault)
                    .readToken(provider: "github", scopes: ["repo"])
            }
        }
    }

    @Test("a token is vended only to an executing request, audited by its hash, and never stored in plaintext")
    func vendsOnlyToExecutingRequests() async throws {
        let server = TestAuthorizationServer(.init(dialect: .github))
        try await server.run { base in
            let store = try SQLiteStore(path: databasePath)
            let vault = try await openVault(store)
            let connection = try await setUp(vault, server: server, base: base, provider: "github", scopes: ["repo"])
            let request = try await executingRequest(store, scopes: ["repo"])
            let token = try await context(request, vault).accessToken(provider: "github")
            #expect(token.secret.reveal().hasPrefix("at_CANARY_"))
            #expect(token.scopes == ["repo"] && !token.broad)
            #expect(!"\(token)".contains("CANARY"))
            // The token works at the provider's API.
            var call = URLRequest(url: URL(string: base + "/user")!)
            call.setValue("Bearer \(token.secret.reveal())", forHTTPHeaderField: "Authorization")
            let (body, _) = try await URLSession.shared.data(for: call)
            #expect(try JSONParser().parse(Array(body))["login"] == "octocat")

            let vended = try await store.auditEntries(forRequest: request.id).map { try JSONParser().parse($0.body) }
                .filter { $0["kind"] == .string(AuditKind.tokenVended) }
            #expect(vended.count == 1)
            let data = vended.first?["data"]
            #expect(data?["connection"] == .string(connection.id))
            #expect(data?["scopesRequested"] == ["repo"])
            #expect(
                data?["tokenSHA256"]
                    == .string(Hex.encode(Array(SHA256.hash(data: Array(token.secret.reveal().utf8)))))
            )

            // Finished requests, pending ones and unknown ones get nothing.
            _ = try await store.complete(claimed: request, outcome: .executed(["ok": true]), now: Date())
            let after = await vaultError {
                _ = try await vault.vend(requestID: request.id, provider: "github", account: nil)
            }
            #expect(after?.code == .notExecuting)
            #expect(
                await vaultError { _ = try await vault.vend(requestID: "nope", provider: "github", account: nil) }?
                    .code == .notExecuting
            )

            for suffix in ["", "-wal"] {
                let bytes = try Data(contentsOf: URL(filePath: databasePath + suffix))
                #expect(bytes.range(of: Data("CANARY".utf8)) == nil, "plaintext secret in \(suffix)")
            }
            let entries = try await store.auditEntries(after: 0, limit: 1000)
            #expect(!entries.contains { String(decoding: $0.body, as: UTF8.self).contains("CANARY") })
        }
    }

    @Test(
        "fifty concurrent executions at token expiry, in two processes, cause exactly one refresh and no invalid_grant"
    )
    func oneRefreshForFifty() async throws {
        let server = TestAuthorizationServer(.init(dialect: .github, delay: .milliseconds(150)))
        try await server.run { base in
            let clock = TestClock()
            let first = try await openVault(try SQLiteStore(path: databasePath), clock: clock)
            let connection = try await setUp(first, server: server, base: base, provider: "github", scopes: ["repo"])
            let second = try await openVault(try SQLiteStore(path: databasePath), clock: clock)
            let store = try SQLiteStore(path: databasePath)
            var requests: [ActionRequest] = []
            for _ in 0..<50 { requests.append(try await executingRequest(store, scopes: ["repo"])) }

            for round in 1...2 {
                let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                    for (index, request) in requests.enumerated() {
                        let vault = index.isMultiple(of: 2) ? first : second
                        group.addTask {
                            try await vault.vend(requestID: request.id, provider: "github", account: nil).secret
                                .reveal()
                        }
                    }
                    return try await group.reduce(into: Set<String>()) { $0.insert($1) }
                }
                #expect(tokens.count == 1, "round \(round): \(tokens.count) different tokens")
                #expect(server.refreshes == round)
                // The token expires (3,600 s): the next round refreshes once more.
                clock.advance(3600)
            }
            #expect(server.state.withLock { $0.refusals }.isEmpty)
            #expect(try await store.connection(id: connection.id)?.connection.status == .active)
        }
    }

    @Test("requests for different scopes of one rotating connection refresh one after the other, never at once")
    func differentScopesSerialised() async throws {
        let server = TestAuthorizationServer(.init(dialect: .standard, rotates: true, delay: .milliseconds(100)))
        try await server.run { base in
            let store = try SQLiteStore(path: databasePath)
            let vault = try await openVault(store)
            _ = try await setUp(vault, server: server, base: base, provider: "google", scopes: ["a", "b"])
            var requests: [ActionRequest] = []
            for index in 0..<20 {
                requests.append(try await executingRequest(store, scopes: [index.isMultiple(of: 2) ? "a" : "b"]))
            }
            let scopes = try await withThrowingTaskGroup(of: [String].self) { group in
                for request in requests {
                    group.addTask {
                        try await vault.vend(requestID: request.id, provider: "google", account: nil).scopes
                    }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            #expect(scopes.filter { $0 == ["a"] }.count == 10 && scopes.filter { $0 == ["b"] }.count == 10)
            #expect(server.refreshes == 2)
            #expect(server.state.withLock { $0.refusals }.isEmpty)
        }
    }

    @Test("a crash between a rotating provider's answer and the commit ends in needs_reconsent, not a retry loop")
    func crashWithRotation() async throws {
        let server = TestAuthorizationServer(.init(dialect: .slack))
        try await server.run { base in
            let store = try SQLiteStore(path: databasePath)
            let crashing = try await openVault(store, lease: 0.3)
            let connection = try await setUp(
                crashing,
                server: server,
                base: base,
                provider: "slack",
                scopes: ["chat:write"]
            )
            struct Crash: Error {}
            await crashing.setAfterProviderResponse { throw Crash() }
            let request = try await executingRequest(store, scopes: ["chat:write"])
            await #expect(throws: Crash.self) {
                _ = try await crashing.vend(requestID: request.id, provider: "slack", account: nil)
            }
            #expect(server.refreshes == 1)

            // The restarted process: the dead lease runs out, the old refresh token is presented once.
            try await Task.sleep(for: .milliseconds(400))
            let restarted = try await openVault(try SQLiteStore(path: databasePath), lease: 0.3)
            let error = await vaultError {
                _ = try await restarted.vend(requestID: request.id, provider: "slack", account: nil)
            }
            #expect(error?.code == .needsReconsent)
            #expect(
                error?.description.contains("countersign connections connect slack --principal ana@acme.test") == true
            )
            #expect(server.refreshes == 2)
            #expect(try await store.connection(id: connection.id)?.connection.status == .needsReconsent)
            // No retry: later executions fail at once without calling the provider.
            for _ in 0..<3 {
                let again = await vaultError {
                    _ = try await restarted.vend(requestID: request.id, provider: "slack", account: nil)
                }
                #expect(again?.code == .needsReconsent)
            }
            #expect(server.refreshes == 2)
            let audit = try await store.auditEntries(after: 0, limit: 100).map {
                String(decoding: $0.body, as: UTF8.self)
            }
            #expect(audit.contains { $0.contains("needs_reconsent") })
        }
    }

    @Test("a crash between a non-rotating provider's answer and the commit leaves the connection usable")
    func crashWithoutRotation() async throws {
        let server = TestAuthorizationServer(.init(dialect: .standard, rotates: false))
        try await server.run { base in
            let store = try SQLiteStore(path: databasePath)
            let crashing = try await openVault(store, lease: 0.3)
            _ = try await setUp(crashing, server: server, base: base, provider: "google", scopes: ["gmail.send"])
            struct Crash: Error {}
            await crashing.setAfterProviderResponse { throw Crash() }
            let request = try await executingRequest(store, scopes: ["gmail.send"])
            await #expect(throws: Crash.self) {
                _ = try await crashing.vend(requestID: request.id, provider: "google", account: nil)
            }
            try await Task.sleep(for: .milliseconds(400))
            let restarted = try await openVault(try SQLiteStore(path: databasePath), lease: 0.3)
            let token = try await restarted.vend(requestID: request.id, provider: "google", account: nil)
            #expect(token.scopes == ["gmail.send"])
            #expect(server.refreshes == 2)
        }
    }

    @Test("a connection without a needed scope fails with insufficient_scope naming it, before any provider call")
    func insufficientScope() async throws {
        let server = TestAuthorizationServer(.init(dialect: .github))
        try await server.run { base in
            let store = try SQLiteStore(path: databasePath)
            let vault = try await openVault(store)
            _ = try await setUp(vault, server: server, base: base, provider: "github", scopes: ["repo"])
            let request = try await executingRequest(store, scopes: ["delete_repo", "repo"])
            do throws(ConnectorError) {
                _ = try await context(request, vault).accessToken(provider: "github")
                Issue.record("a token was vended without delete_repo")
            } catch {
                #expect(error.message.hasPrefix("insufficient_scope: "))
                #expect(error.message.contains("without delete_repo"))
                #expect(error.message.contains("--scopes delete_repo,repo"))
            }
            #expect(server.refreshes == 0)
        }
    }

    @Test("where the provider can narrow, the token carries only the request's scopes; where not, it is marked broad")
    func narrowing() async throws {
        let google = TestAuthorizationServer(.init(dialect: .standard, rotates: false))
        try await google.run { base in
            let store = try SQLiteStore(path: databasePath)
            let vault = try await openVault(store)
            _ = try await setUp(
                vault,
                server: google,
                base: base,
                provider: "google",
                scopes: ["calendar.events", "gmail.readonly", "gmail.send"]
            )
            let request = try await executingRequest(store, scopes: ["gmail.send"])
            let token = try await vault.vend(requestID: request.id, provider: "google", account: nil)
            #expect(token.scopes == ["gmail.send"] && !token.broad)
            #expect(google.state.withLock { $0.refreshScopes } == ["gmail.send"])
        }
        let github = TestAuthorizationServer(.init(dialect: .github))
        try await github.run { base in
            let store = try SQLiteStore(path: databasePath)
            let vault = try await openVault(store)
            try await vault.setProviderClient(
                provider: "github",
                clientID: github.configuration.clientID,
                clientSecret: Secret(github.configuration.clientSecret),
                redirectURI: github.configuration.redirectURI,
                endpoints: ["token": base + "/token"],
                actor: "test"
            )
            _ = try await vault.importConnection(
                provider: "github",
                principal: "ana@acme.test",
                account: "octocat",
                scopes: ["delete_repo", "repo"],
                refreshToken: Secret(github.grant(scopes: ["delete_repo", "repo"], account: "octocat")),
                actor: "test"
            )
            let request = try await executingRequest(store, scopes: ["repo"])
            let token = try await vault.vend(requestID: request.id, provider: "github", account: nil)
            #expect(token.scopes == ["delete_repo", "repo"] && token.broad)
            #expect(github.state.withLock { $0.refreshScopes } == [nil])
        }
    }

    @Test("rate limits, outages and a refused client are told apart, and none of them asks to reconnect")
    func providerFailures() async throws {
        let server = TestAuthorizationServer(.init(dialect: .standard))
        try await server.run { base in
            let store = try SQLiteStore(path: databasePath)
            let vault = try await openVault(store)
            let connection = try await setUp(vault, server: server, base: base, provider: "google", scopes: ["a"])
            let request = try await executingRequest(store, scopes: ["a"])
            server.script(status: 429, body: #"{"error":"rate_limit_exceeded"}"#, retryAfter: "7")
            server.script(status: 503, body: "<html>down</html>")
            server.script(status: 401, body: #"{"error":"invalid_client"}"#)
            let outcomes = [
                await vaultError { _ = try await vault.vend(requestID: request.id, provider: "google", account: nil) },
                await vaultError { _ = try await vault.vend(requestID: request.id, provider: "google", account: nil) },
                await vaultError { _ = try await vault.vend(requestID: request.id, provider: "google", account: nil) },
            ]
            #expect(outcomes.map(\.?.code) == [.rateLimited, .providerUnavailable, .clientRejected])
            #expect(outcomes[0]?.description.contains("retry after 7 s") == true)
            #expect(try await store.connection(id: connection.id)?.connection.status == .active)
            // Then the provider recovers, and the same connection works.
            _ = try await vault.vend(requestID: request.id, provider: "google", account: nil)
            server.script(status: 429, body: "{}", retryAfter: "3")
            let other = try await executingRequest(store, scopes: ["a"])
            try await DatabaseQueue(path: databasePath).write { db in try db.execute(sql: "DELETE FROM access_tokens") }
            do throws(ConnectorError) {
                _ = try await context(other, vault).accessToken(provider: "google")
                Issue.record("a rate-limited refresh vended a token")
            } catch {
                #expect(error.message.hasPrefix("rate_limited: "))
                #expect(!error.message.contains("connect"))
            }
        }
    }
}
