public import Foundation

/// Durable storage of action requests, their decisions and the audit log.
///
/// Every method that changes state does it in one transaction together with the audit entries
/// that record it: when the audit entry cannot be written, the change does not happen.
/// Implementations: SQLite (the embedded default); the same conformance suite holds any other.
public protocol ActionStore: Sendable {
    /// Records a new request with its intake events (proposed, assessed, and auto-approved or rejected).
    ///
    /// When the request carries an idempotency key that its agent already used, returns the
    /// existing request if the digests match and throws ``StoreError/idempotencyConflict`` otherwise.
    func create(_ request: ActionRequest) async throws -> ActionRequest

    /// Records a new auto-approved request and claims it for execution in the same transaction.
    ///
    /// - Returns: The request, `executing` and claimed by the caller, or, for a reused idempotency
    ///   key, the existing request and `claimed: false`.
    func createClaimed(_ request: ActionRequest, now: Date) async throws -> (request: ActionRequest, claimed: Bool)

    /// The request with this identifier.
    func request(id: String) async throws -> ActionRequest?

    /// Requests matching a query, newest first.
    func requests(_ query: RequestQuery) async throws -> [ActionRequest]

    /// The decisions recorded for a request, oldest first.
    func decisions(for requestID: String) async throws -> [Decision]

    /// Records a human decision, bound to the digest the approver saw.
    ///
    /// - Returns: The request after the decision (still `pending` while more approvals are needed).
    /// - Throws: ``ApprovalError`` when the decision cannot be accepted.
    func decide(_ decision: Decision, now: Date) async throws -> ActionRequest

    /// Replaces a pending request's action with an approver's edit, atomically: only while it is
    /// pending, unexpired, intact, still at the digest the editor saw, and without approvals yet.
    ///
    /// - Returns: The request as edited.
    /// - Throws: ``ApprovalError`` when the edit cannot be accepted.
    func edit(_ edit: RequestEdit, now: Date) async throws -> ActionRequest

    /// The approver's edit of a request, if it was edited.
    func edit(of requestID: String) async throws -> RequestEdit?

    /// Adds the facts a connector looked up to a pending request's assessment (which can only
    /// raise its level), while nobody has decided it yet; audited as `action.blast_radius`.
    ///
    /// - Returns: The request as re-assessed, or `nil` when it is no longer pending and undecided.
    func addBlastRadius(
        id: String,
        assessment: Assessment,
        facts: [RiskReason],
        now: Date
    ) async throws -> ActionRequest?

    /// Claims an approved or auto-approved request for execution, exactly once.
    ///
    /// - Returns: The request, now `executing`, or `nil` when it was not claimable (someone else
    ///   claimed it, or it is in another state).
    func claim(id: String, now: Date) async throws -> ActionRequest?

    /// Records the end of an execution.
    func complete(id: String, outcome: ExecutionOutcome, now: Date) async throws -> ActionRequest

    /// Records the end of the execution of a request the caller claimed (and holds as claimed), without
    /// reading it again; the transition still applies only if the request is `executing`.
    func complete(claimed: ActionRequest, outcome: ExecutionOutcome, now: Date) async throws -> ActionRequest

    /// Moves a pending request's expiry later, recording `action.extended`.
    ///
    /// - Throws: ``ApprovalError`` when the request is not pending or has already expired, and
    ///   ``ApprovalError/invalidExtension`` when `until` is not later than the current expiry.
    func extend(id: String, until: Date, actor: String, now: Date) async throws -> ActionRequest

    /// Ends every pending request whose time is up as `expired`.
    func expire(now: Date) async throws -> [ActionRequest]

    /// Marks every request still `executing` as `outcome_unknown` (call once at start-up).
    ///
    /// A store shared by several instances marks only executions whose lease has run out (another
    /// instance may be executing the others right now).
    func abandonExecuting(now: Date) async throws -> [ActionRequest]

    /// Marks as `outcome_unknown` the executions whose lease has run out (their worker stalled or
    /// its instance died); a late result from such a worker is refused. Called periodically.
    ///
    /// A store used by one process has no leases: its executions end only with the process.
    func abandonExpiredLeases(now: Date) async throws -> [ActionRequest]

    /// How long a claim holds an execution before another instance may end it, when the store is
    /// shared by several instances; `nil` when it has no leases.
    var executionLease: TimeInterval? { get }

    /// Holds a claimed execution for another lease, while its connector still runs.
    ///
    /// - Returns: Whether the lease was renewed; `false` when the request is no longer executing
    ///   (its lease ran out and another instance ended it): its result will be refused.
    func renewLease(id: String, now: Date) async throws -> Bool
}

