import Countersign
import Foundation
import GRDB
import Synchronization

/// A row of `action_requests`.
struct RequestRecord: FetchableRecord, TableRecord {
    static let databaseTableName = "action_requests"

    enum Columns {
        static let state = Column("state")
        static let agent = Column("agent")
        static let idempotencyKey = Column("idempotency_key")
        static let expiresAt = Column("expires_at")
        static let createdAt = Column("created_at")
    }

    var id: String
    var operation: String
    var arguments: String
    var principal: String
    var agent: String
    var digest: String
    var state: String
    var assessment: String
    var level: String
    var impact: String
    var scopes: String
    var agentReason: String?
    var idempotencyKey: String?
    var runId: String?
    var createdAt: Double
    var expiresAt: Double
    var updatedAt: Double
    var result: String?
    var failure: String?

    /// The columns every read selects, in the order ``init(row:)`` reads them.
    static let columnNames = [
        "id", "operation", "arguments", "principal", "agent", "digest", "state", "assessment", "level", "impact",
        "scopes", "agent_reason", "idempotency_key", "run_id", "created_at", "expires_at", "updated_at", "result",
        "failure",
    ]

    static var databaseSelection: [any SQLSelectable] { columnNames.map { Column($0) } }

    /// Reads a row of ``databaseSelection`` by position, without `Codable` or a lookup by name
    /// (this is on every request's hot path).
    init(row: Row) throws {
        id = row[0]
        operation = row[1]
        arguments = row[2]
        principal = row[3]
        agent = row[4]
        digest = row[5]
        state = row[6]
        assessment = row[7]
        level = row[8]
        impact = row[9]
        scopes = row[10]
        agentReason = row[11]
        idempotencyKey = row[12]
        runId = row[13]
        createdAt = row[14]
        expiresAt = row[15]
        updatedAt = row[16]
        result = row[17]
        failure = row[18]
    }

    /// The values of ``columnNames``, in order.
    var databaseValues: StatementArguments {
        StatementArguments(
            [
                id, operation, arguments, principal, agent, digest, state, assessment, level, impact, scopes,
                agentReason,
                idempotencyKey, runId, createdAt, expiresAt, updatedAt, result, failure,
            ] as [(any DatabaseValueConvertible)?]
        )
    }

    /// The request with this id, read with a cached statement.
    static func find(_ id: String, in db: Database) throws -> RequestRecord? {
        // Read in place from the cursor's row: no copy of the row. The row is only valid while its
        // cursor lives (ending the cursor resets the statement).
        let cursor = try Row.fetchCursor(try db.cachedStatement(sql: findSQL), arguments: [id])
        return try withExtendedLifetime(cursor) { try cursor.next().map { try RequestRecord(row: $0) } }
    }

    /// The request an agent made with an idempotency key, if any.
    static func find(agent: String, idempotencyKey: String, in db: Database) throws -> RequestRecord? {
        let cursor = try Row.fetchCursor(try db.cachedStatement(sql: findByKeySQL), arguments: [agent, idempotencyKey])
        return try withExtendedLifetime(cursor) { try cursor.next().map { try RequestRecord(row: $0) } }
    }

    private static let findSQL = "SELECT \(columnNames.joined(separator: ", ")) FROM action_requests WHERE id = ?"
    private static let findByKeySQL =
        "SELECT \(columnNames.joined(separator: ", ")) FROM action_requests WHERE agent = ? AND idempotency_key = ?"
    private static let insertSQL = """
        INSERT INTO action_requests (\(columnNames.joined(separator: ", ")))
        VALUES (\(Array(repeating: "?", count: columnNames.count).joined(separator: ", ")))
        """

    /// Inserts the row with a cached statement.
    func insertRow(_ db: Database) throws {
        try db.cachedStatement(sql: Self.insertSQL).execute(arguments: databaseValues)
    }

    init(_ request: ActionRequest) throws {
        id = request.id
        operation = request.action.operation.description
        arguments = CanonicalJSON.string(request.action.arguments)
        principal = request.action.principal
        agent = request.action.agent
        digest = request.digest.description
        state = request.state.rawValue
        assessment = CanonicalJSON.string(request.assessment.storageJSON)
        level = request.assessment.level.rawValue
        impact = request.impact
        scopes = CanonicalJSON.string(.array(request.scopes.map(JSONValue.string)))
        agentReason = request.agentReason
        idempotencyKey = request.idempotencyKey
        runId = request.runID
        createdAt = request.createdAt.timeIntervalSince1970
        expiresAt = request.expiresAt.timeIntervalSince1970
        updatedAt = request.updatedAt.timeIntervalSince1970
        result = request.result.map(CanonicalJSON.string)
        failure = request.failure
        DecodedParts.cache.store(
            id,
            DecodedParts(
                texts: texts,
                action: request.action,
                assessment: request.assessment,
                scopes: request.scopes
            )
        )
    }

