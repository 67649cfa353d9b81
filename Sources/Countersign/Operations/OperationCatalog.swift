/// The operations Countersign can execute, by identifier.
public struct OperationCatalog: Sendable {
    private let byID: [OperationID: OperationDescriptor]

    /// Every operation, sorted by identifier.
    public let descriptors: [OperationDescriptor]

    /// Creates a catalog.
    ///
    /// - Precondition: No two descriptors share an identifier.
    public init(_ descriptors: [OperationDescriptor]) {
        var byID: [OperationID: OperationDescriptor] = [:]
        for descriptor in descriptors {
            precondition(byID[descriptor.id] == nil, "operation \(descriptor.id) is declared twice")
            byID[descriptor.id] = descriptor
        }
        self.byID = byID
        self.descriptors = descriptors.sorted { $0.id < $1.id }
    }

    /// The operation with this identifier.
    public func descriptor(for id: OperationID) -> OperationDescriptor? { byID[id] }

    /// Checks a proposed action against the catalog.
    ///
    /// - Returns: The operation's descriptor.
    /// - Throws: ``ActionError`` when the operation is unknown or its arguments fail the schema.
    public func validate(_ action: ProposedAction) throws(ActionError) -> OperationDescriptor {
        guard let descriptor = byID[action.operation] else {
            throw .unknownOperation(action.operation.description)
        }
        let violations = descriptor.argumentSchema.validate(action.arguments)
        guard violations.isEmpty else { throw .invalidArguments(violations) }
        return descriptor
    }
}
