public import Countersign
public import Foundation
import GRDB
import Synchronization

extension SQLiteStore: RunStore {
    public func createRun(_ run: Run) async throws {
        let record = RunRecord(run)
        let event = try AuditChain.prepare(.runStarted(run))
        try await transaction { db in
            try db.execute(
                sql: "INSERT INTO runs (\(RunRecord.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    record.id, record.goal, record.principal, record.agent, record.planner, record.state,
                    record.steps, record.failure, record.createdAt, record.updatedAt, record.version,
                    record.conversation,
                ]
            )
            _ = try AuditWriter.append(event, in: db)
        }
        runCache.keep(run)
    }

    public func run(id: String) async throws -> Run? {
        let cache = runCache
        return try await pointRead { db in
            // The version first: a run whose stored version is the one kept here is not parsed again.
            guard
                let version = try Int.fetchOne(
                    try db.cachedStatement(sql: "SELECT version FROM runs WHERE id = ?"),
                    arguments: [id]
                )
            else { return nil }
            if let kept = cache.run(id, version: version) { return kept }
            let run = try Row.fetchOne(
                try db.cachedStatement(sql: "SELECT \(RunRecord.columns) FROM runs WHERE id = ?"),
                arguments: [id]
            ).map { try Self.runRecord($0).run() }
            if let run { cache.keep(run) }
            return run
        }
    }

    public func runs(agent: String?, states: Set<Run.State>, limit: Int) async throws -> [Run] {
        try await writer.read { db in
            var conditions: [String] = []
            var arguments = StatementArguments()
            if let agent {
                conditions.append("agent = ?")
                arguments += [agent]
            }
            if !states.isEmpty {
                conditions.append("state IN (\(states.map { _ in "?" }.joined(separator: ", ")))")
                arguments += StatementArguments(states.map(\.rawValue))
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [limit]
            return try Row.fetchAll(
                db,
                sql: "SELECT \(RunRecord.columns) FROM runs \(filter) ORDER BY created_at DESC, id LIMIT ?",
                arguments: arguments
            ).map { try Self.runRecord($0).run() }
        }
    }

    public func checkpoint(_ run: Run, now: Date, audit: [AuditEvent]) async throws -> Run? {
        let saved = run.checkpointed(at: now)
        let record = RunRecord(saved)
        let events = try (audit + (run.state.isTerminal ? [.runFinished(saved, at: now)] : [])).map(AuditChain.prepare)
        let written = try await transaction { db -> Run? in
            try db.cachedStatement(
                sql: """
                    UPDATE runs SET state = ?, steps = ?, failure = ?, conversation = ?, updated_at = ?, version = ?
                    WHERE id = ? AND version = ? AND state = 'running'
                    """
            ).execute(
                arguments: [
                    record.state, record.steps, record.failure, record.conversation, record.updatedAt, record.version,
                    run.id, run.version,
                ]
            )
            guard db.changesCount == 1 else { return nil }
            for event in events { _ = try AuditWriter.append(event, in: db) }
            return saved
        }
        if let written { runCache.keep(written) }
        return written
    }

    /// Runs kept after a read or a checkpoint, by id, at most ``capacity`` (then it starts over).
    final class RunCache: Sendable {
        static let capacity = 4096
        private let runs = Mutex<[String: Run]>([:])

        /// The run kept for `id`, if it is at `version`.
        func run(_ id: String, version: Int) -> Run? {
            runs.withLock { runs in runs[id].flatMap { $0.version == version ? $0 : nil } }
        }

        /// Keeps a run as read or saved.
        func keep(_ run: Run) {
            runs.withLock { runs in
                if runs.count >= Self.capacity, runs[run.id] == nil { runs.removeAll(keepingCapacity: true) }
                runs[run.id] = run
            }
        }
    }

    private static func runRecord(_ row: Row) -> RunRecord {
        RunRecord(
            id: row[0],
            goal: row[1],
            principal: row[2],
            agent: row[3],
            planner: row[4],
            state: row[5],
            steps: row[6],
            failure: row[7],
            createdAt: row[8],
            updatedAt: row[9],
            version: row[10],
            conversation: row[11]
        )
    }
}
