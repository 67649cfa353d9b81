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

/// The MCP tools with a real MCP client (the SDK's in-memory transport) against a real Countersign
/// server over HTTP.
@Suite("MCP tools")
struct MCPTests {
    /// Runs `body` with an MCP client connected to the tools of a live server.
    func withClient(
        _ api: AgentAPITests,
        maximumWait: Duration = .seconds(60),
        _ body: @Sendable (Client, AgentAPITests) async throws -> Void
    ) async throws {
        let app = Application(
            router: buildRouter(api.context),
            configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        try await app.test(.live) { http in
            let port = try #require(http.port)
            let tools = GatedTools(
                api: AgentAPIClient(server: "http://127.0.0.1:\(port)", key: api.key.secret),
                principal: "ana@acme.test",
                maximumWait: maximumWait
            )
            let server = await tools.server()
            let (clientSide, serverSide) = await InMemoryTransport.createConnectedPair()
            try await server.start(transport: serverSide)
            let client = Client(name: "test-agent", version: "1.0")
            _ = try await client.connect(transport: clientSide)
            try await body(client, api)
            await client.disconnect()
            await server.stop()
        }
    }

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

    @Test("tools/list is the catalog, with schemas and annotations, and the status tool")
    func listsTools() async throws {
        try await withClient(try await AgentAPITests()) { client, _ in
            let (tools, _) = try await client.listTools()
            let names = Set(tools.map(\.name))
            #expect(
                names.isSuperset(of: ["files.read", "files.write", "files.delete", "shell.run", "countersign_status"])
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
            context.mcp.listening(at: "http://127.0.0.1:\(try #require(client.port))")
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
}
