public import Countersign
import Crypto
public import Foundation

extension Vault {
    /// How long a connect link and its browser flow stay usable.
    static let connectLifetime: TimeInterval = 600

    /// A connect flow's link, to open in the principal's browser.
    public struct ConnectLink: Sendable, Hashable {
        /// The flow.
        public let flowID: String
        /// The URL on the Countersign server that starts the provider's consent screen.
        public let url: String
        /// When the link stops working.
        public let expiresAt: Date
    }

    /// Where a started flow sends the browser, and the cookie that binds the flow to that browser.
    public struct ConnectRedirect: Sendable {
        /// The provider's authorization URL (with `state` and the PKCE challenge).
        public let authorizationURL: String
        /// The value of the binding cookie to set on the browser; only its hash is stored.
        public let binder: Secret
        /// When the flow expires.
        public let expiresAt: Date
        /// Whether the callback is served over TLS (the cookie is then `Secure` and `__Host-` prefixed).
        public let secure: Bool
    }

    /// Starts connecting a principal's account at a provider.
    ///
    /// - Parameters:
    ///   - provider: The provider's name.
    ///   - principal: Whose account it will be.
    ///   - scopes: The scopes to ask for.
    ///   - serverURL: The Countersign server's base URL, which completes the callback.
    ///   - actor: Who starts it.
    /// - Returns: A single-use link, valid ten minutes, to open in the principal's browser.
    /// - Throws: ``VaultError`` for an unknown or unregistered provider, bad input, a sealed vault.
    public func beginConnect(
        provider: String,
        principal: String,
        scopes: [String],
        serverURL: String,
        actor: String
    ) async throws -> ConnectLink {
        _ = try unsealedRing()
        _ = try await oauthClient(for: provider)
        try Self.checkPrincipal(principal)
        try Self.checkEndpoint(serverURL, name: "server URL")
        let wanted = Array(Set(scopes.filter { !$0.isEmpty })).sorted()
        guard !wanted.isEmpty, wanted.allSatisfy({ $0.utf8.count <= 256 && !$0.contains(where: \.isWhitespace) }) else {
            throw VaultError(.invalidInput, "give the scopes to ask for, separated by commas (--scopes repo,read:user)")
        }
        let now = clock()
        let key = Self.randomToken()
        let flow = ConnectFlow(
            id: "flow_" + Hex.encode(Self.randomBytes(12)),
            provider: provider,
            principal: principal,
            scopes: wanted,
            actor: actor,
            createdAt: now,
            expiresAt: now.addingTimeInterval(Self.connectLifetime)
        )
        try await store.createConnectFlow(flow, startKeyHash: Self.sha256(key))
        let base = serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL
        return ConnectLink(
            flowID: flow.id,
            url: "\(base)/oauth/start?flow=\(flow.id)&key=\(key)",
            expiresAt: flow.expiresAt
        )
    }

    /// Opens a connect link in a browser, once: makes the `state`, the PKCE verifier and the binding
    /// cookie, and returns where to send the browser.
    ///
    /// - Throws: ``VaultError`` `.connectFailed` for an unknown, used or expired link.
    public func openConnect(flowID: String, key: String) async throws -> ConnectRedirect {
        _ = try unsealedRing()
        let state = Self.randomToken()
        let verifier = Self.randomToken()
        let binder = Self.randomToken()
        var opened: ConnectFlow?
        try await withCurrentKey { ring throws in
            let sealed = try ring.seal(Array(verifier.utf8), context: .verifier(ofFlow: flowID))
            opened = try await store.openConnectFlow(
                id: flowID,
                startKeyHash: Self.sha256(key),
                stateHash: Self.sha256(state),
                binderHash: Self.sha256(binder),
                verifier: sealed,
                now: clock()
            )
        }
        guard let flow = opened else {
            throw VaultError(
                .connectFailed,
                "this connect link is unknown, already used or expired; start again with `countersign connections connect`"
            )
        }
        let client = try await oauthClient(for: flow.provider)
        let challenge = Self.base64URL(Array(SHA256.hash(data: Array(verifier.utf8))))
        return ConnectRedirect(
            authorizationURL: client.authorizationURL(
                state: state,
                challenge: challenge,
                scopes: Array(Set(flow.scopes + client.provider.identityScopes)).sorted()
            ),
            binder: Secret(binder),
            expiresAt: flow.expiresAt,
            secure: client.redirectURI.lowercased().hasPrefix("https://")
        )
    }

