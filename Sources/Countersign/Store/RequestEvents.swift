public import Foundation
import Synchronization

/// Tells waiters in this process that a request changed, so that long-polls answer at once.
///
/// Notifications are a hint: a waiter always reads the request again from the store.
public final class RequestEvents: Sendable {
    private let waiters = Mutex<[String: [Int: AsyncStream<Void>.Continuation]]>([:])
    private let nextToken = Mutex(0)
    private let subscribers = Mutex<[Int: AsyncStream<String>.Continuation]>([:])

    /// The key to wait on to be woken by a change to any request.
    public static let anyRequest = "*"

    /// Creates an event hub.
    public init() {}

    /// How many are waiting on a request (for metrics and tests).
    public func waiterCount(for requestID: String) -> Int {
        waiters.withLock { $0[requestID]?.count ?? 0 }
    }

    /// Wakes everyone waiting on the request, and tells every subscriber to ``changes()``.
    public func notify(_ requestID: String) {
        let continuations = waiters.withLock { waiters in
            let forRequest = waiters.removeValue(forKey: requestID).map { Array($0.values) } ?? []
            let forAny = waiters.removeValue(forKey: Self.anyRequest).map { Array($0.values) } ?? []
            return forRequest + forAny
        }
        for continuation in continuations {
            continuation.yield()
            continuation.finish()
        }
        for subscriber in subscribers.withLock({ Array($0.values) }) { subscriber.yield(requestID) }
    }

    /// The identifiers of requests as they change, from now until the stream is dropped.
    ///
    /// A slow reader loses the oldest identifiers beyond `buffer`; readers treat the stream as a
    /// hint and read the store again (the executor also sweeps on a timer).
    public func changes(buffer: Int = 10_000) -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(buffer))
        let token = nextToken.withLock { value in
            defer { value += 1 }
            return value
        }
        subscribers.withLock { $0[token] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: token) }
        }
        return stream
    }

    /// Waits until the request is notified or `timeout` passes, unless `isSettled` already says so.
    ///
    /// The waiter is registered before `isSettled` runs, so a change between the two is not missed.
    ///
    /// - Parameters:
    ///   - requestID: The request.
    ///   - timeout: The longest wait.
    ///   - isSettled: Reads the request and says whether there is no need to wait.
    public func wait(
        for requestID: String,
        timeout: Duration,
        unless isSettled: () async throws -> Bool
    ) async rethrows {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        let token = nextToken.withLock { value in
            defer { value += 1 }
            return value
        }
        waiters.withLock { $0[requestID, default: [:]][token] = continuation }
        defer {
            waiters.withLock { state in
                state[requestID]?.removeValue(forKey: token)
                if state[requestID]?.isEmpty == true { state.removeValue(forKey: requestID) }
            }
        }
        if try await isSettled() { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in stream { return }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
            }
            await group.next()
            group.cancelAll()
            continuation.finish()
        }
    }
}

/// An ``ActionStore`` that announces every change to a request on ``RequestEvents``.
public struct NotifyingStore: ActionStore {
    private let base: any ActionStore
    /// Where changes are announced.
    public let events: RequestEvents

    /// Wraps a store.
    public init(_ base: any ActionStore, events: RequestEvents) {
        self.base = base
        self.events = events
    }

    public func create(_ request: ActionRequest) async throws -> ActionRequest {
        let stored = try await base.create(request)
        events.notify(stored.id)
        return stored
    }

    public func request(id: String) async throws -> ActionRequest? { try await base.request(id: id) }

    public func requests(_ query: RequestQuery) async throws -> [ActionRequest] { try await base.requests(query) }

    public func decisions(for requestID: String) async throws -> [Decision] { try await base.decisions(for: requestID) }

    public func decide(_ decision: Decision, now: Date) async throws -> ActionRequest {
        let request = try await base.decide(decision, now: now)
        events.notify(request.id)
        return request
    }

    public func claim(id: String, now: Date) async throws -> ActionRequest? {
        let claimed = try await base.claim(id: id, now: now)
        if claimed != nil { events.notify(id) }
        return claimed
    }

    public func complete(id: String, outcome: ExecutionOutcome, now: Date) async throws -> ActionRequest {
        let completed = try await base.complete(id: id, outcome: outcome, now: now)
        events.notify(id)
        return completed
    }

    public func expire(now: Date) async throws -> [ActionRequest] {
        let expired = try await base.expire(now: now)
        for request in expired { events.notify(request.id) }
        return expired
    }

    public func extend(id: String, until: Date, actor: String, now: Date) async throws -> ActionRequest {
        let extended = try await base.extend(id: id, until: until, actor: actor, now: now)
        events.notify(id)
        return extended
    }

    public func abandonExecuting(now: Date) async throws -> [ActionRequest] {
        let abandoned = try await base.abandonExecuting(now: now)
        for request in abandoned { events.notify(request.id) }
        return abandoned
    }
}