    /// The stored text the parsed-columns cache is keyed by.
    var texts: DecodedParts.Texts {
        DecodedParts.Texts(
            operation: operation,
            arguments: arguments,
            principal: principal,
            agent: agent,
            assessment: assessment,
            scopes: scopes
        )
    }

    /// The domain value.
    ///
    /// The digest is read back as stored, while the action's own digest is computed from the stored
    /// members (or reused with them while their text is byte for byte the same), so a payload edited in
    /// the database no longer matches: the executor compares the two before running anything.
    func request() throws -> ActionRequest {
        guard let operationID = OperationID(operation), let storedDigest = ActionDigest(digest),
            let requestState = RequestState(rawValue: state)
        else { throw StoreError.corrupt("request \(id) has an invalid operation, digest or state") }
        let parser = JSONParser()
        let parts: DecodedParts
        if let cached = DecodedParts.cache.lookup(id, texts) {
            parts = cached
        } else {
            guard let storedAssessment = Assessment(storageJSON: try parser.parse(assessment)) else {
                throw StoreError.corrupt("request \(id) has an unreadable assessment")
            }
            parts = DecodedParts(
                texts: texts,
                action: ProposedAction(
                    operation: operationID,
                    arguments: try parser.parse(arguments),
                    principal: principal,
                    agent: agent
                ),
                assessment: storedAssessment,
                scopes: try parser.parse(scopes).arrayValue?.compactMap(\.stringValue) ?? []
            )
            DecodedParts.cache.store(id, parts)
        }
        let action = parts.action
        var request = ActionRequest(
            id: id,
            action: action,
            state: requestState,
            assessment: parts.assessment,
            impact: impact,
            scopes: parts.scopes,
            agentReason: agentReason,
            idempotencyKey: idempotencyKey,
            runID: runId,
            createdAt: Date(timeIntervalSince1970: createdAt),
            expiresAt: Date(timeIntervalSince1970: expiresAt),
            result: try result.map { try parser.parse($0) },
            failure: failure
        )
        request.updatedAt = Date(timeIntervalSince1970: updatedAt)
        return request.withStoredDigest(storedDigest)
    }
}

/// The parsed columns of a request, and its action's digest, reused while the stored text is byte
/// for byte the same.
///
/// Parsing them and hashing the action was the largest share of the writer's work per decision. The cache is keyed by the
/// stored text itself, compared as UTF-8 bytes (not by `String` equality, which treats canonically
/// equivalent text as equal), so a payload edited in the database is always parsed afresh and
/// fails its digest check.
struct DecodedParts: Sendable {
    /// The stored text the parts were read from (or written as).
    struct Texts: Sendable {
        let operation: String
        let arguments: String
        let principal: String
        let agent: String
        let assessment: String
        let scopes: String

        /// Whether both are the same bytes, member by member.
        func isIdentical(to other: Texts) -> Bool {
            operation.utf8.elementsEqual(other.operation.utf8) && arguments.utf8.elementsEqual(other.arguments.utf8)
                && principal.utf8.elementsEqual(other.principal.utf8) && agent.utf8.elementsEqual(other.agent.utf8)
                && assessment.utf8.elementsEqual(other.assessment.utf8) && scopes.utf8.elementsEqual(other.scopes.utf8)
        }
    }

    let texts: Texts
    /// The action, with the digest computed from exactly these members.
    let action: ProposedAction
    let assessment: Assessment
    let scopes: [String]

    static let cache = Cache(capacity: 256)

    final class Cache: Sendable {
        private let entries = Mutex<[String: DecodedParts]>([:])
        private let capacity: Int

        init(capacity: Int) { self.capacity = capacity }

        func lookup(_ id: String, _ texts: Texts) -> DecodedParts? {
            guard let entry = entries.withLock({ $0[id] }), entry.texts.isIdentical(to: texts) else { return nil }
            return entry
        }

        func store(_ id: String, _ parts: DecodedParts) {
            entries.withLock { entries in
                if entries.count >= capacity && entries[id] == nil { entries.removeAll(keepingCapacity: true) }
                entries[id] = parts
            }
        }
    }
}

