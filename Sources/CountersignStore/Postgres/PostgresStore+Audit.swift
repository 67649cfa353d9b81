public import Countersign
public import Foundation
import Logging
import PostgresNIO

/// Appends to the audit hash chain inside the caller's transaction.
///
/// The one-row head is locked (`FOR UPDATE`) before the entry is chained to it, so appends from
/// every instance are serialised in the database and the chain never forks; the lock is held until
/// the caller's transaction commits with the change the entry records.
enum PostgresAudit {
    @discardableResult
    static func append(
        _ event: AuditEvent,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws
        -> AuditEntry
    {
        try await append(try AuditChain.prepare(event), on: connection, logger: logger)
    }

    @discardableResult
    static func append(
        _ prepared: AuditChain.PreparedEvent,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> AuditEntry {
        guard
            let head = try await connection.query(
                "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
                logger: logger
            )
            .collect().first
        else { throw StoreError.corrupt("the audit chain's head is missing") }
        let cells = head.makeRandomAccess()
        let sequence = try cells[0].decode(Int64.self) + 1
        let previous = Array(try cells[1].decode(Data.self))
        let entry = AuditChain.entry(for: prepared, sequence: sequence, previousHash: previous)
        // One round trip: the entry and the new head together.
        try await connection.query(
            """
            WITH appended AS (
                INSERT INTO audit_log (seq, body, prev_hash, hash, request_id)
                VALUES (\(sequence), \(Data(entry.body)), \(Data(entry.previousHash)), \(Data(entry.hash)),
                \(prepared.requestID))
            )
            UPDATE audit_head SET seq = \(sequence), hash = \(Data(entry.hash)) WHERE id = 1
            """,
            logger: logger
        )
        return entry
    }

    static func entry(_ row: PostgresRow) throws -> AuditEntry {
        let cells = row.makeRandomAccess()
        return AuditEntry(
            sequence: try cells[0].decode(Int64.self),
            body: Array(try cells[1].decode(Data.self)),
            previousHash: Array(try cells[2].decode(Data.self)),
            hash: Array(try cells[3].decode(Data.self))
        )
    }
}

extension PostgresStore: AuditStore {
    @discardableResult
    public func append(_ event: AuditEvent) async throws -> AuditEntry {
        let prepared = try AuditChain.prepare(event)
        return try await transaction { connection in
            try await PostgresAudit.append(prepared, on: connection, logger: logger)
        }
    }

    public func auditHead() async throws -> (size: Int64, hash: [UInt8]) {
        guard let row = try await rows("SELECT seq, hash FROM audit_head WHERE id = 1").first else {
            return (0, AuditChain.genesis)
        }
        let cells = row.makeRandomAccess()
        return (try cells[0].decode(Int64.self), Array(try cells[1].decode(Data.self)))
    }

    public func auditEntries(after sequence: Int64, limit: Int) async throws -> [AuditEntry] {
        try await rows(
            "SELECT seq, body, prev_hash, hash FROM audit_log WHERE seq > \(sequence) ORDER BY seq LIMIT \(limit)"
        ).map(PostgresAudit.entry)
    }

    public func auditEntries(forRequest requestID: String) async throws -> [AuditEntry] {
        try await rows(
            "SELECT seq, body, prev_hash, hash FROM audit_log WHERE request_id = \(requestID) ORDER BY seq"
        ).map(PostgresAudit.entry)
    }

    public func verifyAudit(
        checkpoints: [AuditCheckpoint],
        publicKey: [UInt8]?,
        progress: @escaping @Sendable (Int64) -> Void
    ) async throws -> AuditVerification {
        var verifier = AuditVerifier(checkpoints: checkpoints, publicKey: publicKey)
        var after: Int64 = 0
        var count: Int64 = 0
        // In pages, so that a long log is read with bounded memory.
        while true {
            let page = try await auditEntries(after: after, limit: 10_000)
            guard !page.isEmpty else { break }
            for entry in page {
                let keepGoing = entry.body.withUnsafeBytes { body in
                    entry.previousHash.withUnsafeBytes { previous in
                        entry.hash.withUnsafeBytes { hash in
                            verifier.consume(sequence: entry.sequence, body: body, previousHash: previous, hash: hash)
                        }
                    }
                }
                guard keepGoing else { return verifier.finish() }
                count += 1
                if count % 100_000 == 0 { progress(count) }
            }
            after = page.last?.sequence ?? after
        }
        return verifier.finish()
    }
}

extension PostgresStore {
    public func edit(_ edit: RequestEdit, now: Date) async throws -> ActionRequest {
        let assessmentText = CanonicalJSON.string(edit.assessment.storageJSON)
        return try await transaction { connection in
            guard let request = try await find(edit.requestID, on: connection, lock: true) else {
                throw ApprovalError.notFound
            }
            guard request.state == .pending else { throw ApprovalError.alreadyDecided(request.state) }
            guard now < request.expiresAt else { throw ApprovalError.expired }
            guard request.isPayloadIntact else { throw ApprovalError.tampered }
            guard request.digest.matches(edit.originalDigest) else { throw ApprovalError.digestMismatch }
            guard try await decisions(for: request.id, on: connection).isEmpty else {
                throw ApprovalError.editAfterApproval
            }
            guard edit.action.operation == request.action.operation, edit.action.principal == request.action.principal,
                edit.action.agent == request.action.agent
            else { throw ApprovalError.digestMismatch }
            try await connection.query(
                """
                UPDATE action_requests SET arguments = \(CanonicalJSON.string(edit.action.arguments)),
                    digest = \(edit.digest.description), assessment = \(assessmentText),
                    level = \(edit.assessment.level.rawValue), impact = \(edit.impact), updated_at = \(now.timeIntervalSince1970)
                WHERE id = \(edit.requestID)
                """,
                logger: logger
            )
            // A second edit keeps the agent's original arguments and names every change from them.
            let first = try await rows(
                "SELECT original_digest, original_arguments FROM request_edits WHERE request_id = \(edit.requestID)",
                on: connection
            ).first?.makeRandomAccess()
            let originalDigest = try first?[0].decode(String.self) ?? edit.originalDigest.description
            let originalArguments =
                try first?[1].decode(String.self) ?? CanonicalJSON.string(edit.originalArguments)
            let changed = RequestEdit.changes(
                from: try JSONParser().parse(Array(originalArguments.utf8)),
                to: edit.action.arguments
            )
            let changedText = CanonicalJSON.string(.array(changed.map(JSONValue.string)))
            try await connection.query(
                """
                INSERT INTO request_edits (request_id, editor, edited_at, original_digest, original_arguments, changed)
                VALUES (\(edit.requestID), \(edit.editor), \(now.timeIntervalSince1970), \(originalDigest),
                    \(originalArguments), \(changedText))
                ON CONFLICT (request_id) DO UPDATE SET editor = excluded.editor, edited_at = excluded.edited_at,
                    changed = excluded.changed
                """,
                logger: logger
            )
            try await notifyChange(of: edit.requestID, on: connection)
            try await PostgresAudit.append(
                .edited(edit, previousDigest: request.digest, changed: changed, at: now),
                on: connection,
                logger: logger
            )
            guard let edited = try await find(edit.requestID, on: connection) else { throw ApprovalError.notFound }
            return edited
        }
    }

    public func edit(of requestID: String) async throws -> RequestEdit? {
        try await withConnection { connection in
            guard
                let row = try await rows(
                    "SELECT editor, edited_at, original_digest, original_arguments, changed FROM request_edits WHERE request_id = \(requestID)",
                    on: connection
                ).first?.makeRandomAccess(),
                let request = try await find(requestID, on: connection)
            else { return nil }
            return try RequestEdit.stored(
                request: request,
                editor: try row[0].decode(String.self),
                editedAt: try row[1].decode(Double.self),
                originalDigest: try row[2].decode(String.self),
                originalArguments: try row[3].decode(String.self),
                changed: try row[4].decode(String.self)
            )
        }
    }

    public func addBlastRadius(
        id: String,
        assessment: Assessment,
        facts: [RiskReason],
        now: Date
    ) async throws -> ActionRequest? {
        let assessmentText = CanonicalJSON.string(assessment.storageJSON)
        return try await transaction { connection in
            guard let request = try await find(id, on: connection, lock: true), request.state == .pending,
                assessment.level >= request.assessment.level,
                try await decisions(for: id, on: connection).isEmpty
            else { return nil }
            try await connection.query(
                "UPDATE action_requests SET assessment = \(assessmentText), level = \(assessment.level.rawValue), updated_at = \(now.timeIntervalSince1970) WHERE id = \(id) AND state = 'pending'",
                logger: logger
            )
            try await notifyChange(of: id, on: connection)
            try await PostgresAudit.append(
                .blastRadius(requestID: id, level: assessment.level, facts: facts, at: now),
                on: connection,
                logger: logger
            )
            return try await find(id, on: connection)
        }
    }
}
