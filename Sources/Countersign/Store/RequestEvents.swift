public import Foundation
import Synchronization

/// Tells waiters in this process that a request changed, so that long-polls answer at once.
///
/// Notifications are a hint: a waiter always reads the request again from the store. A waiter
/// costs one dictionary entry and a suspended continuation (no task or stream of its own), so that
/// ten thousand agents can long-poll at once; one shared timer ends the waits whose time is up.
public final class RequestEvents: Sendable {
    private struct Waiter {
        var continuation: CheckedContinuation<Void, Never>?
        /// Notified before it suspended: it must not suspend.
        var woken = false
        let deadline: ContinuousClock.Instant
    }

    private struct State {
        var waiters: [String: [Int: Waiter]] = [:]
        var nextToken = 0
        var timerRunning = false
    }

    private let state = Mutex(State())
    private let subscribers = Mutex<[Int: AsyncStream<String>.Continuation]>([:])
    /// How often the timer looks for waits whose time is up.
    private let resolution: Duration

    /// The key to wait on to be woken by a change to any request.
    public static let anyRequest = "*"

    /// Creates an event hub.
    ///
    /// - Parameter resolution: How precisely timeouts are kept.
    public init(resolution: Duration = .milliseconds(50)) {
        self.resolution = resolution
    }

    /// How many are waiting on a request (for metrics and tests).
    public func waiterCount(for requestID: String) -> Int {
        state.withLock { $0.waiters[requestID]?.count ?? 0 }
    }

    /// Wakes everyone waiting on the request, and tells every subscriber to ``changes()``.
    public func notify(_ requestID: String) {
        wake(requestID, keys: { _ in [requestID, Self.anyRequest] })
    }

    /// Wakes everyone waiting on `key` only (a run's id, say), telling no subscriber: for waits on
    /// something other than a request.
    public func wakeWaiters(on key: String) {
        wake(nil, keys: { _ in [key] })
    }

    /// Wakes every waiter, whatever it waits on, so that each reads its request again: for when
    /// changes may have been missed (the connection that hears other instances was lost).
    public func notifyEveryone() {
        wake(Self.anyRequest, keys: { Array($0.keys) })
    }

    /// Wakes the waiters on `keys` (of those waited on) and tells every subscriber `announced`, if any.
    private func wake(_ announced: String?, keys: (_ waited: [String: [Int: Waiter]]) -> [String]) {
        let continuations = state.withLock { state in
            var resumed: [CheckedContinuation<Void, Never>] = []
            for key in keys(state.waiters) {
                guard var entries = state.waiters[key] else { continue }
                for (token, waiter) in entries {
                    if let continuation = waiter.continuation {
                        resumed.append(continuation)
                        entries.removeValue(forKey: token)
                    } else {
                        entries[token]?.woken = true
                    }
                }
                state.waiters[key] = entries.isEmpty ? nil : entries
            }
            return resumed
        }
        for continuation in continuations { continuation.resume() }
        guard let announced else { return }
        for subscriber in subscribers.withLock({ Array($0.values) }) { subscriber.yield(announced) }
    }

