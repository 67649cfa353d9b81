public import Countersign
public import Foundation
import GRDB

extension SQLiteStore: AgentStore {
    public func createAgent(_ agent: Agent, actor: String) async throws {
        guard Agent.isValidName(agent.name) else { throw AgentError.invalidName(agent.name) }
        try await transaction { db in
            let taken = try Bool.fetchOne(
                db,
                sql: "SELECT EXISTS (SELECT 1 FROM agents WHERE name = ? AND revoked_at IS NULL)",
                arguments: [agent.name]
            )
            guard taken == false else { throw AgentError.nameTaken(agent.name) }
            try db.execute(
                sql: "INSERT INTO agents (key_id, name, key_hash, created_at) VALUES (?, ?, ?, ?)",
                arguments: [agent.keyID, agent.name, agent.keyHash, agent.createdAt.timeIntervalSince1970]
            )
            _ = try AuditWriter.append(
                AuditEvent(
                    kind: AuditKind.agentChanged,
                    actor: actor,
                    at: agent.createdAt,
                    data: ["agent": .string(agent.name), "change": "created", "keyID": .string(agent.keyID)]
                ),
                in: db
            )
        }
    }

    public func agents() async throws -> [Agent] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM agents ORDER BY name, created_at").map(Self.agent)
        }
    }

    public func revokeAgent(named name: String, actor: String, now: Date) async throws {
        try await transaction { db in
            try db.execute(
                sql: "UPDATE agents SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                arguments: [now.timeIntervalSince1970, name]
            )
            guard db.changesCount == 1 else { throw AgentError.notFound(name) }
            _ = try AuditWriter.append(
                AuditEvent(
                    kind: AuditKind.agentChanged,
                    actor: actor,
                    at: now,
                    data: ["agent": .string(name), "change": "revoked"]
                ),
                in: db
            )
        }
    }

    public func agent(keyID: String) async throws -> Agent? {
        try await pointRead { db in
            try Row.fetchOne(db, sql: "SELECT * FROM agents WHERE key_id = ?", arguments: [keyID]).map(Self.agent)
        }
    }

    static func agent(_ row: Row) -> Agent {
        Agent(
            name: row["name"],
            keyID: row["key_id"],
            keyHash: row["key_hash"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            revokedAt: (row["revoked_at"] as Double?).map(Date.init(timeIntervalSince1970:))
        )
    }
}
