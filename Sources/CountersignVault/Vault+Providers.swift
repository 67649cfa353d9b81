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
        /// Endpoints that replace the catalog's.
        public let endpoints: [String: String]
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
    ///   - actor: Who sets it.
    /// - Throws: ``VaultError`` `.unknownProvider`, `.invalidInput`, `.sealed`.
    public func setProviderClient(
        provider: String,
        clientID: String,
        clientSecret: Secret,
        redirectURI: String,
        endpoints: [String: String] = [:],
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
                    endpoints: endpoints,
                    updatedAt: clock()
                ),
                actor: actor
            )
        }
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
                endpoints: $0.endpoints,
                updatedAt: $0.updatedAt
            )
        }
    }

    /// The OAuth client for a provider, its secret opened.
    func oauthClient(for name: String) async throws -> OAuthClient {
        guard let provider = Provider.named(name) else { throw Self.unknownProvider(name) }
        guard let record = try await store.providerClient(name) else {
            throw VaultError(
                .providerNotConfigured,
                "\(provider.displayName) has no client registration; run `countersign providers set \(name)`"
            )
        }
        let secret = try await ring(opening: record.clientSecret.keyID).open(
            record.clientSecret,
            context: .clientSecret(of: name, clientID: record.clientID)
        )
        return OAuthClient(
            provider: provider.replacing(record.endpoints),
            clientID: record.clientID,
            clientSecret: Secret(String(decoding: secret, as: UTF8.self)),
            redirectURI: record.redirectURI
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