extension ActionStore {
    /// No leases: nothing to abandon while the process runs.
    public func abandonExpiredLeases(now: Date) async throws -> [ActionRequest] { [] }

    /// No leases.
    public var executionLease: TimeInterval? { nil }

    /// No leases: an execution is held until it ends.
    public func renewLease(id: String, now: Date) async throws -> Bool { true }
}

extension ActionStore {
    public func createClaimed(
        _ request: ActionRequest,
        now: Date
    ) async throws -> (
        request: ActionRequest, claimed: Bool
    ) {
        let stored = try await create(request)
        guard stored.id == request.id, let claimed = try await claim(id: stored.id, now: now) else {
            return (stored, false)
        }
        return (claimed, true)
    }

    public func complete(claimed: ActionRequest, outcome: ExecutionOutcome, now: Date) async throws -> ActionRequest {
        try await complete(id: claimed.id, outcome: outcome, now: now)
    }
}

/// The end of an execution.
public enum ExecutionOutcome: Sendable, Hashable {
    /// The connector succeeded with this result.
    case executed(JSONValue)
    /// The connector failed, or the request was refused at execution, for this reason.
    case failed(String)
}

/// Which requests to list.
public struct RequestQuery: Sendable, Hashable {
    /// Only requests in these states (all when empty).
    public var states: Set<RequestState>
    /// Only requests from this agent.
    public var agent: String?
    /// At most this many.
    public var limit: Int

    /// Creates a query.
    public init(states: Set<RequestState> = [], agent: String? = nil, limit: Int = 100) {
        self.states = states
        self.agent = agent
        self.limit = limit
    }
}

/// The tamper-evident audit log.
public protocol AuditStore: Sendable {
    /// Appends an event that is not part of a request's state change (policy, users, agents, keys).
    @discardableResult
    func append(_ event: AuditEvent) async throws -> AuditEntry

    /// The number of entries and the last entry's hash.
    func auditHead() async throws -> (size: Int64, hash: [UInt8])

    /// Entries with sequence numbers greater than `sequence`, oldest first.
    func auditEntries(after sequence: Int64, limit: Int) async throws -> [AuditEntry]

    /// The entries for one request, oldest first.
    func auditEntries(forRequest requestID: String) async throws -> [AuditEntry]

    /// Verifies the whole chain against the given checkpoints.
    ///
    /// - Parameters:
    ///   - checkpoints: Signed checkpoints the log must still match.
    ///   - publicKey: The key the checkpoints must be signed with.
    ///   - progress: Called with the number of entries checked so far, every 100,000 entries.
    /// - Returns: How many entries were checked and the first problem, if any.
    /// - Throws: When the log cannot be read.
    func verifyAudit(
        checkpoints: [AuditCheckpoint],
        publicKey: [UInt8]?,
        progress: @escaping @Sendable (Int64) -> Void
    ) async throws -> AuditVerification
}

/// A storage operation that cannot be done.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable {
        case notFound, idempotencyConflict, illegalTransition, corrupt, unavailable
    }
    private let base: Base
    private let detail: String

    /// No such request.
    public static func notFound(_ id: String) -> Self { Self(base: .notFound, detail: id) }
    /// The idempotency key was already used for a different action.
    public static func idempotencyConflict(_ key: String) -> Self { Self(base: .idempotencyConflict, detail: key) }
    /// The request is not in a state the transition starts from.
    public static func illegalTransition(_ transition: RequestTransition, from state: RequestState) -> Self {
        Self(base: .illegalTransition, detail: "cannot \(transition.name) a request that is \(state.rawValue)")
    }
    /// Stored data could not be read back.
    public static func corrupt(_ detail: String) -> Self { Self(base: .corrupt, detail: detail) }
    /// The database cannot be used: a malformed address, unreachable, or refusing (never holding a
    /// password).
    public static func unavailable(_ detail: String) -> Self { Self(base: .unavailable, detail: detail) }

    /// Whether this is an idempotency conflict.
    public var isIdempotencyConflict: Bool { base == .idempotencyConflict }
    /// Whether this is an illegal transition.
    public var isIllegalTransition: Bool { base == .illegalTransition }
    /// Whether the database could not be used (unreachable, refusing, no connection in time).
    public var isUnavailable: Bool { base == .unavailable }

    public var description: String {
        switch base {
        case .notFound: "no request with id \(detail)"
        case .idempotencyConflict:
            "idempotency key \"\(detail)\" was already used for a different action; use a new key"
        case .illegalTransition: detail
        case .corrupt: "stored data is corrupt: \(detail)"
        case .unavailable: "the database cannot be used: \(detail)"
        }
    }
}
