import Countersign
import CountersignConnectors
import CountersignStore
import Foundation
import GRDB
import Testing

/// The gated path without HTTP: intake, policy, the store, human decisions and the executor,
/// with the files connector acting on a real workspace.
@Suite("Gateway and executor")
struct GatewayTests {
    let directory: TemporaryDirectory
    let workspace: URL
    let store: SQLiteStore
    let gateway: Gateway
    let executor: Executor
    let now = Date()

    init() throws {
        directory = try TemporaryDirectory()
        workspace = directory.url.appending(path: "workspace")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        store = try SQLiteStore(path: directory.path("countersign.sqlite"))
        let files = try FilesConnector(root: workspace.path)
        let shell = try ShellConnector(root: workspace.path)
        let catalog = OperationCatalog(files.operations + shell.operations)
        executor = Executor(store: store, connectors: [files, shell])
        gateway = Gateway(
            catalog: catalog,
            policy: try Policy(yaml: "version: 1\n", catalog: catalog),
            store: store,
            executor: executor
        )
    }

    func action(_ operation: String, _ arguments: JSONValue) -> ProposedAction {
        ProposedAction(
            operation: OperationID(operation)!,
            arguments: arguments,
            principal: "ana@acme.test",
            agent: "planner"
        )
    }

    func approve(
        _ request: ActionRequest,
        method: AuthenticationRecord.Method = .password,
        confirmation: String? = nil
    )
        async throws -> ActionRequest
    {
        let decision = Decision(
            requestID: request.id,
            approver: "bob@acme.test",
            verdict: .approve,
            digest: request.digest,
            authentication: AuthenticationRecord(method: method, authTime: Date()),
            decidedAt: Date(),
            confirmation: confirmation
        )
        return try await store.decide(decision, now: Date())
    }

