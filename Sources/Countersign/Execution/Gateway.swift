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
    ///   - whenPublishedOutside: Context that raises the level only if the action publishes where
    ///     people outside the principal's organisation read it (a public repository, a channel
    ///     shared with other organisations): given the audience in words, the reason. The audience
    ///     is looked up before the action is assessed; when it cannot be, the reason applies (fail
    ///     closed).
    /// - Returns: The request: executed (or failed) when policy allowed it, pending when it waits for
    ///   a human, rejected when policy denied it.
    /// - Throws: ``ActionError`` for an unknown operation or invalid arguments, ``StoreError`` for a
    ///   reused idempotency key.
    public func propose(
        _ action: ProposedAction,
        agentReason: String? = nil,
        idempotencyKey: String? = nil,
        runID: String? = nil,
        signals: [RiskReason] = [],
        whenPublishedOutside: (@Sendable (String) -> RiskReason)? = nil
    ) async throws -> ActionRequest {
        let descriptor = try catalog.validate(action)
        let id = RequestID.make(now: now())
        var signals = signals
        if let whenPublishedOutside, let outside = await publishedOutside(action, requestID: id) {
            signals.append(whenPublishedOutside(outside))
        }
        let request = ActionRequest.intake(
            id: id,
            action,
            operation: descriptor,
            assessment: policy.assess(action, operation: descriptor, signals: signals),
            agentReason: agentReason,
            idempotencyKey: idempotencyKey,
            runID: runID,
            now: now()
        )
        guard request.state == .autoApproved else {
            let stored = try await store.create(request)
            // A retried proposal (same idempotency key) returns the request as it is.
            guard stored.state == .pending, stored.id == request.id else { return stored }
            return try await lookUpBlastRadius(stored, operation: descriptor, signals: signals)
        }
        // Recorded and claimed in one commit: an allowed action costs one durable write before it runs.
        let (stored, claimed) = try await store.createClaimed(request, now: now())
        if claimed { return try await executor.run(claimed: stored) }
        guard stored.state == .autoApproved else { return stored }
        if let executed = try await executor.execute(requestID: stored.id) { return executed }
        // Another executor claimed it first (a retried proposal with the same idempotency key).
        return try await store.request(id: stored.id) ?? stored
    }

    /// Edits a pending request's arguments for an approver: validates them against the operation's
    /// schema, assesses the edited action again (never below the level the request had, and a
    /// policy denial refuses the edit), and records it with its new digest.
    ///
    /// - Parameters:
    ///   - request: The request as the approver saw it.
    ///   - arguments: The edited arguments.
    ///   - editor: The approver.
    /// - Returns: The edited request, waiting for approval of its new digest.
    /// - Throws: ``ActionError`` for arguments the schema refuses or an edit policy denies;
    ///   ``ApprovalError`` when the request can no longer be edited.
    public func edit(_ request: ActionRequest, arguments: JSONValue, editor: String) async throws -> ActionRequest {
        let action = ProposedAction(
            operation: request.action.operation,
            arguments: arguments,
            principal: request.action.principal,
            agent: request.action.agent
        )
        let descriptor = try catalog.validate(action)
        let level = request.assessment.level
        var assessment = policy.assess(
            action,
            operation: descriptor,
            signals: [
                RiskReason(
                    source: .policy,
                    name: "edited",
                    level: level,
                    text: "edited by \(editor) from a request rated \(level.title); an edit never lowers the level"
                )
            ]
        )
        if assessment.decision == .deny {
            throw ActionError.deniedEdit(assessment.denial ?? "policy denies the edited action")
        }
        // It waits for a human whatever a rule would allow: it is already in front of one.
        assessment.decision = .ask
        assessment.requirements.approvals = max(1, assessment.requirements.approvals)
        let edit = RequestEdit(
            requestID: request.id,
            editor: editor,
            editedAt: now(),
            originalDigest: request.digest,
            originalArguments: request.action.arguments,
            action: action,
            assessment: assessment,
            impact: descriptor.impact(of: arguments),
            changed: RequestEdit.changes(from: request.action.arguments, to: arguments)
        )
        return try await store.edit(edit, now: now())
    }

    /// How long the look-ups of one request may take before it is shown without them.
    static let lookupTimeout: Duration = .seconds(5)

    /// Where an action publishes, in words, when people outside the principal's organisation read
    /// it there, or when that cannot be looked up; `nil` when only the organisation does, or the
    /// action publishes nothing.
    func publishedOutside(_ action: ProposedAction, requestID: String) async -> String? {
        guard let connector = executor.connector(for: action.operation),
            connector.publishingOperations.contains(action.operation.name)
        else { return nil }
        let context = LookupContext(requestID: requestID, principal: action.principal, tokens: executor.tokenVending)
        switch await connector.lookUpAudience(
            action.operation,
            arguments: action.arguments,
            context: context,
            within: Self.lookupTimeout
        ) {
        case .success(.organisation): return nil
        case .success(.outside(let words)): return words
        case .failure(let error): return "who reads it could not be looked up (\(error)), so it is taken to be public"
        case nil: return "who reads it could not be looked up in time, so it is taken to be public"
        }
    }

    /// Runs the connector's read-only look-ups for a pending request and adds their facts.
    ///
    /// Facts can raise its level, never lower it. A failed look-up is stated and the request keeps
    /// its level; a level at which policy denies ends the request as denied by policy.
    func lookUpBlastRadius(
        _ request: ActionRequest,
        operation: OperationDescriptor,
        signals: [RiskReason]
    ) async throws -> ActionRequest {
        guard let connector = executor.connector(for: request.action.operation),
            connector.lookupOperations.contains(request.action.operation.name)
        else { return request }
        let context = LookupContext(
            requestID: request.id,
            principal: request.action.principal,
            tokens: executor.tokenVending
        )
        let facts: [RiskReason]
        switch await connector.lookUp(
            request.action.operation,
            arguments: request.action.arguments,
            context: context,
            within: Self.lookupTimeout
        ) {
        case .success(let found): facts = found
        case .failure(let error):
            facts = [
                RiskReason(
                    source: .blastRadius,
                    name: "lookup_failed",
                    level: .low,
                    text: "the look-up at the provider failed (\(error)); the request keeps its level without its facts"
                )
            ]
        case nil:
            facts = [
                RiskReason(
                    source: .blastRadius,
                    name: "lookup_timeout",
                    level: .low,
                    text: "the look-up at the provider took too long; the request keeps its level without its facts"
                )
            ]
        }
        guard !facts.isEmpty else { return request }
        var assessment = policy.assess(request.action, operation: operation, signals: signals + facts)
        if assessment.level < request.assessment.level { return request }
        if assessment.decision == .deny {
            let denial = Decision(
                requestID: request.id,
                approver: "policy",
                verdict: .deny,
                digest: request.digest,
                authentication: AuthenticationRecord(method: .apiToken, authTime: now()),
                decidedAt: now(),
                reason: assessment.denial ?? "policy denies it at \(assessment.level.title) after the look-ups"
            )
            _ = try await store.addBlastRadius(id: request.id, assessment: request.assessment, facts: facts, now: now())
            return try await store.decide(denial, now: now())
        }
        // It waits for a human whatever a rule would allow: it is already in front of one.
        assessment.decision = .ask
        assessment.requirements.approvals = max(1, assessment.requirements.approvals)
        assessment.requirements.ttlSeconds = request.assessment.requirements.ttlSeconds
        return try await store.addBlastRadius(id: request.id, assessment: assessment, facts: facts, now: now())
            ?? request
    }

    /// Proposes the action that undoes an executed one — itself gated like any other action.
    ///
    /// Asking again returns the same undo request (its idempotency key is the original's id).
    ///
    /// - Parameters:
    ///   - requestID: The executed request to undo.
    ///   - agent: The agent asking; only its own requests can be undone by it.
    /// - Returns: The undo request, in whatever state policy puts it.
    /// - Throws: ``UndoError`` when there is nothing to undo; what ``propose(_:agentReason:idempotencyKey:runID:signals:)`` throws.
    public func undo(_ requestID: String, agent: String) async throws -> ActionRequest {
        guard let original = try await store.request(id: requestID), original.action.agent == agent else {
            throw UndoError.notFound
        }
        guard original.state == .executed, let result = original.result else {
            throw UndoError.notExecuted(original.state)
        }
        guard let descriptor = catalog.descriptor(for: original.action.operation),
            let (operation, arguments) = descriptor.undo(arguments: original.action.arguments, result: result)
        else { throw UndoError.notReversible(original.action.operation.description) }
        return try await propose(
            ProposedAction(
                operation: operation,
                arguments: arguments,
                principal: original.action.principal,
                agent: agent
            ),
            agentReason: "undo of request \(requestID) (\(original.action.operation))",
            idempotencyKey: "undo:\(requestID)",
            runID: original.runID
        )
    }
}

/// Why an action cannot be undone.
public enum UndoError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No such request of this agent.
    case notFound
    /// Only an executed request can be undone.
    case notExecuted(RequestState)
    /// The operation has no undo.
    case notReversible(String)

    public var description: String {
        switch self {
        case .notFound: "no such request made by this agent"
        case .notExecuted(let state): "the request is \(state.rawValue); only an executed action can be undone"
        case .notReversible(let operation): "\(operation) cannot be undone by Countersign"
        }
    }
}
