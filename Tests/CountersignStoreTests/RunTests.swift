import Countersign
import CountersignAgent
import CountersignConnectors
import CountersignStore
import CountersignTestSupport
import Foundation
import Testing

/// Runs: a plan of gated actions carried out step by step, checkpointed in the store, on both
/// backends; a "restart" opens the store again from its database and a new engine carries on.
@Suite("Runs")
struct RunTests {
    let fixture: Fixture

    init() throws {
        fixture = try Fixture()
    }

    /// The gated path over one store: the default policy, the files connector in a workspace.
    struct Stack {
        let store: CountersignStorage
        let engine: RunEngine
        let executor: Executor

        init(_ store: CountersignStorage, workspace: URL) throws {
            let files = try FilesConnector(root: workspace.path)
            let catalog = OperationCatalog(files.operations)
            executor = Executor(store: store, connectors: [files])
            let gateway = Gateway(
                catalog: catalog,
                policy: try Policy(yaml: Policy.defaultYAML, catalog: Catalogs.local()),
                store: store,
                executor: executor
            )
            self.store = store
            engine = RunEngine(runs: store, requests: store, gateway: gateway)
        }

        /// Approves a step's request and executes it, as an approver and the executor service would.
        func approveAndExecute(_ run: Run, step: Int) async throws {
            let id = try #require(run.steps[step].requestID)
            let request = try #require(try await store.request(id: id))
            _ = try await store.decide(
                Decision(
                    requestID: id,
                    approver: "bob@acme.test",
                    verdict: .approve,
                    digest: request.digest,
                    authentication: AuthenticationRecord(method: .password, authTime: Date()),
                    decidedAt: Date()
                ),
                now: Date()
            )
            #expect(try await executor.execute(requestID: id)?.state == .executed)
        }
    }

    /// Opens the backend's store again from its database, as a restarted process would.
    func reopen(_ opened: TestStore) async throws -> CountersignStorage {
        if let url = opened.databaseURL { return try await PostgresStore(url: url, lease: 0) }
        return try SQLiteStore(path: opened.directory.path("countersign.sqlite"))
    }

    static let plan = """
        steps:
          - operation: files.write
            arguments: { path: notes/plan.md, content: draft }
            rationale: Write the plan down
          - operation: files.read
            arguments: { path: notes/plan.md }
            rationale: Read it back
            dependsOn: [0]
          - operation: files.append
            arguments: { path: log.txt, content: "one\\n" }
            rationale: Log the run
        """

    /// A fresh store and workspace, and the plan started on them.
    func start(on backend: StoreBackend) async throws -> (TestStore, URL, Stack, Run) {
        let opened = try await backend.open()
        let workspace = opened.directory.url.appending(path: "workspace")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        let stack = try Stack(opened.store, workspace: workspace)
        let started = try await stack.engine.start(
            goal: "Draft the plan and log it",
            principal: "ana@acme.test",
            agent: "planner",
            planner: try PlanFile(text: Self.plan)
        )
        return (opened, workspace, stack, started)
    }

    @Test(
        "a run waits for approvals, resumes after a restart where it stood, and runs each step once",
        arguments: StoreBackend.allCases
    )
    func resumesAfterRestart(backend: StoreBackend) async throws {
        let (opened, workspace, first, started) = try await start(on: backend)
        // The write and the append do not depend on each other: both wait for an approver at once.
        #expect(started.state == .running)
        #expect(started.steps.map(\.state) == [.proposed, .planned, .proposed])
        #expect(started.steps.map(\.requestState) == [.pending, nil, .pending])
        // The engine watches the proposed steps' requests, so the run service reads no other.
        let watched = try #require(started.steps[2].requestID)
        #expect(first.engine.watch.run(of: watched) == started.id)
        try await first.approveAndExecute(started, step: 0)

        // Countersign restarts: a new store on the same database, a new engine.
        let second = try Stack(try await reopen(opened), workspace: workspace)
        let resumed = try await second.engine.advance(started.id)
        // The read depended on the write; Low, it ran at once.
        #expect(resumed.steps.map(\.state) == [.executed, .executed, .proposed])
        #expect(resumed.state == .running)
        try await second.approveAndExecute(resumed, step: 2)
        let done = try await second.engine.advance(started.id)
        #expect(done.state == .completed)
        #expect(second.engine.watch.run(of: watched) == nil)
        #expect(done.steps.allSatisfy { $0.state == .executed })
        #expect(try await second.engine.advance(started.id).version == done.version)

        #expect(try String(contentsOf: workspace.appending(path: "notes/plan.md"), encoding: .utf8) == "draft")
        #expect(try String(contentsOf: workspace.appending(path: "log.txt"), encoding: .utf8) == "one\n")
        let requests = try await second.store.requests(RequestQuery(limit: 100)).filter { $0.runID == started.id }
        #expect(requests.count == 3)
        let audit = try await second.store.auditEntries(after: 0, limit: 1000).map(\.text)
        #expect(audit.filter { $0.contains(AuditKind.runStarted) }.count == 1)
        #expect(audit.filter { $0.contains(AuditKind.runFinished) && $0.contains("\"completed\"") }.count == 1)
        #expect(audit.filter { $0.contains(#""kind":"action.executed""#) }.count == 3)
    }

