public import Countersign
import Crypto
import Foundation

/// An access token opened for one use, with what the provider said about it.
struct MintedToken: Sendable {
    let token: Secret
    let grantedScopes: [String]
    /// `nil` for a token that does not expire.
    let expiresAt: Date?
}

extension Vault: TokenVending {
    /// How long before its expiry a cached token is no longer handed out.
    static let expiryMargin: TimeInterval = 30
    /// How long a token whose provider gave no lifetime is kept at most.
    static let defaultLifetime: TimeInterval = 3600

    public nonisolated func accessToken(
        provider: String,
        account: String?,
        for context: ExecutionContext
    ) async throws(ConnectorError) -> AccessToken {
        do {
            return try await vend(requestID: context.requestID, provider: provider, account: account)
        } catch let error as VaultError {
            switch error.code {
            case .rateLimited, .providerUnavailable, .badResponse:
                throw .failed("\(error.code.rawValue): \(error.description)")
            default:
                throw .refused("\(error.code.rawValue): \(error.description)")
            }
        } catch {
            throw .failed("the vault could not vend a token: its store failed; nothing was sent to \(provider)")
        }
    }

    public nonisolated func lookupToken(
        provider: String,
        scopes: [String],
        for context: LookupContext
    ) async throws(ConnectorError) -> AccessToken {
        do {
            return try await vend(requestID: context.requestID, provider: provider, account: nil, lookupScopes: scopes)
        } catch let error as VaultError {
            throw .refused("\(error.code.rawValue): \(error.description)")
        } catch {
            throw .failed("the vault could not vend a look-up token: its store failed")
        }
    }

    /// An access token for an executing request, for exactly the scopes it was approved with.
    ///
    /// The request must be `executing` (claimed by the executor) with its payload intact; the token
    /// is for the request's principal, from their connection at the provider, narrowed to the
    /// request's scopes where the provider can narrow. Every vend is audited with a hash of the
    /// token, in a transaction that checks again that the request is executing.
    ///
    /// - Throws: ``VaultError``: `.notExecuting`, `.noConnection`, `.insufficientScope`,
    ///   `.needsReconsent`, `.providerNotConfigured`, `.rateLimited`, `.providerUnavailable`, `.sealed`…
    func vend(
        requestID: String,
        provider name: String,
        account: String?,
        lookupScopes: [String]? = nil
    ) async throws -> AccessToken {
        _ = try unsealedRing()
        // Execution needs the request executing; a look-up, the request pending (shown to no one
        // as decided yet) or executing (the target checked again before it runs), and then only
        // read scopes the connector names.
        guard let request = try await store.request(id: requestID), request.isPayloadIntact,
            lookupScopes == nil
                ? request.state == .executing : request.state == .pending || request.state == .executing
        else {
            throw VaultError(
                .notExecuting,
                lookupScopes == nil
                    ? "request \(requestID) is not executing; tokens are vended only to its execution"
                    : "request \(requestID) is neither pending nor executing; look-up tokens are vended only then"
            )
        }
        let wanted = request.state
        guard let provider = Provider.named(name) else { throw Self.unknownProvider(name) }
        let principal = request.action.principal
        let connection = try await usableConnection(principal: principal, provider: provider, account: account)
        let needed = Array(Set(lookupScopes ?? request.scopes)).sorted()
        let missing = needed.filter { !connection.scopes.contains($0) }
        guard missing.isEmpty else {
            throw Self.insufficientScope(missing, connection: connection, needed: needed, by: "granted")
        }
        // What the registration says is enough here; its credential is opened only to refresh.
        guard let source = try await tokenSource(for: name) else { throw Self.notRegistered(provider) }
        let scopeKey = source.narrowed ? needed.joined(separator: " ") : "*"
        let minted =
            connection.credential == .accessToken
            ? try await longLivedToken(connection)
            : try await freshToken(connection: connection, scopeKey: scopeKey, needed: needed) {
                try await self.tokenIssuer(for: name)
            }
        let short = needed.filter { !minted.grantedScopes.contains($0) }
        guard short.isEmpty else {
            throw Self.insufficientScope(short, connection: connection, needed: needed, by: "issued a token with")
        }
        let broad = source.broadSource || !Set(minted.grantedScopes).isSubset(of: needed)
        let hash = Hex.encode(Array(SHA256.hash(data: Array(minted.token.reveal().utf8))))
        let recorded = try await store.recordVend(
            requestID: requestID,
            digest: request.digest,
            state: wanted,
            event: AuditEvent(
                kind: AuditKind.tokenVended,
                actor: "vault",
                requestID: requestID,
                at: clock(),
                data: [
                    "connection": .string(connection.id),
                    "provider": .string(name),
                    "account": .string(connection.account),
                    "source": .string(source.source),
                    "broad": .bool(broad),
                    "scopesRequested": .array(needed.map(JSONValue.string)),
                    "scopesGranted": .array(minted.grantedScopes.map(JSONValue.string)),
                    "expiresAt": minted.expiresAt.map { .string(Self.timestamp($0)) } ?? "never",
                    "tokenSHA256": .string(hash),
                    "purpose": .string(lookupScopes == nil ? "execution" : wanted == .pending ? "lookup" : "recheck"),
                ]
            )
        )
        guard recorded else {
            throw VaultError(.notExecuting, "request \(requestID) changed state; the token was not handed out")
        }
        return AccessToken(
            secret: minted.token,
            scopes: minted.grantedScopes,
            expiresAt: minted.expiresAt,
            broad: broad
        )
    }

