public import Countersign
public import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, every write in a
/// `BEGIN IMMEDIATE` transaction together with the audit entries that record it; concurrent
/// writes share a commit (group commit), each in a savepoint of its own.
public struct SQLiteStore: Sendable {
    let writer: DatabasePool
    private let committer: GroupCommit
    /// Runs as last read or checkpointed here, by id: a read whose stored version matches is not
    /// parsed again.
    let runCache = RunCache()
    /// Connections for reads by key, on the caller's thread.
    private let pointReaders: PointReaders

    /// Opens (creating and migrating if needed) the database at `path`.
    ///
    /// A new file is created readable by its owner only (mode 0600); SQLite gives its WAL and
    /// shared-memory files the same mode.
    ///
    /// - Throws: When the file cannot be created, opened or migrated.
    public init(path: String) throws {
        try Self.createPrivately(path)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        writer = try DatabasePool(path: path, configuration: configuration)
        // GRDB sets synchronous=NORMAL when it enables WAL; a decision must survive power loss, so
        // the (single) writer connection runs with FULL. Concurrent commits are what make it fast.
        // The commit that fills the write-ahead log past the checkpoint threshold copies it into
        // the database (and syncs that) before it answers: at SQLite's 1,000 pages that is one
        // auto-allowed request in about 130, which set the p99 of a lone agent's; at 4,000 (a log
        // of up to 16 MiB, still one segment of the log's index) one in about 550, and a page
        // written many times in between is copied once.
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = \(Self.checkpointPages)")
        }
        try Migrations.migrator().migrate(writer)
        committer = GroupCommit(writer: writer)
        pointReaders = try PointReaders(path: path, count: 4)
    }

    /// The write-ahead log's size, in pages, at which a commit checkpoints it.
    static let checkpointPages = 4_000

    /// Creates an empty file (a valid empty database) with mode 0600, unless it exists.
    private static func createPrivately(_ path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            close(descriptor)
        } else if errno != EEXIST {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    /// Runs `body` atomically in a `BEGIN IMMEDIATE` transaction (in a savepoint of its own), which
    /// commits together with the other transactions waiting at that moment: one fsync for all.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await committer.transaction(body)
    }

    /// Reads by key (one row or a few, microseconds of work) on the calling thread when a point
    /// reader is free (see ``PointReaders``), asynchronously through the pool otherwise.
    ///
    /// Scans and long reads (listings, verification) use the pool, so as not to hold a thread of
    /// the cooperative pool. Inlined, so that a read on the calling thread puts no frame on the
    /// task's stack (a waiting connection's task keeps its deepest frames).
    @inline(__always)
    func pointRead<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        if let value = try readHere(body) { return value }
        return try await writer.read(body)
    }

    /// The synchronous half of ``pointRead(_:)``, kept out of line so that what it puts on the
    /// stack goes on the thread's stack, not the task's.
    @inline(never)
    private func readHere<T>(_ body: (Database) throws -> T) throws -> T? {
        try pointReaders.read(body)
    }

    /// How many commits the store made and how many transactions they carried (group commit).
    public var commitStatistics: (commits: Int, transactions: Int) { committer.statistics }

    /// Copies the write-ahead log into the database file and empties it (for measuring the
    /// database's size, or before copying the file).
    public func checkpointWAL() async throws {
        try await writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    }

    /// The journal mode, synchronous setting and checkpoint threshold (in pages) in force, for
    /// diagnostics and tests.
    public func durabilitySettings() async throws -> (journalMode: String, synchronous: Int, checkpointPages: Int) {
        try await writer.write { db in
            let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? ""
            let synchronous = try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
            let checkpoint = try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") ?? -1
            return (mode, synchronous, checkpoint)
        }
    }
}

extension SQLiteStore: ActionStore {
    public func create(_ request: ActionRequest) async throws -> ActionRequest {
        let record = try RequestRecord(request)
        let events = try AuditEvent.intake(of: request).map { event throws(AuditError) in try AuditChain.prepare(event)
        }
        return try await transaction { db in
            if let existing = try Self.existing(request, in: db) { return existing }
            try record.insertRow(db)
            for event in events { _ = try AuditWriter.append(event, in: db) }
            return request
        }
    }

    public func createClaimed(
        _ request: ActionRequest,
        now: Date
    ) async throws -> (
        request: ActionRequest, claimed: Bool
    ) {
        guard request.state == .autoApproved else { return (try await create(request), false) }
        let record = try RequestRecord(request)
        let events = try
            (AuditEvent.intake(of: request)
            + [AuditEvent(kind: AuditKind.executing, actor: "system", requestID: request.id, at: now)])
            .map { event throws(AuditError) in try AuditChain.prepare(event) }
        return try await transaction { db in
            if let existing = try Self.existing(request, in: db) { return (existing, false) }
            try record.insertRow(db)
            let claimed = try Self.apply(.claim, to: request, now: now, in: db)
            for event in events { _ = try AuditWriter.append(event, in: db) }
            return (claimed, true)
        }
    }

