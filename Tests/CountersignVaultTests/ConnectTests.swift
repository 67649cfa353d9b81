import AsyncHTTPClient
import Countersign
import CountersignStore
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import CountersignVault

/// The OAuth connect flow: authorization code with PKCE S256, a single-use `state` bound to the
/// browser that opened the link, the exact redirect URI, and the issuer check of RFC 9207.
@Suite("Vault connect flow")
struct ConnectTests {
    let files: VaultFiles

    init() throws {
        files = try VaultFiles()
    }

    /// A browser: follows nothing, so each redirect can be looked at.
    static let browser: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    func openVault(_ clock: TestClock = TestClock()) async throws -> (Vault, SQLiteStore) {
        try await files.open(clock: clock)
    }

    func register(_ vault: Vault, _ server: TestAuthorizationServer, base: String, provider: String) async throws {
        try await vault.setProviderClient(
            provider: provider,
            clientID: server.configuration.clientID,
            clientSecret: Secret(server.configuration.clientSecret),
            redirectURI: server.configuration.redirectURI,
            endpoints: [
                "authorization": base + "/authorize", "token": base + "/token", "account": base + "/user",
            ].merging(server.configuration.issuer.map { ["issuer": $0] } ?? [:]) { a, _ in a },
            actor: "test"
        )
    }

