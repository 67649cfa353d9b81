public import Foundation

/// A principal's connected account at a provider.
///
/// Whose it is, which account, which scopes were granted, and whether it can be used. The refresh
/// token is kept apart, sealed, in the store; a `Connection` never carries a secret.
public struct Connection: Sendable, Hashable, Identifiable {
    /// Whether a connection can vend tokens.
    public enum Status: String, Sendable, Hashable, CaseIterable {
        /// Usable.
        case active
        /// The provider refused the refresh token (`invalid_grant`): the principal must connect again.
        case needsReconsent = "needs_reconsent"
    }

    /// What the connection's sealed secret is.
    public enum Credential: String, Sendable, Hashable, CaseIterable {
        /// A refresh token, exchanged for short-lived access tokens.
        case refreshToken = "refresh_token"
        /// A long-lived access token, for providers that issue no refresh token (a GitHub OAuth app).
        case accessToken = "access_token"
    }

    /// A unique identifier (`conn_` and 24 hex digits).
    public let id: String
    /// The person on whose behalf the connection acts.
    public let principal: String
    /// The provider's name in the catalog of providers (`github`, `slack`, `google`…).
    public let provider: String
    /// The account at the provider (a login, a workspace and user, an address).
    public let account: String
    /// The scopes the provider granted.
    public var scopes: [String]
    /// Whether it can be used.
    public var status: Status
    /// What its sealed secret is.
    public let credential: Credential
    /// When it was connected.
    public let createdAt: Date
    /// When it last changed.
    public var updatedAt: Date

    /// Creates a connection.
    public init(
        id: String = Connection.newID(),
        principal: String,
        provider: String,
        account: String,
        scopes: [String],
        status: Status = .active,
        credential: Credential = .refreshToken,
        createdAt: Date,
        updatedAt: Date? = nil
    ) {
        self.id = id
        self.principal = principal
        self.provider = provider
        self.account = account
        self.scopes = scopes
        self.status = status
        self.credential = credential
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }

    /// A new random identifier.
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return "conn_" + Hex.encode((0..<12).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}

/// A secret as the store keeps it: the bytes sealed under one data key, and that key's id.
///
/// Only the vault can open it; the store never sees the plaintext.
public struct SealedSecret: Sendable, Hashable {
    /// The data key it is sealed with.
    public let keyID: String
    /// Nonce, ciphertext and tag.
    public let bytes: [UInt8]

    /// Creates a sealed secret.
    public init(keyID: String, bytes: [UInt8]) {
        self.keyID = keyID
        self.bytes = bytes
    }
}

/// A data key as the store keeps it: wrapped (sealed) under the master key.
public struct WrappedDataKey: Sendable, Hashable {
    /// Where a data key stands.
    public enum State: String, Sendable, Hashable {
        /// New secrets are sealed with it.
        case active
        /// Secrets sealed with it still open; none are sealed with it any more.
        case decryptOnly = "decrypt_only"
        /// Its material is destroyed; nothing may be sealed with it.
        case retired
    }

    /// A unique identifier (`dk_` and 16 hex digits).
    public let id: String
    /// The key sealed under the master key; `nil` once retired.
    public let wrapped: [UInt8]?
    /// Where it stands.
    public let state: State
    /// When it was made.
    public let createdAt: Date

    /// Creates a record of a data key.
    public init(id: String, wrapped: [UInt8]?, state: State, createdAt: Date) {
        self.id = id
        self.wrapped = wrapped
        self.state = state
        self.createdAt = createdAt
    }
}

/// A provider's OAuth client registration as the store keeps it: the client secret sealed.
public struct ProviderClientRecord: Sendable, Hashable {
    /// The provider's name in the catalog (`github`…).
    public let provider: String
    /// The client id the provider issued.
    public let clientID: String
    /// The client secret, sealed.
    public let clientSecret: SealedSecret
    /// The redirect URI registered with the provider, used exactly (empty for Auth0 sources).
    public let redirectURI: String
    /// Where tokens come from: `oauth` (the provider itself), `auth0` (Auth0 Token Vault) or
    /// `auth0-management` (the Auth0 Management API, a broad source).
    public let source: String
    /// For `oauth`, endpoints that replace the catalog's (`authorization`, `token`, `revocation`,
    /// `account`, `issuer`); for the Auth0 sources, the tenant and connection.
    public let settings: [String: String]
    /// When it was last set.
    public let updatedAt: Date

