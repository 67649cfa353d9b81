import Countersign

extension ActionRequest {
    /// The request as the agent API shows it.
    var json: JSONValue {
        let assessment = self.assessment.json
        var members: [String: JSONValue] = [
            "id": .string(id),
            "state": .string(state.rawValue),
            "digest": .string(digest.description),
            "operation": .string(action.operation.description),
            "arguments": action.arguments,
            "onBehalfOf": .string(action.principal),
            "agent": .string(action.agent),
            "risk": [
                "level": assessment["level"] ?? .null,
                "reasons": assessment["reasons"] ?? [],
            ],
            "decision": assessment["decision"] ?? .null,
            "requirements": assessment["requirements"] ?? [:],
            "impact": .string(impact),
            "scopes": .array(scopes.map(JSONValue.string)),
            "createdAt": .string(Timestamp.string(createdAt)),
            "expiresAt": .string(Timestamp.string(expiresAt)),
        ]
        if let agentReason { members["agentReason"] = .string(agentReason) }
        if let runID { members["runID"] = .string(runID) }
        if let result { members["result"] = result }
        if let failure { members["failure"] = .string(failure) }
        return .object(members)
    }
}

extension OperationDescriptor {
    /// The operation as `GET /v1/catalog` shows it.
    var json: JSONValue {
        var members: [String: JSONValue] = [
            "operation": .string(id.description),
            "summary": .string(summary),
            "argumentsSchema": argumentSchema.document,
            "scopes": .array(scopes.map(JSONValue.string)),
            "defaultLevel": .string(defaultLevel.rawValue),
            "reversible": .bool(isReversible),
            "undo": .bool(hasUndo),
            "readOnly": .bool(isReadOnly),
        ]
        if let sandbox { members["sandbox"] = .string(sandbox) }
        return .object(members)
    }
}

extension RequestEdit {
    /// The edit as the agent and approvers see it: who, when, which arguments, what was proposed.
    var json: JSONValue {
        [
            "by": .string(editor), "at": .string(Timestamp.string(editedAt)),
            "changed": .array(changed.map(JSONValue.string)), "originalArguments": originalArguments,
            "originalDigest": .string(originalDigest.description),
        ]
    }
}