    /// Starts a flow and opens its link, as the browser would: the vault's answer and the provider's redirect.
    func consent(
        _ vault: Vault,
        provider: String,
        scopes: [String]
    ) async throws -> (redirect: Vault.ConnectRedirect, callback: [String: String]) {
        let link = try await vault.beginConnect(
            provider: provider,
            principal: "ana@acme.test",
            scopes: scopes,
            serverURL: "http://127.0.0.1:8787",
            actor: "admin@acme.test"
        )
        let query = Self.query(of: link.url)
        #expect(link.url.hasPrefix("http://127.0.0.1:8787/oauth/start?"))
        let redirect = try await vault.openConnect(flowID: try #require(query["flow"]), key: try #require(query["key"]))
        let response = try await Self.browser.get(url: redirect.authorizationURL).get()
        #expect(response.status == .found, "the provider refused: \(response.status)")
        let location = try #require(response.headers.first(name: "Location"))
        return (redirect, Self.query(of: location))
    }

    static func query(of url: String) -> [String: String] {
        let components = URLComponents(string: url)
        return Dictionary(
            (components?.queryItems ?? []).map { ($0.name, $0.value ?? "") },
            uniquingKeysWith: { first, _ in first }
        )
    }

    @Test("a GitHub account is connected with PKCE, the state is single-use, and the new connection vends")
    func github() async throws {
        let server = TestAuthorizationServer(.init(dialect: .github))
        try await server.run { base in
            let (vault, store) = try await openVault()
            try await register(vault, server, base: base, provider: "github")
            let (redirect, callback) = try await consent(vault, provider: "github", scopes: ["repo"])
            #expect(redirect.authorizationURL.contains("code_challenge_method=S256"))
            #expect(redirect.authorizationURL.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Foauth%2Fcallback"))
            let connection = try await vault.completeConnect(query: callback, binder: redirect.binder)
            #expect(connection.account == "octocat" && connection.scopes == ["repo"])
            #expect(connection.principal == "ana@acme.test")
            // The same callback again is refused: the state was used.
            let again = await vaultError {
                _ = try await vault.completeConnect(query: callback, binder: redirect.binder)
            }
            #expect(again?.code == .connectFailed)
            #expect(server.state.withLock { $0.exchanges } == 1)
            // The refresh token it stored works.
            let listed = try await vault.connections(principal: "ana@acme.test")
            #expect(listed.map(\.id) == [connection.id])
            let (opened, token) = try await vault.refreshToken(connectionID: connection.id)
            #expect(opened.account == "octocat" && token.reveal().hasPrefix("rt_CANARY_"))
            let bytes = try Data(contentsOf: URL(filePath: files.databasePath + "-wal"))
            #expect(bytes.range(of: Data("CANARY".utf8)) == nil)
            _ = store
        }
    }

    @Test("a GitHub OAuth app's token, which never expires, is kept as the connection's secret and vended as is")
    func githubOAuthApp() async throws {
        let server = TestAuthorizationServer(.init(dialect: .github, oauthApp: true))
        try await server.run { base in
            let (vault, store) = try await openVault()
            try await register(vault, server, base: base, provider: "github")
            let (redirect, callback) = try await consent(vault, provider: "github", scopes: ["repo"])
            let connection = try await vault.completeConnect(query: callback, binder: redirect.binder)
            #expect(connection.credential == .accessToken && connection.account == "octocat")
            let request = try await VendTests.executingRequest(store, scopes: ["repo"])
            let token = try await vault.vend(requestID: request.id, provider: "github", account: nil)
            #expect(token.secret.reveal().hasPrefix("at_CANARY_") && token.expiresAt == nil)
            #expect(server.refreshes == 0)
            let audit = try await store.auditEntries(forRequest: request.id).map {
                String(decoding: $0.body, as: UTF8.self)
            }
            #expect(audit.contains { $0.contains(#""expiresAt":"never""#) })
            // GitHub revokes the grant with that same token.
            try await vault.setProviderClient(
                provider: "github",
                clientID: server.configuration.clientID,
                clientSecret: Secret(server.configuration.clientSecret),
                redirectURI: server.configuration.redirectURI,
                endpoints: ["token": base + "/token", "revocation": base + "/applications/{client_id}/grant"],
                actor: "test"
            )
            #expect(try await vault.revokeConnection(id: connection.id, actor: "test") == .revoked)
        }
    }

    @Test("a callback in another browser, a link opened twice, or a flow past its ten minutes connects nothing")
    func bindingAndExpiry() async throws {
        let server = TestAuthorizationServer(.init(dialect: .github))
        try await server.run { base in
            let clock = TestClock()
            let (vault, _) = try await openVault(clock)
            try await register(vault, server, base: base, provider: "github")

            // Another browser (an attacker's callback planted in the victim's browser, or the reverse).
            let (redirect, callback) = try await consent(vault, provider: "github", scopes: ["repo"])
            let stranger = await vaultError {
                _ = try await vault.completeConnect(query: callback, binder: Secret(Vault.randomToken()))
            }
            #expect(stranger?.code == .connectFailed)
            #expect(await vaultError { _ = try await vault.completeConnect(query: callback, binder: nil) } != nil)
            // The flow is burned: not even the right browser can finish it now.
            let burned = await vaultError {
                _ = try await vault.completeConnect(query: callback, binder: redirect.binder)
            }
            #expect(burned?.code == .connectFailed)

            // A link opens once.
            let link = try await vault.beginConnect(
                provider: "github",
                principal: "ana@acme.test",
                scopes: ["repo"],
                serverURL: "http://127.0.0.1:8787",
                actor: "admin@acme.test"
            )
            let query = Self.query(of: link.url)
            _ = try await vault.openConnect(flowID: query["flow"]!, key: query["key"]!)
            let twice = await vaultError { _ = try await vault.openConnect(flowID: query["flow"]!, key: query["key"]!) }
            #expect(twice?.code == .connectFailed)
            let wrongKey = await vaultError { _ = try await vault.openConnect(flowID: query["flow"]!, key: "guess") }
            #expect(wrongKey?.code == .connectFailed)

            // Too late.
            let (late, lateCallback) = try await consent(vault, provider: "github", scopes: ["repo"])
            clock.advance(601)
            let expired = await vaultError {
                _ = try await vault.completeConnect(query: lateCallback, binder: late.binder)
            }
            #expect(expired?.code == .connectFailed)
            #expect(try await vault.connections().isEmpty)
            #expect(server.state.withLock { $0.exchanges } == 0)
        }
    }

    @Test("Google: the issuer is required and checked (RFC 9207), and the account is the ID token's verified address")
    func googleIssuer() async throws {
        let server = TestAuthorizationServer(.init(dialect: .standard, rotates: false, issuer: "https://issuer.test"))
        try await server.run { base in
            let (vault, _) = try await openVault()
            try await register(vault, server, base: base, provider: "google")
            var (redirect, callback) = try await consent(vault, provider: "google", scopes: ["gmail.send"])
            #expect(redirect.authorizationURL.contains("access_type=offline"))
            #expect(redirect.authorizationURL.contains("prompt=consent"))
            #expect(redirect.authorizationURL.contains("scope=email%20gmail.send%20openid"))
            callback["iss"] = nil
            let missing = await vaultError {
                _ = try await vault.completeConnect(query: callback, binder: redirect.binder)
            }
            #expect(missing?.code == .connectFailed && missing?.description.contains("names no issuer") == true)

            (redirect, callback) = try await consent(vault, provider: "google", scopes: ["gmail.send"])
            callback["iss"] = "https://evil.test"
            let wrong = await vaultError {
                _ = try await vault.completeConnect(query: callback, binder: redirect.binder)
            }
            #expect(wrong?.description.contains("another issuer") == true)
            #expect(server.state.withLock { $0.exchanges } == 0)

            (redirect, callback) = try await consent(vault, provider: "google", scopes: ["gmail.send"])
            #expect(callback["iss"] == "https://issuer.test")
            let connection = try await vault.completeConnect(query: callback, binder: redirect.binder)
            #expect(connection.account == "ana@gmail.test")
            #expect(connection.scopes == ["email", "gmail.send", "openid"])
        }
    }

    @Test("Slack: user scopes go in user_scope, the client authenticates with HTTP Basic, the account is team/user")
    func slack() async throws {
        let server = TestAuthorizationServer(.init(dialect: .slack))
        try await server.run { base in
            let (vault, _) = try await openVault()
            try await register(vault, server, base: base, provider: "slack")
            let (redirect, callback) = try await consent(
                vault,
                provider: "slack",
                scopes: ["chat:write", "channels:read"]
            )
            #expect(redirect.authorizationURL.contains("user_scope=channels%3Aread%2Cchat%3Awrite"))
            let connection = try await vault.completeConnect(query: callback, binder: redirect.binder)
            #expect(connection.account == "T0TEAM/octocat")
            #expect(connection.scopes == ["channels:read", "chat:write"])
        }
    }

    @Test("the provider enforces the exact redirect URI and the PKCE verifier")
    func providerChecks() async throws {
        let server = TestAuthorizationServer(.init(dialect: .standard))
        try await server.run { base in
            let (vault, _) = try await openVault()
            try await vault.setProviderClient(
                provider: "google",
                clientID: server.configuration.clientID,
                clientSecret: Secret(server.configuration.clientSecret),
                redirectURI: "http://127.0.0.1:9/oauth/callback/",
                endpoints: ["authorization": base + "/authorize", "token": base + "/token"],
                actor: "test"
            )
            let link = try await vault.beginConnect(
                provider: "google",
                principal: "ana@acme.test",
                scopes: ["gmail.send"],
                serverURL: "http://127.0.0.1:8787",
                actor: "admin@acme.test"
            )
            let query = Self.query(of: link.url)
            let redirect = try await vault.openConnect(flowID: query["flow"]!, key: query["key"]!)
            let response = try await Self.browser.get(url: redirect.authorizationURL).get()
            #expect(response.status == .badRequest)
            #expect(server.state.withLock { $0.refusals } == ["redirect_uri mismatch"])

            try await register(vault, server, base: base, provider: "google")
            let (_, callback) = try await consent(vault, provider: "google", scopes: ["gmail.send"])
            let client = try await vault.oauthClient(for: "google")
            let refused = await vaultError {
                _ = try await client.exchange(code: callback["code"]!, verifier: Vault.randomToken())
            }
            #expect(refused?.code == .needsReconsent)
            #expect(server.state.withLock { $0.refusals }.contains("PKCE verifier does not match the challenge"))
        }
    }

    @Test("connecting the same account again replaces its refresh token and makes it usable again")
    func reconnect() async throws {
        let server = TestAuthorizationServer(.init(dialect: .github))
        try await server.run { base in
            let (vault, store) = try await openVault()
            try await register(vault, server, base: base, provider: "github")
            var (redirect, callback) = try await consent(vault, provider: "github", scopes: ["repo"])
            let first = try await vault.completeConnect(query: callback, binder: redirect.binder)
            _ = try await store.claimRefresh(connectionID: first.id, owner: "x", until: Date(), now: Date())
            _ = try await store.abandonRefresh(
                connectionID: first.id,
                owner: "x",
                needsReconsent: "test",
                actor: "test",
                now: Date()
            )
            #expect(try await vault.connection(id: first.id)?.status == .needsReconsent)
            (redirect, callback) = try await consent(vault, provider: "github", scopes: ["delete_repo", "repo"])
            let second = try await vault.completeConnect(query: callback, binder: redirect.binder)
            #expect(second.id == first.id)
            #expect(try await vault.connection(id: first.id)?.status == .active)
            #expect(try await vault.connection(id: first.id)?.scopes == ["delete_repo", "repo"])
        }
    }
}

/// Revoking a connection at its provider, then deleting it.
@Suite("Vault revocation")
struct RevocationTests {
    let files: VaultFiles