    /// Creates a record.
    public init(
        provider: String,
        clientID: String,
        clientSecret: SealedSecret,
        redirectURI: String,
        source: String = "oauth",
        settings: [String: String],
        updatedAt: Date
    ) {
        self.provider = provider
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.redirectURI = redirectURI
        self.source = source
        self.settings = settings
        self.updatedAt = updatedAt
    }
}

/// A language model a run's planner may call: where, which, and its API key, sealed.
public struct PlannerModelRecord: Sendable, Hashable {
    /// What runs name it by (`gpt`, `claude`…).
    public let name: String
    /// The API it speaks: `openai` (chat completions with tool calling) or `anthropic` (Messages).
    public let api: String
    /// The API's base URL (`https://api.openai.com/v1`, `https://api.anthropic.com`).
    public let url: String
    /// The model's name at that API.
    public let model: String
    /// The API key, sealed.
    public let apiKey: SealedSecret
    /// When it was last set.
    public let updatedAt: Date

    /// Creates a record.
    public init(name: String, api: String, url: String, model: String, apiKey: SealedSecret, updatedAt: Date) {
        self.name = name
        self.api = api
        self.url = url
        self.model = model
        self.apiKey = apiKey
        self.updatedAt = updatedAt
    }
}

/// An access token kept, sealed, until shortly before it expires.
public struct CachedAccessToken: Sendable, Hashable {
    /// The connection it was issued for.
    public let connectionID: String
    /// The scopes it was requested for, sorted and space-separated (the cache key).
    public let scopeKey: String
    /// The token, sealed.
    public let token: SealedSecret
    /// The scopes the provider says it carries.
    public let grantedScopes: [String]
    /// When it stops working.
    public let expiresAt: Date

    /// Creates a cache entry.
    public init(connectionID: String, scopeKey: String, token: SealedSecret, grantedScopes: [String], expiresAt: Date) {
        self.connectionID = connectionID
        self.scopeKey = scopeKey
        self.token = token
        self.grantedScopes = grantedScopes
        self.expiresAt = expiresAt
    }
}

/// An OAuth authorization-code flow under way: started from the CLI (or the web app), continued
/// in the principal's browser, finished by the provider's redirect to the callback.
public struct ConnectFlow: Sendable, Hashable {
    /// A unique identifier (`flow_` and 24 hex digits).
    public let id: String
    /// The provider.
    public let provider: String
    /// Whose account it connects.
    public let principal: String
    /// The scopes asked for.
    public let scopes: [String]
    /// Who started it.
    public let actor: String
    /// When it was started.
    public let createdAt: Date
    /// When it stops being usable.
    public let expiresAt: Date
    /// The PKCE code verifier, sealed, once the browser has opened the start link.
    public let verifier: SealedSecret?

    /// Creates a flow.
    public init(
        id: String,
        provider: String,
        principal: String,
        scopes: [String],
        actor: String,
        createdAt: Date,
        expiresAt: Date,
        verifier: SealedSecret? = nil
    ) {
        self.id = id
        self.provider = provider
        self.principal = principal
        self.scopes = scopes
        self.actor = actor
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.verifier = verifier
    }
}

/// The outcome of asking for the right to refresh a connection's token.
public enum RefreshClaim: Sendable {
    /// The caller holds the lease until it finishes or the lease ends: here is the refresh token.
    case claimed(connection: Connection, refreshToken: SealedSecret)
    /// Another vault (in this or another process) is refreshing until at most this time.
    case busy(until: Date)
}

/// Where data keys and connected accounts are kept.
///
/// Every change is one transaction with its audit entry.
public protocol VaultStore: Sendable {
    /// Every data key, oldest first.
    func dataKeys() async throws -> [WrappedDataKey]

