public import Foundation

/// Executes approved requests exactly once.
///
/// It claims a request (approved or auto-approved → executing) in one transaction, checks again
/// that the payload still hashes to the digest that was assessed and approved, runs the connector,
/// and records `executed` with the result or `failed` with the reason. A request that another
/// executor claimed, or that is not approved, is left alone.
public struct Executor: Sendable {
    private let store: any ActionStore
    private let connectors: [String: any Connector]
    private let tokens: (any TokenVending)?
    private let now: @Sendable () -> Date

    /// Creates an executor.
    ///
    /// - Parameters:
    ///   - store: Where requests are.
    ///   - connectors: The connectors, each found by its name.
    ///   - tokens: Where connectors get access tokens (the vault), if anywhere.
    ///   - now: The clock.
    public init(
        store: any ActionStore,
        connectors: [any Connector],
        tokens: (any TokenVending)? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.connectors = Dictionary(connectors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.tokens = tokens
        self.now = now
    }

    /// The connector that runs `operation`, if one is configured.
    public func connector(for operation: OperationID) -> (any Connector)? { connectors[operation.connector] }

    /// Where connectors get tokens (the vault), if anywhere; look-ups use it too.
    public var tokenVending: (any TokenVending)? { tokens }

    /// Claims and executes a request.
    ///
    /// - Returns: The request after execution, or `nil` when it was not claimable.
    /// - Throws: When the store cannot be read or written; the connector's own failures are
    ///   recorded as `failed`, not thrown.
    @discardableResult
    public func execute(requestID: String) async throws -> ActionRequest? {
        guard let request = try await store.claim(id: requestID, now: now()) else { return nil }
        return try await run(claimed: request)
    }

    /// Executes a request the caller has claimed (it is `executing`).
    ///
    /// - Returns: The request after execution.
    /// - Throws: When the store cannot be written; the connector's own failures are recorded as
    ///   `failed`, not thrown.
    public func run(claimed request: ActionRequest) async throws -> ActionRequest {
        guard request.isPayloadIntact else {
            return try await store.complete(
                claimed: request,
                outcome: .failed(
                    "refused: the payload changed after it was assessed and approved (digest mismatch); nothing was executed"
                ),
                now: now()
            )
        }
        guard let connector = connectors[request.action.operation.connector] else {
            return try await store.complete(
                claimed: request,
                outcome: .failed("no connector \"\(request.action.operation.connector)\" is configured"),
                now: now()
            )
        }
        let context = ExecutionContext(
            requestID: request.id,
            principal: request.action.principal,
            agent: request.action.agent,
            tokens: tokens
        )
        let outcome: ExecutionOutcome = await holdingLease(of: request) {
            if let refusal = await recheck(request, connector: connector) { return .failed(refusal) }
            do throws(ConnectorError) {
                return .executed(
                    try await connector.execute(
                        request.action.operation,
                        arguments: request.action.arguments,
                        context: context
                    )
                )
            } catch {
                return .failed(error.message)
            }
        }
        return try await store.complete(claimed: request, outcome: outcome, now: now())
    }

    /// Runs `body` while renewing the execution's lease every third of it.
    ///
    /// On a store shared by several instances, a long connector call is then not taken for a
    /// stalled one. A worker
    /// that stalls (or whose instance dies) stops renewing; once its lease runs out, another
    /// instance ends the request as `outcome_unknown`, and the late result is refused.
    private func holdingLease(
        of request: ActionRequest,
        _ body: @Sendable () async -> ExecutionOutcome
    ) async -> ExecutionOutcome {
        guard let lease = store.executionLease, lease > 0 else { return await body() }
        let (store, now) = (store, now)
        return await withTaskGroup(of: ExecutionOutcome?.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(lease / 3))
                    guard !Task.isCancelled else { break }
                    // A failed renewal is not retried: the result will be refused when it is recorded.
                    guard (try? await store.renewLease(id: request.id, now: now())) != false else { break }
                }
                return nil
            }
            let outcome = await body()
            group.cancelAll()
            return outcome
        }
    }

    /// Why the execution is refused after looking the target up again, or `nil` to go ahead.
    ///
    /// The facts found now are compared with what the approver saw: a material change (a
    /// repository made public since, a channel now shared outside) refuses the execution with an
    /// explanation, and so does a look-up that cannot be made (fail closed). Requests without
    /// look-up facts are not re-checked.
    func recheck(_ request: ActionRequest, connector: any Connector) async -> String? {
        let operation = request.action.operation
        let approved = request.assessment.reasons.filter {
            $0.source == .blastRadius && $0.name != "lookup_failed" && $0.name != "lookup_timeout"
        }
        guard !approved.isEmpty, connector.lookupOperations.contains(operation.name) else { return nil }
        let context = LookupContext(requestID: request.id, principal: request.action.principal, tokens: tokens)
        switch await connector.lookUp(
            operation,
            arguments: request.action.arguments,
            context: context,
            within: Gateway.lookupTimeout
        ) {
        case nil:
            return "refused: the target could not be checked again at the provider in time; nothing was executed"
        case .failure(let error):
            return "refused: the target could not be checked again at the provider (\(error)); nothing was executed"
        case .success(let current):
            let changes = connector.materialChanges(operation, approved: approved, current: current)
            guard !changes.isEmpty else { return nil }
            return "refused: the target changed since it was approved: \(changes.joined(separator: "; ")). "
                + "Nothing was executed; propose it again so that the current state is reviewed."
        }
    }
}
