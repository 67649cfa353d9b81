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
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let expired = try await store.expire(now: Date())
            for request in expired { logger.info("request expired", metadata: ["request": "\(request.id)"]) }
            for request in try await store.abandonExpiredLeases(now: Date()) {
                logger.warning("an execution's lease ran out: outcome unknown", metadata: ["request": "\(request.id)"])
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

    /// Creates the service.
    public init(writer: CheckpointWriter, interval: Duration = .seconds(300)) {
        self.writer = writer
        self.interval = interval
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await writer.run(every: interval, clock: ContinuousClock())
        }
        try await writer.checkpoint(now: Date())
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
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if let events {
                // Registered before the drain, so a change during it wakes the next round at once.
                try await events.wait(for: RequestEvents.anyRequest, timeout: interval) {
                    try await drain()
                    return false
                }
            } else {
                try await drain()
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
