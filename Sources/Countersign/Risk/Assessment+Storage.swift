extension Assessment {
    /// The assessment as stored: its JSON (the same members as its `Codable` form) and the names of
    /// the rules that denied it, built without an encoder.
    public var storageJSON: JSONValue {
        var members = json.objectValue ?? [:]
        members["denyingRules"] = .array(denyingRules.map(JSONValue.string))
        return .object(members)
    }

    /// Reads the stored form back.
    ///
    /// - Returns: `nil` when a member is missing or has the wrong type.
    public init?(storageJSON value: JSONValue) {
        guard let level = value["level"]?.stringValue.flatMap(RiskLevel.init(rawValue:)),
            let decision = value["decision"]?.stringValue.flatMap(PolicyDecision.init(rawValue:)),
            let reasonValues = value["reasons"]?.arrayValue,
            let requirements = value["requirements"],
            let approvals = requirements["approvals"]?.numberValue,
            case .bool(let stepUp) = requirements["stepUp"],
            case .bool(let allowSelfApproval) = requirements["allowSelfApproval"],
            let ttl = requirements["ttlSeconds"]?.numberValue
        else { return nil }
        var reasons: [RiskReason] = []
        for reasonValue in reasonValues {
            guard let source = reasonValue["source"]?.stringValue.flatMap(RiskReason.Source.init(rawValue:)),
                let name = reasonValue["name"]?.stringValue,
                let reasonLevel = reasonValue["level"]?.stringValue.flatMap(RiskLevel.init(rawValue:)),
                let text = reasonValue["text"]?.stringValue
            else { return nil }
            reasons.append(RiskReason(source: source, name: name, level: reasonLevel, text: text))
        }
        self.init(
            level: level,
            reasons: reasons,
            decision: decision,
            requirements: Requirements(
                approvals: Int(approvals),
                stepUp: stepUp,
                confirmText: requirements["confirmText"]?.stringValue,
                allowSelfApproval: allowSelfApproval,
                ttlSeconds: Int(ttl),
                clientApproval: requirements["clientApproval"] == .bool(true)
            ),
            denyingRules: value["denyingRules"]?.arrayValue?.compactMap(\.stringValue) ?? []
        )
    }
}
