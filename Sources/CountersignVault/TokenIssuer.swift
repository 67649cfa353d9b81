import Countersign

/// Where a connection's access tokens come from: the provider itself (refresh grant), Auth0 Token
/// Vault (token exchange), or the Auth0 Management API (identity provider tokens, broad).
protocol TokenIssuer: Sendable {
    /// Whether it can ask for fewer scopes than were granted.
    var narrowsScopes: Bool { get }

    /// A new access token from the connection's stored secret, for `scopes` where it can narrow.
    func mint(
        from secret: Secret,
        for connection: Connection,
        scopes: [String]?
    ) async throws(VaultError)
        -> TokenResponse
}

extension OAuthClient: TokenIssuer {
    var narrowsScopes: Bool { provider.narrowsScopes }

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
