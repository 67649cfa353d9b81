public import Countersign
public import Foundation
import PostgresNIO

extension PostgresStore: RunStore {
    public func createRun(_ run: Run) async throws {
        let record = RunRecord(run)
        let event = try AuditChain.prepare(.runStarted(run))
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO runs (\(unescaped: RunRecord.columns)) VALUES (\(record.id), \(record.goal),
                \(record.principal), \(record.agent), \(record.planner), \(record.state), \(record.steps),
                \(record.failure), \(record.createdAt), \(record.updatedAt), \(record.version), \(record.conversation))
                """,
                logger: logger
            )
            try await PostgresAudit.append(event, on: connection, logger: logger)
        }
    }

    public func run(id: String) async throws -> Run? {
        try await rows("SELECT \(unescaped: RunRecord.columns) FROM runs WHERE id = \(id)").first
            .map { try Self.runRecord($0).run() }
    }

    public func runs(agent: String?, states: Set<Run.State>, limit: Int) async throws -> [Run] {
        let names = states.map(\.rawValue)
        return try await rows(
            """
            SELECT \(unescaped: RunRecord.columns) FROM runs
            WHERE (\(agent)::text IS NULL OR agent = \(agent)) AND (cardinality(\(names)::text[]) = 0 OR state = ANY(\(names)))
            ORDER BY created_at DESC, id LIMIT \(limit)
            """
        ).map { try Self.runRecord($0).run() }
    }

    public func checkpoint(_ run: Run, now: Date, audit: [AuditEvent]) async throws -> Run? {
        let saved = run.checkpointed(at: now)
        let record = RunRecord(saved)
        let events = try (audit + (run.state.isTerminal ? [.runFinished(saved, at: now)] : [])).map(AuditChain.prepare)
        return try await transaction { connection in
            let changed = try await rows(
                """
                UPDATE runs SET state = \(record.state), steps = \(record.steps), failure = \(record.failure),
                conversation = \(record.conversation), updated_at = \(record.updatedAt), version = \(record.version)
                WHERE id = \(run.id) AND version = \(run.version) AND state = 'running' RETURNING id
                """,
                on: connection
            )
            guard changed.count == 1 else { return nil }
            for event in events { try await PostgresAudit.append(event, on: connection, logger: logger) }
            return saved
        }
    }

    private static func runRecord(_ row: PostgresRow) throws -> RunRecord {
        let cells = row.makeRandomAccess()
        return RunRecord(
            id: try cells[0].decode(String.self),
            goal: try cells[1].decode(String.self),
            principal: try cells[2].decode(String.self),
            agent: try cells[3].decode(String.self),
            planner: try cells[4].decode(String.self),
            state: try cells[5].decode(String.self),
            steps: try cells[6].decode(String.self),
            failure: try cells[7].decode(String?.self),
            createdAt: try cells[8].decode(Double.self),
            updatedAt: try cells[9].decode(Double.self),
            version: try cells[10].decode(Int.self),
            conversation: try cells[11].decode(String?.self)
        )
    }
}
