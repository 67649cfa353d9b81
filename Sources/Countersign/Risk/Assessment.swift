/// What policy decides about an action before any human sees it.
public enum PolicyDecision: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Execute without asking anyone.
    case allow
    /// Hold the action until enough humans approve it.
    case ask
    /// Refuse the action outright.
    case deny

    public var description: String { rawValue }
}

/// What an approval must carry for the action to go ahead.
public struct Requirements: Sendable, Hashable, Codable {
    /// How many distinct approvers must approve.
    public var approvals: Int
    /// Whether each approver must authenticate afresh (step-up) at the moment of deciding.
    public var stepUp: Bool
    /// Text the approver must type to confirm (the target's name), when required.
    public var confirmText: String?
    /// Whether the principal on whose behalf the action is made may approve it.
    public var allowSelfApproval: Bool
    /// How long the request may wait for a decision, in seconds.
    public var ttlSeconds: Int
    /// Whether the principal may approve in the agent's own MCP client (form elicitation).
    ///
    /// Only ever true for a Low or Medium request that one approver may decide without step-up or
    /// confirmation text, and that the principal may approve themselves; the policy must ask for it.
    public var clientApproval: Bool

    /// Creates requirements.
    public init(
        approvals: Int,
        stepUp: Bool,
        confirmText: String?,
        allowSelfApproval: Bool,
        ttlSeconds: Int,
        clientApproval: Bool = false
    ) {
        self.approvals = approvals
        self.stepUp = stepUp
        self.confirmText = confirmText
        self.allowSelfApproval = allowSelfApproval
        self.ttlSeconds = ttlSeconds
        self.clientApproval = clientApproval
    }
}

/// The outcome of rating one action: its level, every reason, the decision and what an approval needs.
public struct Assessment: Sendable, Hashable, Codable {
    /// The highest level any reason asked for.
    public var level: RiskLevel
    /// Every reason, in the order they were found: the operation default, hints, rules, signals.
    public var reasons: [RiskReason]
    /// Allow, ask or deny.
    public var decision: PolicyDecision
    /// What an approval must carry; meaningful when the decision is `ask`.
    public var requirements: Requirements
    /// The names of the rules that denied the action, when the decision is `deny`.
    public var denyingRules: [String]

    /// Creates an assessment.
    public init(
        level: RiskLevel,
        reasons: [RiskReason],
        decision: PolicyDecision,
        requirements: Requirements,
        denyingRules: [String] = []
    ) {
        self.level = level
        self.reasons = reasons
        self.decision = decision
        self.requirements = requirements
        self.denyingRules = denyingRules
    }

    /// Why policy denied the action, in words the agent receives; `nil` unless denied.
    public var denial: String? {
        guard decision == .deny else { return nil }
        let texts = reasons.filter { $0.source == .rule && denyingRules.contains($0.name) }.map(\.text)
        return "denied by policy: " + texts.joined(separator: "; ")
    }
}
