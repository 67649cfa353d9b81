import Countersign
import CountersignConnectors
import CountersignStore
import CountersignTestSupport
import Foundation
import Synchronization
import Testing

/// Several Countersign instances on one PostgreSQL database: one truth, one audit chain,
/// exactly-once claims, and changes heard across instances.
@Suite("PostgreSQL: several instances")
struct PostgresInstancesTests {
    let fixture: Fixture

    init() throws { fixture = try Fixture() }

    /// Three instances on one fresh database, started together (their migrations race).
    static func instances(_ count: Int = 3, lease: TimeInterval = 300) async throws -> [PostgresStore] {
        let url = try await TestPostgres.freshDatabase()
        return try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<count { group.addTask { try await PostgresStore(url: url, lease: lease) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test("of 100 claims spread over three instances exactly one wins; requests from all three share one chain")
    func claimsAndChain() async throws {
        let stores = try await Self.instances()
        let request = try fixture.medium()
        _ = try await stores[0].create(request)
        let approved = try await stores[1].decide(
            fixture.approval(of: request),
            now: fixture.start.addingTimeInterval(10)
        )
        #expect(approved.state == .approved)
        let now = fixture.start.addingTimeInterval(20)
        let winners = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<100 {
                group.addTask { try await stores[index % 3].claim(id: request.id, now: now) == nil ? 0 : 1 }
            }
            return try await group.reduce(0, +)
        }
        #expect(winners == 1)
        #expect(try await stores[2].fencingNumber(of: request.id) == 1)

        // Appends from every instance at once extend one chain, in one order, that verifies.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<30 {
                group.addTask {
                    let other = try fixture.request(
                        "files.write",
                        ["path": .string("notes/\(index).md"), "content": "x"]
                    )
                    _ = try await stores[index % 3].create(other)
                }
            }
            try await group.waitForAll()
        }
        let verification = try await stores[1].verifyAudit(checkpoints: [], publicKey: nil) { _ in }
        #expect(verification.failure == nil)
        let head = try await stores[0].auditHead()
        #expect(verification.entries == Int(head.size))
        #expect(head.size == Int64(try await stores[2].auditEntries(after: 0, limit: 10_000).count))
        for store in stores { store.close() }
    }

    @Test("100 approve-and-execute attempts spread over three instances: approved once, the connector runs once")
    func executesOnce() async throws {
        let stores = try await Self.instances()
        let workspace = try TemporaryDirectory()
        let executors = try stores.map { store in
            Executor(store: store, connectors: [try FilesConnector(root: workspace.url.path)])
        }
        let request = try fixture.request("files.append", ["path": "ledger.txt", "content": "paid invoice 42\n"])
        #expect(request.state == .pending)
        _ = try await stores[0].create(request)
        let results = try await withThrowingTaskGroup(of: (approved: Bool, executed: Bool).self) { group in
            for index in 0..<100 {
                group.addTask {
                    let store = stores[index % 3]
                    // Each attempt approves (as one of three approvers) and then tries to execute.
                    let approver = ["bob@acme.test", "carl@acme.test", "dora@acme.test"][index % 3]
                    let approved =
                        (try? await store.decide(
                            fixture.approval(of: request, by: approver),
                            now: fixture.start.addingTimeInterval(10)
                        )) != nil
                    let executed = try await executors[index % 3].execute(requestID: request.id)?.state == .executed
                    return (approved, executed)
                }
            }
            return try await group.reduce(into: [(approved: Bool, executed: Bool)]()) { $0.append($1) }
        }
        #expect(results.filter(\.approved).count == 1)
        #expect(results.filter(\.executed).count == 1)
        let ledger = try String(contentsOf: workspace.url.appending(path: "ledger.txt"), encoding: .utf8)
        #expect(ledger == "paid invoice 42\n")
        #expect(try await stores[1].request(id: request.id)?.state == .executed)
        #expect(try await stores[2].fencingNumber(of: request.id) == 1)
        for store in stores { store.close() }
    }

