public import Countersign
public import Foundation
import PostgresNIO
import Synchronization

extension RequestRecord {
    static let selectColumns = columnNames.joined(separator: ", ")

    /// Reads a row that selected ``columnNames`` in order.
    init(postgres row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        id = try cells[0].decode(String.self)
        operation = try cells[1].decode(String.self)
        arguments = try cells[2].decode(String.self)
        principal = try cells[3].decode(String.self)
        agent = try cells[4].decode(String.self)
        digest = try cells[5].decode(String.self)
        state = try cells[6].decode(String.self)
        assessment = try cells[7].decode(String.self)
        level = try cells[8].decode(String.self)
        impact = try cells[9].decode(String.self)
        scopes = try cells[10].decode(String.self)
        agentReason = try cells[11].decode(String?.self)
        idempotencyKey = try cells[12].decode(String?.self)
        runId = try cells[13].decode(String?.self)
        createdAt = try cells[14].decode(Double.self)
        expiresAt = try cells[15].decode(Double.self)
        updatedAt = try cells[16].decode(Double.self)
        result = try cells[17].decode(String?.self)
        failure = try cells[18].decode(String?.self)
    }
}

extension DecisionRecord {
    init(postgres row: PostgresRow) throws {
        let cells = row.makeRandomAccess()
        id = try cells[0].decode(Int64.self)
        requestId = try cells[1].decode(String.self)
        approver = try cells[2].decode(String.self)
        verdict = try cells[3].decode(String.self)
        digest = try cells[4].decode(String.self)
        authMethod = try cells[5].decode(String.self)
        authTime = try cells[6].decode(Double.self)
        acr = try cells[7].decode(String?.self)
        amr = try cells[8].decode(String.self)
        decidedAt = try cells[9].decode(Double.self)
        reason = try cells[10].decode(String?.self)
        confirmation = try cells[11].decode(String?.self)
    }
}

extension PostgresStore: ActionStore {
    /// The request with this id, locked for the transaction when `lock` (decisions on one request
    /// are serialised so that two approvers cannot both count as the first).
    func find(_ id: String, on connection: PostgresConnection, lock: Bool = false) async throws -> ActionRequest? {
        let query: PostgresQuery =
            lock
            ? "SELECT \(unescaped: RequestRecord.selectColumns) FROM action_requests WHERE id = \(id) FOR UPDATE"
            : "SELECT \(unescaped: RequestRecord.selectColumns) FROM action_requests WHERE id = \(id)"
        return try await rows(query, on: connection).first.map { try RequestRecord(postgres: $0).request() }
    }

