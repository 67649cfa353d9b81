import Countersign
import CountersignStore
import CryptoExtras
import Foundation
import Synchronization
import Testing

@testable import CountersignVault

/// Auth0 as a token source: Token Vault's token exchange, and the Management API fallback.
@Suite("Vault with Auth0")
struct Auth0Tests {
    let files: VaultFiles

    init() throws {
        files = try VaultFiles()
    }

    /// Sets Auth0 as GitHub's source, imports Ana's Auth0 refresh token, and makes an executing request.
    func setUp(
        _ auth0: TestAuth0Server,
        base: String,
        credential: String? = nil,
        algorithm: String? = nil,
        scopes: [String] = ["repo"],
        needed: [String] = ["repo"],
        in directory: VaultFiles? = nil
    ) async throws -> (Vault, SQLiteStore, ActionRequest, String) {
        let (vault, store) = try await (directory ?? files).open()
        try await vault.setAuth0Source(
            provider: "github",
            domain: base,
            connection: "github",
            clientID: auth0.clientID,
            credential: Secret(credential ?? auth0.clientSecret),
            algorithm: algorithm,
            actor: "admin@acme.test"
        )
        let user = auth0.user(account: "octocat", scopes: scopes)
        _ = try await vault.importConnection(
            provider: "github",
            principal: "ana@acme.test",
            account: "octocat",
            scopes: scopes,
            refreshToken: Secret(user.refreshToken),
            actor: "admin@acme.test"
        )
        let request = try await VendTests.executingRequest(store, scopes: needed)
        return (vault, store, request, user.accessToken)
    }

    @Test("Token Vault: the refresh token is exchanged with every documented parameter and the client secret")
    func exchangeWithSecret() async throws {
        let auth0 = TestAuth0Server(connection: "github")
        try await auth0.run { base in
            let (vault, store, request, expected) = try await setUp(auth0, base: base)
            let token = try await vault.vend(requestID: request.id, provider: "github", account: nil)
            #expect(token.secret.reveal() == expected)
            #expect(token.scopes == ["repo"] && !token.broad)
            #expect(auth0.state.withLock { $0.refusals }.isEmpty)
            let sent = try #require(auth0.state.withLock { $0.exchanges.first })
            #expect(sent["connection"] == "github" && sent["login_hint"] == "octocat")
            #expect(sent["client_id"] == auth0.clientID)
            let audit = try await store.auditEntries(forRequest: request.id).map {
                String(decoding: $0.body, as: UTF8.self)
            }
            #expect(audit.contains { $0.contains(#""source":"auth0""#) && $0.contains(#""broad":false"#) })
            #expect(!audit.contains { $0.contains("CANARY") })
        }
    }

