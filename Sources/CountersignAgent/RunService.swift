public import Countersign
public import Logging
public import ServiceLifecycle
import Synchronization

/// Drives the runs: resumes every running run when the server starts (a run that waited for an
/// approval when Countersign stopped goes on where it stood), and advances a run whenever one of
/// its proposed steps' requests changes, here or, on PostgreSQL, on another instance; a sweep
/// every `interval` catches whatever a missed notification left behind, and the runs other
/// instances started.
public struct RunService: Service {
    private let engine: RunEngine
    private let runs: any RunStore
    private let events: RequestEvents
    private let interval: Duration
    private let logger: Logger

    /// Creates the service.
    public init(
        engine: RunEngine,
        runs: any RunStore,
        events: RequestEvents,
        interval: Duration = .seconds(5),
        logger: Logger
    ) {
        self.engine = engine
        self.runs = runs
        self.events = events
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        let changes = events.changes()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                // A changed request that is a running run's proposed step advances the run at once; the
                // others are not read. A run this engine has not seen yet (another instance started
                // it) is found by the sweep.
                // Runs advance concurrently, each one at a time: a change to a run already being
                // advanced has it advanced once more after.
                let busy = BusyRuns()
                await withDiscardingTaskGroup { advances in
                    for await id in changes.cancelOnGracefulShutdown() {
                        // Only a step's outcome moves a run on (approved and executing do not).
                        guard let runID = engine.watch.run(of: id),
                            (try? await engine.requests.request(id: id))?.state.isTerminal ?? true,
                            busy.start(runID)
                        else { continue }
                        advances.addTask {
                            repeat { await advance(runID) } while busy.again(runID)
                        }
                    }
                }
            }
            group.addTask {
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    await sweep()
                    do {
                        try await Task.sleep(for: interval)
                    } catch {
                        return
                    }
                }
            }
            try await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// Advances every running run once.
    public func sweep() async {
        do {
            for run in try await runs.runs(agent: nil, states: [.running], limit: 1000) { await advance(run.id) }
        } catch {
            logger.error("reading the runs failed; trying again", metadata: ["error": "\(error)"])
        }
    }

    private func advance(_ id: String) async {
        do {
            let (run, ended) = try await engine.proceed(id)
            if ended {
                logger.info("run finished", metadata: ["run": "\(run.id)", "state": "\(run.state.rawValue)"])
            }
        } catch {
            logger.error("advancing a run failed", metadata: ["run": "\(id)", "error": "\(error)"])
        }
    }
}

/// The runs being advanced, and those changed again meanwhile.
final class BusyRuns: Sendable {
    private let state = Mutex<[String: Bool]>([:])

    /// Marks the run as being advanced.
    ///
    /// - Returns: `false` when it already is (it is then advanced once more when that is done).
    func start(_ run: String) -> Bool {
        state.withLock { busy in
            guard busy[run] == nil else {
                busy[run] = true
                return false
            }
            busy[run] = false
            return true
        }
    }

    /// Whether to advance the run again (it changed while being advanced); otherwise it is no
    /// longer busy.
    func again(_ run: String) -> Bool {
        state.withLock { busy in
            guard busy[run] == true else {
                busy[run] = nil
                return false
            }
            busy[run] = false
            return true
        }
    }
}
