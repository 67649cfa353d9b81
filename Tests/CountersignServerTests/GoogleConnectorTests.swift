import Countersign
import CountersignConnectors
import Foundation
import HTTPTypes
import Testing

/// Gmail and Calendar against an in-test Google that checks every request as Google documents it.
@Suite("Google connectors")
struct GoogleConnectorTests {
    let catalog = OperationCatalog(try! GoogleOperations.descriptors())

    static let context = ExecutionContext(
        requestID: "r1",
        principal: "ana@acme.test",
        agent: "bot",
        tokens: StaticTokens(token: TestGoogleServer.token)
    )

    func run(_ body: @Sendable ([String: GoogleConnector], TestGoogleServer) async throws -> Void) async throws {
        let server = TestGoogleServer()
        try await server.run {
            let connectors = [
                "gmail": try GoogleConnector(.gmail, gmailURL: server.url, calendarURL: server.url + "/calendar/v3"),
                "calendar": try GoogleConnector(
                    .calendar,
                    gmailURL: server.url,
                    calendarURL: server.url + "/calendar/v3"
                ),
            ]
            try await body(connectors, server)
            #expect(server.problems == [])
        }
    }

    func execute(
        _ connectors: [String: GoogleConnector],
        _ id: String,
        _ arguments: JSONValue
    ) async throws -> JSONValue {
        let action = ProposedAction(
            operation: OperationID(id)!,
            arguments: arguments,
            principal: "ana@acme.test",
            agent: "bot"
        )
        _ = try catalog.validate(action)
        return try await connectors[action.operation.connector]!.execute(
            action.operation,
            arguments: arguments,
            context: Self.context
        )
    }

    static let start: JSONValue = ["dateTime": "2026-12-01T10:00:00+01:00"]
    static let end: JSONValue = ["dateTime": "2026-12-01T10:30:00+01:00"]