    @Test("Token Vault with private_key_jwt, signed RS256 or PS256", arguments: ["RS256", "PS256"])
    func privateKeyJWT(algorithm: String) async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let auth0 = TestAuth0Server(connection: "github", publicKey: key.publicKey, algorithm: algorithm)
        try await auth0.run { base in
            let (vault, _, request, expected) = try await setUp(
                auth0,
                base: base,
                credential: key.pemRepresentation,
                algorithm: algorithm
            )
            let token = try await vault.vend(requestID: request.id, provider: "github", account: nil)
            #expect(token.secret.reveal() == expected)
            #expect(auth0.state.withLock { $0.refusals }.isEmpty)
        }
    }

    @Test("Auth0's answers map to distinct outcomes: 401 reconnect, 403 grant not allowed, 429 rate limit, 5xx outage")
    func errorMapping() async throws {
        for (status, code, phrase) in [
            (403, VaultError.Code.clientRejected, "Token Exchange (Federated Connection)"),
            (429, .rateLimited, "retry after 30 s"),
            (503, .providerUnavailable, "try again later"),
            (401, .needsReconsent, "connect or reconnect"),
            (401, .clientRejected, "invalid_client"),
        ] {
            let auth0 = TestAuth0Server(connection: "github")
            try await auth0.run { base in
                let (vault, store, request, _) = try await setUp(auth0, base: base, in: try VaultFiles())
                let answer = code == .clientRejected ? "invalid_client" : "x"
                auth0.script(status: status, body: #"{"error":"\#(answer)"}"#, retryAfter: status == 429 ? "30" : nil)
                let error = await vaultError {
                    _ = try await vault.vend(requestID: request.id, provider: "github", account: nil)
                }
                #expect(error?.code == code, "HTTP \(status)")
                #expect(error?.description.contains(phrase) == true, "\(error?.description ?? "")")
                if code != .needsReconsent {
                    // Never "connect your account" for a rate limit, an outage or a refused client.
                    #expect(error?.description.contains("connect") == false || code == .clientRejected)
                    #expect(try await vault.connections().first?.status == .active)
                } else {
                    #expect(try await store.connections(principal: nil).first?.status == .needsReconsent)
                }
            }
        }
    }

    @Test("the scope Auth0 reports is checked against what the operation needs")
    func scopeChecked() async throws {
        let auth0 = TestAuth0Server(connection: "github")
        try await auth0.run { base in
            // The connection says it was granted both, but Auth0's token carries only `repo`.
            let (vault, _, _, _) = try await setUp(auth0, base: base, scopes: ["repo"], needed: ["repo"])
            let store = try SQLiteStore(path: files.databasePath)
            try await vault.setAuth0Source(
                provider: "github",
                domain: base,
                connection: "github",
                clientID: auth0.clientID,
                credential: Secret(auth0.clientSecret),
                actor: "admin@acme.test"
            )
            let user = auth0.user(account: "hubot", scopes: ["repo"])
            _ = try await vault.importConnection(
                provider: "github",
                principal: "ana@acme.test",
                account: "hubot",
                scopes: ["delete_repo", "repo"],
                refreshToken: Secret(user.refreshToken),
                actor: "admin@acme.test"
            )
            let request = try await VendTests.executingRequest(store, scopes: ["delete_repo"])
            let error = await vaultError {
                _ = try await vault.vend(requestID: request.id, provider: "github", account: "hubot")
            }
            #expect(error?.code == .insufficientScope)
            #expect(error?.description.contains("issued a token with hubot without delete_repo") == true)
        }
    }

    @Test("the approver is told where each provider's token comes from, and whether it is narrowed or broad")
    func tokenSources() async throws {
        let (vault, _) = try await files.open()
        for (provider, management) in [("github", false), ("slack", true)] {
            try await vault.setAuth0Source(
                provider: provider,
                domain: "acme.us.auth0.com",
                connection: provider,
                management: management,
                clientID: "c",
                credential: Secret("s"),
                actor: "test"
            )
        }
        try await vault.setProviderClient(
            provider: "google",
            clientID: "g",
            clientSecret: Secret("s"),
            redirectURI: "https://countersign.acme.test/oauth/callback",
            actor: "test"
        )
        let github = try #require(try await vault.tokenSource(for: "github"))
        #expect(github.source == "auth0" && !github.narrowed && !github.broadSource)
        let slack = try #require(try await vault.tokenSource(for: "slack"))
        #expect(slack.source == "auth0-management" && slack.broadSource)
        let google = try #require(try await vault.tokenSource(for: "google"))
        #expect(google.source == "oauth" && google.narrowed)
        #expect(try await vault.tokenSource(for: "sandbox") == nil)
    }

    @Test("the Management API fallback reads the identity's token and is labelled broad in the audit")
    func managementFallback() async throws {
        let auth0 = TestAuth0Server(connection: "github")
        try await auth0.run { base in
            let (vault, store) = try await files.open()
            try await vault.setAuth0Source(
                provider: "github",
                domain: base,
                connection: "github",
                management: true,
                clientID: auth0.clientID,
                credential: Secret(auth0.clientSecret),
                actor: "admin@acme.test"
            )
            let user = auth0.user(account: "octocat", scopes: ["repo"])
            _ = try await vault.importConnection(
                provider: "github",
                principal: "ana@acme.test",
                account: "octocat",
                scopes: ["repo"],
                refreshToken: Secret(user.userID),
                actor: "admin@acme.test"
            )
            let request = try await VendTests.executingRequest(store, scopes: ["repo"])
            let token = try await vault.vend(requestID: request.id, provider: "github", account: nil)
            #expect(token.secret.reveal() == user.accessToken)
            #expect(token.broad)
            let audit = try await store.auditEntries(forRequest: request.id).map {
                String(decoding: $0.body, as: UTF8.self)
            }
            #expect(audit.contains { $0.contains(#""source":"auth0-management""#) && $0.contains(#""broad":true"#) })
            #expect(auth0.state.withLock { $0.refusals }.isEmpty)
        }
    }
}
