/// A risk policy: per-level defaults, rules that raise levels or decide, and inline tests.
///
/// Policies are written in YAML (see `docs/policy.md`) and compiled once; assessing an action
/// does no parsing and no I/O.
public struct Policy: Sendable {
    /// What each level requires when no rule says otherwise.
    public var levels: [RiskLevel: LevelSettings]
    /// The rules, in file order.
    public let rules: [PolicyRule]
    /// Inline expectations that `countersign policy check` runs.
    public var tests: [PolicyTest]
    /// The SHA-256 of the policy's source text, recorded in the audit log when the policy changes.
    public var sourceDigest: String
    /// For each operation of the catalog the policy was compiled against, the indices of the rules
    /// whose operation patterns match it; operations not in it are matched against every rule.
    let rulesByOperation: [OperationID: [Int]]
    let allRuleIndices: [Int]

    /// Creates a policy.
    ///
    /// - Parameters:
    ///   - levels: What each level requires by default.
    ///   - rules: The rules, in order.
    ///   - tests: Inline expectations.
    ///   - sourceDigest: The digest of the policy's text.
    ///   - catalog: When given, rules are indexed by the operations they can match, so that
    ///     assessing an action only looks at the rules that may apply to it.
    public init(
        levels: [RiskLevel: LevelSettings] = LevelSettings.defaults,
        rules: [PolicyRule] = [],
        tests: [PolicyTest] = [],
        sourceDigest: String = "",
        catalog: OperationCatalog? = nil
    ) {
        self.levels = levels
        self.rules = rules
        self.tests = tests
        self.sourceDigest = sourceDigest
        self.allRuleIndices = Array(rules.indices)
        var index: [OperationID: [Int]] = [:]
        for descriptor in catalog?.descriptors ?? [] {
            let name = descriptor.id.description
            index[descriptor.id] = rules.indices.filter { position in
                let globs = rules[position].match.operations
                return globs.isEmpty || globs.contains { $0.matches(name) }
            }
        }
        self.rulesByOperation = index
    }

    /// The settings for a level, falling back to the built-in defaults.
    public func settings(for level: RiskLevel) -> LevelSettings {
        levels[level] ?? LevelSettings.defaults[level]!
    }
}

/// What a risk level requires by default.
public struct LevelSettings: Sendable, Hashable {
    /// The decision for actions at this level.
    public var decision: PolicyDecision
    /// Distinct approvers needed.
    public var approvals: Int
    /// Whether approvers must step up (authenticate afresh).
    public var stepUp: Bool
    /// Whether the approver must type the target's name.
    public var confirm: Bool
    /// Whether the principal may approve their own request.
    public var allowSelfApproval: Bool
    /// How long a request waits for a decision, in seconds.
    public var ttlSeconds: Int
    /// Whether the principal may approve in the agent's MCP client (Low and Medium only).
    public var clientApproval: Bool

    /// Creates settings.
    public init(
        decision: PolicyDecision,
        approvals: Int = 1,
        stepUp: Bool = false,
        confirm: Bool = false,
        allowSelfApproval: Bool = true,
        ttlSeconds: Int,
        clientApproval: Bool = false
    ) {
        self.decision = decision
        self.approvals = approvals
        self.stepUp = stepUp
        self.confirm = confirm
        self.allowSelfApproval = allowSelfApproval
        self.ttlSeconds = ttlSeconds
        self.clientApproval = clientApproval
    }

    /// Low → allow; medium → ask; high → ask with confirmation text; critical → ask with step-up.
    public static let defaults: [RiskLevel: LevelSettings] = [
        .low: LevelSettings(decision: .allow, approvals: 0, ttlSeconds: 15 * 60),
        .medium: LevelSettings(decision: .ask, ttlSeconds: 60 * 60),
        .high: LevelSettings(decision: .ask, confirm: true, ttlSeconds: 30 * 60),
        .critical: LevelSettings(decision: .ask, stepUp: true, ttlSeconds: 15 * 60),
    ]
}

