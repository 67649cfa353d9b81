/// An OAuth provider whose accounts can be connected, with its real endpoints and its departures
/// from plain OAuth 2.0.
public struct Provider: Sendable, Hashable {
    /// How a provider's token endpoint speaks.
    public enum Dialect: String, Sendable, Hashable {
        /// RFC 6749: errors as HTTP 400 with `error`, scopes separated by spaces.
        case standard
        /// GitHub: `Accept: application/json` needed, errors as HTTP 200 with `error`, scopes separated by commas.
        case github
        /// Slack: every answer is HTTP 200 with `ok`; user tokens under `authed_user`, scopes separated by commas.
        case slack
    }

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
    /// Where the account a token belongs to is read, when the token response does not say (GitHub).
    public let accountEndpoint: String?
    /// The issuer the provider names in its authorization responses (RFC 9207), if it sends one.
    public let issuer: String?
    /// Whether a refresh hands back a new refresh token (and the old one stops working).
    public let rotatesRefreshTokens: Bool
    /// Whether a refresh can ask for fewer scopes than were granted (RFC 6749 §6).
    public let narrowsScopes: Bool
    /// How its token endpoint speaks.
    public let dialect: Dialect
    /// The authorization request parameter that carries the scopes (`user_scope` for Slack user tokens).
    public let scopeParameter: String
    /// Parameters the authorization request needs besides the standard ones.
    public let authorizationParameters: [String: String]

    /// Creates a provider.
    public init(
        name: String,
        displayName: String,
        authorizationEndpoint: String,
        tokenEndpoint: String,
        revocationEndpoint: String?,
        accountEndpoint: String? = nil,
        issuer: String?,
        rotatesRefreshTokens: Bool,
        narrowsScopes: Bool,
        dialect: Dialect,
        scopeParameter: String = "scope",
        authorizationParameters: [String: String] = [:]
    ) {
        self.name = name
        self.displayName = displayName
        self.authorizationEndpoint = authorizationEndpoint
        self.tokenEndpoint = tokenEndpoint
        self.revocationEndpoint = revocationEndpoint
        self.accountEndpoint = accountEndpoint
        self.issuer = issuer
        self.rotatesRefreshTokens = rotatesRefreshTokens
        self.narrowsScopes = narrowsScopes
        self.dialect = dialect
        self.scopeParameter = scopeParameter
        self.authorizationParameters = authorizationParameters
    }

    /// The providers Countersign knows, as each documents its OAuth endpoints.
    public static let catalog: [Provider] = [
        Provider(
            name: "github",
            displayName: "GitHub",
            authorizationEndpoint: "https://github.com/login/oauth/authorize",
            tokenEndpoint: "https://github.com/login/oauth/access_token",
            // DELETE /applications/{client_id}/grant, authenticated as the app, with an access token in the body.
            revocationEndpoint: "https://api.github.com/applications/{client_id}/grant",
            accountEndpoint: "https://api.github.com/user",
            issuer: nil,
            // GitHub App user tokens expire after eight hours and rotate their refresh token.
            rotatesRefreshTokens: true,
            narrowsScopes: false,
            dialect: .github
        ),
        Provider(
            name: "slack",
            displayName: "Slack",
            authorizationEndpoint: "https://slack.com/oauth/v2/authorize",
            tokenEndpoint: "https://slack.com/api/oauth.v2.access",
            // auth.revoke, authenticated with the access token being revoked.
            revocationEndpoint: "https://slack.com/api/auth.revoke",
            issuer: nil,
            rotatesRefreshTokens: true,
            narrowsScopes: false,
            dialect: .slack,
            scopeParameter: "user_scope"
        ),
        Provider(
            name: "google",
            displayName: "Google",
            authorizationEndpoint: "https://accounts.google.com/o/oauth2/v2/auth",
            tokenEndpoint: "https://oauth2.googleapis.com/token",
            revocationEndpoint: "https://oauth2.googleapis.com/revoke",
            issuer: "https://accounts.google.com",
            rotatesRefreshTokens: false,
            narrowsScopes: true,
            dialect: .standard,
            authorizationParameters: ["access_type": "offline", "prompt": "consent", "include_granted_scopes": "false"]
        ),
    ]

    /// The provider with this name in the catalog.
    public static func named(_ name: String) -> Provider? {
        catalog.first { $0.name == name }
    }

    /// The same provider with some endpoints replaced (a self-hosted provider, or a test server).
    ///
    /// Keys: `authorization`, `token`, `revocation`, `account`, `issuer`, and `displayName` for
    /// what people call it there (a sandbox).
    func replacing(_ endpoints: [String: String]) -> Provider {
        Provider(
            name: name,
            displayName: endpoints["displayName"] ?? displayName,
            authorizationEndpoint: endpoints["authorization"] ?? authorizationEndpoint,
            tokenEndpoint: endpoints["token"] ?? tokenEndpoint,
            revocationEndpoint: endpoints["revocation"] ?? revocationEndpoint,
            accountEndpoint: endpoints["account"] ?? accountEndpoint,
            issuer: endpoints["issuer"] ?? issuer,
            rotatesRefreshTokens: rotatesRefreshTokens,
            narrowsScopes: narrowsScopes,
            dialect: dialect,
            scopeParameter: scopeParameter,
            authorizationParameters: authorizationParameters
        )
    }

    /// The scopes a connect flow asks for besides the operation's: what identifies the account.
    var identityScopes: [String] { name == "google" ? ["openid", "email"] : [] }

    /// The separator of scopes in the provider's authorization requests.
    var requestScopeSeparator: String { dialect == .slack ? "," : " " }

    /// The separator of scopes in the provider's token responses.
    var scopeSeparator: Character { dialect == .standard ? " " : "," }
}