    /// Finishes a connect flow from the provider's redirect to the callback.
    ///
    /// Checks that the `state` is one this vault issued and has not used, that the browser is the
    /// one that opened the link (its binding cookie), and the issuer where the provider names one
    /// (RFC 9207); exchanges the code with the PKCE verifier at the exact redirect URI; and records
    /// the connection, or replaces the refresh token of the same account connected before.
    ///
    /// - Parameters:
    ///   - query: The callback's query parameters (`code`, `state`, `iss`, or `error`).
    ///   - binder: The binding cookie the browser sent, if any.
    /// - Returns: The connection.
    /// - Throws: ``VaultError`` `.connectFailed`, or the token endpoint's errors.
    public func completeConnect(query: [String: String], binder: Secret?) async throws -> Connection {
        _ = try unsealedRing()
        guard let state = query["state"], !state.isEmpty, let binder else {
            throw VaultError(
                .connectFailed,
                "the callback is missing its state or this browser's connect cookie; open the connect link in this browser"
            )
        }
        guard
            let flow = try await store.finishConnectFlow(
                stateHash: Self.sha256(state),
                binderHash: Self.sha256(binder.reveal()),
                now: clock()
            ), let sealedVerifier = flow.verifier
        else {
            throw VaultError(
                .connectFailed,
                "this callback does not match a connect flow opened in this browser, or it was used or expired; start again"
            )
        }
        if let error = query["error"] {
            throw VaultError(
                .connectFailed,
                "the provider did not grant access (\(OAuthClient.safeCode(error))); nothing was connected"
            )
        }
        let client = try await oauthClient(for: flow.provider)
        if let issuer = client.provider.issuer {
            guard let iss = query["iss"], iss.utf8.elementsEqual(issuer.utf8) else {
                throw VaultError(
                    .connectFailed,
                    "the authorization response \(query["iss"] == nil ? "names no issuer" : "names another issuer") (RFC 9207: expected \(issuer)); nothing was connected"
                )
            }
        }
        guard let code = query["code"], !code.isEmpty, code.utf8.count <= 2048 else {
            throw VaultError(.connectFailed, "the callback carries no authorization code")
        }
        let verifier = try await ring(opening: sealedVerifier.keyID).open(
            sealedVerifier,
            context: .verifier(ofFlow: flow.id)
        )
        let tokens = try await client.exchange(code: code, verifier: String(decoding: verifier, as: UTF8.self))
        // A GitHub OAuth app issues a token that does not expire, and no refresh token.
        let longLived = tokens.refreshToken == nil && tokens.expiresIn == nil && client.provider.dialect == .github
        guard let secret = tokens.refreshToken ?? (longLived ? tokens.accessToken : nil) else {
            throw VaultError(
                .connectFailed,
                "\(client.provider.displayName) issued no refresh token: \(Self.refreshTokenHint(client.provider)); nothing was connected"
            )
        }
        let account = try await account(of: tokens, client: client)
        return try await saveConnection(
            provider: flow.provider,
            principal: flow.principal,
            account: account,
            scopes: tokens.scopes ?? flow.scopes,
            refreshToken: secret,
            credential: longLived ? .accessToken : .refreshToken,
            actor: flow.actor
        )
    }

    /// Records a connection, or replaces the refresh token and scopes of the same account connected before.
    func saveConnection(
        provider: String,
        principal: String,
        account: String,
        scopes: [String],
        refreshToken: Secret,
        credential: Connection.Credential = .refreshToken,
        actor: String
    ) async throws -> Connection {
        let now = clock()
        let existing = try await store.connections(principal: principal).first {
            $0.provider == provider && $0.account == account
        }
        let connection = Connection(
            id: existing?.id ?? Connection.newID(),
            principal: principal,
            provider: provider,
            account: account,
            scopes: Array(Set(scopes)).sorted(),
            credential: credential,
            createdAt: existing?.createdAt ?? now,
            updatedAt: now
        )
        try await withCurrentKey { ring throws in
            let sealed = try ring.seal(Array(refreshToken.reveal().utf8), context: .refreshToken(of: connection))
            if existing == nil {
                try await store.createConnection(connection, refreshToken: sealed, actor: actor)
            } else {
                try await store.replaceConnection(connection, refreshToken: sealed, actor: actor)
            }
        }
        return connection
    }

    /// The account the new tokens belong to: Slack names it, Google's ID token carries the address,
    /// GitHub's user endpoint gives the login.
    private func account(of tokens: TokenResponse, client: OAuthClient) async throws -> String {
        if let account = tokens.account { return account }
        if let idToken = tokens.idToken {
            return try Self.email(fromIDToken: idToken, audience: client.clientID, issuer: client.provider.issuer)
        }
        return try await client.account(with: tokens.accessToken)
    }

