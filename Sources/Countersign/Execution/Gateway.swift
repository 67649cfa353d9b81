public import Foundation

/// The intake of every proposed action: validate, assess, record, and execute what policy allows.
public struct Gateway: Sendable {
    /// The operations on offer.
    public let catalog: OperationCatalog
    private let policy: Policy
    private let store: any ActionStore
    private let executor: Executor
    private let now: @Sendable () -> Date

    /// Creates a gateway.
    public init(
        catalog: OperationCatalog,
        policy: Policy,
        store: any ActionStore,
        executor: Executor,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.catalog = catalog
        self.policy = policy
        self.store = store
        self.executor = executor
        self.now = now
    }

    /// Proposes an action on behalf of an agent.
    ///
    /// - Parameters:
    ///   - action: The action.
    ///   - agentReason: The agent's own words about why; shown as the agent's, never as the impact.
    ///   - idempotencyKey: Makes a retried proposal return the same request.
    ///   - runID: The agent run the action belongs to.
    ///   - signals: Context that may raise the level (for example, an earlier untrusted read).
    /// - Returns: The request: executed (or failed) when policy allowed it, pending when it waits for
    ///   a human, rejected when policy denied it.
    /// - Throws: ``ActionError`` for an unknown operation or invalid arguments, ``StoreError`` for a
    ///   reused idempotency key.
    public func propose(
        _ action: ProposedAction,
        agentReason: String? = nil,
        idempotencyKey: String? = nil,
        runID: String? = nil,
        signals: [RiskReason] = []
    ) async throws -> ActionRequest {
        let descriptor = try catalog.validate(action)
        let request = ActionRequest.intake(
            action,
            operation: descriptor,
            assessment: policy.assess(action, operation: descriptor, signals: signals),
            agentReason: agentReason,
            idempotencyKey: idempotencyKey,
            runID: runID,
            now: now()
        )
        guard request.state == .autoApproved else { return try await store.create(request) }
        // Recorded and claimed in one commit: an allowed action costs one durable write before it runs.
        let (stored, claimed) = try await store.createClaimed(request, now: now())
        if claimed { return try await executor.run(claimed: stored) }
        guard stored.state == .autoApproved else { return stored }
        if let executed = try await executor.execute(requestID: stored.id) { return executed }
        // Another executor claimed it first (a retried proposal with the same idempotency key).
        return try await store.request(id: stored.id) ?? stored
    }
}
