public import Foundation

/// What a connector knows about the request it executes.
public struct ExecutionContext: Sendable {
    /// The request being executed.
    public let requestID: String
    /// The person on whose behalf it runs.
    public let principal: String
    /// The agent that proposed it.
    public let agent: String
    /// Where access tokens for the request come from (the vault), if one is configured.
    public let tokens: (any TokenVending)?

    /// Creates a context.
    public init(requestID: String, principal: String, agent: String, tokens: (any TokenVending)? = nil) {
        self.requestID = requestID
        self.principal = principal
        self.agent = agent
        self.tokens = tokens
    }

    /// An access token for this request at `provider`, for exactly the scopes the request was
    /// assessed and approved with.
    ///
    /// - Parameters:
    ///   - provider: The provider (`github`, `slack`, `google`…).
    ///   - account: The principal's account there, when they have connected more than one.
    /// - Returns: The token, to use for this call and drop.
    /// - Throws: ``ConnectorError`` when no vault is configured or it refuses (no connection,
    ///   insufficient scope, reconsent needed, rate limit…), in words that say what to do.
    public func accessToken(provider: String, account: String? = nil) async throws(ConnectorError) -> AccessToken {
        guard let tokens else {
            throw .refused("no vault is configured, so no token for \(provider) can be vended")
        }
        return try await tokens.accessToken(provider: provider, account: account, for: self)
    }
}

/// An access token vended for one executing request.
///
/// It lives in memory for the call that uses it and is dropped; its textual forms never show it.
public struct AccessToken: Sendable, CustomStringConvertible {
    /// The token.
    public let secret: Secret
    /// The scopes it carries.
    public let scopes: [String]
    /// When it stops working, if known.
    public let expiresAt: Date?
    /// Whether it comes from a source that cannot narrow scopes (it may carry more than asked for).
    public let broad: Bool

    /// Creates a token.
    public init(secret: Secret, scopes: [String], expiresAt: Date?, broad: Bool) {
        self.secret = secret
        self.scopes = scopes
        self.expiresAt = expiresAt
        self.broad = broad
    }

    public var description: String { "AccessToken(<redacted>, scopes: \(scopes.joined(separator: " ")))" }
}

/// What a connector's read-only look-ups know about the pending request they inform.
public struct LookupContext: Sendable {
    /// The pending request the facts are for.
    public let requestID: String
    /// The person on whose behalf it would run.
    public let principal: String
    /// Where the read-scoped token comes from (the vault), if one is configured.
    public let tokens: (any TokenVending)?

    /// Creates a context.
    public init(requestID: String, principal: String, tokens: (any TokenVending)?) {
        self.requestID = requestID
        self.principal = principal
        self.tokens = tokens
    }

    /// A token for read-only look-ups at `provider`, for exactly `scopes`, vended for this purpose
    /// and audited as such.
    public func readToken(provider: String, scopes: [String]) async throws(ConnectorError) -> AccessToken {
        guard let tokens else { throw .refused("no vault is configured, so no look-up token for \(provider)") }
        return try await tokens.lookupToken(provider: provider, scopes: scopes, for: self)
    }
}

/// Vends access tokens to the executor, only for requests that are executing.
public protocol TokenVending: Sendable {
    /// An access token for the request in `context` at `provider`.
    ///
    /// - Throws: ``ConnectorError`` safe to show the agent; never holds a token.
    func accessToken(
        provider: String,
        account: String?,
        for context: ExecutionContext
    ) async throws(ConnectorError)
        -> AccessToken

    /// A read-scoped token for a pending request's blast-radius look-ups.
    ///
    /// - Throws: ``ConnectorError`` safe to show; never holds a token.
    func lookupToken(
        provider: String,
        scopes: [String],
        for context: LookupContext
    ) async throws(ConnectorError)
        -> AccessToken
}