    init() throws {
        files = try VaultFiles()
    }

    @Test(
        "each provider's grant is revoked its own way, then the connection is deleted",
        arguments: [
            (TestAuthorizationServer.Dialect.standard, "google", "/revoke"),
            (.github, "github", "/applications/{client_id}/grant"),
            (.slack, "slack", "/api/auth.revoke"),
        ]
    )
    func revokes(dialect: TestAuthorizationServer.Dialect, provider: String, path: String) async throws {
        let server = TestAuthorizationServer(.init(dialect: dialect))
        try await server.run { base in
            let (vault, store) = try await files.open()
            try await vault.setProviderClient(
                provider: provider,
                clientID: server.configuration.clientID,
                clientSecret: Secret(server.configuration.clientSecret),
                redirectURI: server.configuration.redirectURI,
                endpoints: ["token": base + "/token", "revocation": base + path],
                actor: "test"
            )
            let connection = try await vault.importConnection(
                provider: provider,
                principal: "ana@acme.test",
                account: "octocat",
                scopes: ["a"],
                refreshToken: Secret(server.grant(scopes: ["a"], account: "octocat")),
                actor: "test"
            )
            let outcome = try await vault.revokeConnection(id: connection.id, actor: "admin@acme.test")
            #expect(outcome == .revoked)
            #expect(server.state.withLock { $0.revocations.count } == 1)
            #expect(server.state.withLock { $0.families.values.allSatisfy(\.revoked) })
            #expect(try await vault.connection(id: connection.id) == nil)
            let audit = try await store.auditEntries(after: 0, limit: 100).map {
                String(decoding: $0.body, as: UTF8.self)
            }
            #expect(audit.contains { $0.contains(#""providerRevocation":"revoked""#) })
            #expect(!audit.contains { $0.contains("CANARY") })
        }
    }