    /// Adds a data key and makes it the active one; the key that was active becomes decrypt-only.
    func addDataKey(_ key: WrappedDataKey, actor: String, now: Date) async throws

    /// Destroys the material of every decrypt-only key that no secret is sealed with any more.
    ///
    /// - Returns: The ids of the keys retired.
    func retireUnusedDataKeys(actor: String, now: Date) async throws -> [String]

    /// Records a connection with its sealed refresh token.
    ///
    /// - Throws: ``VaultError`` (`.connectionExists`) when the principal already has this account at this provider.
    func createConnection(_ connection: Connection, refreshToken: SealedSecret, actor: String) async throws

    /// The connections, optionally of one principal, ordered by principal, provider and account.
    func connections(principal: String?) async throws -> [Connection]

    /// A connection and its sealed refresh token.
    func connection(id: String) async throws -> (connection: Connection, refreshToken: SealedSecret)?

    /// Connections whose refresh token is sealed with a key other than `keyID`, in order of id,
    /// after the id `after` (from the first when `nil`), up to `limit`.
    func connectionsSealed(
        notWith keyID: String,
        after: String?,
        limit: Int
    ) async throws -> [(
        connection: Connection, refreshToken: SealedSecret
    )]

    /// Replaces a connection's sealed refresh token if it is still `expected`.
    ///
    /// - Returns: Whether it was replaced (`false` when another writer changed it first).
    func resealRefreshToken(
        connectionID: String,
        expected: SealedSecret,
        replacement: SealedSecret
    ) async throws
        -> Bool

    /// Deletes a connection and its sealed refresh token.
    ///
    /// - Throws: ``VaultError`` (`.connectionNotFound`) when there is none with this id.
    func deleteConnection(id: String, actor: String, now: Date, providerRevocation: String) async throws

    /// Records (or replaces) a provider's client registration.
    func setProviderClient(_ record: ProviderClientRecord, actor: String) async throws

    /// A provider's client registration.
    func providerClient(_ provider: String) async throws -> ProviderClientRecord?

    /// Every provider client registration, in order of provider.
    func providerClients() async throws -> [ProviderClientRecord]

    /// Replaces a provider's sealed client secret if it is still `expected` (key rotation).
    ///
    /// - Returns: Whether it was replaced.
    func resealProviderClient(provider: String, expected: SealedSecret, replacement: SealedSecret) async throws -> Bool

    /// Records (or replaces) a planner's language model with its sealed API key.
    func setPlannerModel(_ record: PlannerModelRecord, actor: String) async throws

    /// A planner model by name.
    func plannerModel(_ name: String) async throws -> PlannerModelRecord?

    /// Every planner model, in order of name.
    func plannerModels() async throws -> [PlannerModelRecord]

    /// Removes a planner model and its sealed key.
    ///
    /// - Returns: Whether there was one by this name.
    func removePlannerModel(_ name: String, actor: String, now: Date) async throws -> Bool

    /// Replaces a planner model's sealed key if it is still `expected` (key rotation).
    ///
    /// - Returns: Whether it was replaced.
    func resealPlannerModel(name: String, expected: SealedSecret, replacement: SealedSecret) async throws -> Bool

    /// A cached access token for a connection and scope key, if one is kept.
    func cachedAccessToken(connectionID: String, scopeKey: String) async throws -> CachedAccessToken?

    /// Takes the lease to refresh a connection's token, unless another holder's lease is still running.
    ///
    /// - Throws: ``VaultError`` `.connectionNotFound`, or `.needsReconsent` when the connection can
    ///   no longer be refreshed.
    func claimRefresh(connectionID: String, owner: String, until: Date, now: Date) async throws -> RefreshClaim

    /// Saves what a refresh returned and ends the lease, in one transaction: the new refresh token
    /// (when the provider rotated it), the granted scopes, and the new access token for the cache.
    func finishRefresh(
        connectionID: String,
        owner: String,
        refreshToken: SealedSecret?,
        cache: CachedAccessToken,
        actor: String,
        now: Date
    ) async throws

