public import Countersign
public import Foundation

extension Vault {
    /// A provider's client registration, without its secret.
    public struct ProviderClient: Sendable, Hashable {
        /// The provider.
        public let provider: String
        /// The client id.
        public let clientID: String
        /// The redirect URI registered with the provider.
        public let redirectURI: String
        /// Where tokens come from (`oauth`, `auth0`, `auth0-management`).
        public let source: String
        /// Endpoints that replace the catalog's, or the Auth0 tenant and connection.
        public let settings: [String: String]
        /// When it was set.
        public let updatedAt: Date
    }

    /// Registers (or replaces) Countersign's OAuth client at a provider; the secret is sealed.
    ///
    /// - Parameters:
    ///   - provider: The provider's name in the catalog.
    ///   - clientID: The client id the provider issued.
    ///   - clientSecret: The client secret.
    ///   - redirectURI: The callback registered with the provider: `https`, or `http` on a loopback address.
    ///   - endpoints: Endpoints that replace the catalog's (`authorization`, `token`, `revocation`,
    ///     `account`, `issuer`), each `https` or `http` on a loopback address.
    ///   - displayName: What connections and token sources are called instead of the provider's
    ///     name (`GitHub sandbox` for the sandbox that ships with Countersign).
    ///   - actor: Who sets it.
    /// - Throws: ``VaultError`` `.unknownProvider`, `.invalidInput`, `.sealed`.
    public func setProviderClient(
        provider: String,
        clientID: String,
        clientSecret: Secret,
        redirectURI: String,
        endpoints: [String: String] = [:],
        displayName: String? = nil,
        actor: String
    ) async throws {
        guard Provider.named(provider) != nil else { throw Self.unknownProvider(provider) }
        guard !clientID.isEmpty, clientID.utf8.count <= 256, !clientID.contains(where: \.isWhitespace) else {
            throw VaultError(.invalidInput, "the client id must be one word of at most 256 bytes")
        }
        let secret = clientSecret.reveal().trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty, secret.utf8.count <= 1024, !secret.contains(where: \.isWhitespace) else {
            throw VaultError(.invalidInput, "the client secret must be one word of at most 1,024 bytes")
        }
        try Self.checkEndpoint(redirectURI, name: "redirect URI")
        let allowed: Set<String> = ["authorization", "token", "revocation", "account", "issuer"]
        for (name, url) in endpoints {
            guard allowed.contains(name) else {
                throw VaultError(
                    .invalidInput,
                    "unknown endpoint \"\(name)\"; known: authorization, token, revocation, account, issuer"
                )
            }
            try Self.checkEndpoint(url, name: "\(name) endpoint")
        }
        var settings = endpoints
        if let displayName {
            guard !displayName.isEmpty, displayName.count <= 64,
                displayName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == " " || $0 == "-" || $0 == "." })
            else {
                throw VaultError(.invalidInput, "a display name is up to 64 letters, digits, spaces, dots or dashes")
            }
            settings["displayName"] = displayName
        }
        try await withCurrentKey { ring throws in
            let sealed = try ring.seal(
                Array(secret.utf8),
                context: .clientSecret(of: provider, clientID: clientID)
            )
            try await store.setProviderClient(
                ProviderClientRecord(
                    provider: provider,
                    clientID: clientID,
                    clientSecret: sealed,
                    redirectURI: redirectURI,
                    settings: settings,
                    updatedAt: clock()
                ),
                actor: actor
            )
        }
    }

    /// Where a provider's tokens come from, as an approver should know it.
    public struct TokenSource: Sendable, Hashable {
        /// The provider.
        public let provider: String
        /// What people call it.
        public let displayName: String
        /// `oauth` (the provider itself), `auth0` (Token Vault) or `auth0-management`.
        public let source: String
        /// Whether the token is narrowed to the request's scopes (otherwise it carries every scope
        /// the account granted).
        public let narrowed: Bool
        /// Whether the source itself is broad: it reads tokens wholesale (the Auth0 Management API).
        public let broadSource: Bool
    }

    /// Where `provider`'s tokens come from, or `nil` when nothing is registered for it.
    ///
    /// Works while sealed.
    public func tokenSource(for provider: String) async throws -> TokenSource? {
        guard let known = Provider.named(provider), let record = try await store.providerClient(provider) else {
            return nil
        }
        return TokenSource(
            provider: provider,
            displayName: record.settings["displayName"] ?? known.displayName,
            source: record.source,
            narrowed: record.source == "oauth" && known.narrowsScopes,
            broadSource: record.source == "auth0-management"
        )
    }

    /// The providers' client registrations, without secrets.
    ///
    /// Works while sealed.
    public func providerClients() async throws -> [ProviderClient] {
        try await store.providerClients().map {
            ProviderClient(
                provider: $0.provider,
                clientID: $0.clientID,
                redirectURI: $0.redirectURI,
                source: $0.source,
                settings: $0.settings,
                updatedAt: $0.updatedAt
            )
        }
    }

    /// Makes Auth0 the source of a provider's tokens.
    ///
    /// With `management: false`, Auth0 Token Vault: each principal's connection holds their Auth0
    /// refresh token, exchanged for the provider's access token at `https://{domain}/oauth/token`;
    /// the credential is the client secret, or an RSA private key in PEM for `private_key_jwt`.
    /// With `management: true`, the Auth0 Management API (a machine-to-machine client with
    /// `read:user_idp_tokens`): each connection names an Auth0 user id, and its tokens are broad.
    ///
    /// - Parameters:
    ///   - provider: The provider (`github`, `slack`, `google`).
    ///   - domain: The Auth0 tenant's domain (`acme.us.auth0.com`), or an `https` URL (`http` on loopback).
    ///   - connection: The Auth0 connection the provider is configured as (`github`, `google-oauth2`…).
    ///   - management: Whether to use the Management API instead of Token Vault.
    ///   - clientID: The Auth0 application's client id.
    ///   - credential: Its client secret or PEM private key.
    ///   - algorithm: For a private key, `RS256` (the default) or `PS256`.
    ///   - keyID: For a private key, the credential's `kid` at Auth0, if any.
    ///   - actor: Who sets it.
    /// - Throws: ``VaultError`` `.invalidInput`, `.unknownProvider`, `.sealed`.
    public func setAuth0Source(
        provider: String,
        domain: String,
        connection: String,
        management: Bool = false,
        clientID: String,
        credential: Secret,
        algorithm: String? = nil,
        keyID: String? = nil,
        actor: String
    ) async throws {
        guard Provider.named(provider) != nil else { throw Self.unknownProvider(provider) }
        let base = domain.contains("://") ? domain : "https://" + domain
        try Self.checkEndpoint(base, name: "Auth0 domain")
        guard !connection.isEmpty, connection.utf8.count <= 128, !connection.contains(where: \.isWhitespace) else {
            throw VaultError(.invalidInput, "the Auth0 connection name must be one word")
        }
        guard !clientID.isEmpty, !clientID.contains(where: \.isWhitespace) else {
            throw VaultError(.invalidInput, "the client id must be one word")
        }
        let text = credential.reveal().trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.utf8.count <= 16_384 else {
            throw VaultError(.invalidInput, "give the client secret, or an RSA private key in PEM form")
        }
        _ = try Auth0ClientCredential.parse(text, algorithm: algorithm, keyID: keyID)
        if management && text.contains("-----BEGIN") {
            throw VaultError(.invalidInput, "the Management API fallback authenticates with a client secret")
        }
        var settings = ["base": base.hasSuffix("/") ? String(base.dropLast()) : base, "connection": connection]
        if let algorithm { settings["alg"] = algorithm }
        if let keyID { settings["kid"] = keyID }
        try await withCurrentKey { ring throws in
            let sealed = try ring.seal(Array(text.utf8), context: .clientSecret(of: provider, clientID: clientID))
            try await store.setProviderClient(
                ProviderClientRecord(
                    provider: provider,
                    clientID: clientID,
                    clientSecret: sealed,
                    redirectURI: "",
                    source: management ? "auth0-management" : "auth0",
                    settings: settings,
                    updatedAt: clock()
                ),
                actor: actor
            )
        }
    }

    /// Where a provider's tokens come from, with its credential opened.
    func tokenIssuer(for name: String) async throws -> any TokenIssuer {
        guard let provider = Provider.named(name) else { throw Self.unknownProvider(name) }
        guard let record = try await store.providerClient(name) else { throw Self.notRegistered(provider) }
        let opened = try await ring(opening: record.clientSecret.keyID).open(
            record.clientSecret,
            context: .clientSecret(of: name, clientID: record.clientID)
        )
        let secret = String(decoding: opened, as: UTF8.self)
        let base = record.settings["base"] ?? ""
        let connection = record.settings["connection"] ?? ""
        switch record.source {
        case "auth0":
            return Auth0TokenVault(
                base: base,
                connection: connection,
                clientID: record.clientID,
                credential: try Auth0ClientCredential.parse(
                    secret,
                    algorithm: record.settings["alg"],
                    keyID: record.settings["kid"]
                )
            )
        case "auth0-management":
            return Auth0ManagementAPI(
                base: base,
                connection: connection,
                clientID: record.clientID,
                clientSecret: Secret(secret)
            )
        default:
            return OAuthClient(
                provider: provider.replacing(record.settings),
                clientID: record.clientID,
                clientSecret: Secret(secret),
                redirectURI: record.redirectURI
            )
        }
    }

    /// The provider's own OAuth client (for connect flows and revocation).
    ///
    /// - Throws: ``VaultError`` `.providerNotConfigured` also when the provider's tokens come from Auth0.
    func oauthClient(for name: String) async throws -> OAuthClient {
        guard let client = try await tokenIssuer(for: name) as? OAuthClient else {
            throw VaultError(
                .providerNotConfigured,
                "\(name)'s tokens come from Auth0: connect the account through Auth0, then `countersign connections import \(name)` its Auth0 refresh token"
            )
        }
        return client
    }

    static func notRegistered(_ provider: Provider) -> VaultError {
        VaultError(
            .providerNotConfigured,
            "\(provider.displayName) has no client registration; run `countersign providers set \(provider.name)`"
        )
    }

    static func unknownProvider(_ name: String) -> VaultError {
        VaultError(
            .unknownProvider,
            "unknown provider \"\(name)\"; known: \(Provider.catalog.map(\.name).joined(separator: ", "))"
        )
    }

    /// Accepts an absolute `https` URL, or `http` on a loopback address (a provider or callback on this machine).
    static func checkEndpoint(_ text: String, name: String) throws(VaultError) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
            let host = url.host(percentEncoded: false),
            !host.isEmpty, url.fragment == nil, url.user == nil
        else {
            throw VaultError(.invalidInput, "the \(name) must be an absolute URL without a fragment or user: \(text)")
        }
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(host.lowercased())
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw VaultError(
                .invalidInput,
                "the \(name) must use https (http only on 127.0.0.1, ::1 or localhost): \(text)"
            )
        }
    }
}
