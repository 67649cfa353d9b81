public import Countersign
public import CountersignStore
import Foundation
public import Logging
public import ServiceLifecycle

/// Ends pending requests whose time is up as `expired`, once a second.
public struct ExpirySweeper: Service {
    private let store: any ActionStore
    private let logger: Logger

    /// Creates a sweeper.
    public init(store: any ActionStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    public func run() async throws {
        var failures = FailureLog(task: "expiring requests", logger: logger)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await failures.attempt {
                let expired = try await store.expire(now: Date())
                for request in expired { logger.info("request expired", metadata: ["request": "\(request.id)"]) }
                for request in try await store.abandonExpiredLeases(now: Date()) {
                    logger.warning(
                        "an execution's lease ran out: outcome unknown",
                        metadata: ["request": "\(request.id)"]
                    )
                }
            }
            do {
                try await Task.sleep(for: .seconds(1))
            } catch {
                return
            }
        }
    }
}

/// Writes a signed audit checkpoint at an interval, and a last one on shutdown.
public struct CheckpointService: Service {
    private let writer: CheckpointWriter
    private let interval: Duration
    private let logger: Logger

    /// Creates the service.
    public init(
        writer: CheckpointWriter,
        interval: Duration = .seconds(300),
        logger: Logger = Logger(label: "countersign.checkpoints")
    ) {
        self.writer = writer
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        var failures = FailureLog(task: "writing an audit checkpoint", logger: logger)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // A failed checkpoint (the database unreachable) is tried again at the next interval.
            let stopped = await failures.attempt {
                try await cancelWhenGracefulShutdown {
                    try await writer.run(every: interval, clock: ContinuousClock())
                }
            }
            if stopped { break }
        }
        await failures.attempt { _ = try await writer.checkpoint(now: Date()) }
    }
}

/// Keeps a background service going when one round of its work fails (the database is
/// unreachable, say): the failure is logged, once and then every 60th time in a row, and the
/// service goes on with its next round instead of bringing the server down.
struct FailureLog {
    let task: String
    let logger: Logger
    private var failures = 0

    init(task: String, logger: Logger) {
        self.task = task
        self.logger = logger
    }

    /// Runs one round.
    ///
    /// - Returns: Whether it ended without a failure.
    @discardableResult
    mutating func attempt(_ body: () async throws -> Void) async -> Bool {
        do {
            try await body()
            if failures > 0 { logger.notice("\(task) works again", metadata: ["failures": "\(failures)"]) }
            failures = 0
            return true
        } catch is CancellationError {
            return true
        } catch {
            failures += 1
            if failures == 1 || failures.isMultiple(of: 60) {
                logger.error(
                    "\(task) failed; trying again",
                    metadata: ["error": "\(error)", "failures": "\(failures)"]
                )
            }
            return false
        }
    }
}

/// Executes approved requests.
///
/// It runs them at once when a request in this process changes, and sweeps every `interval` for
/// any other (another instance, a crash between record and claim). Each runs exactly once: the
/// executor's claim makes sure, even with several services or instances.
public struct ExecutorService: Service {
    private let store: any ActionStore
    private let executor: Executor
    private let events: RequestEvents?
    private let interval: Duration
    private let logger: Logger

    /// Creates the service.
    public init(
        store: any ActionStore,
        executor: Executor,
        events: RequestEvents? = nil,
        interval: Duration = .seconds(1),
        logger: Logger
    ) {
        self.store = store
        self.executor = executor
        self.events = events
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        var failures = FailureLog(task: "executing approved requests", logger: logger)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if let events {
                // Registered before the drain, so a change during it wakes the next round at once.
                await events.wait(for: RequestEvents.anyRequest, timeout: interval) {
                    await failures.attempt { try await drain() }
                    return false
                }
            } else {
                await failures.attempt { try await drain() }
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
            }
        }
    }

    /// Executes every request that is approved, by a human or by policy, and not yet claimed.
    public func drain() async throws {
        // auto_approved too: one the gateway recorded but did not get to claim (a crash between the two).
        for request in try await store.requests(RequestQuery(states: [.approved, .autoApproved], limit: 100)) {
            if let done = try await executor.execute(requestID: request.id) {
                logger.info("request executed", metadata: ["request": "\(done.id)", "state": "\(done.state)"])
            }
        }
    }
}

/// Hears the changes other instances make to requests (PostgreSQL's `LISTEN`) and wakes this
/// instance's waiters, its executor and its event streams as if the change were made here.
///
/// Notifications are a hint, the table is the truth: when the listening connection fails, the
/// service listens again after `retry`, and wakes every waiter so that each reads its request again
/// instead of waiting for a notification that was sent while nobody listened.
public struct ChangeListener: Service {
    /// Listens until cancelled, calling its argument with each changed request's id; throws when
    /// the connection fails.
    public typealias Listen = @Sendable (@escaping @Sendable (String) -> Void) async throws -> Void

    private let listen: Listen
    private let events: RequestEvents
    private let retry: Duration
    private let logger: Logger

    /// Creates the service.
    public init(listen: @escaping Listen, events: RequestEvents, retry: Duration = .seconds(1), logger: Logger) {
        self.listen = listen
        self.events = events
        self.retry = retry
        self.logger = logger
    }

    public func run() async throws {
        var failures = FailureLog(task: "hearing other instances' changes", logger: logger)
        let events = self.events
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let stopped = await failures.attempt {
                try await cancelWhenGracefulShutdown {
                    try await listen { events.notify($0) }
                }
            }
            if stopped { return }
            do {
                try await Task.sleep(for: retry)
            } catch {
                return
            }
            // What changed while nobody listened is read again by whoever waits on it.
            events.notifyEveryone()
        }
    }
}
