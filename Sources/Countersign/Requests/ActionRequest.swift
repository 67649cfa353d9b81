public import Foundation

/// A proposed action as Countersign holds it: the action, its digest and assessment, and its state.
public struct ActionRequest: Sendable, Hashable, Codable, Identifiable {
    /// A unique identifier (a UUID of version 7 in lower case, see ``RequestID``).
    public let id: String
    /// The action exactly as proposed.
    public let action: ProposedAction
    /// The digest of the action's canonical JSON: what an approval is bound to.
    public private(set) var digest: ActionDigest
    /// Where the request stands.
    public var state: RequestState
    /// The risk assessment made at intake.
    public let assessment: Assessment
    /// The impact in words, written by the connector from the arguments.
    public let impact: String
    /// The OAuth scopes the token for this action will carry.
    public let scopes: [String]
    /// The agent's own stated reason, shown as the agent's words and never as the impact.
    public let agentReason: String?
    /// The agent's idempotency key, if it sent one.
    public let idempotencyKey: String?
    /// The agent run this request belongs to, if any.
    public let runID: String?
    /// When the request was made.
    public let createdAt: Date
    /// When an undecided request expires.
    public var expiresAt: Date
    /// When the state last changed.
    public var updatedAt: Date
    /// The connector's result, once executed.
    public var result: JSONValue?
    /// Why execution failed or the request was denied, in words safe to show the agent.
    public var failure: String?

    /// Creates a request.
    public init(
        id: String = RequestID.make(),
        action: ProposedAction,
        state: RequestState,
        assessment: Assessment,
        impact: String,
        scopes: [String],
        agentReason: String? = nil,
        idempotencyKey: String? = nil,
        runID: String? = nil,
        createdAt: Date,
        expiresAt: Date,
        result: JSONValue? = nil,
        failure: String? = nil
    ) {
        self.id = id
        self.action = action
        self.digest = action.digest
        self.state = state
        self.assessment = assessment
        self.impact = impact
        self.scopes = scopes
        self.agentReason = agentReason
        self.idempotencyKey = idempotencyKey
        self.runID = runID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.updatedAt = createdAt
        self.result = result
        self.failure = failure
    }

    /// Builds the request for a validated, assessed action.
    ///
    /// The initial state follows the decision: `allow` → `auto_approved`, `ask` → `pending`, `deny` → `rejected`.
    public static func intake(
        id: String = RequestID.make(),
        _ action: ProposedAction,
        operation: OperationDescriptor,
        assessment: Assessment,
        agentReason: String? = nil,
        idempotencyKey: String? = nil,
        runID: String? = nil,
        now: Date
    ) -> ActionRequest {
        let state: RequestState =
            switch assessment.decision {
            case .allow: .autoApproved
            case .ask: .pending
            case .deny: .rejected
            }
        return ActionRequest(
            id: id,
            action: action,
            state: state,
            assessment: assessment,
            impact: operation.impact(of: action.arguments),
            scopes: operation.scopes,
            agentReason: agentReason,
            idempotencyKey: idempotencyKey,
            runID: runID,
            createdAt: now,
            expiresAt: now.addingTimeInterval(TimeInterval(assessment.requirements.ttlSeconds)),
            failure: assessment.denial
        )
    }
}

extension ActionRequest {
    /// The request with the digest recorded at intake, as a store reads it back.
    ///
    /// A payload edited after intake no longer matches this digest; see ``isPayloadIntact``.
    public func withStoredDigest(_ stored: ActionDigest) -> ActionRequest {
        var copy = self
        copy.digest = stored
        return copy
    }

    /// Whether the payload still hashes to the digest that was assessed and approved.
    public var isPayloadIntact: Bool { action.digest.matches(digest) }
}
