import Countersign
import CountersignConnectors
import CountersignMCP
import CountersignServer
import CountersignStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MCP
import Synchronization
import Testing

/// A decision by an approver, bound to the request's digest.
func decision(_ request: ActionRequest, _ verdict: Decision.Verdict, reason: String? = nil) -> Decision {
    Decision(
        requestID: request.id,
        approver: "bob@acme.test",
        verdict: verdict,
        digest: request.digest,
        authentication: AuthenticationRecord(method: .password, authTime: Date()),
        decidedAt: Date(),
        reason: reason
    )
}

func text(_ content: [Tool.Content]) -> String {
    content.compactMap { if case .text(let text, _, _) = $0 { text } else { nil } }.joined()
}

/// The MCP tools with a real MCP client (the SDK's in-memory transport) against a real Countersign
/// server over HTTP.
@Suite("MCP tools")
struct MCPTests {
    /// Runs `body` with an MCP client connected to the tools of a live server.
    ///
    /// - Parameters:
    ///   - api: The server's set-up.
    ///   - maximumWait: How long a call waits for a human before it returns a pending result.
    ///   - capabilities: What the client says it can do (elicitation, for example).
    ///   - prepare: Registers the client's handlers before it connects.
    ///   - body: The test.
    /// - Throws: What `body` throws, or a failure to start.
    func withClient(
        _ api: AgentAPITests,
        maximumWait: Duration = .seconds(60),
        capabilities: Client.Capabilities = .init(),
        prepare: @Sendable (Client) async -> Void = { _ in },
        _ body: @Sendable (Client, AgentAPITests) async throws -> Void
    ) async throws {
        let context = api.context
        let app = Application(
            router: buildRouter(context),
            configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        try await app.test(.live) { http in
            let port = try #require(http.port)
            context.address.listening(at: "http://127.0.0.1:\(port)")
            let tools = GatedTools(
                api: AgentAPIClient(server: "http://127.0.0.1:\(port)", key: api.key.secret),
                principal: "ana@acme.test",
                maximumWait: maximumWait
            )
            let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
            let server = try await tools.start(on: serverSide)
            let client = Client(name: "test-agent", version: "1.0", capabilities: capabilities)
            await prepare(client)
            _ = try await client.connect(transport: clientSide)
            try await body(client, api)
            await client.disconnect()
            await server.stop()
        }
    }

    @Test("tools/list is the catalog, with schemas and annotations, and the status tool")
    func listsTools() async throws {
        try await withClient(try await AgentAPITests()) { client, _ in
            let (tools, _) = try await client.listTools()
            let names = Set(tools.map(\.name))
            #expect(
                names.isSuperset(of: [
                    "files.read", "files.write", "files.delete", "shell.run", "countersign_status", "countersign_undo",
                ])
            )
            let read = try #require(tools.first { $0.name == "files.read" })
            #expect(read.annotations.readOnlyHint == true && read.annotations.destructiveHint == false)
            #expect(read.inputSchema.objectValue?["required"] == .array([.string("path")]))
            let delete = try #require(tools.first { $0.name == "files.delete" })
            #expect(delete.annotations.destructiveHint == true && delete.annotations.readOnlyHint == false)
        }
    }

    @Test("a Low call returns the result; a denied one is an error that says not to retry")
    func lowAndDenied() async throws {
        let api = try await AgentAPITests()
        try "hello".write(to: api.workspace.appending(path: "a.txt"), atomically: true, encoding: .utf8)
        try await withClient(api) { client, _ in
            let (content, isError) = try await client.callTool(name: "files.read", arguments: ["path": "a.txt"])
            #expect(isError == false)
            #expect(text(content).contains(#""content":"hello""#))

            let denied = try await client.callTool(
                name: "shell.run",
                arguments: ["program": "sudo", "arguments": ["ls"]]
            )
            #expect(denied.isError == true)
            #expect(text(denied.content).contains("do not retry"))

            let invalid = try await client.callTool(name: "files.read", arguments: ["nope": 1])
            #expect(invalid.isError == true)
            #expect(text(invalid.content).contains("did not accept"))
        }
    }

