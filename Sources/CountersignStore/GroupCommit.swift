import GRDB
import Synchronization

/// Commits concurrent write transactions together: one `BEGIN IMMEDIATE … COMMIT`, so one fsync,
/// for every transaction that arrived while the previous commit was in flight.
///
/// Each transaction runs in a savepoint of its own (its statements prepared once per connection,
/// unlike GRDB's `inSavepoint`): one that throws is rolled back alone and its caller gets the
/// error, while the others commit. No caller hears of success before the commit
/// is durable (`synchronous=FULL`); if the commit fails, every transaction in it fails. An idle
/// writer starts at once, so a lone transaction waits for no one.
final class GroupCommit: Sendable {
    private struct Job: Sendable {
        /// Runs the transaction's body in its savepoint and keeps its outcome until the commit;
        /// throws only when the savepoint itself cannot be opened or undone, which fails the batch.
        let run: @Sendable (Database) throws -> Void
        /// Delivers the outcome (or the commit's error, when the commit failed).
        let finish: @Sendable ((any Error)?) -> Void
    }

    private struct State {
        var pending: [Job] = []
        var draining = false
    }

    private let writer: DatabasePool
    private let state = Mutex(State())
    private let counters = Mutex((commits: 0, transactions: 0))

    /// Commits made and transactions committed in them, for benchmarks and diagnostics.
    var statistics: (commits: Int, transactions: Int) { counters.withLock { $0 } }
    /// The most transactions in one commit.
    private let maximumBatch: Int

    init(writer: DatabasePool, maximumBatch: Int = 256) {
        self.writer = writer
        self.maximumBatch = maximumBatch
    }

    /// Runs `body` in a transaction, committed together with any others waiting.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = Mutex<Result<T, any Error>?>(nil)
            let job = Job(
                run: { db in
                    try db.cachedStatement(sql: "SAVEPOINT countersign_job").execute()
                    do {
                        let value = try body(db)
                        try db.cachedStatement(sql: "RELEASE SAVEPOINT countersign_job").execute()
                        outcome.withLock { $0 = .success(value) }
                    } catch {
                        outcome.withLock { $0 = .failure(error) }
                        // Undo this transaction's changes only. If that fails, the error leaves this
                        // closure and the whole batch is rolled back: nothing half-done is committed.
                        try db.cachedStatement(sql: "ROLLBACK TRANSACTION TO SAVEPOINT countersign_job").execute()
                        try db.cachedStatement(sql: "RELEASE SAVEPOINT countersign_job").execute()
                    }
                },
                finish: { commitError in
                    if let commitError {
                        continuation.resume(throwing: commitError)
                    } else {
                        continuation.resume(with: outcome.withLock { $0 } ?? .failure(CancellationError()))
                    }
                }
            )
            let start = state.withLock { state in
                state.pending.append(job)
                guard !state.draining else { return false }
                state.draining = true
                return true
            }
            if start { Task { await self.drain() } }
        }
    }

    /// Commits batches until nothing is waiting.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Job] in
                let batch = Array(state.pending.prefix(maximumBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            var failure: (any Error)?
            do {
                try await writer.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        for job in batch {
                            try job.run(db)
                            // An error that ends the whole transaction (an I/O error, say) fails the
                            // batch: nothing after it may run outside the transaction.
                            guard db.isInsideTransaction else { throw GroupCommitError.aborted }
                        }
                        return .commit
                    }
                }
            } catch {
                failure = error
            }
            if failure == nil {
                counters.withLock { counters in
                    counters.commits += 1
                    counters.transactions += batch.count
                }
            }
            for job in batch { job.finish(failure) }
        }
    }
}

/// The transaction a batch ran in ended early; nothing in the batch was committed.
struct GroupCommitError: Error, CustomStringConvertible {
    static let aborted = GroupCommitError()
    var description: String { "the database ended the transaction early; nothing in it was committed" }
}
