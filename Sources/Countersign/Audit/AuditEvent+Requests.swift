public import Foundation

/// The audit events a request's life produces. Arguments are recorded with secret-looking members
/// redacted; the digest binds the entry to the exact payload.
extension AuditEvent {
    /// The events of intake: proposed, assessed, and auto-approved or rejected.
    public static func intake(of request: ActionRequest) -> [AuditEvent] {
        let actor = "agent:\(request.action.agent)"
        var proposed: [String: JSONValue] = [
            "operation": .string(request.action.operation.description),
            "arguments": request.action.arguments.redactingSecrets(),
            "principal": .string(request.action.principal),
            "agent": .string(request.action.agent),
            "digest": .string(request.digest.description),
            "scopes": .array(request.scopes.map(JSONValue.string)),
            "impact": .string(request.impact),
        ]
        if let reason = request.agentReason { proposed["agentReason"] = .string(reason) }
        if let run = request.runID { proposed["run"] = .string(run) }
        var events = [
            AuditEvent(
                kind: AuditKind.proposed,
                actor: actor,
                requestID: request.id,
                at: request.createdAt,
                data: .object(proposed)
            ),
            AuditEvent(
                kind: AuditKind.assessed,
                actor: "system",
                requestID: request.id,
                at: request.createdAt,
                data: request.assessment.auditData(expiresAt: request.expiresAt)
            ),
        ]
        switch request.state {
        case .autoApproved:
            events.append(
                AuditEvent(kind: AuditKind.autoApproved, actor: "system", requestID: request.id, at: request.createdAt)
            )
        case .rejected:
            events.append(
                AuditEvent(
                    kind: AuditKind.rejected,
                    actor: "system",
                    requestID: request.id,
                    at: request.createdAt,
                    data: ["reason": .string(request.failure ?? "denied by policy")]
                )
            )
        default:
            break
        }
        return events
    }

    /// The event of a change to an approver's account or session (`created`, `signed_in`…).
    public static func userChange(
        _ email: String,
        change: String,
        actor: String,
        at date: Date,
        details: [String: JSONValue] = [:]
    ) -> AuditEvent {
        let data = details.merging(["user": .string(email), "change": .string(change)]) { _, new in new }
        return AuditEvent(kind: AuditKind.userChanged, actor: actor, at: date, data: .object(data))
    }

    /// The event of an approver's edit of a pending request's arguments.
    public static func edited(
        _ edit: RequestEdit,
        previousDigest: ActionDigest,
        changed: [String],
        at date: Date
    ) -> AuditEvent {
        AuditEvent(
            kind: AuditKind.edited,
            actor: "user:\(edit.editor)",
            requestID: edit.requestID,
            at: date,
            data: [
                "previousDigest": .string(previousDigest.description), "digest": .string(edit.digest.description),
                "changed": .array(changed.map(JSONValue.string)), "level": .string(edit.assessment.level.rawValue),
                "arguments": edit.action.arguments.redactingSecrets(), "impact": .string(edit.impact),
            ]
        )
    }

    /// The event of facts looked up at the provider for a pending request, and its level after them.
    public static func blastRadius(
        requestID: String,
        level: RiskLevel,
        facts: [RiskReason],
        at date: Date
    )
        -> AuditEvent
    {
        AuditEvent(
            kind: AuditKind.blastRadius,
            actor: "system",
            requestID: requestID,
            at: date,
            data: [
                "level": .string(level.rawValue),
                "facts": .array(
                    facts.map {
                        ["name": .string($0.name), "level": .string($0.level.rawValue), "text": .string($0.text)]
                    }
                ),
            ]
        )
    }

    /// The event of a pending request that expired undecided.
    public static func expiry(of request: ActionRequest, at date: Date) -> AuditEvent {
        AuditEvent(
            kind: AuditKind.expired,
            actor: "system",
            requestID: request.id,
            at: date,
            data: ["expiresAt": .string(Timestamp.string(request.expiresAt))]
        )
    }

    /// The event of a pending request's deadline moved by an approver.
    public static func deadlineMoved(
        of requestID: String,
        from previous: Date,
        until: Date,
        by actor: String,
        at date: Date
    )
        -> AuditEvent
    {
        AuditEvent(
            kind: AuditKind.extended,
            actor: actor,
            requestID: requestID,
            at: date,
            data: ["from": .string(Timestamp.string(previous)), "until": .string(Timestamp.string(until))]
        )
    }

