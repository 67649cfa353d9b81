import Countersign
import Foundation
import GRDB

/// Appends to the audit hash chain inside the caller's transaction.
///
/// Appends are serialised by SQLite's single writer: the head read here cannot change before the
/// transaction commits, so the chain never forks.
enum AuditWriter {
    private static let headSQL = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
    private static let insertSQL =
        "INSERT INTO audit_log (seq, body, prev_hash, hash, request_id) VALUES (?, ?, ?, ?, ?)"

    static func append(_ event: AuditEvent, in db: Database) throws -> AuditEntry {
        try append(try AuditChain.prepare(event), in: db)
    }

    /// Appends an event rendered before the transaction began.
    static func append(_ prepared: AuditChain.PreparedEvent, in db: Database) throws -> AuditEntry {
        // Read in place from the cursor's row, by position: no copy of the row, no lookup by name.
        var sequence: Int64 = 1
        var previous = AuditChain.genesis
        let cursor = try Row.fetchCursor(try db.cachedStatement(sql: headSQL))
        try withExtendedLifetime(cursor) {
            // The row is only valid while its cursor lives (ending the cursor resets the statement).
            if let head = try cursor.next() {
                sequence = (head[0] as Int64) + 1
                previous = Array(head[1] as Data)
            }
        }
        let entry = AuditChain.entry(for: prepared, sequence: sequence, previousHash: previous)
        try db.cachedStatement(sql: insertSQL).execute(arguments: [
            sequence, Data(entry.body), Data(entry.previousHash), Data(entry.hash), prepared.requestID,
        ])
        return entry
    }
}
