public import Foundation

extension ActionRequest {
    /// How old a step-up authentication may be when the decision is made.
    public static let stepUpMaxAge: TimeInterval = 300

    /// Checks a decision against this request and the approvals it already has.
    ///
    /// - Parameters:
    ///   - decision: The new decision.
    ///   - prior: The decisions already recorded for this request.
    ///   - now: The time of the decision.
    /// - Returns: The transition the decision causes, or `nil` when more approvals are still needed.
    /// - Throws: ``ApprovalError`` when the decision cannot be accepted.
    public func admit(_ decision: Decision, prior: [Decision], now: Date) throws(ApprovalError) -> RequestTransition? {
        guard state == .pending else { throw .alreadyDecided(state) }
        guard now < expiresAt else { throw .expired }
        guard decision.digest.matches(digest) else { throw .digestMismatch }
        guard isPayloadIntact || decision.verdict == .deny else { throw .tampered }
        if decision.authentication.method == .mcpClient {
            guard assessment.requirements.clientApproval, assessment.level <= .medium,
                decision.approver == action.principal
            else { throw .clientApprovalNotPermitted }
        }
        switch decision.verdict {
        case .deny:
            guard let reason = decision.reason, !reason.allSatisfy(\.isWhitespace) else { throw .reasonRequired }
            return .deny
        case .approve:
            let requirements = assessment.requirements
            if !requirements.allowSelfApproval && decision.approver == action.principal { throw .selfApproval }
            let approvers = Set(prior.filter { $0.verdict == .approve }.map(\.approver))
            guard !approvers.contains(decision.approver) else { throw .duplicateApprover }
            if let expected = requirements.confirmText {
                let typed = decision.confirmation ?? ""
                guard ConstantTime.equals(Array(typed.utf8), Array(expected.utf8)) else { throw .confirmationMismatch }
            }
            if requirements.stepUp && !decision.authentication.isStepUp(at: now, maxAge: Self.stepUpMaxAge) {
                throw .stepUpRequired
            }
            return approvers.count + 1 >= max(1, requirements.approvals) ? .approve : nil
        }
    }
}