    func file(_ relative: String) -> String? {
        FileManager.default.contents(atPath: workspace.appending(path: relative).path).map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    @Test("a Low action is executed at once and its result returned")
    func lowExecutes() async throws {
        try "hello".write(to: workspace.appending(path: "a.txt"), atomically: true, encoding: .utf8)
        let request = try await gateway.propose(action("files.read", ["path": "a.txt"]))
        #expect(request.state == .executed)
        #expect(request.result?["content"] == "hello")
    }

    @Test("a Medium action waits for a human, then runs exactly once")
    func mediumWaitsThenRunsOnce() async throws {
        let request = try await gateway.propose(action("files.write", ["path": "notes/todo.md", "content": "- ship"]))
        #expect(request.state == .pending)
        #expect(file("notes/todo.md") == nil)
        #expect(try await approve(request).state == .approved)
        let executed = try #require(try await executor.execute(requestID: request.id))
        #expect(executed.state == .executed)
        #expect(executed.result?["created"] == true)
        #expect(file("notes/todo.md") == "- ship")
        #expect(try await executor.execute(requestID: request.id) == nil)
    }

    @Test("many executors racing for one approved request run the connector once")
    func exactlyOnce() async throws {
        let request = try await gateway.propose(action("files.append", ["path": "log.txt", "content": "x"]))
        _ = try await approve(request)
        let executor = self.executor
        let runs = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<12 { group.addTask { (try? await executor.execute(requestID: request.id)) != nil } }
            return await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(runs == 1)
        #expect(file("log.txt") == "x")
    }

    @Test("a payload changed in the database after approval is refused at execution and audited")
    func tamperedPayload() async throws {
        let request = try await gateway.propose(action("files.write", ["path": "a.txt", "content": "safe"]))
        _ = try await approve(request)
        try await DatabaseQueue(path: directory.path("countersign.sqlite")).write { db in
            try db.execute(
                sql: "UPDATE action_requests SET arguments = ? WHERE id = ?",
                arguments: [#"{"content":"evil","path":"a.txt"}"#, request.id]
            )
        }
        let result = try #require(try await executor.execute(requestID: request.id))
        #expect(result.state == .failed)
        #expect(result.failure?.contains("digest mismatch") == true)
        #expect(file("a.txt") == nil)
        let audit = try await store.auditEntries(forRequest: request.id).map(\.text)
        #expect(audit.last?.contains("action.failed") == true && audit.last?.contains("digest mismatch") == true)
    }

    @Test(
        "paths outside the workspace are refused at execution",
        arguments: ["../escape.txt", "/etc/passwd", "~/x", "link/inside.txt", "outlink"]
    )
    func confinement(path: String) async throws {
        let outside = directory.url.appending(path: "outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try "secret".write(to: outside.appending(path: "target.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: workspace.appending(path: "link"), withDestinationURL: outside)
        try FileManager.default.createSymbolicLink(
            at: workspace.appending(path: "outlink"),
            withDestinationURL: outside.appending(path: "target.txt")
        )
        let write = try await gateway.propose(
            action("files.write", ["path": .string(path), "content": "x", "overwrite": true])
        )
        let approved = try await approve(
            write,
            method: .totp,
            confirmation: write.assessment.requirements.confirmText
        )
        #expect(approved.state == .approved)
        let result = try #require(try await executor.execute(requestID: write.id))
        #expect(result.state == .failed, "\(path): \(result.failure ?? "")")
        #expect(try String(contentsOf: outside.appending(path: "target.txt"), encoding: .utf8) == "secret")
        #expect(!FileManager.default.fileExists(atPath: outside.appending(path: "inside.txt").path))
        #expect(!FileManager.default.fileExists(atPath: directory.url.appending(path: "escape.txt").path))

        let read = try await gateway.propose(action("files.read", ["path": .string(path)]))
        if read.state == .pending {
            _ = try await approve(read, method: .totp, confirmation: read.assessment.requirements.confirmText)
            _ = try await executor.execute(requestID: read.id)
        }
        let final = try #require(try await store.request(id: read.id))
        #expect(final.state == .failed)
        #expect(final.result == nil)
    }

    @Test("deleting a directory needs recursive, and an existing file is only replaced with overwrite")
    func deleteAndOverwrite() async throws {
        try FileManager.default.createDirectory(
            at: workspace.appending(path: "build/obj"),
            withIntermediateDirectories: true
        )
        try "o".write(to: workspace.appending(path: "build/obj/a.o"), atomically: true, encoding: .utf8)
        let plain = try await gateway.propose(action("files.delete", ["paths": ["build"]]))
        _ = try await approve(plain)
        #expect(try await executor.execute(requestID: plain.id)?.failure?.contains("set recursive") == true)
        let recursive = try await gateway.propose(action("files.delete", ["paths": ["build"], "recursive": true]))
        _ = try await approve(recursive, confirmation: "build")
        #expect(try await executor.execute(requestID: recursive.id)?.state == .executed)
        #expect(!FileManager.default.fileExists(atPath: workspace.appending(path: "build").path))

        try "v1".write(to: workspace.appending(path: "v.txt"), atomically: true, encoding: .utf8)
        let refused = try await gateway.propose(action("files.write", ["path": "v.txt", "content": "v2"]))
        _ = try await approve(refused)
        #expect(try await executor.execute(requestID: refused.id)?.failure?.contains("already exists") == true)
        #expect(file("v.txt") == "v1")
    }

    @Test("a Critical shell command runs only after a step-up approval")
    func criticalShell() async throws {
        let request = try await gateway.propose(
            action("shell.run", ["program": "touch", "arguments": ["made-by-shell"]])
        )
        #expect(request.state == .pending && request.assessment.level == .critical)
        await #expect(throws: ApprovalError.stepUpRequired) { _ = try await approve(request, method: .password) }
        #expect(try await executor.execute(requestID: request.id) == nil)
        #expect(file("made-by-shell") == nil)
        _ = try await approve(request, method: .totp)
        let executed = try #require(try await executor.execute(requestID: request.id))
        #expect(executed.state == .executed && executed.result?["exitCode"] == 0)
        #expect(file("made-by-shell") == "")
    }

    @Test("a denied action never reaches the connector")
    func deniedNeverRuns() async throws {
        let catalog = gateway.catalog
        let denying = Gateway(
            catalog: catalog,
            policy: try Policy(
                yaml: """
                    version: 1
                    rules:
                      - name: no-writes
                        reason: this workspace is read-only
                        match: { operation: "files.write" }
                        decision: deny
                    """,
                catalog: catalog
            ),
            store: store,
            executor: executor
        )
        let request = try await denying.propose(action("files.write", ["path": "a.txt", "content": "x"]))
        #expect(request.state == .rejected)
        #expect(request.failure == "denied by policy: this workspace is read-only")
        #expect(try await executor.execute(requestID: request.id) == nil)
        #expect(file("a.txt") == nil)
    }

    @Test("invalid arguments are refused with the field that is wrong")
    func invalidArguments() async throws {
        await #expect {
            _ = try await gateway.propose(action("files.write", ["path": "a.txt", "content": 3]))
        } throws: { error in
            guard let error = error as? ActionError else { return false }
            return error.violations.contains {
                $0.instancePath == "/content" && $0.message == "expected string, got integer"
            }
        }
        #expect(try await store.requests(RequestQuery()).isEmpty)
    }
}