    /// The request an agent already made with this request's idempotency key, if any.
    ///
    /// - Throws: ``StoreError/idempotencyConflict(_:)`` when that request has another digest.
    static func existing(_ request: ActionRequest, in db: Database) throws -> ActionRequest? {
        guard let key = request.idempotencyKey,
            let existing = try RequestRecord.find(agent: request.action.agent, idempotencyKey: key, in: db)
        else { return nil }
        let stored = try existing.request()
        guard stored.digest.matches(request.digest) else { throw StoreError.idempotencyConflict(key) }
        return stored
    }

    public func request(id: String) async throws -> ActionRequest? {
        try await pointRead { db in try RequestRecord.find(id, in: db)?.request() }
    }

    public func requests(_ query: RequestQuery) async throws -> [ActionRequest] {
        try await writer.read { db in
            var request = RequestRecord.all()
            if !query.states.isEmpty {
                request = request.filter(query.states.map(\.rawValue).contains(RequestRecord.Columns.state))
            }
            if let agent = query.agent { request = request.filter(RequestRecord.Columns.agent == agent) }
            return try request.order(RequestRecord.Columns.createdAt.desc).limit(query.limit).fetchAll(db).map {
                try $0.request()
            }
        }
    }

    public func decisions(for requestID: String) async throws -> [Decision] {
        try await pointRead { db in try Self.decisions(for: requestID, in: db) }
    }

    static func decisions(for requestID: String, in db: Database) throws -> [Decision] {
        try Array(
            Row.fetchCursor(try db.cachedStatement(sql: DecisionRecord.forRequestSQL), arguments: [requestID])
                .map { try DecisionRecord(row: $0).decision() }
        )
    }

    public func decide(_ decision: Decision, now: Date) async throws -> ActionRequest {
        try await transaction { db in
            guard var request = try RequestRecord.find(decision.requestID, in: db)?.request() else {
                throw ApprovalError.notFound
            }
            let prior = try Self.decisions(for: request.id, in: db)
            let transition = try request.admit(decision, prior: prior, now: now)
            try DecisionRecord(decision).insertRow(db)
            let approvals = prior.filter { $0.verdict == .approve }.count + (decision.verdict == .approve ? 1 : 0)
            if let transition {
                if transition == .deny { request.failure = "denied by \(decision.approver): \(decision.reason ?? "")" }
                request = try Self.apply(transition, to: request, now: now, in: db)
            }
            _ = try AuditWriter.append(
                .decision(
                    decision,
                    transition: transition,
                    approvals: approvals,
                    required: request.assessment.requirements.approvals
                ),
                in: db
            )
            return request
        }
    }

    public func claim(id: String, now: Date) async throws -> ActionRequest? {
        let event = try AuditChain.prepare(
            AuditEvent(kind: AuditKind.executing, actor: "system", requestID: id, at: now)
        )
        return try await transaction { db in
            guard let request = try RequestRecord.find(id, in: db)?.request(),
                RequestTransition.claim.from.contains(request.state)
            else { return nil }
            let claimed = try Self.apply(.claim, to: request, now: now, in: db)
            _ = try AuditWriter.append(event, in: db)
            return claimed
        }
    }

    public func complete(id: String, outcome: ExecutionOutcome, now: Date) async throws -> ActionRequest {
        let event = try AuditChain.prepare(.completion(of: id, outcome: outcome, at: now))
        let resultText = Self.resultText(outcome)
        return try await transaction { db in
            guard let request = try RequestRecord.find(id, in: db)?.request() else { throw StoreError.notFound(id) }
            let (finished, transition) = ActionRequest.finishing(request, with: outcome)
            let completed = try Self.apply(transition, to: finished, now: now, in: db, resultText: resultText)
            _ = try AuditWriter.append(event, in: db)
            return completed
        }
    }

    public func complete(claimed: ActionRequest, outcome: ExecutionOutcome, now: Date) async throws -> ActionRequest {
        guard claimed.state == .executing else { return try await complete(id: claimed.id, outcome: outcome, now: now) }
        let event = try AuditChain.prepare(.completion(of: claimed.id, outcome: outcome, at: now))
        let resultText = Self.resultText(outcome)
        let (finished, transition) = ActionRequest.finishing(claimed, with: outcome)
        return try await transaction { db in
            // The conditional update refuses the change unless the row is still executing.
            let completed = try Self.apply(transition, to: finished, now: now, in: db, resultText: resultText)
            _ = try AuditWriter.append(event, in: db)
            return completed
        }
    }

