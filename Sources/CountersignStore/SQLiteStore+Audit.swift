public import Countersign
import Foundation
import GRDB

extension SQLiteStore: AuditStore {
    @discardableResult
    public func append(_ event: AuditEvent) async throws -> AuditEntry {
        try await transaction { db in try AuditWriter.append(event, in: db) }
    }

    /// Appends many events in one transaction (imports and benchmarks); all or none are recorded.
    ///
    /// - Returns: The last entry appended, or `nil` when `events` is empty.
    @discardableResult
    public func append(contentsOf events: [AuditEvent]) async throws -> AuditEntry? {
        try await transaction { db in
            var last: AuditEntry?
            for event in events { last = try AuditWriter.append(event, in: db) }
            return last
        }
    }

    public func auditHead() async throws -> (size: Int64, hash: [UInt8]) {
        try await writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            else { return (0, AuditChain.genesis) }
            return (row["seq"], Array(row["hash"] as Data))
        }
    }

    public func auditEntries(after sequence: Int64, limit: Int) async throws -> [AuditEntry] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT seq, body, prev_hash, hash FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                arguments: [sequence, limit]
            ).map(Self.entry)
        }
    }

    public func auditEntries(forRequest requestID: String) async throws -> [AuditEntry] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT seq, body, prev_hash, hash FROM audit_log WHERE request_id = ? ORDER BY seq",
                arguments: [requestID]
            ).map(Self.entry)
        }
    }

    static func entry(_ row: Row) -> AuditEntry {
        AuditEntry(
            sequence: row["seq"],
            body: Array(row["body"] as Data),
            previousHash: Array(row["prev_hash"] as Data),
            hash: Array(row["hash"] as Data)
        )
    }

    public func verifyAudit(
        checkpoints: [AuditCheckpoint],
        publicKey: [UInt8]?,
        progress: @escaping @Sendable (Int64) -> Void
    ) async throws -> AuditVerification {
        try await writer.read { db in
            var verifier = AuditVerifier(checkpoints: checkpoints, publicKey: publicKey)
            let rows = try Row.fetchCursor(db, sql: "SELECT seq, body, prev_hash, hash FROM audit_log ORDER BY seq")
            var count: Int64 = 0
            let empty = Data()
            while let row = try rows.next() {
                let sequence: Int64 = row[0]
                let keepGoing = try row.withUnsafeData(atIndex: 1) { body in
                    try row.withUnsafeData(atIndex: 2) { previous in
                        try row.withUnsafeData(atIndex: 3) { hash in
                            (body ?? empty).withUnsafeBytes { bodyBytes in
                                (previous ?? empty).withUnsafeBytes { previousBytes in
                                    (hash ?? empty).withUnsafeBytes { hashBytes in
                                        verifier.consume(
                                            sequence: sequence,
                                            body: bodyBytes,
                                            previousHash: previousBytes,
                                            hash: hashBytes
                                        )
                                    }
                                }
                            }
                        }
                    }
                }
                guard keepGoing else { break }
                count += 1
                if count % 100_000 == 0 { progress(count) }
            }
            return verifier.finish()
        }
    }
}