extension TokenVending {
    /// No look-ups unless the vending side supports them.
    public func lookupToken(
        provider: String,
        scopes: [String],
        for context: LookupContext
    ) async throws(ConnectorError) -> AccessToken {
        throw .refused("look-up tokens are not available here")
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

    /// Facts about what a pending action would affect, looked up read-only at the provider (the
    /// repository's stars, the channel's members…), each a reason with source `blast_radius` whose
    /// level can raise the request's, never lower it.
    ///
    /// - Returns: The facts; empty when the operation has no look-ups.
    /// - Throws: ``ConnectorError`` when a look-up fails; the request then keeps its level and the
    ///   failure is stated.
    func blastRadius(
        _ operation: OperationID,
        arguments: JSONValue,
        context: LookupContext
    ) async throws(ConnectorError) -> [RiskReason]

    /// The operations (by name) whose pending requests get look-ups.
    var lookupOperations: Set<String> { get }

    /// How the target changed materially between the facts the approver saw and the facts looked
    /// up again right before execution, in words; empty when nothing material changed.
    ///
    /// The default: a fact whose level rose (a channel now shared with other organisations, a
    /// repository now popular). A connector adds what matters for its targets whatever the level
    /// (a repository made public since).
    func materialChanges(_ operation: OperationID, approved: [RiskReason], current: [RiskReason]) -> [String]

    /// The operations (by name) that publish what they carry where others read it (an issue, a
    /// comment, a message), whose readers ``audience(_:arguments:context:)`` can look up.
    var publishingOperations: Set<String> { get }

    /// Who reads what a publishing operation would post, looked up read-only at the provider: a
    /// public repository or a channel shared with other organisations is read outside the
    /// principal's organisation.
    ///
    /// - Returns: The audience, in words.
    /// - Throws: ``ConnectorError`` when it cannot be looked up (or told from the arguments).
    func audience(
        _ operation: OperationID,
        arguments: JSONValue,
        context: LookupContext
    ) async throws(ConnectorError) -> Audience
}

/// Who reads what an action publishes.
public enum Audience: Hashable, Sendable {
    /// Only people of the principal's organisation (a private repository, an internal channel).
    case organisation(String)
    /// People outside it too (a public repository, a channel shared with other organisations).
    case outside(String)
}

extension Connector {
    /// The operations that have look-ups (by name, `delete_repository`): none unless said.
    public var lookupOperations: Set<String> { [] }

    /// The operations that publish: none unless said.
    public var publishingOperations: Set<String> { [] }

    /// No audience look-ups: refused.
    public func audience(
        _ operation: OperationID,
        arguments: JSONValue,
        context: LookupContext
    ) async throws(ConnectorError) -> Audience {
        throw .refused("\(operation) publishes nothing that can be looked up")
    }

    /// No look-ups.
    public func blastRadius(
        _ operation: OperationID,
        arguments: JSONValue,
        context: LookupContext
    ) async throws(ConnectorError) -> [RiskReason] { [] }

    public func materialChanges(
        _ operation: OperationID,
        approved: [RiskReason],
        current: [RiskReason]
    ) -> [String] {
        Self.raisedFacts(approved: approved, current: current)
    }

    /// The facts whose level rose (a fact the approver did not see counts as Low before).
    public static func raisedFacts(approved: [RiskReason], current: [RiskReason]) -> [String] {
        current.compactMap { fact in
            let before = approved.first { $0.name == fact.name }
            guard fact.level > (before?.level ?? .low) else { return nil }
            return "now \"\(fact.text)\" (\(fact.level.title)), where the approver saw "
                + (before.map { "\"\($0.text)\" (\($0.level.title))" } ?? "nothing of the kind")
        }
    }

    /// The audience look-up, given at most `timeout`: `nil` when it took longer.
    public func lookUpAudience(
        _ operation: OperationID,
        arguments: JSONValue,
        context: LookupContext,
        within timeout: Duration
    ) async -> Result<Audience, ConnectorError>? {
        await Self.within(timeout) { () async throws(ConnectorError) in
            try await audience(operation, arguments: arguments, context: context)
        }
    }

    /// The look-ups, given at most `timeout`: `nil` when they took longer.
    public func lookUp(
        _ operation: OperationID,
        arguments: JSONValue,
        context: LookupContext,
        within timeout: Duration
    ) async -> Result<[RiskReason], ConnectorError>? {
        await Self.within(timeout) { () async throws(ConnectorError) in
            try await blastRadius(operation, arguments: arguments, context: context)
        }
    }

    /// The outcome of `body`, or `nil` when it takes longer than `timeout` (it is then cancelled).
    private static func within<T: Sendable>(
        _ timeout: Duration,
        _ body: @escaping @Sendable () async throws(ConnectorError) -> T
    ) async -> Result<T, ConnectorError>? {
        await withTaskGroup(of: Result<T, ConnectorError>?.self) { group in
            group.addTask {
                do throws(ConnectorError) {
                    return .success(try await body())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
    }
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