    /// The stored text of an execution's result, rendered before the transaction.
    static func resultText(_ outcome: ExecutionOutcome) -> String? {
        if case .executed(let result) = outcome { CanonicalJSON.string(result) } else { nil }
    }

    public func expire(now: Date) async throws -> [ActionRequest] {
        try await transaction { db in
            let due = try RequestRecord.filter(
                RequestRecord.Columns.state == RequestState.pending.rawValue
                    && RequestRecord.Columns.expiresAt <= now.timeIntervalSince1970
            ).fetchAll(db)
            return try due.map { record in
                var request = try record.request()
                request.failure = "expired: no decision before \(Timestamp.string(request.expiresAt))"
                let expired = try Self.apply(.expire, to: request, now: now, in: db)
                _ = try AuditWriter.append(.expiry(of: request, at: now), in: db)
                return expired
            }
        }
    }

    public func extend(id: String, until: Date, actor: String, now: Date) async throws -> ActionRequest {
        try await transaction { db in
            guard var request = try RequestRecord.find(id, in: db)?.request() else { throw ApprovalError.notFound }
            guard request.state == .pending else { throw ApprovalError.alreadyDecided(request.state) }
            guard now < request.expiresAt else { throw ApprovalError.expired }
            guard until > request.expiresAt, until <= now.addingTimeInterval(86_400) else {
                throw ApprovalError.invalidExtension
            }
            let previous = request.expiresAt
            try db.execute(
                sql: "UPDATE action_requests SET expires_at = ?, updated_at = ? WHERE id = ? AND state = 'pending'",
                arguments: [until.timeIntervalSince1970, now.timeIntervalSince1970, id]
            )
            guard db.changesCount == 1 else { throw ApprovalError.alreadyDecided(request.state) }
            request.expiresAt = until
            request.updatedAt = now
            _ = try AuditWriter.append(
                .deadlineMoved(of: id, from: previous, until: until, by: actor, at: now),
                in: db
            )
            return request
        }
    }

    public func abandonExecuting(now: Date) async throws -> [ActionRequest] {
        try await transaction { db in
            let stuck = try RequestRecord.filter(RequestRecord.Columns.state == RequestState.executing.rawValue)
                .fetchAll(db)
            return try stuck.map { record in
                var request = try record.request()
                request.failure =
                    "Countersign stopped while this action was executing; whether it took effect is unknown"
                let abandoned = try Self.apply(.abandon, to: request, now: now, in: db)
                _ = try AuditWriter.append(
                    AuditEvent(kind: AuditKind.outcomeUnknown, actor: "system", requestID: request.id, at: now),
                    in: db
                )
                return abandoned
            }
        }
    }

    /// Applies a transition with a conditional update: it changes the row only if the row is still in
    /// a state the transition starts from.
    static func apply(
        _ transition: RequestTransition,
        to request: ActionRequest,
        now: Date,
        in db: Database,
        resultText: String? = nil
    ) throws
        -> ActionRequest
    {
        var updated = request
        updated.state = transition.to
        updated.updatedAt = now
        let result = resultText ?? updated.result.map(CanonicalJSON.string)
        let from = transition.from.map(\.rawValue)
        try db.cachedStatement(
            sql: """
                UPDATE action_requests SET state = ?, updated_at = ?, result = ?, failure = ?
                WHERE id = ? AND state IN (\(from.map { _ in "?" }.joined(separator: ", ")))
                """
        ).execute(
            arguments: StatementArguments(
                [updated.state.rawValue, now.timeIntervalSince1970, result, updated.failure, updated.id]
                    as [(any DatabaseValueConvertible)?]
                    + from.map { $0 as (any DatabaseValueConvertible)? }
            )
        )
        guard db.changesCount == 1 else {
            let current = try String.fetchOne(
                try db.cachedStatement(sql: "SELECT state FROM action_requests WHERE id = ?"),
                arguments: [request.id]
            )
            throw StoreError.illegalTransition(
                transition,
                from: current.flatMap(RequestState.init(rawValue:)) ?? request.state
            )
        }
        return updated
    }
}

extension SQLiteStore: DatabaseHealth {
    public var databaseKind: String { "sqlite" }

    public func checkHealth() async throws {
        do {
            _ = try await writer.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
        } catch {
            throw StoreError.unavailable("the SQLite database cannot be read")
        }
    }
}
