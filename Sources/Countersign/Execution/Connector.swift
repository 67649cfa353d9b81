/// What a connector knows about the request it executes.
public struct ExecutionContext: Sendable {
    /// The request being executed.
    public let requestID: String
    /// The person on whose behalf it runs.
    public let principal: String
    /// The agent that proposed it.
    public let agent: String

    /// Creates a context.
    public init(requestID: String, principal: String, agent: String) {
        self.requestID = requestID
        self.principal = principal
        self.agent = agent
    }
}

/// Something Countersign can act on: it declares operations and executes approved ones.
///
/// Only the ``Executor`` calls ``execute(_:arguments:context:)``, and only for a request it has
/// claimed; an agent never reaches a connector.
public protocol Connector: Sendable {
    /// The connector's name, the first part of its operations' identifiers (`files`).
    var name: String { get }

    /// The operations it offers.
    var operations: [OperationDescriptor] { get }

    /// Performs one operation with arguments that passed the operation's schema.
    ///
    /// - Returns: A short structured result for the agent.
    /// - Throws: ``ConnectorError`` with a message safe to show the agent.
    func execute(
        _ operation: OperationID,
        arguments: JSONValue,
        context: ExecutionContext
    ) async throws(ConnectorError)
        -> JSONValue
}

/// An operation that could not be performed, in words safe to show the agent and the approver.
public struct ConnectorError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable { case refused, notFound, conflict, failed }
    private let base: Base
    /// What happened and, where it helps, what to do.
    public let message: String

    /// The connector refused the arguments (for example, a path outside the workspace root).
    public static func refused(_ message: String) -> Self { Self(base: .refused, message: message) }
    /// The target does not exist.
    public static func notFound(_ message: String) -> Self { Self(base: .notFound, message: message) }
    /// The target is not in the state the operation needs (for example, the file already exists).
    public static func conflict(_ message: String) -> Self { Self(base: .conflict, message: message) }
    /// The operation failed.
    public static func failed(_ message: String) -> Self { Self(base: .failed, message: message) }

    public var description: String { message }
}