    /// The principal's one usable connection at the provider (or the one with `account`).
    private func usableConnection(principal: String, provider: Provider, account: String?) async throws -> Connection {
        let all = try await store.connections(principal: principal).filter {
            $0.provider == provider.name && (account == nil || $0.account == account)
        }
        let active = all.filter { $0.status == .active }
        if active.count == 1 { return active[0] }
        if active.count > 1 {
            throw VaultError(
                .noConnection,
                "\(principal) has \(active.count) \(provider.displayName) accounts connected (\(active.map(\.account).joined(separator: ", "))); the operation must name one"
            )
        }
        if let stale = all.first {
            throw VaultError(
                .needsReconsent,
                "the \(provider.displayName) connection of \(principal) (\(stale.account)) was refused by \(provider.displayName) and must be connected again: run `countersign connections connect \(provider.name) --principal \(principal)`"
            )
        }
        throw VaultError(
            .noConnection,
            "\(principal) has no \(provider.displayName) account connected\(account.map { " as \($0)" } ?? ""): run `countersign connections connect \(provider.name) --principal \(principal)`"
        )
    }

    private static func insufficientScope(
        _ missing: [String],
        connection: Connection,
        needed: [String],
        by verb: String
    ) -> VaultError {
        VaultError(
            .insufficientScope,
            "\(connection.provider) \(verb) \(connection.account) without \(missing.joined(separator: ", ")), which this operation needs; connect again with them: `countersign connections connect \(connection.provider) --principal \(connection.principal) --scopes \(Array(Set(connection.scopes + needed)).sorted().joined(separator: ","))`"
        )
    }

    // MARK: Cache and refresh

    /// The token of a connection whose secret is a long-lived access token (a GitHub OAuth app's):
    /// nothing to refresh, and it carries every scope granted.
    private func longLivedToken(_ connection: Connection) async throws -> MintedToken {
        let (_, token) = try await refreshToken(connectionID: connection.id)
        return MintedToken(token: token, grantedScopes: connection.scopes, expiresAt: nil)
    }

    /// A cached token that is still good, or a new one from a refresh.
    ///
    /// One refresh at a time per connection in this process, whatever the scopes (a refresh token
    /// that rotates must never be presented twice at once): callers for the same scopes share the
    /// running refresh and its outcome; callers for other scopes wait for it, then look again.
    ///
    /// - Parameters:
    ///   - connection: The connection.
    ///   - scopeKey: The scopes the token is for, as the cache keys them.
    ///   - needed: The scopes to ask for where the source can narrow.
    ///   - issuer: Makes the token source (opening its credential) when a refresh is needed.
    /// - Returns: The token.
    /// - Throws: ``VaultError`` from the refresh, or when the store fails.
    func freshToken(
        connection: Connection,
        scopeKey: String,
        needed: [String],
        issuer: @escaping @Sendable () async throws -> any TokenIssuer
    ) async throws -> MintedToken {
        while true {
            if let cached = try await cachedToken(connection: connection, scopeKey: scopeKey) { return cached }
            if let running = refreshes[connection.id] {
                if running.scopeKey == scopeKey { return try await running.task.value }
                _ = try? await running.task.value
                continue
            }
            let task = Task {
                try await self.refresh(connection: connection, issuer: issuer, scopeKey: scopeKey, needed: needed)
            }
            refreshes[connection.id] = (scopeKey, task)
            defer { if refreshes[connection.id]?.task == task { refreshes[connection.id] = nil } }
            return try await task.value
        }
    }

    private func cachedToken(connection: Connection, scopeKey: String) async throws -> MintedToken? {
        guard let cached = try await store.cachedAccessToken(connectionID: connection.id, scopeKey: scopeKey),
            cached.expiresAt.timeIntervalSince(clock()) > Self.expiryMargin
        else { return nil }
        guard let ring = try? await ring(opening: cached.token.keyID),
            let plaintext = try? ring.open(cached.token, context: .accessToken(of: connection, scopeKey: scopeKey))
        else { return nil }
        return MintedToken(
            token: Secret(String(decoding: plaintext, as: UTF8.self)),
            grantedScopes: cached.grantedScopes,
            expiresAt: cached.expiresAt
        )
    }

