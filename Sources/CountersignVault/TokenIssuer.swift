import Countersign

/// Where a connection's access tokens come from: the provider itself (refresh grant), Auth0 Token
/// Vault (token exchange), or the Auth0 Management API (identity provider tokens, broad).
protocol TokenIssuer: Sendable {
    /// The name the audit and the approval show (`oauth`, `auth0`, `auth0-management`).
    var sourceName: String { get }
    /// Whether it can ask for fewer scopes than were granted.
    var narrowsScopes: Bool { get }
    /// Whether its tokens carry whatever the grant holds, never narrowed (the approval and the
    /// audit label such a source broad).
    var isBroad: Bool { get }

    /// A new access token from the connection's stored secret, for `scopes` where it can narrow.
    func mint(
        from secret: Secret,
        for connection: Connection,
        scopes: [String]?
    ) async throws(VaultError)
        -> TokenResponse
}

extension OAuthClient: TokenIssuer {
    var sourceName: String { "oauth" }
    var narrowsScopes: Bool { provider.narrowsScopes }
    var isBroad: Bool { false }

    func mint(
        from secret: Secret,
        for connection: Connection,
        scopes: [String]?
    ) async throws(VaultError)
        -> TokenResponse
    {
        try await refresh(secret, scopes: scopes)
    }
}
