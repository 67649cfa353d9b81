import Countersign
import Foundation
import GRDB
import Synchronization

/// A row of `action_requests`.
struct RequestRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "action_requests"

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let state = Column(CodingKeys.state)
        static let agent = Column(CodingKeys.agent)
        static let idempotencyKey = Column(CodingKeys.idempotencyKey)
        static let expiresAt = Column(CodingKeys.expiresAt)
        static let createdAt = Column(CodingKeys.createdAt)
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

    enum CodingKeys: String, CodingKey {
        case id, operation, arguments, principal, agent, digest, state, assessment, level, impact, scopes
        case agentReason = "agent_reason"
        case idempotencyKey = "idempotency_key"
        case runId = "run_id"
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case updatedAt = "updated_at"
        case result, failure
    }

    /// Reads a row by column name, without `Codable` (this is on every request's hot path).
    init(row: Row) throws {
        id = row["id"]
        operation = row["operation"]
        arguments = row["arguments"]
        principal = row["principal"]
        agent = row["agent"]
        digest = row["digest"]
        state = row["state"]
        assessment = row["assessment"]
        level = row["level"]
        impact = row["impact"]
        scopes = row["scopes"]
        agentReason = row["agent_reason"]
        idempotencyKey = row["idempotency_key"]
        runId = row["run_id"]
        createdAt = row["created_at"]
        expiresAt = row["expires_at"]
        updatedAt = row["updated_at"]
        result = row["result"]
        failure = row["failure"]
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["operation"] = operation
        container["arguments"] = arguments
        container["principal"] = principal
        container["agent"] = agent
        container["digest"] = digest
        container["state"] = state
        container["assessment"] = assessment
        container["level"] = level
        container["impact"] = impact
        container["scopes"] = scopes
        container["agent_reason"] = agentReason
        container["idempotency_key"] = idempotencyKey
        container["run_id"] = runId
        container["created_at"] = createdAt
        container["expires_at"] = expiresAt
        container["updated_at"] = updatedAt
        container["result"] = result
        container["failure"] = failure
    }

    /// The request with this id, read with a cached statement.
    static func find(_ id: String, in db: Database) throws -> RequestRecord? {
        try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM action_requests WHERE id = ?"), arguments: [id])
            .map { try RequestRecord(row: $0) }
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
                argumentsText: arguments,
                assessmentText: assessment,
                scopesText: scopes,
                arguments: request.action.arguments,
                assessment: request.assessment,
                scopes: request.scopes
            )
        )
    }

    /// The domain value.
    ///
    /// The digest is read back as stored, so a payload edited in the database
    /// no longer matches it: the executor recomputes and compares before running anything.
    func request() throws -> ActionRequest {
        guard let operationID = OperationID(operation), let storedDigest = ActionDigest(digest),
            let requestState = RequestState(rawValue: state)
        else { throw StoreError.corrupt("request \(id) has an invalid operation, digest or state") }
        let parser = JSONParser()
        let parts: DecodedParts
        if let cached = DecodedParts.cache.lookup(id, arguments: arguments, assessment: assessment, scopes: scopes) {
            parts = cached
        } else {
            guard let storedAssessment = Assessment(storageJSON: try parser.parse(assessment)) else {
                throw StoreError.corrupt("request \(id) has an unreadable assessment")
            }
            parts = DecodedParts(
                argumentsText: arguments,
                assessmentText: assessment,
                scopesText: scopes,
                arguments: try parser.parse(arguments),
                assessment: storedAssessment,
                scopes: try parser.parse(scopes).arrayValue?.compactMap(\.stringValue) ?? []
            )
            DecodedParts.cache.store(id, parts)
        }
        let action = ProposedAction(
            operation: operationID,
            arguments: parts.arguments,
            principal: principal,
            agent: agent
        )
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

/// The parsed JSON columns of a request, reused while the stored text is byte for byte the same.
///
/// Parsing them was the largest share of the writer's work per decision. The cache is keyed by the
/// stored text itself, compared as UTF-8 bytes (not by `String` equality, which treats canonically
/// equivalent text as equal), so a payload edited in the database is always parsed afresh and
/// fails its digest check.
struct DecodedParts: Sendable {
    let argumentsText: String
    let assessmentText: String
    let scopesText: String
    let arguments: JSONValue
    let assessment: Assessment
    let scopes: [String]

    static let cache = Cache(capacity: 256)

    final class Cache: Sendable {
        private let entries = Mutex<[String: DecodedParts]>([:])
        private let capacity: Int

        init(capacity: Int) { self.capacity = capacity }

        func lookup(_ id: String, arguments: String, assessment: String, scopes: String) -> DecodedParts? {
            guard let entry = entries.withLock({ $0[id] }),
                entry.argumentsText.utf8.elementsEqual(arguments.utf8),
                entry.assessmentText.utf8.elementsEqual(assessment.utf8),
                entry.scopesText.utf8.elementsEqual(scopes.utf8)
            else { return nil }
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
struct DecisionRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "decisions"

    enum Columns {
        static let requestID = Column(CodingKeys.requestId)
        static let id = Column(CodingKeys.id)
    }

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

    enum CodingKeys: String, CodingKey {
        case id
        case requestId = "request_id"
        case approver, verdict, digest
        case authMethod = "auth_method"
        case authTime = "auth_time"
        case acr, amr
        case decidedAt = "decided_at"
        case reason, confirmation
    }

    init(row: Row) throws {
        id = row["id"]
        requestId = row["request_id"]
        approver = row["approver"]
        verdict = row["verdict"]
        digest = row["digest"]
        authMethod = row["auth_method"]
        authTime = row["auth_time"]
        acr = row["acr"]
        amr = row["amr"]
        decidedAt = row["decided_at"]
        reason = row["reason"]
        confirmation = row["confirmation"]
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["request_id"] = requestId
        container["approver"] = approver
        container["verdict"] = verdict
        container["digest"] = digest
        container["auth_method"] = authMethod
        container["auth_time"] = authTime
        container["acr"] = acr
        container["amr"] = amr
        container["decided_at"] = decidedAt
        container["reason"] = reason
        container["confirmation"] = confirmation
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
