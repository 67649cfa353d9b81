import Countersign
import CountersignConnectors
import Foundation
import Testing

/// The Slack connector against an in-test Slack Web API that checks every call as Slack documents it.
@Suite("Slack connector")
struct SlackConnectorTests {
    let catalog = OperationCatalog(try! SlackOperations.descriptors())

    static let context = ExecutionContext(
        requestID: "r1",
        principal: "ana@acme.test",
        agent: "bot",
        tokens: StaticTokens(token: TestSlackServer.token)
    )

    func run(_ body: @Sendable (SlackConnector, TestSlackServer) async throws -> Void) async throws {
        let server = TestSlackServer()
        try await server.run {
            try await body(try SlackConnector(baseURL: server.url), server)
            #expect(server.problems == [])
        }
    }

    func execute(_ connector: SlackConnector, _ name: String, _ arguments: JSONValue) async throws -> JSONValue {
        let action = ProposedAction(
            operation: OperationID("slack.\(name)")!,
            arguments: arguments,
            principal: "ana@acme.test",
            agent: "bot"
        )
        _ = try catalog.validate(action)
        return try await connector.execute(action.operation, arguments: arguments, context: Self.context)
    }

    @Test(
        "every operation calls Slack's documented method with its arguments, and returns a short result",
        arguments: [
            ("post_message", ["channel": "C0123456789", "text": "Deploy at 5"], "chat.postMessage", "ts"),
            (
                "update_message", ["channel": "C0123456789", "ts": "1700000000.000100", "text": "Deploy at 6"],
                "chat.update", "ts"
            ),
            ("delete_message", ["channel": "C0123456789", "ts": "1700000000.000100"], "chat.delete", "deleted"),
            ("create_channel", ["name": "launch", "is_private": true], "conversations.create", "channel"),
            (
                "invite_to_channel", ["channel": "C0123456789", "users": ["U0123456789", "U0987654321"]],
                "conversations.invite", "invited"
            ),
            ("archive_channel", ["channel": "C0123456789"], "conversations.archive", "archived"),
        ] as [(String, JSONValue, String, String)]
    )
    func contract(_ name: String, _ arguments: JSONValue, _ method: String, _ resultKey: String) async throws {
        try await run { connector, server in
            let result = try await execute(connector, name, arguments)
            #expect(server.received.last?.method == method)
            #expect(result[resultKey] != nil && result[resultKey] != .null, "\(result)")
            if name == "invite_to_channel" {
                #expect(server.received.last?.arguments["users"] == "U0123456789,U0987654321")
            }
        }
    }

    @Test("a file is shared in Slack's three steps, and the token never goes to the upload URL")
    func upload() async throws {
        try await run { connector, server in
            let result = try await execute(
                connector,
                "upload_file",
                ["channel": "C0123456789", "filename": "notes.txt", "content": "hello world", "initial_comment": "FYI"]
            )
            #expect(server.received.map(\.method) == ["files.getUploadURLExternal", "files.completeUploadExternal"])
            #expect(server.received.first?.arguments["length"] == "11")
            #expect(server.uploadedBytes == 11)
            #expect(server.received.last?.arguments["channel_id"] == "C0123456789")
            #expect(result["file"] == "F0UPLOAD01")
        }
    }

    @Test("Slack's ok:false answers and rate limits become outcomes that say what to do")
    func errors() async throws {
        try await run { connector, server in
            let cases: [(JSONValue, String)] = [
                (
                    ["ok": false, "error": "missing_scope", "needed": "chat:write", "provided": "channels:read"],
                    "it needs chat:write"
                ),
                (["ok": false, "error": "channel_not_found"], "no such channel"),
                (["ok": false, "error": "token_revoked"], "connect Slack again"),
                (["ok": false, "error": "msg_too_long"], "did not accept the arguments"),
            ]
            for (answer, expected) in cases {
                server.script(answer)
                do {
                    _ = try await execute(connector, "post_message", ["channel": "C0123456789", "text": "hi"])
                    Issue.record("\(answer) was not an error")
                } catch let error as ConnectorError {
                    #expect(error.message.contains(expected), "\(error.message)")
                    #expect(!error.message.contains(TestSlackServer.token))
                }
            }
        }
    }

    func level(_ name: String, _ arguments: JSONValue) throws -> RiskLevel {
        let action = ProposedAction(
            operation: OperationID("slack.\(name)")!,
            arguments: arguments,
            principal: "ana@acme.test",
            agent: "bot"
        )
        let descriptor = try catalog.validate(action)
        return try Policy(yaml: "version: 1\n", catalog: catalog).assess(action, operation: descriptor).level
    }

    @Test("levels follow the message: a channel-wide mention is High, links are named, archiving is High")
    func levels() throws {
        #expect(try level("post_message", ["channel": "C0123456789", "text": "lunch?"]) == .medium)
        #expect(try level("post_message", ["channel": "C0123456789", "text": "<!channel> outage"]) == .high)
        #expect(try level("post_message", ["channel": "#general", "text": "@here look"]) == .high)
        #expect(try level("archive_channel", ["channel": "C0123456789"]) == .high)
        #expect(try level("create_channel", ["name": "launch"]) == .low)
        let many = JSONValue.array((0..<25).map { .string("U\(String(format: "%09d", $0))") })
        #expect(try level("invite_to_channel", ["channel": "C0123456789", "users": many]) == .high)
        let action = ProposedAction(
            operation: OperationID("slack.post_message")!,
            arguments: ["channel": "C0123456789", "text": "see https://evil.example/x and http://docs.acme.test"],
            principal: "ana@acme.test",
            agent: "bot"
        )
        let assessment = try Policy(yaml: "version: 1\n", catalog: catalog).assess(
            action,
            operation: try catalog.validate(action)
        )
        #expect(assessment.reasons.contains { $0.text == "links to docs.acme.test, evil.example" })
        // A channel name for a conversations method, which takes ids only, is refused by the schema.
        #expect(throws: ActionError.self) { try level("archive_channel", ["channel": "#general"]) }
    }
}
