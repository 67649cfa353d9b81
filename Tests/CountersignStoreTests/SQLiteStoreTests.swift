import Countersign
import CountersignStore
import Foundation
import GRDB
import Testing

/// What only the SQLite backend can show: its settings, its schema's own guards, and what an
/// attacker with write access to the file can and cannot get past.
@Suite("SQLite store")
struct SQLiteStoreTests {
    let fixture: Fixture
    let directory: TemporaryDirectory
    let path: String

    init() throws {
        fixture = try Fixture()
        directory = try TemporaryDirectory()
        path = directory.path("countersign.sqlite")
    }

    /// A second connection to the same file, as another process (or an attacker) would open it.
    func raw() throws -> DatabaseQueue { try DatabaseQueue(path: path) }

    @Test("reads by key see every commit before them, and many at once all get their answer")
    func pointReads() async throws {
        let store = try SQLiteStore(path: path)
        let requests = try (0..<64).map { _ in try fixture.medium() }
        for request in requests {
            _ = try await store.create(request)
            // Read at once after the commit: the read-only connections see it.
            #expect(try await store.request(id: request.id)?.state == .pending)
            _ = try await store.decide(fixture.approval(of: request), now: fixture.start.addingTimeInterval(1))
            #expect(try await store.request(id: request.id)?.state == .approved)
        }
        // More readers at once than there are point readers: the rest read through the pool.
        let states = try await withThrowingTaskGroup(of: RequestState?.self) { group in
            for _ in 0..<8 {
                for request in requests {
                    group.addTask { try await store.request(id: request.id)?.state }
                }
            }
            return try await group.reduce(into: [RequestState?]()) { $0.append($1) }
        }
        #expect(states.count == 8 * requests.count)
        #expect(states.allSatisfy { $0 == .approved })
        #expect(try await store.request(id: "no-such-request") == nil)
    }

