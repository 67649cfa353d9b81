extension Policy {
    /// Rates an action and decides what happens to it.
    ///
    /// The level is the highest of the operation's default, every hint that fires, every matching
    /// rule's level and every signal; no rule can remove a hint. `deny` from any matching rule wins
    /// over everything. A rule's `allow` only lifts the need for approval while the final level is
    /// Low or Medium: High and Critical actions always go to a human or are denied.
    ///
    /// - Parameters:
    ///   - action: The proposed action, already validated against the operation's schema.
    ///   - operation: The operation's descriptor.
    ///   - signals: Reasons from the context (for example, an earlier untrusted read in the same run).
    /// - Returns: The level, every reason, the decision and the requirements.
    public func assess(
        _ action: ProposedAction,
        operation: OperationDescriptor,
        signals: [RiskReason] = []
    ) -> Assessment {
        var level = operation.defaultLevel
        var reasons: [RiskReason] = [operation.defaultReason]
        for hint in operation.hints {
            for reason in hint.evaluate(action) {
                level = max(level, reason.level)
                reasons.append(reason)
            }
        }

        var denyingRules: [String] = []
        var ruleAsks = false
        var allowingRule: PolicyRule?
        var approvals = 0
        var stepUp = false
        var confirm = false
        var allowSelfApproval = true
        var clientApproval: Bool?
        var ttl: Int?
        let operationName = operation.id.description
        for position in rulesByOperation[action.operation] ?? allRuleIndices {
            guard rules[position].match.matches(action, operationName: operationName) else { continue }
            let rule = rules[position]
            let ruleLevel = rule.level ?? level
            level = max(level, ruleLevel)
            reasons.append(RiskReason(source: .rule, name: rule.name, level: ruleLevel, text: rule.reason))
            switch rule.decision {
            case .deny?: denyingRules.append(rule.name)
            case .ask?: ruleAsks = true
            case .allow?: allowingRule = allowingRule ?? rule
            case nil: break
            }
            approvals = max(approvals, rule.approvals ?? 0)
            stepUp = stepUp || rule.stepUp == true
            confirm = confirm || rule.confirm == true
            if rule.allowSelfApproval == false { allowSelfApproval = false }
            // Any rule that forbids approval in the client wins over one that permits it.
            if let permits = rule.clientApproval { clientApproval = (clientApproval ?? true) && permits }
            if let seconds = rule.ttlSeconds { ttl = min(ttl ?? seconds, seconds) }
        }
        for signal in signals {
            level = max(level, signal.level)
            reasons.append(signal)
        }

        let settings = settings(for: level)
        let needsHuman = ruleAsks || approvals > 0 || stepUp || confirm || level >= .high
        var decision = settings.decision
        if !denyingRules.isEmpty {
            decision = .deny
        } else if decision == .allow && needsHuman {
            decision = .ask
        } else if decision == .ask, let rule = allowingRule {
            if !needsHuman {
                decision = .allow
            } else {
                reasons.append(
                    RiskReason(
                        source: .policy,
                        name: rule.name,
                        level: level,
                        text: "rule \(rule.name) allows this action, but at \(level.title) a human must still approve"
                    )
                )
            }
        }

        var requirements = Requirements(
            approvals: decision == .ask ? max(1, settings.approvals, approvals) : 0,
            stepUp: decision == .ask && (settings.stepUp || stepUp),
            confirmText: decision == .ask && (settings.confirm || confirm)
                ? (operation.target(of: action.arguments) ?? operation.id.description) : nil,
            allowSelfApproval: settings.allowSelfApproval && allowSelfApproval,
            ttlSeconds: min(ttl ?? settings.ttlSeconds, settings.ttlSeconds)
        )
        // Approval in the agent's own client is the principal's word relayed by the agent: never for
        // High or Critical, nor where anything more than one self-approval is asked for.
        requirements.clientApproval =
            decision == .ask && level <= .medium && (clientApproval ?? settings.clientApproval)
            && requirements.approvals == 1 && !requirements.stepUp && requirements.confirmText == nil
            && requirements.allowSelfApproval
        return Assessment(
            level: level,
            reasons: reasons,
            decision: decision,
            requirements: requirements,
            denyingRules: denyingRules
        )
    }
}