    /// Refreshes under the connection's lease: waits while another vault holds it, then takes it,
    /// uses the refresh token once, and commits the new refresh token with the new access token
    /// before the access token is used.
    private func refresh(
        connection: Connection,
        issuer makeIssuer: @Sendable () async throws -> any TokenIssuer,
        scopeKey: String,
        needed: [String]
    ) async throws -> MintedToken {
        let issuer = try await makeIssuer()
        let giveUp = Date().addingTimeInterval(refreshLease + 5)
        while true {
            let now = clock()
            let claim = try await store.claimRefresh(
                connectionID: connection.id,
                owner: instanceID,
                until: now.addingTimeInterval(refreshLease),
                now: now
            )
            guard case .claimed(let current, let sealed) = claim else {
                guard Date() < giveUp else {
                    throw VaultError(
                        .providerUnavailable,
                        "another Countersign process has been refreshing the \(connection.provider) connection of \(connection.principal) for too long; try again"
                    )
                }
                try await Task.sleep(for: .milliseconds(40))
                if let cached = try await cachedToken(connection: connection, scopeKey: scopeKey) { return cached }
                continue
            }
            // Another vault may have finished just before this one took the lease.
            if let cached = try await cachedToken(connection: current, scopeKey: scopeKey) {
                try await store.abandonRefresh(
                    connectionID: current.id,
                    owner: instanceID,
                    needsReconsent: nil,
                    actor: "vault",
                    now: clock()
                )
                return cached
            }
            return try await refresh(current, sealed: sealed, issuer: issuer, scopeKey: scopeKey, needed: needed)
        }
    }

    private func refresh(
        _ connection: Connection,
        sealed: SealedSecret,
        issuer: any TokenIssuer,
        scopeKey: String,
        needed: [String]
    ) async throws -> MintedToken {
        let response: TokenResponse
        do {
            let plaintext = try await ring(opening: sealed.keyID).open(sealed, context: .refreshToken(of: connection))
            response = try await issuer.mint(
                from: Secret(String(decoding: plaintext, as: UTF8.self)),
                for: connection,
                scopes: issuer.narrowsScopes ? needed : nil
            )
        } catch let error as VaultError where error.code == .needsReconsent || error.code == .badKey {
            try await store.abandonRefresh(
                connectionID: connection.id,
                owner: instanceID,
                needsReconsent: error.description,
                actor: "vault",
                now: clock()
            )
            guard issuer is OAuthClient else { throw error }
            throw VaultError(
                .needsReconsent,
                "\(error.description); the \(connection.provider) connection of \(connection.principal) must be connected again: run `countersign connections connect \(connection.provider) --principal \(connection.principal)`"
            )
        } catch {
            try await store.abandonRefresh(
                connectionID: connection.id,
                owner: instanceID,
                needsReconsent: nil,
                actor: "vault",
                now: clock()
            )
            throw error
        }
        // A crash here loses the provider's answer: with rotation the next refresh presents a used
        // refresh token and the connection ends `needs_reconsent`; without, the old one still works.
        if let afterProviderResponse { try await afterProviderResponse() }
        let now = clock()
        let expiresAt = now.addingTimeInterval(min(response.expiresIn ?? Self.defaultLifetime, 86_400 * 7))
        let granted = response.scopes ?? connection.scopes
        try await withCurrentKey { ring throws in
            let newRefresh = try response.refreshToken.map {
                try ring.seal(Array($0.reveal().utf8), context: .refreshToken(of: connection))
            }
            let access = try ring.seal(
                Array(response.accessToken.reveal().utf8),
                context: .accessToken(of: connection, scopeKey: scopeKey)
            )
            try await store.finishRefresh(
                connectionID: connection.id,
                owner: instanceID,
                refreshToken: newRefresh,
                cache: CachedAccessToken(
                    connectionID: connection.id,
                    scopeKey: scopeKey,
                    token: access,
                    grantedScopes: granted,
                    expiresAt: expiresAt
                ),
                actor: "vault",
                now: now
            )
        }
        return MintedToken(token: response.accessToken, grantedScopes: granted, expiresAt: expiresAt)
    }

    /// Sets what runs between a provider's refresh answer and its commit (tests).
    func setAfterProviderResponse(_ hook: (@Sendable () async throws -> Void)?) {
        afterProviderResponse = hook
    }

    private static func timestamp(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted)
        )
    }
}