    @Test(
        "a step proposed before a crash, but not checkpointed, is found again by its idempotency key",
        arguments: StoreBackend.allCases
    )
    func proposedBeforeCrash(backend: StoreBackend) async throws {
        let opened = try await backend.open()
        let workspace = opened.directory.url.appending(path: "workspace")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        let stack = try Stack(opened.store, workspace: workspace)
        let plan = try PlanFile(text: Self.plan)
        // The run is recorded; the process dies after proposing step 0 and before its checkpoint.
        let run = Run(
            goal: "g",
            principal: "ana@acme.test",
            agent: "planner",
            planner: "file",
            steps: plan.steps,
            createdAt: Date()
        )
        try await stack.store.createRun(run)
        let step = run.steps[0]
        let early = try await stack.engine.gateway.propose(
            ProposedAction(
                operation: step.operation,
                arguments: step.arguments,
                principal: run.principal,
                agent: run.agent
            ),
            idempotencyKey: run.idempotencyKey(of: step),
            runID: run.id
        )
        let resumed = try await stack.engine.advance(run.id)
        #expect(resumed.steps[0].requestID == early.id)
        #expect(try await stack.store.requests(RequestQuery(limit: 100)).filter { $0.runID == run.id }.count == 2)
    }

    @Test(
        "a denied step ends the run with the approver's reason; what depended on it is not proposed",
        arguments: StoreBackend.allCases
    )
    func denied(backend: StoreBackend) async throws {
        let (_, _, stack, started) = try await start(on: backend)
        let writeID = try #require(started.steps[0].requestID)
        let write = try #require(try await stack.store.request(id: writeID))
        _ = try await stack.store.decide(
            Decision(
                requestID: write.id,
                approver: "bob@acme.test",
                verdict: .deny,
                digest: write.digest,
                authentication: AuthenticationRecord(method: .password, authTime: Date()),
                decidedAt: Date(),
                reason: "not in the shared notes"
            ),
            now: Date()
        )
        // The append is still under way: the run fails once it has ended too.
        let waiting = try await stack.engine.advance(started.id)
        #expect(waiting.state == .running)
        #expect(waiting.steps.map(\.state) == [.failed, .planned, .proposed])
        try await stack.approveAndExecute(waiting, step: 2)
        let failed = try await stack.engine.advance(started.id)
        #expect(failed.state == .failed)
        #expect(failed.steps.map(\.state) == [.failed, .skipped, .executed])
        #expect(failed.failure?.contains("step 0 (files.write) denied") == true)
        #expect(failed.failure?.contains("not in the shared notes") == true)
        #expect(try await stack.store.requests(RequestQuery(limit: 100)).filter { $0.runID == started.id }.count == 2)
    }

    @Test("a checkpoint over a version another writer replaced is refused", arguments: StoreBackend.allCases)
    func checkpointConflict(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let plan = try PlanFile(text: Self.plan)
        let run = Run(
            goal: "g",
            principal: "ana@acme.test",
            agent: "planner",
            planner: "file",
            steps: plan.steps,
            createdAt: fixture.start
        )
        try await store.createRun(run)
        var mine = run
        mine.steps[0].state = .proposed
        let saved = try #require(try await store.checkpoint(mine, now: fixture.start.addingTimeInterval(1)))
        #expect(saved.version == 1)
        #expect(try await store.checkpoint(mine, now: fixture.start.addingTimeInterval(1)) == nil)
        #expect(try await store.run(id: run.id) == saved)
        #expect(try await store.runs(agent: "planner", states: [.running], limit: 10).map(\.id) == [run.id])
        #expect(try await store.runs(agent: "other", states: [], limit: 10).isEmpty)
        #expect(try await store.runs(agent: nil, states: [.completed], limit: 10).isEmpty)
    }