    @Test("a failed revocation at the provider is reported as failed, never as success, and the connection still goes")
    func failedRevocation() async throws {
        let server = TestAuthorizationServer(.init(dialect: .standard))
        let (vault, store) = try await files.open()
        try await server.run { base in
            try await vault.setProviderClient(
                provider: "google",
                clientID: server.configuration.clientID,
                clientSecret: Secret(server.configuration.clientSecret),
                redirectURI: server.configuration.redirectURI,
                // The provider has moved its revocation endpoint: 404.
                endpoints: ["token": base + "/token", "revocation": base + "/o/oauth2/revoke"],
                actor: "test"
            )
            let connection = try await vault.importConnection(
                provider: "google",
                principal: "ana@acme.test",
                account: "ana@gmail.test",
                scopes: ["a"],
                refreshToken: Secret(server.grant(scopes: ["a"], account: "ana@gmail.test")),
                actor: "test"
            )
            let outcome = try await vault.revokeConnection(id: connection.id, actor: "admin@acme.test")
            guard case .failed(let reason) = outcome else {
                Issue.record("reported \(outcome)")
                return
            }
            #expect(reason.contains("refused the revocation (HTTP 404)"))
            #expect(try await vault.connection(id: connection.id) == nil)
        }
        let audit = try await store.auditEntries(after: 0, limit: 100).map { String(decoding: $0.body, as: UTF8.self) }
        #expect(audit.contains { $0.contains(#""providerRevocation":"failed: "#) })

        // Without a registered client, nothing can be revoked, and it says so.
        let other = try await vault.importConnection(
            provider: "slack",
            principal: "ana@acme.test",
            account: "T1/U1",
            scopes: ["a"],
            refreshToken: Secret("xoxe-1-refresh"),
            actor: "test"
        )
        let notPossible = try await vault.revokeConnection(id: other.id, actor: "admin@acme.test")
        guard case .notPossible = notPossible else {
            Issue.record("reported \(notPossible)")
            return
        }
    }
}
