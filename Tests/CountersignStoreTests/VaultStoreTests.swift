import Countersign
import CountersignVault
import Foundation
import Testing

/// The vault's storage, the same on both backends: data keys, connections, provider clients, the
/// access-token cache, refresh leases, connect flows and the vend record.
@Suite("Vault store")
struct VaultStoreTests {
    let now = Date(timeIntervalSince1970: 1_900_000_000)

    func key(_ n: Int, at offset: TimeInterval = 0) -> WrappedDataKey {
        WrappedDataKey(
            id: "dk_" + String(format: "%016x", n),
            wrapped: Array(repeating: UInt8(n), count: 60),
            state: .active,
            createdAt: now.addingTimeInterval(offset)
        )
    }

    func sealed(_ key: WrappedDataKey, _ byte: UInt8) -> SealedSecret {
        SealedSecret(keyID: key.id, bytes: Array(repeating: byte, count: 40))
    }

    func connection(_ principal: String = "ana@acme.test", account: String = "ana") -> Connection {
        Connection(principal: principal, provider: "github", account: account, scopes: ["repo"], createdAt: now)
    }

    @Test(
        "data keys rotate: one active, old ones retired only once nothing is sealed with them",
        arguments: StoreBackend.allCases
    )
    func dataKeys(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let first = key(1)
        let second = key(2, at: 1)
        try await store.addDataKey(first, actor: "test", now: now)
        let made = connection()
        try await store.createConnection(made, refreshToken: sealed(first, 7), actor: "test")
        try await store.addDataKey(second, actor: "test", now: now)
        #expect(try await store.dataKeys().map(\.state) == [.decryptOnly, .active])
        // Sealed with the old key: refused, so the vault seals again with the new one.
        let stale = await #expect(throws: VaultError.self) {
            try await store.createConnection(
                self.connection(account: "other"),
                refreshToken: self.sealed(first, 8),
                actor: "test"
            )
        }
        #expect(stale?.code == .staleKey)
        #expect(try await store.retireUnusedDataKeys(actor: "test", now: now) == [])
        #expect(
            try await store.resealRefreshToken(
                connectionID: made.id,
                expected: sealed(second, 9),
                replacement: sealed(second, 9)
            ) == false
        )
        #expect(
            try await store.resealRefreshToken(
                connectionID: made.id,
                expected: sealed(first, 7),
                replacement: sealed(second, 9)
            )
        )
        #expect(try await store.connection(id: made.id)?.refreshToken == sealed(second, 9))
        #expect(try await store.retireUnusedDataKeys(actor: "test", now: now) == [first.id])
        let keys = try await store.dataKeys()
        #expect(keys.map(\.state) == [.retired, .active])
        #expect(keys[0].wrapped == nil)
        let kinds = try await store.auditEntries(after: 0, limit: 100).map { String(decoding: $0.body, as: UTF8.self) }
        #expect(kinds.filter { $0.contains(AuditKind.vaultKeyChanged) }.count == 3)
        #expect(try await store.verifyAudit(checkpoints: [], publicKey: nil) { _ in }.isIntact)
    }

    @Test("connections: one per account, listed, replaced and deleted with the audit", arguments: StoreBackend.allCases)
    func connections(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let active = key(1)
        try await store.addDataKey(active, actor: "test", now: now)
        let ana = connection()
        try await store.createConnection(ana, refreshToken: sealed(active, 1), actor: "test")
        try await store.createConnection(
            connection("bo@acme.test", account: "bo"),
            refreshToken: sealed(active, 2),
            actor: "test"
        )
        let again = await #expect(throws: VaultError.self) {
            try await store.createConnection(self.connection(), refreshToken: self.sealed(active, 3), actor: "test")
        }
        #expect(again?.code == .connectionExists)
        #expect(try await store.connections(principal: nil).map(\.principal) == ["ana@acme.test", "bo@acme.test"])
        #expect(try await store.connections(principal: "ana@acme.test") == [ana])
        let sealedWithOthers = try await store.connectionsSealed(notWith: "dk_ffffffffffffffff", after: nil, limit: 1)
        #expect(sealedWithOthers.count == 1)
        let rest = try await store.connectionsSealed(
            notWith: "dk_ffffffffffffffff",
            after: sealedWithOthers[0].connection.id,
            limit: 10
        )
        #expect(rest.count == 1 && rest[0].connection.id != sealedWithOthers[0].connection.id)

        let reconnected = Connection(
            id: ana.id,
            principal: ana.principal,
            provider: ana.provider,
            account: ana.account,
            scopes: ["repo", "delete_repo"],
            createdAt: now,
            updatedAt: now.addingTimeInterval(5)
        )
        try await store.replaceConnection(reconnected, refreshToken: sealed(active, 4), actor: "test")
        #expect(try await store.connection(id: ana.id)?.connection.scopes == ["repo", "delete_repo"])
        try await store.deleteConnection(id: ana.id, actor: "test", now: now, providerRevocation: "revoked")
        #expect(try await store.connection(id: ana.id) == nil)
        let missing = await #expect(throws: VaultError.self) {
            try await store.deleteConnection(id: ana.id, actor: "test", now: self.now, providerRevocation: "revoked")
        }
        #expect(missing?.code == .connectionNotFound)
        let audit = try await store.auditEntries(after: 0, limit: 100).map { String(decoding: $0.body, as: UTF8.self) }
        #expect(audit.contains { $0.contains("\"reconnected\"") })
        #expect(audit.contains { $0.contains("\"providerRevocation\":\"revoked\"") })
    }

    @Test("provider clients: set, replaced, resealed only if unchanged", arguments: StoreBackend.allCases)
    func providerClients(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let active = key(1)
        try await store.addDataKey(active, actor: "test", now: now)
        let record = ProviderClientRecord(
            provider: "github",
            clientID: "Iv1.abc",
            clientSecret: sealed(active, 5),
            redirectURI: "http://127.0.0.1:8787/connect/callback",
            settings: ["token": "https://github.com/login/oauth/access_token"],
            updatedAt: now
        )
        try await store.setProviderClient(record, actor: "test")
        #expect(try await store.providerClient("github") == record)
        #expect(try await store.providerClient("slack") == nil)
        #expect(
            try await store.resealProviderClient(
                provider: "github",
                expected: sealed(active, 6),
                replacement: sealed(active, 7)
            ) == false
        )
        #expect(
            try await store.resealProviderClient(
                provider: "github",
                expected: sealed(active, 5),
                replacement: sealed(active, 7)
            )
        )
        #expect(try await store.providerClients().map(\.clientSecret) == [sealed(active, 7)])
        let audit = try await store.auditEntries(after: 0, limit: 100).map { String(decoding: $0.body, as: UTF8.self) }
        #expect(audit.contains { $0.contains("\"tokenEndpoint\"") })
    }

    @Test(
        "a refresh lease: one holder at a time, the cache filled, re-consent marked",
        arguments: StoreBackend.allCases
    )
    func refreshLease(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let active = key(1)
        try await store.addDataKey(active, actor: "test", now: now)
        let made = connection()
        try await store.createConnection(made, refreshToken: sealed(active, 1), actor: "test")
        // Twenty claimants at once (on PostgreSQL, over the pool's connections): one holds the lease.
        let claims = try await withThrowingTaskGroup(of: Bool.self) { group in
            for n in 0..<20 {
                group.addTask {
                    if case .claimed = try await store.claimRefresh(
                        connectionID: made.id,
                        owner: "owner-\(n)",
                        until: self.now.addingTimeInterval(60),
                        now: self.now
                    ) {
                        return true
                    }
                    return false
                }
            }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(claims == 1)
        // After the lease ran out another may take it.
        guard
            case .claimed = try await store.claimRefresh(
                connectionID: made.id,
                owner: "late",
                until: now.addingTimeInterval(200),
                now: now.addingTimeInterval(61)
            )
        else {
            Issue.record("an expired lease was not taken over")
            return
        }
        let cache = CachedAccessToken(
            connectionID: made.id,
            scopeKey: "repo",
            token: sealed(active, 2),
            grantedScopes: ["repo"],
            expiresAt: now.addingTimeInterval(3600)
        )
        try await store.finishRefresh(
            connectionID: made.id,
            owner: "late",
            refreshToken: sealed(active, 3),
            cache: cache,
            actor: "test",
            now: now
        )
        #expect(try await store.cachedAccessToken(connectionID: made.id, scopeKey: "repo") == cache)
        #expect(try await store.connection(id: made.id)?.refreshToken == sealed(active, 3))
        guard
            case .claimed = try await store.claimRefresh(
                connectionID: made.id,
                owner: "next",
                until: now.addingTimeInterval(60),
                now: now
            )
        else {
            Issue.record("a finished refresh still held the lease")
            return
        }
        try await store.abandonRefresh(
            connectionID: made.id,
            owner: "next",
            needsReconsent: "invalid_grant",
            actor: "test",
            now: now
        )
        #expect(try await store.connection(id: made.id)?.connection.status == .needsReconsent)
        #expect(try await store.cachedAccessToken(connectionID: made.id, scopeKey: "repo") == nil)
        let refused = await #expect(throws: VaultError.self) {
            _ = try await store.claimRefresh(connectionID: made.id, owner: "x", until: self.now, now: self.now)
        }
        #expect(refused?.code == .needsReconsent)
    }

    func flow(_ letter: Character) -> ConnectFlow {
        ConnectFlow(
            id: "flow_" + String(repeating: letter, count: 24),
            provider: "github",
            principal: "ana@acme.test",
            scopes: ["repo"],
            actor: "ana@acme.test",
            createdAt: now,
            expiresAt: now.addingTimeInterval(600)
        )
    }

    @Test("a connect flow opens once, in one browser, and finishes once", arguments: StoreBackend.allCases)
    func connectFlows(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let active = key(1)
        try await store.addDataKey(active, actor: "test", now: now)
        let startKey = Array(repeating: UInt8(1), count: 32)
        let state = Array(repeating: UInt8(2), count: 32)
        let binder = Array(repeating: UInt8(3), count: 32)
        let flow = self.flow("a")
        try await store.createConnectFlow(flow, startKeyHash: startKey)
        let wrongKey = Array(repeating: UInt8(9), count: 32)
        #expect(
            try await store.openConnectFlow(
                id: flow.id,
                startKeyHash: wrongKey,
                stateHash: state,
                binderHash: binder,
                verifier: sealed(active, 4),
                now: now
            ) == nil
        )
        #expect(
            try await store.openConnectFlow(
                id: flow.id,
                startKeyHash: startKey,
                stateHash: state,
                binderHash: binder,
                verifier: sealed(active, 4),
                now: now
            )?.id == flow.id
        )
        #expect(
            try await store.openConnectFlow(
                id: flow.id,
                startKeyHash: startKey,
                stateHash: state,
                binderHash: binder,
                verifier: sealed(active, 4),
                now: now
            ) == nil
        )
        // Another browser's callback ends the flow without finishing it.
        #expect(try await store.finishConnectFlow(stateHash: state, binderHash: wrongKey, now: now) == nil)
        #expect(try await store.finishConnectFlow(stateHash: state, binderHash: binder, now: now) == nil)

        let second = self.flow("b")
        let secondState = Array(repeating: UInt8(5), count: 32)
        try await store.createConnectFlow(second, startKeyHash: startKey)
        _ = try await store.openConnectFlow(
            id: second.id,
            startKeyHash: startKey,
            stateHash: secondState,
            binderHash: binder,
            verifier: sealed(active, 6),
            now: now
        )
        let finished = try await store.finishConnectFlow(stateHash: secondState, binderHash: binder, now: now)
        #expect(finished?.verifier == sealed(active, 6))
        #expect(finished?.scopes == ["repo"])
    }

    @Test(
        "a vend is recorded only while the request is in the state and digest it was vended for",
        arguments: StoreBackend.allCases
    )
    func recordVend(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let fixture = try Fixture()
        let request = try await store.create(try fixture.medium())
        let event = AuditEvent(
            kind: "token.vended",
            actor: "vault",
            requestID: request.id,
            at: now,
            data: ["purpose": "lookup"]
        )
        let before = try await store.auditEntries(forRequest: request.id).count
        #expect(
            try await store.recordVend(requestID: request.id, digest: request.digest, state: .pending, event: event)
        )
        #expect(
            try await store.recordVend(requestID: request.id, digest: request.digest, state: .executing, event: event)
                == false
        )
        let other = try fixture.low().digest
        #expect(
            try await store.recordVend(requestID: request.id, digest: other, state: .pending, event: event) == false
        )
        #expect(
            try await store.recordVend(requestID: "missing", digest: request.digest, state: .pending, event: event)
                == false
        )
        #expect(try await store.auditEntries(forRequest: request.id).count == before + 1)
    }

    @Test(
        "two vaults on one database share the data key and survive each other's rotation",
        arguments: StoreBackend.allCases
    )
    func twoVaults(backend: StoreBackend) async throws {
        let opened = try await backend.open()
        let keyFile = opened.directory.path("vault.key")
        let source = MasterKey.Source(environment: nil, file: nil, defaultFile: keyFile)
        let first = try await Vault.open(store: opened.store, masterKey: source, actor: "first")
        let second = try await Vault.open(store: opened.store, masterKey: source, actor: "second")
        #expect(try await opened.store.dataKeys().count == 1)
        let before = try await second.importConnection(
            provider: "github",
            principal: "ana@acme.test",
            account: "ana",
            scopes: ["repo"],
            refreshToken: Secret("ghr_canary_before_rotation"),
            actor: "test"
        )
        _ = try await first.rotateKey(retireOld: false, actor: "first")
        // The second vault still holds the old key as its active one: the store refuses what it
        // seals with it, and the vault reloads its keys and seals again.
        let after = try await second.importConnection(
            provider: "github",
            principal: "bo@acme.test",
            account: "bo",
            scopes: ["repo"],
            refreshToken: Secret("ghr_canary_after_rotation"),
            actor: "test"
        )
        let active = try #require(try await opened.store.dataKeys().last)
        #expect(active.state == .active)
        #expect(try await opened.store.connection(id: after.id)?.refreshToken.keyID == active.id)
        #expect(try await opened.store.connection(id: before.id)?.refreshToken.keyID == active.id)
        let stored = try await opened.storedValues()
        for canary in ["ghr_canary_before_rotation", "ghr_canary_after_rotation"] {
            #expect(!stored.contains { $0.range(of: Data(canary.utf8)) != nil })
        }
    }

    @Test(
        "planner models: set over the active key only, replaced, resealed by compare and swap, removed",
        arguments: StoreBackend.allCases
    )
    func plannerModels(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let first = key(1)
        try await store.addDataKey(first, actor: "test", now: now)
        func record(_ model: String, _ secret: SealedSecret) -> PlannerModelRecord {
            PlannerModelRecord(
                name: "claude",
                api: "anthropic",
                url: "https://api.anthropic.com",
                model: model,
                apiKey: secret,
                updatedAt: now
            )
        }
        try await store.setPlannerModel(record("claude-haiku-4-5", sealed(first, 1)), actor: "test")
        try await store.setPlannerModel(record("claude-sonnet-4-5", sealed(first, 2)), actor: "test")
        #expect(try await store.plannerModels() == [record("claude-sonnet-4-5", sealed(first, 2))])
        let second = key(2, at: 1)
        try await store.addDataKey(second, actor: "test", now: now)
        let stale = await #expect(throws: VaultError.self) {
            try await store.setPlannerModel(record("claude-sonnet-4-5", self.sealed(first, 3)), actor: "test")
        }
        #expect(stale?.code == .staleKey)
        // The old key is in use until the model's key is resealed.
        #expect(try await store.retireUnusedDataKeys(actor: "test", now: now) == [])
        #expect(
            try await store.resealPlannerModel(
                name: "claude",
                expected: sealed(first, 9),
                replacement: sealed(second, 4)
            )
                == false
        )
        #expect(
            try await store.resealPlannerModel(
                name: "claude",
                expected: sealed(first, 2),
                replacement: sealed(second, 4)
            )
        )
        #expect(try await store.plannerModel("claude")?.apiKey == sealed(second, 4))
        #expect(try await store.retireUnusedDataKeys(actor: "test", now: now) == [first.id])
        #expect(try await store.removePlannerModel("claude", actor: "test", now: now))
        #expect(try await store.plannerModel("claude") == nil)
        #expect(try await store.removePlannerModel("claude", actor: "test", now: now) == false)
    }
}
