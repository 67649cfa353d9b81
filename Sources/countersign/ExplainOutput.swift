import Countersign
import Foundation

/// How `policy explain` prints an assessment.
enum ExplainOutput {
    static func text(_ action: ProposedAction, descriptor: OperationDescriptor, assessment: Assessment) -> String {
        var lines: [String] = []
        lines.append("\(action.operation) for \(action.principal), proposed by \(action.agent)")
        lines.append("  digest    \(action.digest)")
        lines.append("  impact    \(descriptor.impact(of: action.arguments))")
        lines.append("  scopes    \(descriptor.scopes.joined(separator: ", "))")
        lines.append("  level     \(assessment.level.title)")
        lines.append("  decision  \(assessment.decision)")
        if assessment.decision == .ask {
            lines.append("  requires  " + requirements(assessment.requirements).joined(separator: " · "))
        }
        lines.append("  reasons")
        for reason in assessment.reasons {
            let source = reason.source == .operationDefault ? "operation" : "\(reason.source.rawValue) \(reason.name)"
            lines.append("    [\(reason.level.title)] \(reason.text)  (\(source))")
        }
        return lines.joined(separator: "\n")
    }

    static func requirements(_ requirements: Requirements) -> [String] {
        var parts = ["\(requirements.approvals) approver\(requirements.approvals == 1 ? "" : "s")"]
        if let text = requirements.confirmText { parts.append("type \"\(text)\" to confirm") }
        if requirements.stepUp { parts.append("step-up (fresh TOTP or OIDC sign-in)") }
        if !requirements.allowSelfApproval { parts.append("not by the principal") }
        parts.append("expires after \(duration(requirements.ttlSeconds))")
        return parts
    }

    static func duration(_ seconds: Int) -> String {
        if seconds % 86400 == 0 { return "\(seconds / 86400)d" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }

    static func json(_ action: ProposedAction, descriptor: OperationDescriptor, assessment: Assessment) -> String {
        var value = assessment.json.objectValue ?? [:]
        value["operation"] = .string(action.operation.description)
        value["digest"] = .string(action.digest.description)
        value["impact"] = .string(descriptor.impact(of: action.arguments))
        value["scopes"] = .array(descriptor.scopes.map(JSONValue.string))
        return CanonicalJSON.string(.object(value))
    }
}