/// A row of `decisions`.
struct DecisionRecord {
    var id: Int64?
    var requestId: String
    var approver: String
    var verdict: String
    var digest: String
    var authMethod: String
    var authTime: Double
    var acr: String?
    var amr: String
    var decidedAt: Double
    var reason: String?
    var confirmation: String?

    /// The columns every read selects, in the order ``init(row:)`` reads them.
    static let columnNames = [
        "id", "request_id", "approver", "verdict", "digest", "auth_method", "auth_time", "acr", "amr", "decided_at",
        "reason", "confirmation",
    ]

    /// Reads a row of ``columnNames`` by position.
    init(row: Row) throws {
        id = row[0]
        requestId = row[1]
        approver = row[2]
        verdict = row[3]
        digest = row[4]
        authMethod = row[5]
        authTime = row[6]
        acr = row[7]
        amr = row[8]
        decidedAt = row[9]
        reason = row[10]
        confirmation = row[11]
    }

    /// Reads the decisions on one request, oldest first.
    static let forRequestSQL = """
        SELECT \(columnNames.joined(separator: ", ")) FROM decisions WHERE request_id = ? ORDER BY id
        """
    private static let insertSQL = """
        INSERT INTO decisions (\(columnNames.dropFirst().joined(separator: ", ")))
        VALUES (\(Array(repeating: "?", count: columnNames.count - 1).joined(separator: ", ")))
        """

    /// Inserts the row (its `id` assigned by SQLite) with a cached statement.
    func insertRow(_ db: Database) throws {
        try db.cachedStatement(sql: Self.insertSQL).execute(
            arguments: StatementArguments(
                [
                    requestId, approver, verdict, digest, authMethod, authTime, acr, amr, decidedAt, reason,
                    confirmation,
                ] as [(any DatabaseValueConvertible)?]
            )
        )
    }

    init(_ decision: Decision) {
        id = nil
        requestId = decision.requestID
        approver = decision.approver
        verdict = decision.verdict.rawValue
        digest = decision.digest.description
        authMethod = decision.authentication.method.rawValue
        authTime = decision.authentication.authTime.timeIntervalSince1970
        acr = decision.authentication.acr
        amr = CanonicalJSON.string(.array(decision.authentication.amr.map(JSONValue.string)))
        decidedAt = decision.decidedAt.timeIntervalSince1970
        reason = decision.reason
        confirmation = decision.confirmation
    }

    func decision() throws -> Decision {
        guard let verdictValue = Decision.Verdict(rawValue: verdict), let digestValue = ActionDigest(digest),
            let method = AuthenticationRecord.Method(rawValue: authMethod)
        else { throw StoreError.corrupt("decision \(id ?? 0) is unreadable") }
        return Decision(
            requestID: requestId,
            approver: approver,
            verdict: verdictValue,
            digest: digestValue,
            authentication: AuthenticationRecord(
                method: method,
                authTime: Date(timeIntervalSince1970: authTime),
                acr: acr,
                amr: try JSONParser().parse(amr).arrayValue?.compactMap(\.stringValue) ?? []
            ),
            decidedAt: Date(timeIntervalSince1970: decidedAt),
            reason: reason,
            confirmation: confirmation
        )
    }
}

extension RequestEdit {
    /// An approver's edit as a store reads it back: the `request_edits` columns as stored, and the
    /// request as it stands (the edited action, its assessment and impact).
    static func stored(
        request: ActionRequest,
        editor: String,
        editedAt: Double,
        originalDigest: String,
        originalArguments: String,
        changed: String
    ) throws -> RequestEdit {
        guard let digest = ActionDigest(originalDigest),
            let paths = try JSONParser().parse(Array(changed.utf8)).arrayValue
        else { throw StoreError.corrupt("an approver's edit") }
        return RequestEdit(
            requestID: request.id,
            editor: editor,
            editedAt: Date(timeIntervalSince1970: editedAt),
            originalDigest: digest,
            originalArguments: try JSONParser().parse(Array(originalArguments.utf8)),
            action: request.action,
            assessment: request.assessment,
            impact: request.impact,
            changed: paths.compactMap(\.stringValue)
        )
    }
}

extension ActionRequest {
    /// The request with an execution's result or failure, and the transition that records it.
    static func finishing(
        _ request: ActionRequest,
        with outcome: ExecutionOutcome
    ) -> (ActionRequest, RequestTransition) {
        var finished = request
        switch outcome {
        case .executed(let result):
            finished.result = result
            return (finished, .succeed)
        case .failed(let reason):
            finished.failure = reason
            return (finished, .fail)
        }
    }
}
