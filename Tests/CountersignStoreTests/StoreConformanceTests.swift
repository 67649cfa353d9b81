import Countersign
import Foundation
import Testing

/// The behaviour every store backend must have.
///
/// Each test runs once per ``StoreBackend``.
@Suite("Store conformance")
struct StoreConformanceTests {
    let fixture: Fixture

    init() throws {
        fixture = try Fixture()
    }

    @Test("a request round-trips with every field", arguments: StoreBackend.allCases)
    func roundTrip(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let request = try fixture.medium()
        _ = try await store.create(request)
        let read = try #require(try await store.request(id: request.id))
        #expect(read == request)
        #expect(read.isPayloadIntact)
        #expect(read.state == .pending)
        #expect(try await store.request(id: "missing") == nil)
    }

    @Test("the initial state follows the policy decision", arguments: StoreBackend.allCases)
    func initialStates(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        #expect(try await store.create(try fixture.low()).state == .autoApproved)
        #expect(try await store.create(try fixture.medium()).state == .pending)
        let rejected = try await store.create(try fixture.denied())
        #expect(rejected.state == .rejected)
        #expect(rejected.failure == "denied by policy: Running programs as another user is never delegated to an agent")
    }

    @Test(
        "an idempotency key returns the same request for the same action and refuses another",
        arguments: StoreBackend.allCases
    )
    func idempotency(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let first = try await store.create(try fixture.medium(idempotencyKey: "k-1"))
        let again = try await store.create(try fixture.medium(idempotencyKey: "k-1"))
        #expect(again.id == first.id)
        let other = try fixture.request("files.write", ["path": "notes/b.md", "content": "x"], idempotencyKey: "k-1")
        await #expect {
            _ = try await store.create(other)
        } throws: { ($0 as? StoreError)?.isIdempotencyConflict == true }
        let otherAgent = try fixture.request("files.read", ["path": "a"], agent: "someone-else", idempotencyKey: "k-1")
        #expect(try await store.create(otherAgent).id != first.id)
    }

    @Test("pending → approved → executing → executed, with the audit trail", arguments: StoreBackend.allCases)
    func happyPath(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let request = try await store.create(try fixture.medium())
        let approved = try await store.decide(fixture.approval(of: request), now: fixture.start.addingTimeInterval(10))
        #expect(approved.state == .approved)
        let claimed = try #require(try await store.claim(id: request.id, now: fixture.start.addingTimeInterval(11)))
        #expect(claimed.state == .executing)
        let done = try await store.complete(
            id: request.id,
            outcome: .executed(["bytes": 5]),
            now: fixture.start.addingTimeInterval(12)
        )
        #expect(done.state == .executed)
        #expect(try await store.request(id: request.id)?.result == ["bytes": 5])
        let kinds = try await store.auditEntries(forRequest: request.id).map { entry in
            try JSONParser().parse(entry.body)["kind"]?.stringValue ?? ""
        }
        #expect(
            kinds == [
                AuditKind.proposed, AuditKind.assessed, AuditKind.approved, AuditKind.executing, AuditKind.executed,
            ]
        )
        let decisions = try await store.decisions(for: request.id)
        #expect(decisions.count == 1 && decisions[0].digest == request.digest)
    }

    /// Drives a new request into `state` through legal transitions only.
    func request(in state: RequestState, store: any ActionStore) async throws -> ActionRequest {
        let later = fixture.start.addingTimeInterval(10)
        switch state {
        case .pending: return try await store.create(try fixture.medium())
        case .autoApproved: return try await store.create(try fixture.low())
        case .rejected: return try await store.create(try fixture.denied())
        case .approved:
            let request = try await store.create(try fixture.medium())
            return try await store.decide(fixture.approval(of: request), now: later)
        case .denied:
            let request = try await store.create(try fixture.medium())
            return try await store.decide(fixture.denial(of: request), now: later)
        case .expired:
            let request = try await store.create(try fixture.medium())
            let expired = try await store.expire(now: request.expiresAt)
            return try #require(expired.first { $0.id == request.id })
        case .executing:
            let request = try await store.create(try fixture.low())
            return try #require(try await store.claim(id: request.id, now: later))
        case .executed, .failed, .outcomeUnknown:
            let request = try await store.create(try fixture.low())
            _ = try await store.claim(id: request.id, now: later)
            switch state {
            case .executed: return try await store.complete(id: request.id, outcome: .executed(nil), now: later)
            case .failed: return try await store.complete(id: request.id, outcome: .failed("boom"), now: later)
            default: return try #require(try await store.abandonExecuting(now: later).first { $0.id == request.id })
            }
        }
    }

    @Test("completing a claimed request that is no longer executing is refused", arguments: StoreBackend.allCases)
    func completeClaimedAfterAbandon(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let request = try await store.create(try fixture.low())
        let claimed = try #require(try await store.claim(id: request.id, now: fixture.start))
        _ = try await store.abandonExecuting(now: fixture.start.addingTimeInterval(1))
        await #expect(throws: StoreError.self) {
            _ = try await store.complete(
                claimed: claimed,
                outcome: .executed("late"),
                now: fixture.start.addingTimeInterval(2)
            )
        }
        #expect(try await store.request(id: request.id)?.state == .outcomeUnknown)
        let fresh = try await store.create(try fixture.low())
        let running = try #require(try await store.claim(id: fresh.id, now: fixture.start))
        let done = try await store.complete(claimed: running, outcome: .executed(["ok": true]), now: fixture.start)
        #expect(done.state == .executed)
        #expect(try await store.request(id: fresh.id) == done)
    }

    @Test("every transition from a state it does not start from is refused", arguments: StoreBackend.allCases)
    func illegalTransitions(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let later = fixture.start.addingTimeInterval(20)
        for state in RequestState.allCases {
            for transition in RequestTransition.all where !transition.from.contains(state) {
                let request = try await request(in: state, store: store)
                #expect(request.state == state)
                switch transition {
                case .approve, .deny:
                    let decision = transition == .approve ? fixture.approval(of: request) : fixture.denial(of: request)
                    await #expect(throws: ApprovalError.alreadyDecided(state)) {
                        _ = try await store.decide(decision, now: later)
                    }
                case .claim:
                    #expect(try await store.claim(id: request.id, now: later) == nil)
                case .succeed, .fail:
                    await #expect {
                        _ = try await store.complete(
                            id: request.id,
                            outcome: transition == .succeed ? .executed(nil) : .failed("x"),
                            now: later
                        )
                    } throws: { ($0 as? StoreError)?.isIllegalTransition == true }
                case .expire:
                    _ = try await store.expire(now: request.expiresAt.addingTimeInterval(3600))
                case .abandon:
                    _ = try await store.abandonExecuting(now: later)
                default:
                    Issue.record("unhandled transition \(transition)")
                }
                #expect(try await store.request(id: request.id)?.state == state, "\(transition) from \(state)")
            }
        }
    }

    @Test("of many concurrent approvals of one request, exactly one wins", arguments: StoreBackend.allCases)
    func concurrentApprovals(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let request = try await store.create(try fixture.medium())
        let fixture = self.fixture
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<16 {
                group.addTask {
                    let decision = fixture.approval(of: request, by: "approver\(index)@acme.test")
                    return (try? await store.decide(decision, now: fixture.start.addingTimeInterval(10))) != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(try await store.decisions(for: request.id).count == 1)
        #expect(try await store.request(id: request.id)?.state == .approved)
    }

    @Test("of many concurrent claims of one request, exactly one wins", arguments: StoreBackend.allCases)
    func concurrentClaims(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let request = try await store.create(try fixture.low())
        let start = fixture.start
        let claims = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<16 {
                group.addTask { (try? await store.claim(id: request.id, now: start)) != nil }
            }
            return await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(claims == 1)
        let executing = try await store.auditEntries(forRequest: request.id).filter {
            $0.text.contains(AuditKind.executing)
        }
        #expect(executing.count == 1)
    }

    @Test("a decision is bound to the digest the approver saw", arguments: StoreBackend.allCases)
    func digestBinding(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let request = try await store.create(try fixture.medium())
        let other = try fixture.request("files.write", ["path": "notes/a.md", "content": "HELLO"])
        await #expect(throws: ApprovalError.digestMismatch) {
            _ = try await store.decide(fixture.approval(of: request, digest: other.digest), now: fixture.start)
        }
        #expect(try await store.decisions(for: request.id).isEmpty)
        #expect(try await store.request(id: request.id)?.state == .pending)
    }

    @Test("two-approver requests need two distinct people", arguments: StoreBackend.allCases)
    func twoApprovers(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let request = try await store.create(
            try fixture.request("shell.run", ["program": "rm", "arguments": ["-rf", "build"]])
        )
        #expect(request.assessment.requirements.approvals == 2)
        let now = fixture.start.addingTimeInterval(30)
        let first = try await store.decide(
            fixture.approval(of: request, by: "bob@acme.test", method: .totp, at: now),
            now: now
        )
        #expect(first.state == .pending)
        await #expect(throws: ApprovalError.duplicateApprover) {
            _ = try await store.decide(
                fixture.approval(of: request, by: "bob@acme.test", method: .totp, at: now),
                now: now
            )
        }
        let second = try await store.decide(
            fixture.approval(of: request, by: "eve@acme.test", method: .totp, at: now),
            now: now
        )
        #expect(second.state == .approved)
        let kinds = try await store.auditEntries(forRequest: request.id).compactMap {
            try JSONParser().parse($0.body)["kind"]?.stringValue
        }
        #expect(kinds.suffix(2) == [AuditKind.approvalRecorded, AuditKind.approved])
    }

    @Test(
        "step-up, confirmation text, self-approval, expiry and deny reasons are enforced",
        arguments: StoreBackend.allCases
    )
    func approvalRequirements(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let now = fixture.start.addingTimeInterval(30)
        // Critical: step-up needed; a password session or an old TOTP is not enough.
        let critical = try await store.create(try fixture.request("shell.run", ["program": "ls"]))
        await #expect(throws: ApprovalError.stepUpRequired) {
            _ = try await store.decide(fixture.approval(of: critical, method: .password, at: now), now: now)
        }
        let stale = fixture.approval(of: critical, method: .totp, at: now.addingTimeInterval(-3600))
        await #expect(throws: ApprovalError.stepUpRequired) { _ = try await store.decide(stale, now: now) }
        #expect(
            try await store.decide(fixture.approval(of: critical, method: .totp, at: now), now: now).state == .approved
        )

        // High: the target's name must be typed.
        let high = try await store.create(try fixture.request("files.delete", ["paths": ["build"], "recursive": true]))
        await #expect(throws: ApprovalError.confirmationMismatch) {
            _ = try await store.decide(fixture.approval(of: high, at: now, confirmation: "buil"), now: now)
        }
        #expect(
            try await store.decide(fixture.approval(of: high, at: now, confirmation: "build"), now: now).state
                == .approved
        )

        // Self-approval barred by policy for mass deletions.
        let paths = JSONValue.array((0..<25).map { .string("tmp/\($0)") })
        let mass = try await store.create(try fixture.request("files.delete", ["paths": paths]))
        await #expect(throws: ApprovalError.selfApproval) {
            _ = try await store.decide(
                fixture.approval(of: mass, by: "ana@acme.test", method: .totp, at: now),
                now: now
            )
        }

        // Expired requests cannot be decided; a denial needs a reason.
        let medium = try await store.create(try fixture.medium())
        // The principal's word relayed from the agent's client counts only where policy permits it.
        await #expect(throws: ApprovalError.clientApprovalNotPermitted) {
            _ = try await store.decide(
                fixture.approval(of: medium, by: "ana@acme.test", method: .mcpClient, at: now),
                now: now
            )
        }
        await #expect(throws: ApprovalError.expired) {
            _ = try await store.decide(fixture.approval(of: medium, at: medium.expiresAt), now: medium.expiresAt)
        }
        await #expect(throws: ApprovalError.reasonRequired) {
            _ = try await store.decide(fixture.denial(of: medium, reason: "  "), now: now)
        }
        let denied = try await store.decide(fixture.denial(of: medium), now: now)
        #expect(denied.state == .denied && denied.failure?.contains("not today") == true)
    }

    @Test("expiry ends pending requests as expired, never denied", arguments: StoreBackend.allCases)
    func expiry(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let request = try await store.create(try fixture.medium())
        #expect(try await store.expire(now: request.expiresAt.addingTimeInterval(-1)).isEmpty)
        let expired = try await store.expire(now: request.expiresAt)
        #expect(expired.map(\.id) == [request.id])
        #expect(try await store.request(id: request.id)?.state == .expired)
        #expect(try await store.expire(now: request.expiresAt.addingTimeInterval(60)).isEmpty)
    }

    @Test(
        "requests found executing at start-up become outcome_unknown and are never claimed again",
        arguments: StoreBackend.allCases
    )
    func abandon(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let request = try await store.create(try fixture.low())
        _ = try await store.claim(id: request.id, now: fixture.start)
        let abandoned = try await store.abandonExecuting(now: fixture.start)
        #expect(abandoned.map(\.state) == [.outcomeUnknown])
        #expect(try await store.claim(id: request.id, now: fixture.start) == nil)
    }

    @Test("listing filters by state and agent, newest first", arguments: StoreBackend.allCases)
    func listing(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let first = try await store.create(
            try fixture.request("files.write", ["path": "a", "content": ""], now: fixture.start)
        )
        let second = try await store.create(
            try fixture.request("files.write", ["path": "b", "content": ""], now: fixture.start.addingTimeInterval(1))
        )
        _ = try await store.create(try fixture.request("files.read", ["path": "a"], agent: "other"))
        let pending = try await store.requests(RequestQuery(states: [.pending]))
        #expect(pending.map(\.id) == [second.id, first.id])
        #expect(try await store.requests(RequestQuery(agent: "other")).count == 1)
    }

    @Test("the audit log refuses events that could carry a secret", arguments: StoreBackend.allCases)
    func secretsRefused(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let before = try await store.auditHead().size
        await #expect(throws: AuditError.secretInEvent("access_token")) {
            try await store.append(
                AuditEvent(
                    kind: AuditKind.tokenVended,
                    actor: "system",
                    at: fixture.start,
                    data: ["access_token": "gho_x"]
                )
            )
        }
        #expect(try await store.auditHead().size == before)
        // Arguments are recorded with secret-looking members redacted; the digest still binds them.
        let request = try await store.create(
            try fixture.request(
                "http.request",
                ["method": "GET", "url": "https://api.acme.test/x", "headers": ["Authorization": "Bearer canary-123"]]
            )
        )
        let text = try await store.auditEntries(forRequest: request.id).map(\.text).joined()
        #expect(!text.contains("canary-123"))
        #expect(text.contains("<redacted>"))
    }

    @Test("the chain verifies, and verifies again after more appends", arguments: StoreBackend.allCases)
    func verifyIntact(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        for _ in 0..<10 { _ = try await store.create(try fixture.medium()) }
        let result = try await store.verifyAudit(checkpoints: [], publicKey: nil) { _ in }
        #expect(result.isIntact)
        #expect(result.entries == 20)
        #expect(Hex.decode(result.headHash) == (try await store.auditHead().hash))
    }
}
