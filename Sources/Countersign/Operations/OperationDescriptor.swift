/// Everything Countersign knows about one operation before it runs: its arguments' schema, the
/// OAuth scopes a token for it needs, its default risk, its hints and how to describe its impact.
public struct OperationDescriptor: Sendable {
    /// The operation's identifier.
    public let id: OperationID
    /// One line saying what the operation does.
    public private(set) var summary: String
    /// The JSON Schema its arguments must satisfy.
    public let argumentSchema: JSONSchema
    /// The OAuth scopes a token for this operation carries, such as `repo` or `chat:write`.
    public let scopes: [String]
    /// The provider whose token the vault vends for it (`github`, `slack`…), or `nil` for local operations.
    public let provider: String?
    /// The level before hints and policy.
    public let defaultLevel: RiskLevel
    /// Functions of the arguments that raise the level.
    public let hints: [RiskHint]
    /// Whether the effect can be undone.
    public let isReversible: Bool
    /// Whether the operation only reads.
    public let isReadOnly: Bool
    /// The reason that records the default level, made once.
    public let defaultReason: RiskReason
    /// The sandbox it runs against instead of the real service (`GitHub sandbox`), if any.
    public private(set) var sandbox: String?
    private var impactText: @Sendable (JSONValue) -> String
    private let target: @Sendable (JSONValue) -> String?
    private let compensation: (@Sendable (JSONValue, JSONValue) -> (operation: String, arguments: JSONValue)?)?

    /// Creates a descriptor.
    ///
    /// - Parameters:
    ///   - id: The operation's identifier.
    ///   - summary: One line saying what it does.
    ///   - schema: The JSON Schema of the arguments.
    ///   - scopes: The OAuth scopes a token needs.
    ///   - provider: The provider whose token it needs, if any.
    ///   - defaultLevel: The level before hints and policy.
    ///   - hints: Functions of the arguments that raise the level.
    ///   - isReversible: Whether the effect can be undone.
    ///   - isReadOnly: Whether the operation only reads.
    ///   - target: The name of what the operation acts on, which a High approval must type.
    ///   - impact: The impact in words, derived from the (validated) arguments alone.
    ///   - undo: For a reversible operation, the action that undoes an executed one, from its
    ///     arguments and result (an operation of the same connector, by name, and its arguments).
    /// - Throws: ``SchemaError`` when the schema does not compile.
    public init(
        id: OperationID,
        summary: String,
        schema: JSONValue,
        scopes: [String],
        provider: String? = nil,
        defaultLevel: RiskLevel,
        hints: [RiskHint] = [],
        isReversible: Bool,
        isReadOnly: Bool = false,
        target: @escaping @Sendable (JSONValue) -> String?,
        impact: @escaping @Sendable (JSONValue) -> String,
        undo: (@Sendable (JSONValue, JSONValue) -> (operation: String, arguments: JSONValue)?)? = nil
    ) throws(SchemaError) {
        self.compensation = undo
        self.id = id
        self.summary = summary
        self.argumentSchema = try JSONSchema(schema)
        self.scopes = scopes
        self.provider = provider
        self.defaultLevel = defaultLevel
        self.hints = hints
        self.isReversible = isReversible
        self.isReadOnly = isReadOnly
        self.target = target
        self.impactText = impact
        self.defaultReason = RiskReason(
            source: .operationDefault,
            name: id.description,
            level: defaultLevel,
            text: "\(id) is rated \(defaultLevel.title) by default"
        )
    }

    /// The same operation against a sandbox that ships with Countersign, labelled so everywhere:
    /// its summary and every impact say so, and ``sandbox`` names it.
    ///
    /// - Parameter name: The sandbox's name (`GitHub sandbox`).
    /// - Returns: The labelled descriptor.
    public func inSandbox(_ name: String) -> OperationDescriptor {
        var copy = self
        let impact = impactText
        copy.sandbox = name
        copy.summary = "[\(name)] \(summary)"
        copy.impactText = { arguments in "In the \(name), not the real service: \(impact(arguments))" }
        return copy
    }

    /// The impact of the action in words, derived from its arguments (never from the agent's text).
    public func impact(of arguments: JSONValue) -> String { impactText(arguments) }

    /// The name of what the action acts on (a path, a repository), which a High approval must type.
    public func target(of arguments: JSONValue) -> String? { target(arguments) }

    /// Whether an executed action of this operation can be undone by Countersign.
    public var hasUndo: Bool { compensation != nil }

    /// The action that undoes an executed one: its operation and arguments, or `nil` when this one
    /// cannot be undone (from these arguments and this result).
    public func undo(arguments: JSONValue, result: JSONValue) -> (operation: OperationID, arguments: JSONValue)? {
        guard let (name, undoArguments) = compensation?(arguments, result),
            let operation = OperationID("\(id.connector).\(name)")
        else { return nil }
        return (operation, undoArguments)
    }
}
