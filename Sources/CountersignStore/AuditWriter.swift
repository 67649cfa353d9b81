import Countersign
import Foundation
import GRDB

/// Appends to the audit hash chain inside the caller's transaction.
///
/// Appends are serialised by SQLite's single writer: the head read here cannot change before the
/// transaction commits, so the chain never forks.
enum AuditWriter {
    static func append(_ event: AuditEvent, in db: Database) throws -> AuditEntry {
        try append(try AuditChain.prepare(event), in: db)
    }

    /// Appends an event rendered before the transaction began.
    static func append(_ prepared: AuditChain.PreparedEvent, in db: Database) throws -> AuditEntry {
        let head = try Row.fetchOne(
            try db.cachedStatement(sql: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        )
        let sequence: Int64 = (head?["seq"] as Int64? ?? 0) + 1
        let previous: [UInt8] = head.map { Array(($0["hash"] as Data?) ?? Data()) } ?? AuditChain.genesis
        let entry = AuditChain.entry(for: prepared, sequence: sequence, previousHash: previous)
        try db.cachedStatement(
            sql: "INSERT INTO audit_log (seq, body, prev_hash, hash, request_id) VALUES (?, ?, ?, ?, ?)"
        ).execute(arguments: [
            sequence, Data(entry.body), Data(entry.previousHash), Data(entry.hash), prepared.requestID,
        ])
        return entry
    }
}