    func insert(_ record: RequestRecord, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO action_requests (\(unescaped: RequestRecord.selectColumns)) VALUES (
                \(record.id), \(record.operation), \(record.arguments), \(record.principal), \(record.agent),
                \(record.digest), \(record.state), \(record.assessment), \(record.level), \(record.impact),
                \(record.scopes), \(record.agentReason), \(record.idempotencyKey), \(record.runId),
                \(record.createdAt), \(record.expiresAt), \(record.updatedAt), \(record.result), \(record.failure))
            """,
            logger: logger
        )
    }

    /// The request an agent already made with this request's idempotency key, if any.
    func existing(_ request: ActionRequest, on connection: PostgresConnection) async throws -> ActionRequest? {
        guard let key = request.idempotencyKey else { return nil }
        let agent = request.action.agent
        guard
            let row = try await rows(
                "SELECT \(unescaped: RequestRecord.selectColumns) FROM action_requests WHERE agent = \(agent) AND idempotency_key = \(key)",
                on: connection
            ).first
        else { return nil }
        let stored = try RequestRecord(postgres: row).request()
        guard stored.digest.matches(request.digest) else { throw StoreError.idempotencyConflict(key) }
        return stored
    }

    public func create(_ request: ActionRequest) async throws -> ActionRequest {
        let record = try RequestRecord(request)
        let events = try AuditEvent.intake(of: request).map { event throws(AuditError) in try AuditChain.prepare(event)
        }
        do {
            return try await transaction { connection in
                if let existing = try await existing(request, on: connection) { return existing }
                try await insert(record, on: connection)
                try await notifyChange(of: request.id, on: connection)
                for event in events { _ = try await PostgresAudit.append(event, on: connection, logger: logger) }
                return request
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" && request.idempotencyKey != nil {
            // Another instance stored the same key first: answer as if this one had found it.
            return try await transaction { connection in
                guard let existing = try await existing(request, on: connection) else { throw error }
                return existing
            }
        }
    }

    public func createClaimed(
        _ request: ActionRequest,
        now: Date
    ) async throws -> (request: ActionRequest, claimed: Bool) {
        guard request.state == .autoApproved else { return (try await create(request), false) }
        let record = try RequestRecord(request)
        let events = try
            (AuditEvent.intake(of: request)
            + [AuditEvent(kind: AuditKind.executing, actor: "system", requestID: request.id, at: now)])
            .map { event throws(AuditError) in try AuditChain.prepare(event) }
        return try await droppingFenceUnlessCommitted(of: request.id) {
            try await transaction { connection in
                if let existing = try await existing(request, on: connection) { return (existing, false) }
                try await insert(record, on: connection)
                let claimed = try await apply(.claim, to: request, now: now, on: connection)
                for event in events { _ = try await PostgresAudit.append(event, on: connection, logger: logger) }
                return (claimed, true)
            }
        }
    }

    public func request(id: String) async throws -> ActionRequest? {
        try await rows("SELECT \(unescaped: RequestRecord.selectColumns) FROM action_requests WHERE id = \(id)").first
            .map { try RequestRecord(postgres: $0).request() }
    }

    public func requests(_ query: RequestQuery) async throws -> [ActionRequest] {
        let states = query.states.map(\.rawValue)
        let limit = query.limit
        let found: [PostgresRow]
        switch (states.isEmpty, query.agent) {
        case (true, nil):
            found = try await rows(
                "SELECT \(unescaped: RequestRecord.selectColumns) FROM action_requests ORDER BY created_at DESC LIMIT \(limit)"
            )
        case (false, nil):
            found = try await rows(
                "SELECT \(unescaped: RequestRecord.selectColumns) FROM action_requests WHERE state = ANY(\(states)) ORDER BY created_at DESC LIMIT \(limit)"
            )
        case (true, let agent?):
            found = try await rows(
                "SELECT \(unescaped: RequestRecord.selectColumns) FROM action_requests WHERE agent = \(agent) ORDER BY created_at DESC LIMIT \(limit)"
            )
        case (false, let agent?):
            found = try await rows(
                "SELECT \(unescaped: RequestRecord.selectColumns) FROM action_requests WHERE state = ANY(\(states)) AND agent = \(agent) ORDER BY created_at DESC LIMIT \(limit)"
            )
        }
        return try found.map { try RequestRecord(postgres: $0).request() }
    }

    public func decisions(for requestID: String) async throws -> [Decision] {
        try await withConnection { connection in try await decisions(for: requestID, on: connection) }
    }

    func decisions(for requestID: String, on connection: PostgresConnection) async throws -> [Decision] {
        try await rows(
            "SELECT \(unescaped: DecisionRecord.columnNames.joined(separator: ", ")) FROM decisions WHERE request_id = \(requestID) ORDER BY id",
            on: connection
        ).map { try DecisionRecord(postgres: $0).decision() }
    }

    public func decide(_ decision: Decision, now: Date) async throws -> ActionRequest {
        let event = DecisionRecord(decision)
        return try await transaction { connection in
            guard var request = try await find(decision.requestID, on: connection, lock: true) else {
                throw ApprovalError.notFound
            }
            let prior = try await decisions(for: request.id, on: connection)
            let transition = try request.admit(decision, prior: prior, now: now)
            try await connection.query(
                """
                INSERT INTO decisions (request_id, approver, verdict, digest, auth_method, auth_time, acr, amr,
                    decided_at, reason, confirmation)
                VALUES (\(event.requestId), \(event.approver), \(event.verdict), \(event.digest), \(event.authMethod),
                    \(event.authTime), \(event.acr), \(event.amr), \(event.decidedAt), \(event.reason), \(event.confirmation))
                """,
                logger: logger
            )
            let approvals = prior.filter { $0.verdict == .approve }.count + (decision.verdict == .approve ? 1 : 0)
            if let transition {
                if transition == .deny { request.failure = "denied by \(decision.approver): \(decision.reason ?? "")" }
                request = try await apply(transition, to: request, now: now, on: connection)
            } else {
                try await notifyChange(of: request.id, on: connection)
            }
            _ = try await PostgresAudit.append(
                .decision(
                    decision,
                    transition: transition,
                    approvals: approvals,
                    required: request.assessment.requirements.approvals
                ),
                on: connection,
                logger: logger
            )
            return request
        }
    }

    public func claim(id: String, now: Date) async throws -> ActionRequest? {
        let event = try AuditChain.prepare(
            AuditEvent(kind: AuditKind.executing, actor: "system", requestID: id, at: now)
        )
        return try await droppingFenceUnlessCommitted(of: id) {
            try await claimed(id, event: event, now: now)
        }
    }

    /// Runs a claim's transaction; if it does not commit, the fencing number it recorded is dropped.
    private func droppingFenceUnlessCommitted<T>(of id: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            _ = heldFences.withLock { $0.removeValue(forKey: id) }
            throw error
        }
    }

    private func claimed(_ id: String, event: AuditChain.PreparedEvent, now: Date) async throws -> ActionRequest? {
        try await transaction { connection in
            guard let request = try await find(id, on: connection),
                RequestTransition.claim.from.contains(request.state)
            else { return nil }
            // One conditional update: of many instances claiming at once, exactly one changes the row.
            let claimed: ActionRequest
            do {
                claimed = try await apply(.claim, to: request, now: now, on: connection)
            } catch is StoreError {
                return nil
            }
            _ = try await PostgresAudit.append(event, on: connection, logger: logger)
            return claimed
        }
    }

    public func complete(id: String, outcome: ExecutionOutcome, now: Date) async throws -> ActionRequest {
        let event = try AuditChain.prepare(.completion(of: id, outcome: outcome, at: now))
        let fence = heldFences.withLock { $0.removeValue(forKey: id) }
        return try await transaction { connection in
            guard let request = try await find(id, on: connection) else { throw StoreError.notFound(id) }
            let (finished, transition) = ActionRequest.finishing(request, with: outcome)
            let completed = try await apply(transition, to: finished, now: now, fence: fence, on: connection)
            _ = try await PostgresAudit.append(event, on: connection, logger: logger)
            return completed
        }
    }

    public func complete(claimed: ActionRequest, outcome: ExecutionOutcome, now: Date) async throws -> ActionRequest {
        guard claimed.state == .executing else { return try await complete(id: claimed.id, outcome: outcome, now: now) }
        let event = try AuditChain.prepare(.completion(of: claimed.id, outcome: outcome, at: now))
        let (finished, transition) = ActionRequest.finishing(claimed, with: outcome)
        let fence = heldFences.withLock { $0.removeValue(forKey: claimed.id) }
        return try await transaction { connection in
            let completed = try await apply(transition, to: finished, now: now, fence: fence, on: connection)
            _ = try await PostgresAudit.append(event, on: connection, logger: logger)
            return completed
        }
    }

    public func expire(now: Date) async throws -> [ActionRequest] {
        let instant = now.timeIntervalSince1970
        let expired = try await transaction { connection in
            // SKIP LOCKED: a request another instance is deciding is left for the next sweep.
            let due = try await rows(
                "SELECT \(unescaped: RequestRecord.selectColumns) FROM action_requests WHERE state = 'pending' AND expires_at <= \(instant) FOR UPDATE SKIP LOCKED",
                on: connection
            )
            var expired: [ActionRequest] = []
            for row in due {
                var request = try RequestRecord(postgres: row).request()
                request.failure = "expired: no decision before \(Timestamp.string(request.expiresAt))"
                expired.append(try await apply(.expire, to: request, now: now, on: connection))
                _ = try await PostgresAudit.append(.expiry(of: request, at: now), on: connection, logger: logger)
            }
            return expired
        }
        return expired
    }

    public func extend(id: String, until: Date, actor: String, now: Date) async throws -> ActionRequest {
        try await transaction { connection in
            guard var request = try await find(id, on: connection, lock: true) else { throw ApprovalError.notFound }
            guard request.state == .pending else { throw ApprovalError.alreadyDecided(request.state) }
            guard now < request.expiresAt else { throw ApprovalError.expired }
            guard until > request.expiresAt, until <= now.addingTimeInterval(86_400) else {
                throw ApprovalError.invalidExtension
            }
            let previous = request.expiresAt
            try await connection.query(
                "UPDATE action_requests SET expires_at = \(until.timeIntervalSince1970), updated_at = \(now.timeIntervalSince1970) WHERE id = \(id) AND state = 'pending'",
                logger: logger
            )
            request.expiresAt = until
            request.updatedAt = now
            try await notifyChange(of: id, on: connection)
            _ = try await PostgresAudit.append(
                .deadlineMoved(of: id, from: previous, until: until, by: actor, at: now),
                on: connection,
                logger: logger
            )
            return request
        }
    }

    /// Ends as `outcome_unknown` the executions whose lease has run out: on PostgreSQL other
    /// instances may be executing right now, so at start-up too only an execution nobody holds any
    /// more is ended (its worker stalled or its instance died).
    public func abandonExecuting(now: Date) async throws -> [ActionRequest] {
        try await abandonExpiredLeases(now: now)
    }

    /// Ends as `outcome_unknown` the executions whose lease has run out; a late result from such a
    /// worker is then refused (the conditional update finds the request no longer executing).
    public func abandonExpiredLeases(now: Date) async throws -> [ActionRequest] {
        let instant = now.timeIntervalSince1970
        return try await transaction { connection in
            let stuck = try await rows(
                "SELECT \(unescaped: RequestRecord.selectColumns) FROM action_requests WHERE state = 'executing' AND (lease_until IS NULL OR lease_until <= \(instant)) FOR UPDATE SKIP LOCKED",
                on: connection
            )
            var abandoned: [ActionRequest] = []
            for row in stuck {
                var request = try RequestRecord(postgres: row).request()
                request.failure =
                    "Countersign stopped while this action was executing; whether it took effect is unknown"
                abandoned.append(try await apply(.abandon, to: request, now: now, on: connection))
                _ = try await PostgresAudit.append(
                    AuditEvent(kind: AuditKind.outcomeUnknown, actor: "system", requestID: request.id, at: now),
                    on: connection,
                    logger: logger
                )
            }
            return abandoned
        }
    }

    public var executionLease: TimeInterval? { lease }

    /// Moves the lease of an execution that is still running further out.
    public func renewLease(id: String, now: Date) async throws -> Bool {
        let fence = heldFences.withLock { $0[id] }
        return try await rows(
            """
            UPDATE action_requests SET lease_until = \(now.timeIntervalSince1970 + lease)
            WHERE id = \(id) AND state = 'executing' AND (\(fence)::bigint IS NULL OR fence = \(fence)) RETURNING id
            """
        ).count == 1
    }

    /// The request's fencing number: how many times it was claimed for execution (0 before).
    ///
    /// - Returns: The number, or `nil` when there is no such request.
    public func fencingNumber(of id: String) async throws -> Int64? {
        try await rows("SELECT fence FROM action_requests WHERE id = \(id)").first?.makeRandomAccess()[0]
            .decode(Int64.self)
    }

    /// Applies a transition with a conditional update.
    ///
    /// The row changes only if it is still in a state the transition starts from (and, given a
    /// `fence`, still carries that fencing number); a claim increments the request's fencing
    /// number, which this instance then holds until it completes the execution.
    func apply(
        _ transition: RequestTransition,
        to request: ActionRequest,
        now: Date,
        fence expected: Int64? = nil,
        on connection: PostgresConnection
    ) async throws -> ActionRequest {
        var updated = request
        updated.state = transition.to
        updated.updatedAt = now
        let result = updated.result.map(CanonicalJSON.string)
        let from = transition.from.map(\.rawValue)
        let fence: Int64 = transition == .claim ? 1 : 0
        let leaseUntil: Double? = transition == .claim ? now.timeIntervalSince1970 + lease : nil
        let changed = try await rows(
            """
            UPDATE action_requests SET state = \(updated.state.rawValue), updated_at = \(now.timeIntervalSince1970),
                result = \(result), failure = \(updated.failure), fence = fence + \(fence), lease_until = \(leaseUntil)
            WHERE id = \(updated.id) AND state = ANY(\(from))
                AND (\(expected)::bigint IS NULL OR fence = \(expected))
            RETURNING fence
            """,
            on: connection
        )
        guard changed.count == 1 else {
            let current = try await rows("SELECT state FROM action_requests WHERE id = \(request.id)", on: connection)
                .first?.makeRandomAccess()[0].decode(String.self)
            throw StoreError.illegalTransition(
                transition,
                from: current.flatMap(RequestState.init(rawValue:)) ?? request.state
            )
        }
        if transition == .claim, let held = try changed.first?.decode(Int64.self) {
            // Dropped again by the claim's caller if its transaction does not commit.
            heldFences.withLock { $0[updated.id] = held }
        }
        try await notifyChange(of: updated.id, on: connection)
        return updated
    }
}
