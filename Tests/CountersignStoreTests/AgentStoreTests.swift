import Countersign
import Foundation
import Testing

@Suite("Agent store conformance")
struct AgentStoreTests {
    let now = Date(timeIntervalSince1970: 1_900_000_000)

    func register(_ name: String, in store: any AgentStore) async throws -> APIKey {
        let key = APIKey.generate()
        try await store.createAgent(
            Agent(name: name, keyID: key.id, keyHash: key.hash, createdAt: now),
            actor: "user:admin"
        )
        return key
    }

    @Test("a key authenticates its agent; a wrong, malformed or revoked key does not", arguments: StoreBackend.allCases)
    func authenticate(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let key = try await register("release-bot", in: store)
        #expect(try await store.authenticate(key: key.secret.reveal())?.name == "release-bot")
        var forged = key.secret.reveal()
        let last = forged.removeLast()
        forged.append(last == "0" ? "1" : "0")
        #expect(try await store.authenticate(key: forged) == nil)
        #expect(try await store.authenticate(key: "csk_nope") == nil)
        #expect(try await store.authenticate(key: "") == nil)
        try await store.revokeAgent(named: "release-bot", actor: "user:admin", now: now)
        #expect(try await store.authenticate(key: key.secret.reveal()) == nil)
        await #expect(throws: AgentError.notFound("release-bot")) {
            try await store.revokeAgent(named: "release-bot", actor: "user:admin", now: now)
        }
    }

    @Test("names are unique among active agents and can be reused after revocation", arguments: StoreBackend.allCases)
    func names(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        _ = try await register("planner", in: store)
        await #expect(throws: AgentError.nameTaken("planner")) { _ = try await register("planner", in: store) }
        await #expect(throws: AgentError.invalidName("Planner Bot")) {
            _ = try await register("Planner Bot", in: store)
        }
        try await store.revokeAgent(named: "planner", actor: "user:admin", now: now)
        let second = try await register("planner", in: store)
        #expect(try await store.authenticate(key: second.secret.reveal())?.name == "planner")
        #expect(try await store.agents().count == 2)
    }

    @Test("the key is never stored or audited in plaintext", arguments: StoreBackend.allCases)
    func keyNeverStored(backend: StoreBackend) async throws {
        let opened = try await backend.open()
        let key = try await register("ci-bot", in: opened.store)
        try await opened.store.revokeAgent(named: "ci-bot", actor: "user:admin", now: now)
        let audit = try await opened.store.auditEntries(after: 0, limit: 10).map(\.text)
        #expect(audit.count == 2 && audit.allSatisfy { $0.contains("agent.changed") })
        let secret = key.secret.reveal()
        #expect(!audit.joined().contains(secret))
        #expect("\(key.secret)" == "<redacted>")
        let secretPart = String(secret.split(separator: "_").last!)
        let stored = try await opened.storedValues()
        #expect(!stored.isEmpty)
        for bytes in stored { #expect(bytes.range(of: Data(secretPart.utf8)) == nil, "the store holds the key") }
    }
}