    @Test("v9 rebuilds the decisions table with every decision kept, and admits mcp_client decisions only")
    func decisionsSurviveV9() async throws {
        let request = try fixture.medium()
        do {
            let store = try SQLiteStore(path: path)
            _ = try await store.create(request)
            _ = try await store.decide(fixture.approval(of: request), now: fixture.start.addingTimeInterval(10))
        }
        // Back to the table as v8 left it, as an older Countersign wrote it.
        try await raw().writeWithoutTransaction { db in
            try db.execute(
                sql: """
                    PRAGMA foreign_keys = OFF;
                    BEGIN;
                    CREATE TABLE decisions_v8 (
                        id INTEGER PRIMARY KEY,
                        request_id TEXT NOT NULL REFERENCES action_requests (id),
                        approver TEXT NOT NULL,
                        verdict TEXT NOT NULL CHECK (verdict IN ('approve', 'deny')),
                        digest TEXT NOT NULL,
                        auth_method TEXT NOT NULL CHECK (auth_method IN ('password', 'totp', 'oidc', 'api_token')),
                        auth_time REAL NOT NULL, acr TEXT, amr TEXT NOT NULL, decided_at REAL NOT NULL,
                        reason TEXT, confirmation TEXT, UNIQUE (request_id, approver)
                    ) STRICT;
                    INSERT INTO decisions_v8 SELECT * FROM decisions;
                    DROP TABLE decisions;
                    ALTER TABLE decisions_v8 RENAME TO decisions;
                    DELETE FROM grdb_migrations WHERE identifier LIKE 'v9:%';
                    COMMIT;
                    """
            )
        }
        let store = try SQLiteStore(path: path)
        #expect(try await store.decisions(for: request.id) == [fixture.approval(of: request)])
        let insert = """
            INSERT INTO decisions (request_id, approver, verdict, digest, auth_method, auth_time, amr, decided_at)
            VALUES (?, 'x@acme.test', 'approve', 'd', ?, 0, '[]', 0)
            """
        try await raw().write { db in try db.execute(sql: insert, arguments: [request.id, "mcp_client"]) }
        #expect(throws: DatabaseError.self) {
            try raw().write { db in
                try db.execute(sql: insert.replacing("x@", with: "y@"), arguments: [request.id, "cookie"])
            }
        }
    }

    @Test("runs in WAL mode with synchronous=FULL, checkpointing the log at 4,000 pages")
    func durability() async throws {
        let store = try SQLiteStore(path: path)
        let settings = try await store.durabilitySettings()
        #expect(settings.journalMode == "wal")
        #expect(settings.synchronous == 2)
        #expect(settings.checkpointPages == 4_000)
    }

    @Test("a new database and its WAL are readable by their owner only")
    func privateFiles() async throws {
        let store = try SQLiteStore(path: path)
        _ = try await store.create(try fixture.medium())
        for file in [path, path + "-wal"] {
            let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(file)")
        }
    }

    @Test("requests and their audit trail survive closing and reopening the file")
    func survivesRestart() async throws {
        let request = try fixture.medium()
        do {
            let store = try SQLiteStore(path: path)
            _ = try await store.create(request)
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.request(id: request.id)?.state == .pending)
        #expect(try await reopened.verifyAudit(checkpoints: [], publicKey: nil) { _ in }.entries == 2)
    }

    @Test("the schema refuses every illegal transition written as raw SQL")
    func triggerRefusesIllegalTransitions() async throws {
        let store = try SQLiteStore(path: path)
        let queue = try raw()
        let pending = try await store.create(try fixture.medium())
        for target in RequestState.allCases where !RequestState.pending.canTransition(to: target) && target != .pending
        {
            #expect(throws: DatabaseError.self) {
                try queue.write { db in
                    try db.execute(
                        sql: "UPDATE action_requests SET state = ? WHERE id = ?",
                        arguments: [target.rawValue, pending.id]
                    )
                }
            }
        }
        let executed = try fixture.low()
        _ = try await store.create(executed)
        _ = try await store.claim(id: executed.id, now: fixture.start)
        _ = try await store.complete(id: executed.id, outcome: .executed(nil), now: fixture.start)
        for target in RequestState.allCases where target != .executed {
            #expect(throws: DatabaseError.self) {
                try queue.write { db in
                    try db.execute(
                        sql: "UPDATE action_requests SET state = ? WHERE id = ?",
                        arguments: [target.rawValue, executed.id]
                    )
                }
            }
        }
        #expect(throws: DatabaseError.self) {
            try queue.write { db in
                try db.execute(
                    sql: "UPDATE action_requests SET state = 'executed' WHERE id = ?",
                    arguments: [pending.id]
                )
            }
        }
    }

    @Test("the audit log is append-only for ordinary writers")
    func appendOnly() async throws {
        let store = try SQLiteStore(path: path)
        _ = try await store.create(try fixture.medium())
        let queue = try raw()
        #expect(throws: DatabaseError.self) {
            try queue.write { try $0.execute(sql: "UPDATE audit_log SET body = x'00' WHERE seq = 1") }
        }
        #expect(throws: DatabaseError.self) {
            try queue.write { try $0.execute(sql: "DELETE FROM audit_log WHERE seq = 1") }
        }
    }

    @Test("when the audit entry cannot be written, the state change does not happen")
    func failClosed() async throws {
        let store = try SQLiteStore(path: path)
        let request = try await store.create(try fixture.medium())
        try await raw().write { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER audit_log_broken BEFORE INSERT ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'disk full'); END
                    """
            )
        }
        await #expect(throws: (any Error).self) {
            _ = try await store.decide(fixture.approval(of: request), now: fixture.start.addingTimeInterval(5))
        }
        #expect(try await store.request(id: request.id)?.state == .pending)
        #expect(try await store.decisions(for: request.id).isEmpty)
        await #expect(throws: (any Error).self) { _ = try await store.create(try fixture.medium()) }
        #expect(try await store.requests(RequestQuery()).count == 1)
    }

    @Test("a payload edited in the database no longer matches the digest that was approved")
    func editedPayload() async throws {
        let store = try SQLiteStore(path: path)
        let request = try await store.create(try fixture.medium())
        _ = try await store.decide(fixture.approval(of: request), now: fixture.start.addingTimeInterval(5))
        try await raw().write { db in
            try db.execute(
                sql: "UPDATE action_requests SET arguments = ? WHERE id = ?",
                arguments: [#"{"content":"rm -rf /","path":"notes/a.md"}"#, request.id]
            )
        }
        let read = try #require(try await store.request(id: request.id))
        #expect(read.digest == request.digest)
        #expect(!read.isPayloadIntact)
    }

    @Test("an edit to a canonically equivalent string is still seen as an edit")
    func equivalentEdit() async throws {
        let store = try SQLiteStore(path: path)
        let request = try await store.create(
            try fixture.request("files.write", ["path": "caf\u{E9}.md", "content": "x"])
        )
        #expect(try await store.request(id: request.id)?.isPayloadIntact == true)
        // "é" as e + combining acute: equal as Swift Strings, different bytes, a different file.
        try await raw().write { db in
            try db.execute(
                sql: "UPDATE action_requests SET arguments = ? WHERE id = ?",
                arguments: ["{\"content\":\"x\",\"path\":\"cafe\u{301}.md\"}", request.id]
            )
        }
        let read = try #require(try await store.request(id: request.id))
        #expect(read.action.arguments["path"]?.stringValue?.utf8.count == 9)
        #expect(!read.isPayloadIntact)
    }

    @Test(
        "an edit to any member the digest covers is seen, though the parsed request was cached",
        arguments: ["operation", "principal", "agent"]
    )
    func memberEdit(column: String) async throws {
        let store = try SQLiteStore(path: path)
        let request = try await store.create(try fixture.medium())
        // Read once, so the parsed columns and the action's digest are cached.
        #expect(try await store.request(id: request.id)?.isPayloadIntact == true)
        let edited = column == "operation" ? "files.delete" : "mallory@evil.test"
        try await raw().write { db in
            try db.execute(
                sql: "UPDATE action_requests SET \(column) = ? WHERE id = ?",
                arguments: [edited, request.id]
            )
        }
        let read = try #require(try await store.request(id: request.id))
        #expect(!read.isPayloadIntact)
        #expect(read.digest == request.digest)
    }

    @Test("a payload edited in the database before the decision cannot be approved, only denied")
    func editedBeforeDecision() async throws {
        let store = try SQLiteStore(path: path)
        let request = try await store.create(try fixture.medium())
        try await raw().write { db in
            try db.execute(
                sql: "UPDATE action_requests SET arguments = ? WHERE id = ?",
                arguments: [#"{"content":"rm -rf /","path":"notes/a.md"}"#, request.id]
            )
        }
        await #expect(throws: ApprovalError.tampered) {
            _ = try await store.decide(fixture.approval(of: request), now: fixture.start.addingTimeInterval(5))
        }
        let denied = try await store.decide(fixture.denial(of: request), now: fixture.start.addingTimeInterval(6))
        #expect(denied.state == .denied)
    }

    @Test("concurrent writes commit together; one that fails is rolled back alone")
    func groupCommit() async throws {
        let store = try SQLiteStore(path: path)
        let fixture = self.fixture
        let pending = try await store.create(try fixture.medium())
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<200 {
                group.addTask {
                    if index % 20 == 0 {
                        // Completing a request nobody claimed is an illegal transition: it must fail
                        // without taking the others in its commit down with it.
                        do {
                            _ = try await store.complete(id: pending.id, outcome: .executed(.null), now: fixture.start)
                            return false
                        } catch let error as StoreError {
                            return error.isIllegalTransition
                        }
                    }
                    _ = try await store.create(try fixture.low())
                    return true
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { $0 })
        #expect(try await store.requests(RequestQuery(limit: 1000)).count == 191)
        #expect(try await store.request(id: pending.id)?.state == .pending)
        let verification = try await store.verifyAudit(checkpoints: [], publicKey: nil) { _ in }
        #expect(verification.isIntact)
        // Every intake wrote its events; the failed completions wrote none.
        let expected = 190 * AuditEvent.intake(of: try fixture.low()).count + AuditEvent.intake(of: pending).count
        #expect(verification.entries == Int64(expected))
    }

    // MARK: - Tampering

    /// A store with `count` audit entries, a checkpoint over all of them, and the signer's public key.
    func populated(count: Int) async throws -> (SQLiteStore, [AuditCheckpoint], [UInt8]) {
        let store = try SQLiteStore(path: path)
        for index in 0..<count {
            try await store.append(
                AuditEvent(
                    kind: AuditKind.policyChanged,
                    actor: "user:ana@acme.test",
                    at: fixture.start,
                    data: ["n": .number(Double(index))]
                )
            )
        }
        let data = DataDirectory(path: directory.url.path)
        let (signer, _) = try data.loadOrCreateSigningKey()
        let writer = CheckpointWriter(store: store, signer: signer, path: data.checkpointsPath)
        let checkpoint = try #require(try await writer.checkpoint(now: fixture.start))
        #expect(try await writer.checkpoint(now: fixture.start) == nil)
        return (store, [checkpoint], signer.publicKey)
    }

    /// Runs SQL as an attacker who first removes the append-only triggers.
    func tamper(_ sql: String) throws {
        try raw().write { db in
            try db.execute(
                sql: "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete"
            )
            try db.execute(sql: sql)
        }
    }

    func verify(
        _ store: SQLiteStore,
        _ checkpoints: [AuditCheckpoint],
        _ key: [UInt8]
    ) async throws -> AuditVerification {
        try await store.verifyAudit(checkpoints: checkpoints, publicKey: key) { _ in }
    }

    @Test("an intact log verifies against its signed checkpoint")
    func intact() async throws {
        let (store, checkpoints, key) = try await populated(count: 10)
        let result = try await verify(store, checkpoints, key)
        #expect(result.isIntact && result.entries == 10 && result.checkpointsChecked == 1)
    }

    @Test("an edited entry is named")
    func edited() async throws {
        let (store, checkpoints, key) = try await populated(count: 10)
        try tamper(
            "UPDATE audit_log SET body = CAST(replace(CAST(body AS TEXT), '\"n\":4', '\"n\":40') AS BLOB) WHERE seq = 5"
        )
        #expect(try await verify(store, checkpoints, key).failure?.sequence == 5)
    }

    @Test("an edited entry whose hash was recomputed breaks the link to the next one")
    func editedAndRehashed() async throws {
        let (store, checkpoints, key) = try await populated(count: 10)
        let six = try #require(try await store.auditEntries(after: 5, limit: 1).first)
        let forged = Array(
            String(decoding: six.body, as: UTF8.self).replacingOccurrences(of: "\"n\":5", with: "\"n\":50").utf8
        )
        let hash = AuditChain.hash(previous: six.previousHash, sequence: 6, body: forged)
        try await raw().write { db in
            try db.execute(sql: "DROP TRIGGER audit_log_no_update")
            try db.execute(
                sql: "UPDATE audit_log SET body = ?, hash = ? WHERE seq = 6",
                arguments: [Data(forged), Data(hash)]
            )
        }
        #expect(try await verify(store, checkpoints, key).failure?.sequence == 7)
    }

    @Test("a deleted entry is named")
    func deleted() async throws {
        let (store, checkpoints, key) = try await populated(count: 10)
        try tamper("DELETE FROM audit_log WHERE seq = 3")
        let failure = try #require(try await verify(store, checkpoints, key).failure)
        #expect(failure.sequence == 3)
        #expect(failure.problem.contains("missing"))
    }

    @Test("reordered entries are detected at the first moved one")
    func reordered() async throws {
        let (store, checkpoints, key) = try await populated(count: 10)
        try tamper(
            """
            UPDATE audit_log SET seq = 1000 WHERE seq = 4;
            UPDATE audit_log SET seq = 4 WHERE seq = 7;
            UPDATE audit_log SET seq = 7 WHERE seq = 1000;
            """
        )
        #expect(try await verify(store, checkpoints, key).failure?.sequence == 4)
    }

    @Test("an inserted entry is detected where it was inserted")
    func inserted() async throws {
        let (store, checkpoints, key) = try await populated(count: 10)
        let three = try #require(try await store.auditEntries(after: 2, limit: 1).first)
        try await raw().write { db in
            try db.execute(sql: "DROP TRIGGER audit_log_no_update")
            for sequence in stride(from: 10, through: 4, by: -1) {
                try db.execute(sql: "UPDATE audit_log SET seq = seq + 1 WHERE seq = ?", arguments: [sequence])
            }
            let body = Array(
                #"{"actor":"user:mallory","at":"2030-03-17T17:46:40.000Z","data":{},"kind":"policy.changed","seq":4}"#
                    .utf8
            )
            let hash = AuditChain.hash(previous: three.hash, sequence: 4, body: body)
            try db.execute(
                sql: "INSERT INTO audit_log (seq, body, prev_hash, hash) VALUES (4, ?, ?, ?)",
                arguments: [Data(body), Data(three.hash), Data(hash)]
            )
        }
        // Entry 4 itself chains correctly (the attacker computed it); entry 5 no longer follows it.
        #expect(try await verify(store, checkpoints, key).failure?.sequence == 5)
    }

    @Test("truncation behind the last checkpoint is detected")
    func truncated() async throws {
        let (store, checkpoints, key) = try await populated(count: 10)
        try tamper("DELETE FROM audit_log WHERE seq > 7")
        let failure = try #require(try await verify(store, checkpoints, key).failure)
        #expect(failure.sequence == 8)
        #expect(failure.problem.contains("truncated"))
        // Without the checkpoint, a truncated log is indistinguishable from a shorter one.
        #expect(try await verify(store, [], key).isIntact)
    }

    @Test("a rewritten tail is caught by the checkpoint even when every hash was recomputed")
    func rewrittenTail() async throws {
        let (store, checkpoints, key) = try await populated(count: 5)
        let entries = try await store.auditEntries(after: 0, limit: 10)
        try await raw().write { db in
            try db.execute(sql: "DROP TRIGGER audit_log_no_update")
            var previous = entries[2].hash
            for entry in entries.dropFirst(3) {
                let body = Array(entry.text.replacingOccurrences(of: "ana@acme.test", with: "mallory").utf8)
                let hash = AuditChain.hash(previous: previous, sequence: entry.sequence, body: body)
                try db.execute(
                    sql: "UPDATE audit_log SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                    arguments: [Data(body), Data(previous), Data(hash), entry.sequence]
                )
                previous = hash
            }
        }
        let failure = try #require(try await verify(store, checkpoints, key).failure)
        #expect(failure.sequence == 5)
        #expect(failure.problem.contains("checkpoint"))
    }

    @Test("a checkpoint signed with another key is refused")
    func foreignCheckpoint() async throws {
        let (store, checkpoints, _) = try await populated(count: 3)
        let otherKey = try AuditSigner(rawPrivateKey: AuditSigner.generateRawPrivateKey()).publicKey
        let failure = try #require(try await verify(store, checkpoints, otherKey).failure)
        #expect(failure.problem.contains("invalid signature"))
    }

    @Test("the signing key must not be readable by others")
    func keyMode() throws {
        let data = DataDirectory(path: directory.url.path)
        #expect(try data.loadOrCreateSigningKey().created)
        let mode = try FileManager.default.attributesOfItem(atPath: data.signingKeyPath)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        #expect(try data.loadOrCreateSigningKey().created == false)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: data.signingKeyPath)
        #expect(throws: AuditError.self) { try data.loadSigningKey() }
    }
}

@Suite("Scheduled checkpoints")
struct ScheduledCheckpointTests {
    @Test("a checkpoint is written on each tick when the log grew, and none when it did not")
    func schedule() async throws {
        let directory = try TemporaryDirectory()
        let data = DataDirectory(path: directory.url.path)
        let store = try SQLiteStore(path: data.databasePath)
        let (signer, _) = try data.loadOrCreateSigningKey()
        let writer = CheckpointWriter(store: store, signer: signer, path: data.checkpointsPath)
        let clock = ManualClock()
        let (ticks, continuation) = AsyncStream.makeStream(of: AuditCheckpoint?.self)
        let task = Task {
            defer { continuation.finish() }
            try await writer.run(every: .seconds(600), clock: clock, onTick: { _ = continuation.yield($0) })
        }
        var iterator = ticks.makeAsyncIterator()
        let event = AuditEvent(kind: AuditKind.userChanged, actor: "user:admin", at: Date(), data: ["user": "ana"])

        try await store.append(event)
        await clock.waitForSleeper()
        clock.advance(by: .seconds(600))
        let first = try #require(await iterator.next())
        #expect(first?.treeSize == 1)

        await clock.waitForSleeper()
        clock.advance(by: .seconds(600))
        let second = try #require(await iterator.next())
        #expect(second == nil)

        try await store.append(event)
        try await store.append(event)
        await clock.waitForSleeper()
        clock.advance(by: .seconds(600))
        let third = try #require(await iterator.next())
        #expect(third?.treeSize == 3)

        task.cancel()
        try await task.value
        let written = try CheckpointWriter.read(data.checkpointsPath)
        #expect(written.map(\.treeSize) == [1, 3])
        #expect(
            try await store.verifyAudit(checkpoints: written, publicKey: signer.publicKey) { _ in }.checkpointsChecked
                == 2
        )
    }
}
