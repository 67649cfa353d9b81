public import Countersign
public import Foundation
import GRDB

extension SQLiteStore {
    public func edit(_ edit: RequestEdit, now: Date) async throws -> ActionRequest {
        let assessmentText = CanonicalJSON.string(edit.assessment.storageJSON)
        return try await transaction { db in
            guard let request = try RequestRecord.find(edit.requestID, in: db)?.request() else {
                throw ApprovalError.notFound
            }
            guard request.state == .pending else { throw ApprovalError.alreadyDecided(request.state) }
            guard now < request.expiresAt else { throw ApprovalError.expired }
            guard request.isPayloadIntact else { throw ApprovalError.tampered }
            guard request.digest.matches(edit.originalDigest) else { throw ApprovalError.digestMismatch }
            guard try Self.decisions(for: request.id, in: db).isEmpty else { throw ApprovalError.editAfterApproval }
            guard edit.action.operation == request.action.operation, edit.action.principal == request.action.principal,
                edit.action.agent == request.action.agent
            else { throw ApprovalError.digestMismatch }
            try db.execute(
                sql: """
                    UPDATE action_requests
                    SET arguments = ?, digest = ?, assessment = ?, level = ?, impact = ?, updated_at = ?
                    WHERE id = ?
                    """,
                arguments: [
                    CanonicalJSON.string(edit.action.arguments), edit.digest.description, assessmentText,
                    edit.assessment.level.rawValue, edit.impact, now.timeIntervalSince1970, edit.requestID,
                ]
            )
            // A second edit keeps the agent's original arguments and names every change from them.
            let first = try Row.fetchOne(
                db,
                sql: "SELECT original_digest, original_arguments FROM request_edits WHERE request_id = ?",
                arguments: [edit.requestID]
            )
            let originalDigest: String = first?["original_digest"] ?? edit.originalDigest.description
            let originalArguments: String = first?["original_arguments"] ?? CanonicalJSON.string(edit.originalArguments)
            let changed = RequestEdit.changes(
                from: try JSONParser().parse(Array(originalArguments.utf8)),
                to: edit.action.arguments
            )
            try db.execute(
                sql: """
                    INSERT INTO request_edits (request_id, editor, edited_at, original_digest, original_arguments, changed)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (request_id) DO UPDATE SET editor = excluded.editor, edited_at = excluded.edited_at,
                        changed = excluded.changed
                    """,
                arguments: [
                    edit.requestID, edit.editor, now.timeIntervalSince1970, originalDigest, originalArguments,
                    CanonicalJSON.string(.array(changed.map(JSONValue.string))),
                ]
            )
            _ = try AuditWriter.append(
                .edited(edit, previousDigest: request.digest, changed: changed, at: now),
                in: db
            )
            guard let edited = try RequestRecord.find(edit.requestID, in: db)?.request() else {
                throw ApprovalError.notFound
            }
            return edited
        }
    }

    public func edit(of requestID: String) async throws -> RequestEdit? {
        try await pointRead { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT * FROM request_edits WHERE request_id = ?",
                    arguments: [requestID]
                ),
                let request = try RequestRecord.find(requestID, in: db)?.request()
            else { return nil }
            return try RequestEdit.stored(
                request: request,
                editor: row["editor"],
                editedAt: row["edited_at"],
                originalDigest: row["original_digest"],
                originalArguments: row["original_arguments"],
                changed: row["changed"]
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
        return try await transaction { db in
            guard let request = try RequestRecord.find(id, in: db)?.request(), request.state == .pending,
                assessment.level >= request.assessment.level,
                try Self.decisions(for: id, in: db).isEmpty
            else { return nil }
            try db.execute(
                sql:
                    "UPDATE action_requests SET assessment = ?, level = ?, updated_at = ? WHERE id = ? AND state = 'pending'",
                arguments: [assessmentText, assessment.level.rawValue, now.timeIntervalSince1970, id]
            )
            _ = try AuditWriter.append(
                .blastRadius(requestID: id, level: assessment.level, facts: facts, at: now),
                in: db
            )
            return try RequestRecord.find(id, in: db)?.request()
        }
    }
}