    @Test("a held call waits with progress notifications and returns the result once a human approves")
    func heldUntilApproved() async throws {
        try await withClient(try await AgentAPITests()) { client, api in
            let progress = Mutex<[String]>([])
            await client.onNotification(ProgressNotification.self) { message in
                progress.withLock { $0.append(message.params.message ?? "") }
            }
            let approver = Task {
                // The human: finds the pending request, approves it, and the executor runs it.
                while true {
                    let pending = try await api.requests.requests(RequestQuery(states: [.pending], limit: 10))
                    if let request = pending.first {
                        _ = try await api.requests.decide(decision(request, .approve), now: Date())
                        try await Executor(
                            store: api.requests,
                            connectors: [try FilesConnector(root: api.workspace.path)]
                        )
                        .execute(requestID: request.id)
                        return
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            let (content, isError) = try await client.callTool(
                name: "files.write",
                arguments: ["path": "notes.md", "content": "hi"],
                meta: Metadata(progressToken: .string("p1"))
            )
            try await approver.value
            #expect(isError == false)
            #expect(text(content).contains("notes.md"))
            // Notifications are handled apart from the response; give the last one a moment.
            for _ in 0..<100 where progress.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
            #expect(progress.withLock { $0 }.contains { $0.hasPrefix("waiting for approval by a human, Medium") })
            #expect(FileManager.default.fileExists(atPath: api.workspace.appending(path: "notes.md").path))
        }
    }

    @Test("a call an approver edited returns the edited action's result and says which arguments changed")
    func editedCall() async throws {
        try await withClient(try await AgentAPITests()) { client, api in
            let approver = Task {
                while true {
                    if let request = try await api.requests.requests(RequestQuery(states: [.pending], limit: 1)).first {
                        let edited = try await api.gateway.edit(
                            request,
                            arguments: ["path": "edited.md", "content": "hi"],
                            editor: "bob@acme.test"
                        )
                        _ = try await api.requests.decide(decision(edited, .approve), now: Date())
                        try await Executor(
                            store: api.requests,
                            connectors: [try FilesConnector(root: api.workspace.path)]
                        )
                        .execute(requestID: request.id)
                        return
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            let result = try await client.callTool(
                name: "files.write",
                arguments: ["path": "asked.md", "content": "hi"]
            )
            try await approver.value
            #expect(result.isError == false)
            #expect(text(result.content).contains("edited the arguments before approving; changed: /path"))
            #expect(FileManager.default.fileExists(atPath: api.workspace.appending(path: "edited.md").path))
            #expect(!FileManager.default.fileExists(atPath: api.workspace.appending(path: "asked.md").path))
        }
    }

    @Test("a call that outlasts its wait returns the request id; countersign_status fetches the outcome later")
    func pendingThenStatus() async throws {
        try await withClient(try await AgentAPITests(), maximumWait: .milliseconds(200)) { client, api in
            let held = try await client.callTool(name: "files.write", arguments: ["path": "later.md", "content": "x"])
            #expect(held.isError == false)
            let id = try #require(try await api.requests.requests(RequestQuery(states: [.pending], limit: 1)).first?.id)
            #expect(text(held.content).contains(id) && text(held.content).contains("countersign_status"))
            let request = try #require(try await api.requests.request(id: id))
            _ = try await api.requests.decide(decision(request, .deny, reason: "not today"), now: Date())
            let status = try await client.callTool(name: "countersign_status", arguments: ["id": .string(id)])
            #expect(status.isError == true)
            #expect(
                text(status.content).contains("A human denied this action")
                    && text(status.content).contains("not today")
            )
        }
    }

    @Test("each request is a resource: listed, read by its URI, and linked from a pending result")
    func requestsAsResources() async throws {
        try await withClient(try await AgentAPITests(), maximumWait: .milliseconds(100)) { client, api in
            let held = try await client.callTool(name: "files.write", arguments: ["path": "r.md", "content": "x"])
            let id = try #require(try await api.requests.requests(RequestQuery(states: [.pending], limit: 1)).first?.id)
            let uri = "countersign://requests/\(id)"
            #expect(held.content.contains { if case .resourceLink(uri, _, _, _, _, _) = $0 { true } else { false } })
            #expect(text(held.content).contains("/approvals/\(id)"))

            let (templates, _) = try await client.listResourceTemplates()
            #expect(templates.map(\.uriTemplate) == ["countersign://requests/{id}"])
            let (resources, _) = try await client.listResources()
            #expect(resources.map(\.uri) == [uri])
            #expect(resources.first?.title == "files.write (pending)")

            var contents = try await client.readResource(uri: uri)
            var body = try JSONParser().parse(Array((contents.first?.text ?? "").utf8))
            #expect(
                body["state"] == "pending" && body["approvalURL"]?.stringValue?.hasSuffix("/approvals/\(id)") == true
            )

            // Approved and executed while nobody is connected to the call: the resource has the result.
            let request = try #require(try await api.requests.request(id: id))
            _ = try await api.requests.decide(decision(request, .approve), now: Date())
            try await Executor(store: api.requests, connectors: [try FilesConnector(root: api.workspace.path)])
                .execute(requestID: id)
            contents = try await client.readResource(uri: uri)
            body = try JSONParser().parse(Array((contents.first?.text ?? "").utf8))
            #expect(body["state"] == "executed" && body["approvalURL"] == nil)

            await #expect(throws: MCPError.self) {
                _ = try await client.readResource(uri: "countersign://requests/nope")
            }
            await #expect(throws: MCPError.self) { _ = try await client.readResource(uri: "file:///etc/passwd") }
        }
    }

    @Test("a client with URL elicitation is offered the approval page, and told when it is done with")
    func urlElicitation() async throws {
        let offered = Recorded<CreateElicitation.Parameters>()
        let completed = Mutex<[String]>([])
        try await withClient(
            try await AgentAPITests(),
            capabilities: .init(elicitation: .init(form: nil, url: .init())),
            prepare: { client in
                await client.withElicitationHandler { parameters in
                    offered.append(parameters)
                    return CreateElicitation.Result(action: .accept)
                }
                await client.onNotification(ElicitationCompleteNotification.self) { message in
                    completed.withLock { $0.append(message.params.elicitationId) }
                }
            },
            { client, api in
                let approver = Task {
                    while true {
                        if let request = try await api.requests.requests(RequestQuery(states: [.pending], limit: 1))
                            .first,
                            !offered.values.isEmpty
                        {
                            _ = try await api.requests.decide(decision(request, .deny, reason: "no"), now: Date())
                            return request.id
                        }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                let result = try await client.callTool(
                    name: "files.write",
                    arguments: ["path": "u.md", "content": "x"]
                )
                let id = try await approver.value
                #expect(result.isError == true && text(result.content).contains("A human denied"))
                guard case .url(let parameters)? = offered.values.first else {
                    Issue.record("expected a URL elicitation, got \(offered.values)")
                    return
                }
                #expect(parameters.elicitationId == id && parameters.url.hasSuffix("/approvals/\(id)"))
                for _ in 0..<100 where completed.withLock({ $0.isEmpty }) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(completed.withLock { $0 } == [id])
            }
        )
    }

    static let clientApprovalPolicy = """
        version: 1
        rules:
          - name: notes-in-the-client
            reason: The person at the agent may approve notes in the workspace
            match: { operation: files.write }
            client_approval: true
          - name: secrets-are-high
            reason: Files named secret hold credentials
            match: { operation: files.write, arguments: [{ path: path, regex: "^secret" }] }
            level: high
        """

    @Test("where policy permits, a Low or Medium request is approved in the client's form, as the principal")
    func formElicitationApproves() async throws {
        let forms = Mutex<[String]>([])
        try await withClient(
            try await AgentAPITests(policyYAML: Self.clientApprovalPolicy),
            capabilities: .init(elicitation: .init(form: .init(), url: .init())),
            prepare: { client in
                await client.withElicitationHandler { parameters in
                    guard case .form(let form) = parameters else { return .init(action: .cancel) }
                    forms.withLock { $0.append(form.message) }
                    return .init(action: .accept, content: ["decision": "approve"])
                }
            },
            { client, api in
                // The executor service's part: runs the request once it is approved.
                let executor = Task {
                    while true {
                        if let request = try await api.requests.requests(RequestQuery(states: [.approved], limit: 1))
                            .first
                        {
                            try await Executor(
                                store: api.requests,
                                connectors: [try FilesConnector(root: api.workspace.path)]
                            )
                            .execute(requestID: request.id)
                            return request
                        }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                let result = try await client.callTool(
                    name: "files.write",
                    arguments: ["path": "note.md", "content": "from the client"]
                )
                let request = try await executor.value
                #expect(result.isError == false && text(result.content).contains("note.md"))
                let message = try #require(forms.withLock { $0.first })
                #expect(
                    message.contains("files.write") && message.contains("Medium")
                        && message.contains(request.digest.description)
                )
                let decisions = try await api.requests.decisions(for: request.id)
                #expect(decisions.map(\.approver) == ["ana@acme.test"])
                #expect(decisions.first?.authentication.method == .mcpClient)
                #expect(decisions.first?.authentication.amr == ["agent:planner"])
            }
        )
    }

    @Test("a High request is never offered as a form, whatever the policy says; a declined form denies")
    func formNeverForHigh() async throws {
        let forms = Mutex<Int>(0)
        try await withClient(
            try await AgentAPITests(policyYAML: Self.clientApprovalPolicy),
            maximumWait: .milliseconds(600),
            capabilities: .init(elicitation: .init(form: .init(), url: nil)),
            prepare: { client in
                await client.withElicitationHandler { _ in
                    forms.withLock { $0 += 1 }
                    return .init(action: .decline)
                }
            },
            { client, api in
                let high = try await client.callTool(
                    name: "files.write",
                    arguments: ["path": "secret.env", "content": "x"]
                )
                #expect(high.isError == false && text(high.content).contains("Waiting for a human"))
                #expect(forms.withLock { $0 } == 0)
                let stored = try #require(
                    try await api.requests.requests(RequestQuery(states: [.pending], limit: 1)).first
                )
                #expect(stored.assessment.level == .high && stored.assessment.requirements.clientApproval == false)

                let declined = try await client.callTool(
                    name: "files.write",
                    arguments: ["path": "n.md", "content": "x"]
                )
                #expect(forms.withLock { $0 } == 1)
                #expect(declined.isError == true && text(declined.content).contains("declined by ana@acme.test"))
            }
        )
    }
}

/// Values a handler records, read by the test.
final class Recorded<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])
    func append(_ value: Value) { storage.withLock { $0.append(value) } }
    var values: [Value] { storage.withLock { $0 } }
}

/// `/mcp` over HTTP: every request authenticated by the agent's key; a session id only routes.
@Suite("MCP over HTTP")
struct MCPHTTPTests {
    static let initialize = #"""
        {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}
        """#

    func post(
        _ client: some TestClientProtocol,
        _ path: String,
        key: String?,
        session: String? = nil,
        _ body: String
    ) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json", .accept: "application/json, text/event-stream"]
        if let key { headers[.authorization] = "Bearer \(key)" }
        if let session {
            headers[HTTPField.Name("MCP-Session-Id")!] = session
            headers[HTTPField.Name("MCP-Protocol-Version")!] = "2025-11-25"
        }
        return try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    @Test("no key, a personal token or another agent's key is refused; the session id is not authentication")
    func authentication() async throws {
        let api = try await AgentAPITests()
        let context = api.context
        let app = Application(
            router: buildRouter(context),
            configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        try await app.test(.live) { client in
            context.address.listening(at: "http://127.0.0.1:\(try #require(client.port))")
            let path = "/mcp?onBehalfOf=ana@acme.test"
            #expect(try await post(client, path, key: nil, Self.initialize).status == .unauthorized)
            #expect(try await post(client, path, key: "cst_0123_abcd", Self.initialize).status == .unauthorized)
            let missing = try await post(client, "/mcp", key: api.key.secret.reveal(), Self.initialize)
            #expect(missing.status == .badRequest)

            let opened = try await post(client, path, key: api.key.secret.reveal(), Self.initialize)
            #expect(opened.status == .ok)
            let session = try #require(opened.headers[HTTPField.Name("MCP-Session-Id")!])
            let list = #"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#
            // The other agent, with the session id it saw somewhere: no such session for it.
            let stolen = try await post(client, path, key: api.otherKey.secret.reveal(), session: session, list)
            #expect(stolen.status == .notFound)
            let noKey = try await post(client, path, key: nil, session: session, list)
            #expect(noKey.status == .unauthorized)
            let initialized = #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
            _ = try await post(client, path, key: api.key.secret.reveal(), session: session, initialized)
            let listed = try await post(client, path, key: api.key.secret.reveal(), session: session, list)
            #expect(listed.status == .ok)
            #expect(String(buffer: listed.body).contains("files.read"))
        }
    }

    @Test(
        "a real MCP client over HTTP: tools, a held call with progress, and the outcome from a new session after a drop"
    )
    func clientOverHTTP() async throws {
        let api = try await AgentAPITests()
        let context = api.context
        let app = Application(
            router: buildRouter(context),
            configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        try await app.test(.live) { http in
            let base = "http://127.0.0.1:\(try #require(http.port))"
            context.address.listening(at: base)
            let url = "\(base)/mcp?onBehalfOf=ana@acme.test&maxWait=30"
            let key = api.key.secret.reveal()

            let first = StreamableHTTPClientTransport(url: url, key: key)
            let client = Client(name: "http-agent", version: "1.0")
            let initialized = try await client.connect(transport: first)
            #expect(initialized.protocolVersion == "2025-11-25")
            #expect(await first.sessionID != nil)
            let (tools, _) = try await client.listTools()
            #expect(tools.contains { $0.name == "files.write" } && tools.contains { $0.name == "countersign_status" })
            let denied = try await client.callTool(
                name: "shell.run",
                arguments: ["program": "sudo", "arguments": ["ls"]]
            )
            #expect(denied.isError == true && text(denied.content).contains("do not retry"))

            // A held call: progress arrives on the server's stream; then the client drops mid-call.
            let progress = Recorded<String>()
            await client.onNotification(ProgressNotification.self) { progress.append($0.params.message ?? "") }
            let call = Task {
                try await client.callTool(
                    name: "files.write",
                    arguments: ["path": "over-http.md", "content": "hi"],
                    meta: Metadata(progressToken: .string("h1"))
                )
            }
            for _ in 0..<200 where progress.values.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            #expect(progress.values.first?.hasPrefix("waiting for approval by a human, Medium") == true)
            await first.drop()
            call.cancel()

            // Decided and executed while the agent is gone.
            let request = try #require(
                try await api.requests.requests(RequestQuery(states: [.pending], limit: 1)).first
            )
            _ = try await api.requests.decide(decision(request, .approve), now: Date())
            try await Executor(store: api.requests, connectors: [try FilesConnector(root: api.workspace.path)])
                .execute(requestID: request.id)

            // A new session, same key: the request is among its resources and its status has the result.
            let second = StreamableHTTPClientTransport(url: url, key: key)
            let again = Client(name: "http-agent", version: "1.0")
            _ = try await again.connect(transport: second)
            #expect(await second.sessionID != (await first.sessionID))
            let (resources, _) = try await again.listResources()
            #expect(resources.contains { $0.uri == "countersign://requests/\(request.id)" })
            let status = try await again.callTool(name: "countersign_status", arguments: ["id": .string(request.id)])
            #expect(status.isError == false && text(status.content).contains("over-http.md"))
            await again.disconnect()
            await client.disconnect()
        }
    }
}