    /// The event of a human decision.
    public static func decision(
        _ decision: Decision,
        transition: RequestTransition?,
        approvals: Int,
        required: Int
    )
        -> AuditEvent
    {
        let kind =
            switch transition {
            case .some(.approve): AuditKind.approved
            case .some(.deny): AuditKind.denied
            default: AuditKind.approvalRecorded
            }
        var data: [String: JSONValue] = [
            "verdict": .string(decision.verdict.rawValue),
            "digest": .string(decision.digest.description),
            "authentication": decision.authentication.auditData,
            "approvals": .number(Double(approvals)),
            "approvalsRequired": .number(Double(required)),
        ]
        if let reason = decision.reason { data["reason"] = .string(reason) }
        return AuditEvent(
            kind: kind,
            actor: "user:\(decision.approver)",
            requestID: decision.requestID,
            at: decision.decidedAt,
            data: .object(data)
        )
    }

    /// The event of the end of an execution.
    public static func completion(of requestID: String, outcome: ExecutionOutcome, at date: Date) -> AuditEvent {
        switch outcome {
        case .executed(let result):
            let text = CanonicalJSON.string(SecretScrubber.scrub(result))
            let summary = text.unicodeScalars.count > 512 ? String(text.unicodeScalars.prefix(512)) + "…" : text
            return AuditEvent(
                kind: AuditKind.executed,
                actor: "system",
                requestID: requestID,
                at: date,
                data: [
                    "result": .string(summary),
                    "resultDigest": .string(ActionDigest(hashing: CanonicalJSON.bytes(result)).description),
                ]
            )
        case .failed(let reason):
            return AuditEvent(
                kind: AuditKind.failed,
                actor: "system",
                requestID: requestID,
                at: date,
                data: ["error": .string(reason)]
            )
        }
    }
}

extension Assessment {
    /// The assessment as JSON: level, decision, every reason with its source, and the requirements.
    public var json: JSONValue {
        var requirements: [String: JSONValue] = [
            "approvals": .number(Double(self.requirements.approvals)),
            "stepUp": .bool(self.requirements.stepUp),
            "allowSelfApproval": .bool(self.requirements.allowSelfApproval),
            "ttlSeconds": .number(Double(self.requirements.ttlSeconds)),
        ]
        if let text = self.requirements.confirmText { requirements["confirmText"] = .string(text) }
        // Only when set, so that assessments stored before it existed read back byte for byte.
        if self.requirements.clientApproval { requirements["clientApproval"] = true }
        return [
            "level": .string(level.rawValue),
            "decision": .string(decision.rawValue),
            "reasons": .array(
                reasons.map { reason in
                    [
                        "source": .string(reason.source.rawValue), "name": .string(reason.name),
                        "level": .string(reason.level.rawValue), "text": .string(reason.text),
                    ]
                }
            ),
            "requirements": .object(requirements),
        ]
    }

    /// The assessment as audit data.
    func auditData(expiresAt: Date) -> JSONValue {
        var data = json.objectValue ?? [:]
        data["expiresAt"] = .string(Timestamp.string(expiresAt))
        return .object(data)
    }
}

extension AuthenticationRecord {
    /// The record as audit data.
    var auditData: JSONValue {
        var data: [String: JSONValue] = [
            "method": .string(method.rawValue),
            "authTime": .string(Timestamp.string(authTime)),
        ]
        if let acr { data["acr"] = .string(acr) }
        if !amr.isEmpty { data["amr"] = .array(amr.map(JSONValue.string)) }
        return .object(data)
    }
}

extension JSONValue {
    /// The marker that replaces a redacted value.
    public static let redacted: JSONValue = .string("<redacted>")

    /// A copy with the value of every member whose name may hold a secret replaced by `"<redacted>"`.
    public func redactingSecrets() -> JSONValue {
        switch self {
        case .object(let members):
            var copy: [String: JSONValue] = [:]
            for (key, value) in members {
                copy[key] = AuditEvent.forbiddenKeys.contains(key.lowercased()) ? .redacted : value.redactingSecrets()
            }
            return .object(copy)
        case .array(let elements):
            return .array(elements.map { $0.redactingSecrets() })
        default:
            return self
        }
    }
}