    /// Ends the lease without a new token; when `needsReconsent` gives a reason, the connection is
    /// marked `needs_reconsent` and its cached tokens are dropped.
    func abandonRefresh(
        connectionID: String,
        owner: String,
        needsReconsent: String?,
        actor: String,
        now: Date
    )
        async throws

    /// Replaces an existing connection's refresh token, scopes and status (the principal connected
    /// the same account again), dropping its cached access tokens.
    ///
    /// - Throws: ``VaultError`` `.connectionNotFound`.
    func replaceConnection(_ connection: Connection, refreshToken: SealedSecret, actor: String) async throws

    /// Records a new connect flow; only the hash of its start key is kept.
    func createConnectFlow(_ flow: ConnectFlow, startKeyHash: [UInt8]) async throws

    /// Marks a flow as opened in a browser, once: records the hashes of its `state` and of the
    /// browser's binding cookie, and the sealed PKCE verifier.
    ///
    /// - Returns: The flow, or `nil` when the id or key is wrong, or it was already opened or has expired.
    func openConnectFlow(
        id: String,
        startKeyHash: [UInt8],
        stateHash: [UInt8],
        binderHash: [UInt8],
        verifier: SealedSecret,
        now: Date
    ) async throws -> ConnectFlow?

    /// Finishes a flow, once: the one whose `state` hashes to `stateHash`, opened by the browser
    /// whose binding cookie hashes to `binderHash` (compared in constant time).
    ///
    /// - Returns: The flow with its sealed verifier, or `nil` when unknown, finished, expired or
    ///   opened in another browser.
    func finishConnectFlow(stateHash: [UInt8], binderHash: [UInt8], now: Date) async throws -> ConnectFlow?

    /// Records that a token was vended for a request, if the request is still in `state` (executing,
    /// or pending for a look-up) with this digest.
    ///
    /// - Returns: Whether it was recorded; `false` means the request is no longer in that state (or
    ///   its payload changed) and no token may be used for it.
    func recordVend(
        requestID: String,
        digest: ActionDigest,
        state: RequestState,
        event: AuditEvent
    ) async throws -> Bool
}

/// Why the vault refused something, in words that say what to do.
public struct VaultError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of refusal.
    public enum Code: String, Sendable, Hashable {
        case sealed
        case badKey = "bad_key"
        case connectionExists = "connection_exists"
        case connectionNotFound = "connection_not_found"
        case unknownProvider = "unknown_provider"
        case invalidInput = "invalid_input"
        case keyInUse = "key_in_use"
        /// A secret was sealed with a data key that is no longer the active one (another process rotated).
        case staleKey = "stale_key"
        /// The connection's refresh token was refused by the provider; the principal must connect again.
        case needsReconsent = "needs_reconsent"
        /// The connection was not granted every scope the operation needs.
        case insufficientScope = "insufficient_scope"
        /// The provider has no client registration (`countersign providers set`).
        case providerNotConfigured = "provider_not_configured"
        /// The principal has no usable connection at the provider, or more than one.
        case noConnection = "no_connection"
        /// A token was asked for a request that is not executing.
        case notExecuting = "not_executing"
        /// The provider (or token service) rate-limited the call.
        case rateLimited = "rate_limited"
        /// The provider (or token service) failed or could not be reached.
        case providerUnavailable = "provider_unavailable"
        /// The provider refused Countersign's client (wrong client id or secret, grant not allowed).
        case clientRejected = "client_rejected"
        /// The provider answered with something that is not a valid token response.
        case badResponse = "bad_response"
        /// A connect flow could not be finished (unknown, used or expired link, another browser,
        /// the provider refused, wrong issuer).
        case connectFailed = "connect_failed"
    }

    /// The kind of refusal.
    public let code: Code
    /// What happened and what to do.
    public let description: String

    /// Creates an error.
    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}

extension AuditKind {
    /// A data key was added or retired.
    public static let vaultKeyChanged = "vault.key_changed"
    /// A connection was made, re-sealed or removed.
    public static let connectionChanged = "connection.changed"
    /// A provider's client registration was set.
    public static let providerClientChanged = "provider_client.changed"
    /// A planner model set or removed (never its key).
    public static let plannerModelChanged = "planner_model.changed"
}