    @Test(
        "every operation sends Google's documented method, path and body",
        arguments: [
            (
                "gmail.create_draft", ["to": ["bo@acme.test"], "subject": "Plan", "body": "Draft"], "POST",
                "/gmail/v1/users/me/drafts", "", "draft"
            ),
            (
                "gmail.send_message", ["to": ["bo@acme.test"], "subject": "Plan", "body": "Hi"], "POST",
                "/gmail/v1/users/me/messages/send", "", "message"
            ),
            (
                "gmail.reply",
                ["thread_id": "t-1", "in_reply_to": "<abc@mail.acme.test>", "to": ["bo@acme.test"], "body": "Yes"],
                "POST", "/gmail/v1/users/me/messages/send", "", "thread"
            ),
            (
                "gmail.trash_message", ["message_id": "18c2f0a1"], "POST", "/gmail/v1/users/me/messages/18c2f0a1/trash",
                "", "message"
            ),
            (
                "gmail.create_filter",
                ["criteria": ["from": "news@shop.example"], "action": ["addLabelIds": ["Label_1"]]], "POST",
                "/gmail/v1/users/me/settings/filters", "", "filter"
            ),
            (
                "calendar.create_event",
                [
                    "summary": "Review", "start": start, "end": end, "attendees": ["bo@acme.test"],
                    "send_updates": "all",
                ],
                "POST", "/calendar/v3/calendars/primary/events", "sendUpdates=all", "event"
            ),
            (
                "calendar.update_event",
                [
                    "calendar_id": "team@acme.test", "event_id": "evt0a1b2c3", "summary": "Review (moved)",
                    "send_updates": "none",
                ],
                "PATCH", "/calendar/v3/calendars/team@acme.test/events/evt0a1b2c3", "sendUpdates=none", "event"
            ),
            (
                "calendar.delete_event", ["event_id": "evt0a1b2c3"], "DELETE",
                "/calendar/v3/calendars/primary/events/evt0a1b2c3", "", "deleted"
            ),
        ] as [(String, JSONValue, String, String, String, String)]
    )
    func contract(
        _ id: String,
        _ arguments: JSONValue,
        _ method: String,
        _ path: String,
        _ query: String,
        _ key: String
    ) async throws {
        try await run { connectors, server in
            let result = try await execute(connectors, id, arguments)
            let call = try #require(server.received.last)
            #expect(
                call.method == method && call.path == path && call.query == query,
                "\(call.method) \(call.path)?\(call.query)"
            )
            #expect(result[key] != nil && result[key] != .null, "\(result)")
        }
    }

    @Test("messages are RFC 5322 text: encoded subject, threading headers, attachments as MIME parts")
    func messages() async throws {
        try await run { connectors, server in
            _ = try await execute(
                connectors,
                "gmail.reply",
                [
                    "thread_id": "t-1", "in_reply_to": "<abc@mail.acme.test>", "to": ["bo@acme.test"],
                    "cc": ["cy@acme.test"],
                    "subject": "Re: Café plans", "body": "Oui",
                    "attachments": [
                        ["filename": "menu.txt", "content": .string(Data("soup".utf8).base64EncodedString())]
                    ],
                ]
            )
            let message = try #require(server.received.last?.message)
            #expect(message.contains("To: bo@acme.test\r\nCc: cy@acme.test\r\n"))
            #expect(message.contains("In-Reply-To: <abc@mail.acme.test>\r\nReferences: <abc@mail.acme.test>\r\n"))
            #expect(message.contains("Subject: =?UTF-8?B?\(Data("Re: Café plans".utf8).base64EncodedString())?="))
            #expect(message.contains("Content-Type: multipart/mixed; boundary="))
            #expect(message.contains("Content-Disposition: attachment; filename=\"menu.txt\""))
            #expect(message.contains(Data("soup".utf8).base64EncodedString()))
            #expect(server.received.last?.body?["threadId"] == "t-1")
        }
    }

    @Test("reading a message gets it in full and gives the agent its headers and text, never the raw parts")
    func readMessage() async throws {
        try await run { connectors, server in
            server.deliver(
                TestGoogleServer.message(
                    id: "18c9a0b1",
                    from: "Vendor <billing@vendor.example>",
                    subject: "Invoice 42",
                    text: "Hello Ana,\nyour invoice is attached. Café au lait."
                )
            )
            let read = try await execute(connectors, "gmail.read_message", ["message_id": "18c9a0b1"])
            #expect(server.received.last?.method == "GET")
            #expect(server.received.last?.path == "/gmail/v1/users/me/messages/18c9a0b1")
            #expect(read["from"] == "Vendor <billing@vendor.example>")
            #expect(read["subject"] == "Invoice 42")
            #expect(read["to"] == "ana@acme.test")
            #expect(read["text"] == "Hello Ana,\nyour invoice is attached. Café au lait.")
            #expect(read["payload"] == nil)
            await #expect(throws: ConnectorError.self) {
                _ = try await execute(connectors, "gmail.read_message", ["message_id": "missing"])
            }
            #expect(try assessment("gmail.read_message", ["message_id": "18c9a0b1"]).level == .low)
        }
    }

    @Test("Google's errors become outcomes that say what to do")
    func errors() async throws {
        try await run { connectors, server in
            let cases: [(HTTPResponse.Status, JSONValue, String)] = [
                (
                    .forbidden,
                    [
                        "error": [
                            "code": 403, "message": "Request had insufficient authentication scopes.",
                            "status": "PERMISSION_DENIED", "errors": [["reason": "insufficientPermissions"]],
                        ]
                    ], "lacks a scope"
                ),
                (
                    .tooManyRequests,
                    [
                        "error": [
                            "code": 429, "message": "Rate Limit Exceeded", "errors": [["reason": "rateLimitExceeded"]],
                        ]
                    ], "rate-limited"
                ),
                (.notFound, ["error": ["code": 404, "message": "Not Found"]], "no such message"),
                (.unauthorized, ["error": ["code": 401, "message": "Invalid Credentials"]], "connect Google again"),
            ]
            for (status, answer, expected) in cases {
                server.script(status, answer)
                do {
                    _ = try await execute(connectors, "gmail.trash_message", ["message_id": "18c2f0a1"])
                    Issue.record("\(status) was not an error")
                } catch let error as ConnectorError {
                    #expect(error.message.contains(expected), "\(error.message)")
                }
            }
        }
    }

    func assessment(_ id: String, _ arguments: JSONValue) throws -> Assessment {
        let action = ProposedAction(
            operation: OperationID(id)!,
            arguments: arguments,
            principal: "ana@acme.test",
            agent: "bot"
        )
        return try Policy(yaml: "version: 1\n", catalog: catalog).assess(
            action,
            operation: try catalog.validate(action)
        )
    }

    @Test(
        "an email to a colleague is Medium; to outside addresses High, to forty of them Critical; forwarding filters Critical"
    )
    func levels() throws {
        #expect(
            try assessment("gmail.send_message", ["to": ["bo@acme.test"], "subject": "s", "body": "b"]).level == .medium
        )
        let one = try assessment(
            "gmail.send_message",
            ["to": ["bo@acme.test", "x@rival.example"], "subject": "s", "body": "b"]
        )
        #expect(
            one.level == .high
                && one.reasons.contains { $0.text.contains("1 address outside acme.test (rival.example)") }
        )
        let forty = JSONValue.array((0..<40).map { .string("p\($0)@list\($0 % 3).example") })
        let mass = try assessment(
            "gmail.send_message",
            ["to": ["bo@acme.test"], "bcc": forty, "subject": "s", "body": "b"]
        )
        #expect(mass.level == .critical && mass.reasons.contains { $0.name == "many_recipients" })
        #expect(try assessment("gmail.create_draft", ["to": forty]).level == .low)
        #expect(
            try assessment(
                "gmail.create_filter",
                ["criteria": ["from": "ceo@acme.test"], "action": ["forward": "drop@evil.example"]]
            ).level == .critical
        )
        #expect(
            try assessment(
                "gmail.create_filter",
                ["criteria": ["from": "x@y.example"], "action": ["removeLabelIds": ["INBOX"]]]
            ).level == .high
        )
        #expect(
            try assessment(
                "calendar.create_event",
                ["summary": "1:1", "start": Self.start, "end": Self.end, "attendees": ["bo@acme.test"]]
            ).level == .low
        )
        #expect(
            try assessment(
                "calendar.create_event",
                ["summary": "Pitch", "start": Self.start, "end": Self.end, "attendees": ["ceo@client.example"]]
            ).level == .high
        )
        #expect(
            try assessment(
                "calendar.create_event",
                ["summary": "Standup", "start": Self.start, "end": Self.end, "recurrence": ["RRULE:FREQ=DAILY"]]
            ).level == .medium
        )
        // A subject with a line break would be a header injection: the schema refuses it.
        #expect(throws: ActionError.self) {
            try assessment(
                "gmail.send_message",
                ["to": ["bo@acme.test"], "subject": "hi\r\nBcc: all@acme.test", "body": "b"]
            )
        }
    }
}
