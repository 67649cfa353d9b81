import Countersign

/// What the providers' operations (GitHub, Slack, Google) build their descriptors with.
enum ProviderOperations {
    /// Text in quotes for an impact, cut after `limit` characters.
    static func quoted(_ text: String?, limit: Int = 100) -> String {
        let text = text ?? ""
        return "\"" + (text.count > limit ? String(text.prefix(limit)) + "…" : text) + "\""
    }

    /// A provider's operation: its token comes from the principal's account at `provider`.
    static func descriptor(
        _ id: String,
        provider: String,
        summary: String,
        schema: JSONValue,
        scopes: [String],
        defaultLevel: RiskLevel,
        hints: [RiskHint],
        isReversible: Bool,
        target: @escaping @Sendable (JSONValue) -> String?,
        impact: @escaping @Sendable (JSONValue) -> String,
        undo: (@Sendable (JSONValue, JSONValue) -> (operation: String, arguments: JSONValue)?)? = nil
    ) throws(SchemaError) -> OperationDescriptor {
        try OperationDescriptor(
            id: OperationID(id)!,
            summary: summary,
            schema: schema,
            scopes: scopes,
            provider: provider,
            defaultLevel: defaultLevel,
            hints: hints,
            isReversible: isReversible,
            target: target,
            impact: impact,
            undo: undo
        )
    }
}