/// One policy rule: a match, and what it sets when it matches.
public struct PolicyRule: Sendable {
    /// The rule's name, shown as the source of its reason.
    public var name: String
    /// Why the rule exists, in words an approver reads.
    public var reason: String
    /// Which actions the rule applies to.
    public var match: RuleMatch
    /// The level the rule raises matching actions to.
    public var level: RiskLevel?
    /// The decision the rule asks for.
    public var decision: PolicyDecision?
    /// The number of approvers the rule requires.
    public var approvals: Int?
    /// Whether the rule requires step-up.
    public var stepUp: Bool?
    /// Whether the rule requires confirmation text.
    public var confirm: Bool?
    /// Whether the rule allows the principal to approve their own request.
    public var allowSelfApproval: Bool?
    /// A shorter time to wait for a decision, in seconds.
    public var ttlSeconds: Int?
    /// Whether the principal may approve in the agent's MCP client (effective at Low and Medium only).
    public var clientApproval: Bool?
    /// Where the rule starts in the policy file.
    public var line: Int

    /// Creates a rule.
    public init(
        name: String,
        reason: String,
        match: RuleMatch,
        level: RiskLevel? = nil,
        decision: PolicyDecision? = nil,
        approvals: Int? = nil,
        stepUp: Bool? = nil,
        confirm: Bool? = nil,
        allowSelfApproval: Bool? = nil,
        ttlSeconds: Int? = nil,
        clientApproval: Bool? = nil,
        line: Int = 0
    ) {
        self.name = name
        self.reason = reason
        self.match = match
        self.level = level
        self.decision = decision
        self.approvals = approvals
        self.stepUp = stepUp
        self.confirm = confirm
        self.allowSelfApproval = allowSelfApproval
        self.ttlSeconds = ttlSeconds
        self.clientApproval = clientApproval
        self.line = line
    }
}

/// Which actions a rule applies to; every part given must match.
public struct RuleMatch: Sendable {
    /// Globs over `connector.operation`; empty matches every operation.
    public var operations: [Glob]
    /// Globs over the agent's name; empty matches every agent.
    public var agents: [Glob]
    /// Globs over the principal; empty matches every principal.
    public var principals: [Glob]
    /// Conditions on the arguments.
    public var conditions: [ArgumentCondition]

    /// Creates a match.
    public init(
        operations: [Glob] = [],
        agents: [Glob] = [],
        principals: [Glob] = [],
        conditions: [ArgumentCondition] = []
    ) {
        self.operations = operations
        self.agents = agents
        self.principals = principals
        self.conditions = conditions
    }

    /// Whether the action satisfies every part of the match.
    public func matches(_ action: ProposedAction) -> Bool {
        matches(action, operationName: action.operation.description)
    }

    /// Whether the action, whose operation is named `operationName`, satisfies every part of the match.
    func matches(_ action: ProposedAction, operationName: String) -> Bool {
        if !operations.isEmpty {
            guard operations.contains(where: { $0.matches(operationName) }) else { return false }
        }
        if !agents.isEmpty && !agents.contains(where: { $0.matches(action.agent) }) { return false }
        if !principals.isEmpty && !principals.contains(where: { $0.matches(action.principal) }) { return false }
        return conditions.allSatisfy { $0.holds(for: action.arguments) }
    }
}

/// An expectation that a policy file carries about one action.
public struct PolicyTest: Sendable {
    /// A name for the test.
    public var name: String
    /// The action to assess.
    public var action: ProposedAction
    /// The expected level, if given.
    public var level: RiskLevel?
    /// The expected decision, if given.
    public var decision: PolicyDecision?
    /// The expected number of approvers, if given.
    public var approvals: Int?
    /// The expected step-up requirement, if given.
    public var stepUp: Bool?
    /// Whether approval in the agent's MCP client is expected to be permitted, if given.
    public var clientApproval: Bool?
    /// Where the test is in the policy file.
    public var line: Int
    /// The column of the test in the policy file.
    public var column: Int

    /// Creates a test.
    public init(
        name: String,
        action: ProposedAction,
        level: RiskLevel? = nil,
        decision: PolicyDecision? = nil,
        approvals: Int? = nil,
        stepUp: Bool? = nil,
        clientApproval: Bool? = nil,
        line: Int = 0,
        column: Int = 0
    ) {
        self.name = name
        self.action = action
        self.level = level
        self.decision = decision
        self.approvals = approvals
        self.stepUp = stepUp
        self.clientApproval = clientApproval
        self.line = line
        self.column = column
    }
}
