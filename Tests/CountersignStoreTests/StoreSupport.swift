import Countersign
import CountersignConnectors
import CountersignStore
import CountersignTestSupport
import Foundation

/// A backend the store conformance suite runs against.
enum StoreBackend: String, CaseIterable, CustomStringConvertible {
    case sqlite
    /// A fresh database on a real PostgreSQL server: `$COUNTERSIGN_TEST_POSTGRES_URL`, or one this
    /// test process starts from the installed PostgreSQL.
    case postgres

    var description: String { rawValue }

    /// Opens a fresh, empty store of this kind.
    func open() async throws -> TestStore {
        let directory = try TemporaryDirectory()
        switch self {
        case .sqlite:
            let store = try SQLiteStore(path: directory.path("countersign.sqlite"))
            return TestStore(store: store, directory: directory)
        case .postgres:
            let url = try await TestPostgres.freshDatabase()
            // No lease: a claim's execution may be ended at once, as SQLite's single process does at start.
            return TestStore(store: try await PostgresStore(url: url, lease: 0), directory: directory, databaseURL: url)
        }
    }
}

/// A store and what keeps its files alive.
struct TestStore: Sendable {
    let store: CountersignStorage
    let directory: TemporaryDirectory
    /// The PostgreSQL database's URL, for a PostgreSQL store.
    var databaseURL: String?

    /// Everything the store keeps, as bytes: the SQLite files, or every value of every table on
    /// PostgreSQL (`bytea` as its bytes, anything else as text).
    func storedValues() async throws -> [Data] {
        guard let databaseURL else {
            return try FileManager.default.contentsOfDirectory(atPath: directory.url.path).map {
                try Data(contentsOf: directory.url.appending(path: $0))
            }
        }
        return try await TestPostgres.storedValues(databaseURL)
    }
}

/// A unique directory under the system's temporary directory, removed when the test process ends.
struct TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appending(path: "countersign-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appending(path: name).path }
}

/// Builds assessed requests from the local catalog and a policy.
struct Fixture: Sendable {
    let catalog = Catalogs.local()
    let policy: Policy
    let start = Date(timeIntervalSince1970: 1_900_000_000)

    init(policyYAML: String = Policy.defaultYAML) throws {
        policy = try Policy(yaml: policyYAML, catalog: Catalogs.local())
    }

    func request(
        _ operation: String,
        _ arguments: JSONValue,
        principal: String = "ana@acme.test",
        agent: String = "planner",
        idempotencyKey: String? = nil,
        now: Date? = nil
    ) throws -> ActionRequest {
        let action = ProposedAction(
            operation: OperationID(operation)!,
            arguments: arguments,
            principal: principal,
            agent: agent
        )
        let descriptor = try catalog.validate(action)
        return ActionRequest.intake(
            action,
            operation: descriptor,
            assessment: policy.assess(action, operation: descriptor),
            idempotencyKey: idempotencyKey,
            now: now ?? start
        )
    }

    /// A Medium request (one approver, no step-up, no confirmation).
    func medium(idempotencyKey: String? = nil) throws -> ActionRequest {
        try request("files.write", ["path": "notes/a.md", "content": "hello"], idempotencyKey: idempotencyKey)
    }

    /// A Low request (auto-approved).
    func low() throws -> ActionRequest { try request("files.read", ["path": "notes/a.md"]) }

    /// A request policy denies.
    func denied() throws -> ActionRequest { try request("shell.run", ["program": "sudo", "arguments": ["ls"]]) }

    func approval(
        of request: ActionRequest,
        by approver: String = "bob@acme.test",
        method: AuthenticationRecord.Method = .password,
        at date: Date? = nil,
        confirmation: String? = nil,
        digest: ActionDigest? = nil
    ) -> Decision {
        let when = date ?? start.addingTimeInterval(10)
        return Decision(
            requestID: request.id,
            approver: approver,
            verdict: .approve,
            digest: digest ?? request.digest,
            authentication: AuthenticationRecord(method: method, authTime: when),
            decidedAt: when,
            confirmation: confirmation
        )
    }

    func denial(of request: ActionRequest, reason: String? = "not today") -> Decision {
        Decision(
            requestID: request.id,
            approver: "bob@acme.test",
            verdict: .deny,
            digest: request.digest,
            authentication: AuthenticationRecord(method: .password, authTime: start),
            decidedAt: start.addingTimeInterval(10),
            reason: reason
        )
    }
}
