import AsyncHTTPClient
import Countersign
import CountersignAgent
import CountersignConnectors
import CountersignServer
import CountersignStore
import CountersignVault
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing

/// The agent API through the real router, on a real SQLite file and workspace.
@Suite("Agent API")
struct AgentAPITests: Sendable {
    let store: SQLiteStore
    let events = RequestEvents()
    let requests: NotifyingStore
    let workspace: URL
    let gateway: Gateway
    let key: APIKey
    let otherKey: APIKey
    let vault: Vault

    init() async throws { try await self.init(policyYAML: Policy.defaultYAML) }

    init(policyYAML: String, more: [any Connector] = []) async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "countersign-api-\(UUID().uuidString)")
        workspace = directory.appending(path: "workspace")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        store = try SQLiteStore(path: directory.appending(path: "countersign.sqlite").path)
        let connectors: [any Connector] =
            [try FilesConnector(root: workspace.path), try ShellConnector(root: workspace.path)] + more
        let policy = try Policy(yaml: policyYAML, catalog: more.isEmpty ? Catalogs.local() : Catalogs.standard())
        requests = NotifyingStore(store, events: events)
        let catalog = OperationCatalog(connectors.flatMap(\.operations))
        gateway = Gateway(
            catalog: catalog,
            policy: policy,
            store: requests,
            executor: Executor(store: requests, connectors: connectors)
        )
        vault = try await Vault.open(
            store: store,
            masterKey: MasterKey.Source(
                environment: nil,
                file: nil,
                defaultFile: directory.appending(path: "vault.key").path
            ),
            actor: "test"
        )
        key = APIKey.generate()
        otherKey = APIKey.generate()
        try await store.createAgent(
            Agent(name: "planner", keyID: key.id, keyHash: key.hash, createdAt: Date()),
            actor: "user:admin"
        )
        try await store.createAgent(
            Agent(name: "other", keyID: otherKey.id, keyHash: otherKey.hash, createdAt: Date()),
            actor: "user:admin"
        )
    }

    var context: ServerContext { context(runs: RunEngine(runs: store, requests: requests, gateway: gateway)) }

    /// The context with this run engine.
    func context(runs: RunEngine) -> ServerContext {
        ServerContext(
            gateway: gateway,
            requests: requests,
            events: events,
            agents: store,
            users: store,
            secrets: try! SecretBox(rawKey: SecretBox.generateRawKey()),
            vault: vault,
            sessions: store,
            runs: runs
        )
    }

    /// The context with the web app: sessions, the audit log, and an OpenID Connect provider if given.
    func webContext(oidc: OIDCConfiguration? = nil) throws -> ServerContext {
        let context = ServerContext(
            gateway: gateway,
            requests: requests,
            events: events,
            agents: store,
            users: store,
            secrets: try SecretBox(rawKey: SecretBox.generateRawKey()),
            vault: vault,
            sessions: store,
            oidc: oidc,
            audit: AuditSources(
                store: store,
                checkpointsPath: workspace.appending(path: "../checkpoints.log").path,
                publicKey: []
            ),
            runs: RunEngine(runs: store, requests: requests, gateway: gateway)
        )
        context.address.listening(at: "http://127.0.0.1:8787")
        return context
    }

    func headers(_ key: APIKey? = nil) -> HTTPFields {
        [.authorization: "Bearer \((key ?? self.key).secret.reveal())", .contentType: "application/json"]
    }

    func json(_ response: TestResponse) throws -> JSONValue {
        try JSONParser().parse(Array(buffer: response.body))
    }

    func propose(_ client: some TestClientProtocol, _ body: String, key: APIKey? = nil) async throws -> TestResponse {
        try await client.execute(
            uri: "/v1/actions",
            method: .post,
            headers: headers(key),
            body: ByteBuffer(string: body)
        )
    }

    /// Approves a held request as bob, and executes it as the executor service would.
    ///
    /// - Returns: The state it ended in.
    func approveAndExecute(_ requestID: String) async throws -> RequestState? {
        let held = try #require(try await requests.request(id: requestID))
        _ = try await requests.decide(
            Decision(
                requestID: requestID,
                approver: "bob@acme.test",
                verdict: .approve,
                digest: held.digest,
                authentication: AuthenticationRecord(method: .password, authTime: Date()),
                decidedAt: Date()
            ),
            now: Date()
        )
        let files = try FilesConnector(root: workspace.path)
        return try await Executor(store: requests, connectors: [files]).execute(requestID: requestID)?.state
    }

    /// Proposes a Medium `files.write` of `path`, which waits for an approver, and returns the request.
    func holdWrite(_ client: some TestClientProtocol, path: String = "b.txt") async throws -> JSONValue {
        let body =
            #"{"operation":"files.write","arguments":{"path":"\#(path)","content":"x"},"onBehalfOf":"ana@acme.test"}"#
        return try json(try await propose(client, body))
    }

    @Test("health needs no key; the API needs a valid one")
    func authentication() async throws {
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/catalog", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            }
            let wrong: HTTPFields = [.authorization: "Bearer csk_0000000000000000_" + String(repeating: "0", count: 64)]
            try await client.execute(uri: "/v1/catalog", method: .get, headers: wrong) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/catalog", method: .get, headers: headers()) { response in
                #expect(response.status == .ok)
                let operations = try json(response)["operations"]?.arrayValue ?? []
                #expect(operations.contains { $0["operation"] == "files.write" && $0["scopes"] == ["files:write"] })
            }
        }
    }

    @Test("a Low action is executed at once and the result returned")
    func lowAction() async throws {
        try "hello".write(to: workspace.appending(path: "a.txt"), atomically: true, encoding: .utf8)
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in
            let response = try await propose(
                client,
                #"{"operation":"files.read","arguments":{"path":"a.txt"},"onBehalfOf":"ana@acme.test","reason":"I need the notes"}"#
            )
            #expect(response.status == .created)
            let body = try json(response)
            #expect(body["state"] == "executed")
            #expect(body["result"]?["content"] == "hello")
            #expect(body["agent"] == "planner")
            #expect(body["agentReason"] == "I need the notes")
            #expect(body["impact"]?.stringValue?.contains("Reads the file") == true)
        }
    }

    @Test("a Medium action is held; only its own agent can read it")
    func heldAction() async throws {
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in
            let response = try await propose(
                client,
                #"{"operation":"files.write","arguments":{"path":"b.txt","content":"x"},"onBehalfOf":"ana@acme.test"}"#
            )
            #expect(response.status == .created)
            let body = try json(response)
            #expect(body["state"] == "pending")
            #expect(body["risk"]?["level"] == "medium")
            #expect(body["requirements"]?["approvals"] == 1)
            #expect(body["scopes"] == ["files:write"])
            let id = try #require(body["id"]?.stringValue)
            try await client.execute(uri: "/v1/actions/\(id)", method: .get, headers: headers()) { response in
                let read = try json(response)
                #expect(response.status == .ok && read["digest"] == body["digest"])
            }
            try await client.execute(uri: "/v1/actions/\(id)", method: .get, headers: headers(otherKey)) { response in
                #expect(response.status == .notFound)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.appending(path: "b.txt").path))
    }

    @Test("an agent lists its own requests, filtered by state; a pending one links to its approval page")
    func listsOwnRequests() async throws {
        let context = context
        context.address.listening(at: "http://127.0.0.1:9")
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in
            let held = try await holdWrite(client)
            let id = try #require(held["id"]?.stringValue)
            #expect(held["approvalURL"] == .string("http://127.0.0.1:9/approvals/\(id)"))
            _ = try await propose(
                client,
                #"{"operation":"files.read","arguments":{"path":"none"},"onBehalfOf":"ana@acme.test"}"#
            )
            _ = try await propose(
                client,
                #"{"operation":"files.write","arguments":{"path":"c.txt","content":"x"},"onBehalfOf":"ana@acme.test"}"#,
                key: otherKey
            )
            try await client.execute(uri: "/v1/actions", method: .get, headers: headers()) { response in
                let actions = try json(response)["actions"]?.arrayValue ?? []
                #expect(response.status == .ok && actions.count == 2)
                #expect(actions.allSatisfy { $0["agent"] == "planner" })
            }
            try await client.execute(uri: "/v1/actions?state=pending", method: .get, headers: headers()) { response in
                let listed = try json(response)["actions"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
                #expect(listed == [id])
            }
            for bad in ["state=maybe", "limit=0", "limit=201"] {
                try await client.execute(uri: "/v1/actions?\(bad)", method: .get, headers: headers()) { response in
                    #expect(response.status == .badRequest, "\(bad)")
                }
            }
        }
    }

    @Test("a decision relayed from the agent's client is refused unless policy permits it there")
    func clientDecisionRefused() async throws {
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in
            let held = try await holdWrite(client)
            let id = try #require(held["id"]?.stringValue)
            let digest = try #require(held["digest"]?.stringValue)
            let approve = #"{"verdict":"approve","digest":"\#(digest)"}"#
            try await client.execute(
                uri: "/v1/actions/\(id)/client-decision",
                method: .post,
                headers: headers(),
                body: ByteBuffer(string: approve)
            ) { response in
                let problem = try json(response)
                #expect(response.status == .forbidden && problem["code"] == "client_approval_not_permitted")
            }
            // Another agent cannot even see it.
            try await client.execute(
                uri: "/v1/actions/\(id)/client-decision",
                method: .post,
                headers: headers(otherKey),
                body: ByteBuffer(string: approve)
            ) { #expect($0.status == .notFound) }
            try await client.execute(
                uri: "/v1/actions/\(id)/client-decision",
                method: .post,
                headers: headers(),
                body: ByteBuffer(string: #"{"verdict":"maybe","digest":"\#(digest)"}"#)
            ) { #expect($0.status == .unprocessableContent) }
        }
        #expect(
            try await requests.request(id: try #require(try await requests.requests(RequestQuery()).first?.id))?.state
                == .pending
        )
    }

    @Test("a denied action is 403 with the policy's reason")
    func deniedAction() async throws {
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in
            let response = try await propose(
                client,
                #"{"operation":"shell.run","arguments":{"program":"sudo","arguments":["ls"]},"onBehalfOf":"ana@acme.test"}"#
            )
            #expect(response.status == .forbidden)
            let body = try json(response)
            #expect(body["state"] == "rejected")
            #expect(
                body["failure"] == "denied by policy: Running programs as another user is never delegated to an agent"
            )
        }
    }

    @Test("bad input gets a problem document that says what to fix")
    func badInput() async throws {
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in
            let invalid = try await propose(
                client,
                #"{"operation":"files.write","arguments":{"path":"a"},"onBehalfOf":"ana"}"#
            )
            #expect(invalid.status == .unprocessableContent)
            #expect(invalid.headers[.contentType] == "application/problem+json")
            let violations = try json(invalid)["violations"]?.arrayValue ?? []
            #expect(violations.contains { $0["keyword"] == "required" })
            let unknown = try await propose(client, #"{"operation":"files.explode","onBehalfOf":"ana"}"#)
            #expect(unknown.status == .notFound)
            let malformed = try await propose(client, #"{"operation": "#)
            #expect(malformed.status == .badRequest)
            #expect(try json(malformed)["detail"]?.stringValue?.contains("line 1") == true)
            let extra = try await propose(client, #"{"operation":"files.read","onBehalfOf":"ana","token":"x"}"#)
            #expect(extra.status == .unprocessableContent)
            let noPrincipal = try await propose(client, #"{"operation":"files.read","arguments":{"path":"a"}}"#)
            #expect(noPrincipal.status == .unprocessableContent)
        }
    }

    @Test("an idempotency key returns the same request, and refuses another action")
    func idempotency() async throws {
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in
            let body =
                #"{"operation":"files.write","arguments":{"path":"c.txt","content":"1"},"onBehalfOf":"ana","idempotencyKey":"k1"}"#
            let first = try json(try await propose(client, body))["id"]
            let second = try json(try await propose(client, body))["id"]
            #expect(first != nil && first == second)
            let other = try await propose(
                client,
                #"{"operation":"files.write","arguments":{"path":"c.txt","content":"2"},"onBehalfOf":"ana","idempotencyKey":"k1"}"#
            )
            #expect(other.status == .conflict)
        }
    }

    @Test("every path and method of the OpenAPI document is served")
    func openAPIMatchesRoutes() async throws {
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in
            let document = try await client.execute(uri: "/openapi.json", method: .get) { try json($0) }
            #expect(document["openapi"] == "3.1.0")
            let paths = try #require(document["paths"]?.objectValue)
            #expect(paths.count == 20)
            let copy = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../docs/openapi.json")
            #expect(try JSONParser().parse(Array(try Data(contentsOf: copy))) == document, "docs/openapi.json is stale")
            for (path, operations) in paths {
                for method in operations.objectValue?.keys ?? [:].keys {
                    let uri = path.replacingOccurrences(of: "{id}", with: "no-such-id")
                    let response = try await client.execute(
                        uri: uri,
                        method: HTTPRequest.Method(rawValue: method.uppercased())!,
                        headers: headers(),
                        body: ByteBuffer(string: "{}")
                    )
                    let documented = operations[method]?["responses"]?.objectValue?.keys.map { Int($0) } ?? []
                    #expect(
                        documented.contains(Int(response.status.code)),
                        "\(method) \(path) answered \(response.status.code)"
                    )
                }
            }
            try await client.execute(uri: "/v1/nothing", method: .get, headers: headers()) {
                #expect($0.status == .notFound)
            }
        }
    }

    @Test("a run is started with its plan, shown to its agent only, and a bad plan is refused with the step named")
    func runs() async throws {
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in
            let body = """
                {"goal":"Write and read a note","onBehalfOf":"ana@acme.test","plan":[
                  {"operation":"files.write","arguments":{"path":"run.txt","content":"x"},"rationale":"write it"},
                  {"operation":"files.read","arguments":{"path":"run.txt"},"rationale":"read it","dependsOn":[0]}]}
                """
            let started = try await client.execute(
                uri: "/v1/runs",
                method: .post,
                headers: headers(),
                body: ByteBuffer(string: body)
            )
            #expect(started.status == .created)
            let run = try json(started)
            let id = try #require(run["id"]?.stringValue)
            #expect(run["state"] == "running")
            let steps = try #require(run["steps"]?.arrayValue)
            #expect(steps.map { $0["state"] } == ["proposed", "planned"])
            let requestID = try #require(steps[0]["requestID"]?.stringValue)
            // The step's request is an ordinary request of this agent, with the rationale as the agent's words.
            let request = try json(
                try await client.execute(uri: "/v1/actions/\(requestID)", method: .get, headers: headers())
            )
            #expect(request["state"] == "pending")
            #expect(request["agentReason"] == "Run step 0: write it")
            #expect(request["runID"]?.stringValue == id)
            try await client.execute(uri: "/v1/runs/\(id)", method: .get, headers: headers()) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/v1/runs/\(id)", method: .get, headers: headers(otherKey)) {
                #expect($0.status == .notFound)
            }
            let listed = try json(
                try await client.execute(uri: "/v1/runs?state=running", method: .get, headers: headers())
            )
            #expect(listed["runs"]?.arrayValue?.map { $0["id"] } == [.string(id)])
            // The run's events: now, and at its end (here, the first step denied).
            async let stream = client.execute(uri: "/v1/runs/\(id)/events", method: .get, headers: headers())
            try await Task.sleep(for: .milliseconds(200))
            let held = try #require(try await requests.request(id: requestID))
            _ = try await requests.decide(
                Decision(
                    requestID: requestID,
                    approver: "bob@acme.test",
                    verdict: .deny,
                    digest: held.digest,
                    authentication: AuthenticationRecord(method: .password, authTime: Date()),
                    decidedAt: Date(),
                    reason: "not this file"
                ),
                now: Date()
            )
            let engine = try #require(context.runs)
            #expect(try await engine.advance(id).state == .failed)
            let events = try await stream
            #expect(events.headers[.contentType] == "text/event-stream")
            let frames = String(buffer: events.body).split(separator: "\n").filter { $0.hasPrefix("data: ") }
                .compactMap { try? JSONParser().parse(Array($0.dropFirst(6).utf8)) }
            #expect(frames.map { $0["state"] } == ["running", "failed"])
            #expect(frames.last?["failure"]?.stringValue?.contains("not this file") == true)
            let bad = """
                {"goal":"g","onBehalfOf":"ana@acme.test","plan":[{"operation":"files.read","arguments":{"nope":1}}]}
                """
            let refused = try await client.execute(
                uri: "/v1/runs",
                method: .post,
                headers: headers(),
                body: ByteBuffer(string: bad)
            )
            #expect(refused.status == .unprocessableContent)
            #expect(try json(refused)["detail"]?.stringValue?.contains("step 0 (files.read)") == true)
        }
    }

    @Test("a run's long-poll answers as soon as the run is checkpointed, and at the timeout otherwise")
    func runLongPoll() async throws {
        let engine = RunEngine(runs: store, requests: requests, gateway: gateway, events: events)
        let app = Application(router: buildRouter(context(runs: engine)))
        try await app.test(.router) { client in
            let body = """
                {"goal":"Two notes","onBehalfOf":"ana@acme.test","plan":[
                  {"operation":"files.write","arguments":{"path":"one.txt","content":"1"}},
                  {"operation":"files.write","arguments":{"path":"two.txt","content":"2"},"dependsOn":[0]}]}
                """
            let run = try json(
                try await client.execute(
                    uri: "/v1/runs",
                    method: .post,
                    headers: headers(),
                    body: ByteBuffer(string: body)
                )
            )
            let id = try #require(run["id"]?.stringValue)
            let version = try #require(run["version"]?.numberValue.map { Int($0) })
            let clock = ContinuousClock()
            var started = clock.now
            let unchanged = try json(
                try await client.execute(uri: "/v1/runs/\(id)?wait=1", method: .get, headers: headers())
            )
            #expect(unchanged["version"]?.numberValue.map { Int($0) } == version)
            #expect(clock.now - started >= .milliseconds(900))
            // Already past the version given: at once.
            started = clock.now
            _ = try await client.execute(
                uri: "/v1/runs/\(id)?wait=30&version=\(version - 1)",
                method: .get,
                headers: headers()
            )
            #expect(clock.now - started < .seconds(1))
            for (uri, detail) in [("?wait=61", "wait"), ("?wait=1&version=x", "version")] {
                let refused = try await client.execute(uri: "/v1/runs/\(id)\(uri)", method: .get, headers: headers())
                #expect(refused.status == .badRequest, "\(detail)")
            }

            async let changed = client.execute(
                uri: "/v1/runs/\(id)?wait=30&version=\(version)",
                method: .get,
                headers: headers()
            )
            try await Task.sleep(for: .milliseconds(200))
            let requestID = try #require(run["steps"]?.arrayValue?.first?["requestID"]?.stringValue)
            #expect(try await approveAndExecute(requestID) == .executed)
            // From the checkpoint (a loaded machine may take a while to approve and execute).
            started = clock.now
            _ = try await engine.advance(id)
            let answer = try json(try await changed)
            #expect(clock.now - started < .seconds(1))
            #expect(answer["steps"]?.arrayValue?.map { $0["state"] } == ["executed", "proposed"])
        }
    }

    @Test("a run planned by a model set in the vault: its key opened for the call, the model's summary shown")
    func modelRun() async throws {
        let model = TestModelServer(
            .openai,
            script: [
                .turn("Writing the note.", [("files-write", ["path": "note.md", "content": "hello"])]),
                .turn("Wrote note.md.", []),
            ]
        )
        try await model.run {
            try await vault.setPlannerModel(
                name: "gpt",
                api: "openai",
                url: model.url,
                model: TestModelServer.model,
                apiKey: Secret(TestModelServer.key),
                actor: "test"
            )
            let engine = RunEngine(
                runs: store,
                requests: requests,
                gateway: gateway,
                planners: VaultPlanners(vault: vault).planner(named:)
            )
            let context = context(runs: engine)
            let app = Application(router: buildRouter(context))
            try await app.test(.router) { client in
                func start(_ body: String) async throws -> TestResponse {
                    try await client.execute(
                        uri: "/v1/runs",
                        method: .post,
                        headers: headers(),
                        body: ByteBuffer(string: body)
                    )
                }
                let started = try await start(#"{"goal":"Write a note","onBehalfOf":"ana@acme.test","planner":"gpt"}"#)
                #expect(started.status == .created)
                let proposed = try json(started)
                #expect(proposed["state"] == "running")
                #expect(proposed["planner"] == "gpt")
                // Writing is Medium: approved, executed, and the model told, which ends the run.
                let id = try #require(proposed["id"]?.stringValue)
                let requestID = try #require(proposed["steps"]?.arrayValue?.first?["requestID"]?.stringValue)
                #expect(try await approveAndExecute(requestID) == .executed)
                _ = try await engine.advance(id)
                let run = try json(try await client.execute(uri: "/v1/runs/\(id)", method: .get, headers: headers()))
                #expect(run["state"] == "completed")
                #expect(run["summary"] == "Wrote note.md.")
                #expect(run["steps"]?.arrayValue?.map { $0["state"] } == ["executed"])
                #expect(run["steps"]?.arrayValue?.first?["rationale"] == "Writing the note.")
                #expect(try String(contentsOf: workspace.appending(path: "note.md"), encoding: .utf8) == "hello")
                #expect(model.problems == [])
                #expect(!String(buffer: started.body).contains(TestModelServer.key))
                for (body, detail) in [
                    (#"{"goal":"g","onBehalfOf":"ana@acme.test","planner":"nope"}"#, "no planner model \"nope\""),
                    (#"{"goal":"g","onBehalfOf":"ana@acme.test","planner":"gpt","plan":[]}"#, "either"),
                    (#"{"goal":"g","onBehalfOf":"ana@acme.test"}"#, "either"),
                ] {
                    let refused = try await start(body)
                    #expect(refused.status == .unprocessableContent)
                    #expect(try json(refused)["detail"]?.stringValue?.contains(detail) == true, "\(body)")
                }
            }
        }
    }

    @Test("a long-poll answers as soon as the request is decided, and at the timeout otherwise")
    func longPoll() async throws {
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in
            let created = try json(
                try await propose(
                    client,
                    #"{"operation":"files.write","arguments":{"path":"d.txt","content":"x"},"onBehalfOf":"ana"}"#
                )
            )
            let id = try #require(created["id"]?.stringValue)
            let digest = try #require(created["digest"]?.stringValue.flatMap(ActionDigest.init))
            let clock = ContinuousClock()
            let started = clock.now
            let unchanged = try await client.execute(uri: "/v1/actions/\(id)?wait=1", method: .get, headers: headers())
            #expect(try json(unchanged)["state"] == "pending")
            #expect(clock.now - started >= .milliseconds(900))

            let requests = self.requests
            async let decided = client.execute(uri: "/v1/actions/\(id)?wait=30", method: .get, headers: headers())
            // Decide only once the long-poll is waiting, so that the wake-up is what is tested.
            var spins = 0
            while events.waiterCount(for: id) == 0 && spins < 5_000_000 {
                spins += 1
                await Task.yield()
            }
            #expect(events.waiterCount(for: id) == 1)
            let approval = Decision(
                requestID: id,
                approver: "bob@acme.test",
                verdict: .approve,
                digest: digest,
                authentication: AuthenticationRecord(method: .password, authTime: Date()),
                decidedAt: Date()
            )
            let decideStart = clock.now
            _ = try await requests.decide(approval, now: Date())
            let answer = try await decided
            #expect(try json(answer)["state"] == "approved")
            #expect(clock.now - decideStart < .seconds(10))

            let bad = try await client.execute(uri: "/v1/actions/\(id)?wait=99", method: .get, headers: headers())
            #expect(bad.status == .badRequest)
        }
    }

    @Test(
        "the server's own application: handlers' errors as problems (a body too large too), Date and Server headers, a long-poll answered"
    )
    func serverApplication() async throws {
        try "notes".write(to: workspace.appending(path: "notes.txt"), atomically: true, encoding: .utf8)
        let (ports, announce) = AsyncStream.makeStream(of: Int.self)
        let application = buildApplication(
            configuration: ServerConfiguration(host: "127.0.0.1", port: 0),
            context: context,
            logger: Logger(label: "test")
        ) { announce.yield($0) }
        let server = Task { try await application.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        func send(_ path: String, key: APIKey? = nil, body: String? = nil) async throws -> (HTTPClientResponse, String)
        {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            if let key { request.headers.add(name: "Authorization", value: "Bearer \(key.secret.reveal())") }
            if let body {
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            return (response, String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }

        let (missing, missingBody) = try await send("/v1/nowhere", key: key)
        #expect(missing.status == .notFound)
        #expect(missing.headers["Content-Type"].first == "application/problem+json")
        #expect(missingBody.contains("no such endpoint"))
        #expect(missing.headers["Server"].first == "countersign")
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "GMT")
        format.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let date = try #require(missing.headers["Date"].first.flatMap(format.date(from:)))
        #expect(abs(date.timeIntervalSinceNow) < 5)

        let (unauthorized, unauthorizedBody) = try await send("/v1/catalog")
        #expect(unauthorized.status == .unauthorized)
        #expect(unauthorizedBody.contains(#""status":401"#))

        let (proposed, proposedBody) = try await send(
            "/v1/actions",
            key: key,
            body: #"{"operation":"files.read","arguments":{"path":"notes.txt"},"onBehalfOf":"ana@acme.test"}"#
        )
        #expect(proposed.status == .created)
        let id = try #require(try JSONParser().parse(Array(proposedBody.utf8))["id"]?.stringValue)
        let (polled, polledBody) = try await send("/v1/actions/\(id)?wait=5", key: key)
        #expect(polled.status == .ok)
        #expect(polledBody.contains(#""state":"executed""#))
        let (others, _) = try await send("/v1/actions/\(id)?wait=5", key: otherKey)
        #expect(others.status == .notFound)

        // A body over the limit is a 413 that says the limit, on the agent API and on MCP alike.
        let large = #"{"pad":""# + String(repeating: "x", count: 2 << 20) + #""}"#
        for path in ["/v1/actions", "/mcp"] {
            let (tooLarge, tooLargeBody) = try await send(path, key: key, body: large)
            #expect(tooLarge.status == .payloadTooLarge, "\(path)")
            #expect(tooLarge.headers["Content-Type"].first == "application/problem+json", "\(path)")
            #expect(tooLargeBody.contains("at most 1 MiB"), "\(path)")
        }

        server.cancel()
        _ = await server.result
    }
}