    /// The verified address in an ID token received straight from the token endpoint over TLS
    /// (OpenID Connect Core §3.1.3.7: TLS authenticates the issuer there; issuer and audience are
    /// still checked).
    static func email(fromIDToken token: Secret, audience: String, issuer: String?) throws(VaultError) -> String {
        let parts = token.reveal().split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = base64URLDecode(String(parts[1])),
            let claims = try? JSONParser().parse(payload)
        else { throw VaultError(.badResponse, "the ID token is malformed") }
        let audiences = claims["aud"]?.arrayValue?.compactMap(\.stringValue) ?? [claims["aud"]?.stringValue ?? ""]
        guard audiences.contains(audience) else { throw VaultError(.badResponse, "the ID token is for another client") }
        if let issuer, let iss = claims["iss"]?.stringValue,
            iss != issuer && "https://" + iss != issuer
        {
            throw VaultError(.badResponse, "the ID token comes from another issuer")
        }
        guard let email = claims["email"]?.stringValue, claims["email_verified"]?.boolValue == true,
            email.contains("@"), email.utf8.count <= 320
        else { throw VaultError(.badResponse, "the ID token carries no verified e-mail address") }
        return email
    }

    private static func refreshTokenHint(_ provider: Provider) -> String {
        switch provider.name {
        case "github": "the app answered with an expiring token but no refresh token"
        case "slack": "turn on token rotation for the Slack app"
        default: "the app must be allowed offline access"
        }
    }

    static func checkPrincipal(_ principal: String) throws(VaultError) {
        guard principal.contains("@"), !principal.contains(where: \.isWhitespace), principal.utf8.count <= 320 else {
            throw VaultError(.invalidInput, "the principal must be an e-mail address, without spaces")
        }
    }

    package static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// 32 random bytes in base64url: 43 characters, as PKCE verifiers and states want.
    package static func randomToken() -> String { base64URL(randomBytes(32)) }

    static func sha256(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Array(text.utf8))) }

    package static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    package static func base64URLDecode(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map(Array.init)
    }
}

extension Vault {
    /// What became of revoking a grant at its provider.
    public enum ProviderRevocation: Sendable, Hashable, CustomStringConvertible {
        /// The provider confirmed it.
        case revoked
        /// The provider has no revocation endpoint, or no client is registered.
        case notPossible(String)
        /// The attempt failed, for this reason.
        case failed(String)

        public var description: String {
            switch self {
            case .revoked: "revoked"
            case .notPossible(let reason): "not possible: \(reason)"
            case .failed(let reason): "failed: \(reason)"
            }
        }
    }

    /// Revokes a connection's grant at its provider where it has an endpoint, then deletes the
    /// connection and its secrets, whatever the provider said.
    ///
    /// Google revokes by refresh token; GitHub and Slack revoke with an access token, refreshed
    /// first when none is cached.
    ///
    /// - Returns: What the provider said, recorded with the deletion; never `.revoked` unless it was.
    /// - Throws: ``VaultError`` `.connectionNotFound`, or when the store cannot be written.
    public func revokeConnection(id: String, actor: String) async throws -> ProviderRevocation {
        guard let connection = try await store.connection(id: id)?.connection else {
            throw VaultError(.connectionNotFound, "no connection \(id); `countersign connections list` shows them")
        }
        let outcome = await revokeAtProvider(connection)
        try await store.deleteConnection(id: id, actor: actor, now: clock(), providerRevocation: outcome.description)
        return outcome
    }

    private func revokeAtProvider(_ connection: Connection) async -> ProviderRevocation {
        let client: OAuthClient
        do {
            guard let oauth = try await tokenIssuer(for: connection.provider) as? OAuthClient else {
                return .notPossible(
                    "its tokens come from Auth0: remove the connected account in Auth0 (Connected Accounts)"
                )
            }
            client = oauth
        } catch let error as VaultError where error.code == .providerNotConfigured || error.code == .unknownProvider {
            return .notPossible(error.description)
        } catch {
            return .failed("\(error)")
        }
        guard client.provider.revocationEndpoint != nil else {
            return .notPossible("\(client.provider.displayName) has no revocation endpoint")
        }
        do {
            let (_, refreshToken) = try await self.refreshToken(connectionID: connection.id)
            var accessToken: Secret?
            if connection.credential == .accessToken {
                accessToken = refreshToken
            } else if client.provider.dialect != .standard {
                guard connection.status == .active else {
                    return .failed(
                        "\(client.provider.displayName) revokes with an access token, and the connection can no longer get one"
                    )
                }
                let scopeKey = client.provider.narrowsScopes ? connection.scopes.joined(separator: " ") : "*"
                accessToken = try await freshToken(
                    connection: connection,
                    scopeKey: scopeKey,
                    needed: connection.scopes
                ) { client }.token
            }
            try await client.revoke(refreshToken: refreshToken, accessToken: accessToken)
            return .revoked
        } catch let error as VaultError {
            return .failed(error.description)
        } catch {
            return .failed("the store failed")
        }
    }
}