    @Test(
        "a starting instance leaves another's execution alone; past its lease it ends outcome_unknown and the late result is refused"
    )
    func leases() async throws {
        let stores = try await Self.instances(2, lease: 60)
        let request = try fixture.medium()
        _ = try await stores[0].create(request)
        _ = try await stores[0].decide(fixture.approval(of: request), now: fixture.start.addingTimeInterval(10))
        let start = fixture.start.addingTimeInterval(20)
        let claimed = try #require(try await stores[0].claim(id: request.id, now: start))
        // Instance B starts while A executes: A holds the lease, nothing is abandoned.
        #expect(try await stores[1].abandonExecuting(now: start.addingTimeInterval(5)).isEmpty)
        // A renews its lease while its connector runs (B holds no claim, so renews nothing of A's).
        #expect(try await stores[0].renewLease(id: request.id, now: start.addingTimeInterval(30)))
        #expect(try await stores[1].abandonExpiredLeases(now: start.addingTimeInterval(89)).isEmpty)
        #expect(try await stores[0].fencingNumber(of: request.id) == 1)
        // A stalls past its lease: B's sweep ends the execution as outcome_unknown.
        let ended = try await stores[1].abandonExpiredLeases(now: start.addingTimeInterval(91))
        #expect(ended.map(\.id) == [request.id] && ended.first?.state == .outcomeUnknown)
        // A's next renewal fails: it knows it lost the execution.
        #expect(try await stores[0].renewLease(id: request.id, now: start.addingTimeInterval(92)) == false)
        // A wakes up and tries to record its result: refused, the outcome stays unknown.
        await #expect(throws: StoreError.self) {
            _ = try await stores[0].complete(
                claimed: claimed,
                outcome: .executed(["late": true]),
                now: start.addingTimeInterval(93)
            )
        }
        #expect(try await stores[1].request(id: request.id)?.state == .outcomeUnknown)
        let kinds = try await stores[1].auditEntries(forRequest: request.id).map(\.text)
        #expect(kinds.contains { $0.contains(AuditKind.outcomeUnknown) })
        #expect(!kinds.contains { $0.contains(#""kind":"action.executed""#) })
        for store in stores { store.close() }
    }

    @Test("a decision made on one instance is heard by a listener on another within a second")
    func changesAcrossInstances() async throws {
        let stores = try await Self.instances(2)
        let heard = Heard()
        let listener = Task { try await stores[1].listenForChanges { heard.add($0) } }
        defer { listener.cancel() }
        // Until the listener is in place, a probe is not heard: propose probes until one is.
        var listening = false
        for attempt in 0..<50 where !listening {
            let probe = try fixture.request("files.write", ["path": .string("probe-\(attempt).md"), "content": "x"])
            _ = try await stores[0].create(probe)
            listening = await heard.wait(for: probe.id, within: .milliseconds(100))
        }
        #expect(listening)

        let request = try fixture.medium()
        _ = try await stores[0].create(request)
        #expect(await heard.wait(for: request.id, within: .seconds(1)))
        heard.clear()
        let started = ContinuousClock.now
        _ = try await stores[0].decide(fixture.approval(of: request), now: fixture.start.addingTimeInterval(10))
        #expect(await heard.wait(for: request.id, within: .seconds(1)))
        #expect(ContinuousClock.now - started < .seconds(1))
        // The notification is a hint; the other instance reads the truth from the table.
        #expect(try await stores[1].request(id: request.id)?.state == .approved)
        for store in stores { store.close() }
    }
}

/// The request ids a listener heard.
final class Heard: Sendable {
    private let ids = Mutex<[String]>([])

    func add(_ id: String) { ids.withLock { $0.append(id) } }

    func clear() { ids.withLock { $0.removeAll() } }

    /// Whether `id` is heard before `timeout` passes.
    func wait(for id: String, within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if ids.withLock({ $0.contains(id) }) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return ids.withLock { $0.contains(id) }
    }
}