    /// The identifiers of requests as they change, from now until the stream is dropped.
    ///
    /// A slow reader loses the oldest identifiers beyond `buffer`; readers treat the stream as a
    /// hint and read the store again (the executor also sweeps on a timer).
    public func changes(buffer: Int = 10_000) -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(buffer))
        let token = state.withLock { state in
            defer { state.nextToken += 1 }
            return state.nextToken
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
    /// Cancelling the task ends the wait at once.
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
        let deadline = ContinuousClock.now + timeout
        let token = state.withLock { state in
            defer { state.nextToken += 1 }
            state.waiters[requestID, default: [:]][state.nextToken] = Waiter(deadline: deadline)
            return state.nextToken
        }
        defer { remove(requestID, token) }
        if try await isSettled() { return }
        startTimer()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let suspended = state.withLock { state -> Bool in
                    guard let waiter = state.waiters[requestID]?[token], !waiter.woken else { return false }
                    state.waiters[requestID]?[token]?.continuation = continuation
                    return true
                }
                if !suspended { continuation.resume() }
            }
        } onCancel: {
            remove(requestID, token)?.resume()
        }
    }

    /// Removes a waiter; returns its continuation if it was suspended, for the caller to resume.
    @discardableResult
    private func remove(_ requestID: String, _ token: Int) -> CheckedContinuation<Void, Never>? {
        state.withLock { state in
            let waiter = state.waiters[requestID]?.removeValue(forKey: token)
            if state.waiters[requestID]?.isEmpty == true { state.waiters.removeValue(forKey: requestID) }
            return waiter?.continuation
        }
    }

    /// Starts the shared timer unless it runs; it stops by itself when nobody waits.
    private func startTimer() {
        let start = state.withLock { state -> Bool in
            guard !state.timerRunning else { return false }
            state.timerRunning = true
            return true
        }
        guard start else { return }
        let resolution = self.resolution
        Task.detached { [weak self] in
            while true {
                try? await Task.sleep(for: resolution)
                guard let self, self.expireDueWaiters(now: .now) else { return }
            }
        }
    }

    /// Ends the waits whose time is up.
    ///
    /// - Returns: Whether anyone still waits (the timer keeps running).
    private func expireDueWaiters(now: ContinuousClock.Instant) -> Bool {
        let (due, waiting) = state.withLock { state -> ([CheckedContinuation<Void, Never>], Bool) in
            var due: [CheckedContinuation<Void, Never>] = []
            for (key, entries) in state.waiters {
                var remaining = entries
                for (token, waiter) in entries where waiter.deadline <= now {
                    remaining.removeValue(forKey: token)
                    if let continuation = waiter.continuation { due.append(continuation) }
                }
                state.waiters[key] = remaining.isEmpty ? nil : remaining
            }
            if state.waiters.isEmpty { state.timerRunning = false }
            return (due, !state.waiters.isEmpty)
        }
        for continuation in due { continuation.resume() }
        return waiting
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

    public func createClaimed(
        _ request: ActionRequest,
        now: Date
    ) async throws -> (
        request: ActionRequest, claimed: Bool
    ) {
        let outcome = try await base.createClaimed(request, now: now)
        events.notify(outcome.request.id)
        return outcome
    }

    public func request(id: String) async throws -> ActionRequest? { try await base.request(id: id) }

    public func requests(_ query: RequestQuery) async throws -> [ActionRequest] { try await base.requests(query) }

    public func decisions(for requestID: String) async throws -> [Decision] { try await base.decisions(for: requestID) }

    public func edit(_ edit: RequestEdit, now: Date) async throws -> ActionRequest {
        let edited = try await base.edit(edit, now: now)
        events.notify(edit.requestID)
        return edited
    }

    public func edit(of requestID: String) async throws -> RequestEdit? { try await base.edit(of: requestID) }

    public func addBlastRadius(
        id: String,
        assessment: Assessment,
        facts: [RiskReason],
        now: Date
    ) async throws -> ActionRequest? {
        let updated = try await base.addBlastRadius(id: id, assessment: assessment, facts: facts, now: now)
        if updated != nil { events.notify(id) }
        return updated
    }

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

    public func complete(claimed: ActionRequest, outcome: ExecutionOutcome, now: Date) async throws -> ActionRequest {
        let completed = try await base.complete(claimed: claimed, outcome: outcome, now: now)
        events.notify(claimed.id)
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

    public func abandonExpiredLeases(now: Date) async throws -> [ActionRequest] {
        let abandoned = try await base.abandonExpiredLeases(now: now)
        for request in abandoned { events.notify(request.id) }
        return abandoned
    }

    public var executionLease: TimeInterval? { base.executionLease }

    public func renewLease(id: String, now: Date) async throws -> Bool { try await base.renewLease(id: id, now: now) }
}
