public import Countersign
import Crypto
public import Foundation

/// Keeps connected accounts' refresh tokens sealed, and opens them only for Countersign's own use.
///
/// A vault opens *sealed* when there is no master key, or when the master key does not open the
/// data keys: it still lists connections, but nothing that needs a secret runs, and every refusal
/// says why.
public actor Vault {
    /// Whether secrets can be used.
    public enum Status: Sendable, Hashable {
        /// Secrets can be sealed and opened.
        case unsealed(activeKey: String, keys: Int)
        /// No secret can be used, for this reason.
        case sealed(reason: String)
    }

    let store: any VaultStore & ActionStore
    private let master: MasterKey?
    private var ring: KeyRing?
    private var sealedReason: String?
    /// The clock (tokens' expiry, leases, audit times).
    let clock: @Sendable () -> Date
    /// How long a refresh may hold a connection before another vault may take over.
    let refreshLease: TimeInterval
    /// Who this vault is when it holds a refresh lease.
    let instanceID = "vault-" + UUID().uuidString.lowercased()
    /// The refresh under way in this process for each connection, with the scopes it asks for.
    var refreshes: [String: (scopeKey: String, task: Task<MintedToken, any Error>)] = [:]
    /// Runs after a provider answered a refresh and before the answer is committed (tests
    /// simulate a crash there).
    var afterProviderResponse: (@Sendable () async throws -> Void)?

    /// Opens the vault over a store.
    ///
    /// A vault with no data keys yet gets its first one (and, when it comes from the data
    /// directory, its master key file).
    ///
    /// - Throws: ``VaultError`` `.badKey` when a master key is present but unusable (malformed,
    ///   or in a file others can read): the caller must not start.
    public static func open(
        store: any VaultStore & ActionStore,
        masterKey source: MasterKey.Source,
        actor: String,
        now: Date = Date(),
        clock: @escaping @Sendable () -> Date = { Date() },
        refreshLease: TimeInterval = 60
    ) async throws -> Vault {
        let keys = try await store.dataKeys()
        let master = try MasterKey.load(from: source, create: keys.isEmpty)
        let vault = Vault(store: store, master: master, clock: clock, refreshLease: refreshLease)
        guard let master else {
            await vault.seal(
                because:
                    "no master key: set $COUNTERSIGN_MASTER_KEY, or restore the key file \(source.file ?? source.defaultFile)"
            )
            return vault
        }
        if keys.isEmpty {
            _ = try await vault.addDataKey(master: master, actor: actor, now: now)
        } else {
            try await vault.reload()
        }
        return vault
    }

    /// Makes a data key, stores it wrapped as the active one, and reloads the ring.
    ///
    /// - Returns: Its id.
    private func addDataKey(master: MasterKey, actor: String, now: Date) async throws -> String {
        let made = try KeyRing.makeDataKey(master: master)
        try await store.addDataKey(
            WrappedDataKey(id: made.id, wrapped: made.wrapped, state: .active, createdAt: now),
            actor: actor,
            now: now
        )
        try await reload()
        return made.id
    }

    private init(
        store: any VaultStore & ActionStore,
        master: MasterKey?,
        clock: @escaping @Sendable () -> Date,
        refreshLease: TimeInterval
    ) {
        self.store = store
        self.master = master
        self.clock = clock
        self.refreshLease = refreshLease
    }

    private func seal(because reason: String) {
        ring = nil
        sealedReason = reason
    }

    /// Reads the data keys again and unwraps them (after another process rotated).
    private func reload() async throws {
        guard let master else { return }
        var keys: [String: SymmetricKey] = [:]
        var active: String?
        for key in try await store.dataKeys() where key.state != .retired {
            guard let wrapped = key.wrapped else { continue }
            do {
                keys[key.id] = try KeyRing.unwrap(wrapped, id: key.id, master: master)
            } catch {
                seal(because: error.description)
                return
            }
            if key.state == .active { active = key.id }
        }
        guard let active else {
            seal(because: "the vault has no active data key; run `countersign vault rotate-key`")
            return
        }
        ring = KeyRing(keys: keys, activeID: active)
        sealedReason = nil
    }

    /// Whether secrets can be used, and if not, why.
    public var status: Status {
        if let ring { return .unsealed(activeKey: ring.activeID, keys: ring.keys.count) }
        return .sealed(reason: sealedReason ?? "the vault is sealed")
    }

    // Untyped throws: Swift 6.3.1's optimizer crashes splitting the async functions that call a
    // synchronous `throws(VaultError)` function (release builds).
    func unsealedRing() throws -> KeyRing {
        guard let ring else { throw VaultError(.sealed, "the vault is sealed: \(sealedReason ?? "no master key")") }
        return ring
    }

    // MARK: Connections

    /// Records a connection made elsewhere (an existing refresh token, for headless set-ups).
    ///
    /// - Throws: ``VaultError`` for an unknown provider, an empty account or token, a connection
    ///   that already exists, or a sealed vault.
    @discardableResult
    public func importConnection(
        provider: String,
        principal: String,
        account: String,
        scopes: [String],
        refreshToken: Secret,
        credential: Connection.Credential = .refreshToken,
        actor: String,
        now: Date = Date()
    ) async throws -> Connection {
        guard Provider.named(provider) != nil else {
            throw VaultError(
                .unknownProvider,
                "unknown provider \"\(provider)\"; known: \(Provider.catalog.map(\.name).joined(separator: ", "))"
            )
        }
        try Self.checkPrincipal(principal)
        guard !account.isEmpty, !account.contains(where: \.isNewline) else {
            throw VaultError(.invalidInput, "the account must be given, on one line")
        }
        let token = refreshToken.reveal().trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, token.utf8.count <= 4096, !token.contains(where: \.isWhitespace) else {
            throw VaultError(.invalidInput, "the refresh token must be one word of at most 4,096 bytes")
        }
        let connection = Connection(
            principal: principal,
            provider: provider,
            account: account,
            scopes: Array(Set(scopes.filter { !$0.isEmpty })).sorted(),
            credential: credential,
            createdAt: now
        )
        try await withCurrentKey { ring throws in
            let sealed = try ring.seal(Array(token.utf8), context: .refreshToken(of: connection))
            try await store.createConnection(connection, refreshToken: sealed, actor: actor)
        }
        return connection
    }

    /// The connections, optionally of one principal.
    ///
    /// Works while sealed: no secret is shown.
    public func connections(principal: String? = nil) async throws -> [Connection] {
        try await store.connections(principal: principal)
    }

    /// Removes a connection and its sealed refresh token.
    ///
    /// - Parameters:
    ///   - id: The connection.
    ///   - providerRevocation: What became of revoking the grant at the provider, recorded with the
    ///     deletion (never reported as success unless it succeeded).
    ///   - actor: Who removes it.
    ///   - now: The time.
    /// - Throws: ``VaultError`` `.connectionNotFound`, or when the store cannot be written.
    public func deleteConnection(id: String, providerRevocation: String, actor: String, now: Date = Date()) async throws
    {
        try await store.deleteConnection(id: id, actor: actor, now: now, providerRevocation: providerRevocation)
    }

    /// A connection, without its secret.
    ///
    /// Works while sealed.
    public func connection(id: String) async throws -> Connection? {
        try await store.connection(id: id)?.connection
    }

    /// A connection's refresh token, opened for Countersign's own use (refreshing, revoking).
    func refreshToken(connectionID: String) async throws -> (connection: Connection, token: Secret) {
        guard let (connection, sealed) = try await store.connection(id: connectionID) else {
            throw VaultError(.connectionNotFound, "no connection \(connectionID)")
        }
        let plaintext = try await ring(opening: sealed.keyID).open(sealed, context: .refreshToken(of: connection))
        return (connection, Secret(String(decoding: plaintext, as: UTF8.self)))
    }

    /// The ring, reloaded first when it lacks `keyID` (another process added a key since it was read).
    func ring(opening keyID: String) async throws -> KeyRing {
        if ring?.keys[keyID] == nil { try await reload() }
        return try unsealedRing()
    }

    /// Runs `body` with the ring; when another process has rotated the key in the meantime (the
    /// store refuses a secret sealed with a key that is no longer active), reloads and runs it again.
    func withCurrentKey(_ body: (KeyRing) async throws -> Void) async throws {
        do {
            try await body(try unsealedRing())
        } catch let error as VaultError where error.code == .staleKey {
            try await reload()
            try await body(try unsealedRing())
        }
    }

    // MARK: Rotation

    /// What a rotation did.
    public struct RotationReport: Sendable, Hashable {
        /// The new active key.
        public var newKey: String
        /// Secrets sealed again with it.
        public var resealed = 0
        /// Secrets that changed while they were being resealed and were resealed by their writer.
        public var changedMeanwhile = 0
        /// Connections (or providers) whose secret could not be opened (altered in the database), left as they were.
        public var unreadable: [String] = []
        /// Keys whose material was destroyed.
        public var retired: [String] = []
    }

    /// Adds a new data key and seals every secret again with it.
    ///
    /// Secrets are resealed in batches and, when asked, the old keys that nothing is sealed with any
    /// more are retired. Secrets stay readable throughout: the old keys stay on the ring until they
    /// are retired.
    ///
    /// - Parameters:
    ///   - retireOld: Whether to destroy the old keys afterwards.
    ///   - batchSize: Secrets read per batch.
    ///   - actor: Who rotates.
    ///   - now: The time.
    ///   - progress: Called after each batch with the secrets done and the total.
    /// - Returns: What was done.
    /// - Throws: ``VaultError`` `.sealed`, or when the store cannot be read or written.
    public func rotateKey(
        retireOld: Bool,
        batchSize: Int = 200,
        actor: String,
        now: Date = Date(),
        progress: @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) async throws -> RotationReport {
        guard let master else { throw VaultError(.sealed, "the vault is sealed: \(sealedReason ?? "no master key")") }
        _ = try unsealedRing()
        let newKey = try await addDataKey(master: master, actor: actor, now: now)
        var report = RotationReport(newKey: newKey)
        let clients = try await store.providerClients()
        let models = try await store.plannerModels()
        let total = try await store.connections(principal: nil).count + clients.count + models.count
        var after: String?
        var done = 0
        while true {
            let batch = try await store.connectionsSealed(notWith: newKey, after: after, limit: max(1, batchSize))
            guard let last = batch.last else { break }
            after = last.connection.id
            for (connection, sealed) in batch {
                done += 1
                let ring = try await ring(opening: sealed.keyID)
                let context = SecretContext.refreshToken(of: connection)
                let plaintext: [UInt8]
                do {
                    plaintext = try ring.open(sealed, context: context)
                } catch {
                    report.unreadable.append(connection.id)
                    continue
                }
                let replacement = try ring.seal(plaintext, context: context)
                if try await store.resealRefreshToken(
                    connectionID: connection.id,
                    expected: sealed,
                    replacement: replacement
                ) {
                    report.resealed += 1
                } else {
                    report.changedMeanwhile += 1
                }
            }
            progress(min(done, total), max(total, done))
        }
        for client in clients where client.clientSecret.keyID != newKey {
            done += 1
            let ring = try await ring(opening: client.clientSecret.keyID)
            let context = SecretContext.clientSecret(of: client.provider, clientID: client.clientID)
            guard let plaintext = try? ring.open(client.clientSecret, context: context) else {
                report.unreadable.append(client.provider)
                continue
            }
            let replacement = try ring.seal(plaintext, context: context)
            if try await store.resealProviderClient(
                provider: client.provider,
                expected: client.clientSecret,
                replacement: replacement
            ) {
                report.resealed += 1
            } else {
                report.changedMeanwhile += 1
            }
        }
        for model in models where model.apiKey.keyID != newKey {
            done += 1
            let ring = try await ring(opening: model.apiKey.keyID)
            let context = SecretContext.plannerKey(of: model.name, api: model.api, url: model.url)
            guard let plaintext = try? ring.open(model.apiKey, context: context) else {
                report.unreadable.append("planner model \(model.name)")
                continue
            }
            let replacement = try ring.seal(plaintext, context: context)
            if try await store.resealPlannerModel(name: model.name, expected: model.apiKey, replacement: replacement) {
                report.resealed += 1
            } else {
                report.changedMeanwhile += 1
            }
        }
        if !clients.isEmpty || !models.isEmpty { progress(min(done, total), max(total, done)) }
        if retireOld {
            report.retired = try await store.retireUnusedDataKeys(actor: actor, now: now)
            ring?.forget(report.retired)
        }
        return report
    }
}
