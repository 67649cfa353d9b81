/// An OAuth provider whose accounts can be connected, with its real endpoints.
public struct Provider: Sendable, Hashable {
    /// The name connections refer to it by.
    public let name: String
    /// What people call it.
    public let displayName: String
    /// Where the principal grants access (authorization code with PKCE).
    public let authorizationEndpoint: String
    /// Where codes and refresh tokens are exchanged for tokens.
    public let tokenEndpoint: String
    /// Where a grant is revoked, if the provider has such an endpoint.
    public let revocationEndpoint: String?
    /// Whether a refresh hands back a new refresh token (and the old one stops working).
    public let rotatesRefreshTokens: Bool

    /// The providers Countersign knows, as each documents its OAuth endpoints.
    public static let catalog: [Provider] = [
        Provider(
            name: "github",
            displayName: "GitHub",
            authorizationEndpoint: "https://github.com/login/oauth/authorize",
            tokenEndpoint: "https://github.com/login/oauth/access_token",
            // DELETE /applications/{client_id}/grant, authenticated as the OAuth app.
            revocationEndpoint: "https://api.github.com/applications/{client_id}/grant",
            rotatesRefreshTokens: true
        ),
        Provider(
            name: "slack",
            displayName: "Slack",
            authorizationEndpoint: "https://slack.com/oauth/v2/authorize",
            tokenEndpoint: "https://slack.com/api/oauth.v2.access",
            revocationEndpoint: "https://slack.com/api/auth.revoke",
            rotatesRefreshTokens: true
        ),
        Provider(
            name: "google",
            displayName: "Google",
            authorizationEndpoint: "https://accounts.google.com/o/oauth2/v2/auth",
            tokenEndpoint: "https://oauth2.googleapis.com/token",
            revocationEndpoint: "https://oauth2.googleapis.com/revoke",
            rotatesRefreshTokens: false
        ),
    ]

    /// The provider with this name.
    public static func named(_ name: String) -> Provider? { catalog.first { $0.name == name } }
}