    @Test(
        "after a step read untrusted input, steps that reach outside the organisation are raised to Critical",
        arguments: StoreBackend.allCases
    )
    func taint(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let catalog = Catalogs.standard()
        let gateway = Gateway(
            catalog: catalog,
            policy: try Policy(yaml: Policy.defaultYAML, catalog: catalog),
            store: store,
            executor: Executor(store: store, connectors: [])
        )
        let engine = RunEngine(runs: store, requests: store, gateway: gateway)
        func step(_ index: Int, _ operation: String, _ arguments: JSONValue) -> RunStep {
            RunStep(
                index: index,
                operation: OperationID(operation)!,
                arguments: arguments,
                rationale: "",
                dependsOn: index == 0 ? [] : [0]
            )
        }
        var read = step(0, "http.request", ["method": "GET", "url": "https://news.example/article"])
        read.state = .executed
        let mail = ["subject": JSONValue.string("Notes"), "body": "see attached"]
        let run = Run(
            goal: "Summarise the article for the team",
            principal: "ana@acme.test",
            agent: "planner",
            planner: "file",
            steps: [
                read,
                step(1, "gmail.send_message", .object(mail.merging(["to": ["partner@other.example"]]) { a, _ in a })),
                step(2, "gmail.send_message", .object(mail.merging(["to": ["bob@acme.test"]]) { a, _ in a })),
                step(3, "http.request", ["method": "GET", "url": "https://news.example/second"]),
                step(4, "http.request", ["method": "POST", "url": "https://collector.example/in", "body": "x"]),
            ],
            createdAt: fixture.start
        )
        try await store.createRun(run)
        let advanced = try await engine.advance(run.id)
        var reasons: [Int: [String]] = [:]
        var levels: [Int: RiskLevel] = [:]
        for index in 1...4 {
            let id = try #require(advanced.steps[index].requestID)
            let request = try #require(try await store.request(id: id))
            reasons[index] = request.assessment.reasons.filter { $0.name == "taint" }.map(\.text)
            levels[index] = request.assessment.level
        }
        #expect(reasons[1]?.first?.contains("follows untrusted input read at step 0 (http.request)") == true)
        #expect(reasons[1]?.first?.contains("outside acme.test") == true)
        #expect(levels[1] == .critical)
        #expect(reasons[2] == [] && reasons[3] == [])
        #expect(reasons[4]?.first?.contains("a new host, collector.example") == true)
        #expect(levels[4] == .critical)
        // Without the untrusted read before it, the same external mail is not tainted.
        #expect(
            Taint.signal(
                for: run.steps[1],
                in: Run(
                    goal: "g",
                    principal: "ana@acme.test",
                    agent: "a",
                    planner: "file",
                    steps: [
                        step(0, "http.request", ["method": "GET", "url": "https://news.example/a"]), run.steps[1],
                    ],
                    createdAt: fixture.start
                )
            ) == nil
        )
    }

    @Test("a step whose operation is no longer offered ends the run, saying so", arguments: StoreBackend.allCases)
    func operationGone(backend: StoreBackend) async throws {
        let opened = try await backend.open()
        let workspace = opened.directory.url.appending(path: "workspace")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        // Started where `http` was offered; resumed by a server without it (files only).
        let stack = try Stack(opened.store, workspace: workspace)
        let run = Run(
            goal: "g",
            principal: "ana@acme.test",
            agent: "planner",
            planner: "file",
            steps: [
                RunStep(
                    index: 0,
                    operation: OperationID("http.request")!,
                    arguments: ["method": "GET", "url": "https://example.com/"],
                    rationale: ""
                )
            ],
            createdAt: fixture.start
        )
        try await stack.store.createRun(run)
        let ended = try await stack.engine.advance(run.id)
        #expect(ended.state == .failed)
        #expect(ended.steps[0].state == .failed)
        #expect(ended.failure?.contains("step 0 (http.request) could not be proposed") == true)
    }

    @Test("a plan file says what is wrong with it")
    func planErrors() {
        let cases: [(String, String)] = [
            ("steps: []", "non-empty list"),
            ("steps:\n  - arguments: {}\n", "step 0 needs an operation"),
            ("steps:\n  - operation: nonsense\n", "is not an operation"),
            ("steps:\n  - operation: files.read\n    arguments: [1]\n", "arguments must be an object"),
            ("steps:\n  - operation: files.read\n    dependsOn: [0]\n", "dependsOn lists earlier steps"),
            ("steps: [", "not valid YAML or JSON"),
        ]
        for (text, expected) in cases {
            #expect(throws: RunError.self) { try PlanFile(text: text) }
            do {
                _ = try PlanFile(text: text)
            } catch {
                #expect(error.description.contains(expected), "\(error.description)")
            }
        }
    }
}
