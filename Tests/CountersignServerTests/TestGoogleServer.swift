import Countersign
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization

/// Gmail API v1 and Calendar API v3 as far as the connectors use them, on 127.0.0.1: each route
/// checks the bearer token and JSON body, decodes Gmail's `raw` message and checks it is RFC 5322
/// text (CRLF lines, MIME-Version, recipients), and answers with Google's shapes.
final class TestGoogleServer: Sendable {
    static let token = "ya29.contract-test-token-0123456789"
    /// Who the organisation's directory holds.
    static let directory: Set<String> = ["ana@acme.test", "bob@acme.test", "carl@acme.test"]

    /// A message in Ana's mailbox as Gmail's `format=full` gives it: multipart/alternative with a
    /// text and an HTML part, each base64url.
    static func message(id: String, from: String, subject: String, text: String) -> JSONValue {
        func base64URL(_ text: String) -> JSONValue {
            .string(
                Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                    .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            )
        }
        return [
            "id": .string(id), "threadId": .string(id), "labelIds": ["INBOX", "UNREAD"],
            "snippet": .string(String(text.prefix(100))), "sizeEstimate": .number(Double(text.utf8.count + 600)),
            "payload": [
                "partId": "", "mimeType": "multipart/alternative", "filename": "",
                "headers": [
                    ["name": "From", "value": .string(from)], ["name": "To", "value": "ana@acme.test"],
                    ["name": "Subject", "value": .string(subject)],
                    ["name": "Date", "value": "Mon, 30 Nov 2026 09:12:00 +0000"],
                    ["name": "Content-Type", "value": "multipart/alternative; boundary=\"b1\""],
                ],
                "body": ["size": 0],
                "parts": [
                    [
                        "partId": "0", "mimeType": "text/plain", "filename": "",
                        "headers": [["name": "Content-Type", "value": "text/plain; charset=UTF-8"]],
                        "body": ["size": .number(Double(text.utf8.count)), "data": base64URL(text)],
                    ],
                    [
                        "partId": "1", "mimeType": "text/html", "filename": "",
                        "headers": [["name": "Content-Type", "value": "text/html; charset=UTF-8"]],
                        "body": ["size": .number(Double(text.utf8.count + 20)), "data": base64URL("<p>\(text)</p>")],
                    ],
                ],
            ],
        ]
    }

    /// Ana's mailbox, by message id.
    private let mailbox = Mutex<[String: JSONValue]>([:])

    /// Puts a message in Ana's mailbox.
    func deliver(_ message: JSONValue) {
        mailbox.withLock { $0[message["id"]?.stringValue ?? ""] = message }
    }

    struct Received: Sendable {
        let method: String
        let path: String
        let query: String
        let body: JSONValue?
        /// Gmail's `raw` message, decoded.
        let message: String?
    }

    private let state = Mutex<(received: [Received], problems: [String], scripted: (HTTPResponse.Status, JSONValue)?)>(
        ([], [], nil)
    )
    private let base = Mutex<String>("")

    var url: String { base.withLock { $0 } }
    var received: [Received] { state.withLock { $0.received } }
    var problems: [String] { state.withLock { $0.problems } }

    func script(_ status: HTTPResponse.Status, _ body: JSONValue) { state.withLock { $0.scripted = (status, body) } }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let router = Router()
        let routes: [(HTTPRequest.Method, String, Set<String>, HTTPResponse.Status, JSONValue)] = [
            (
                .post, "/gmail/v1/users/me/drafts", ["message"], .ok,
                ["id": "r-123", "message": ["id": "m-1", "threadId": "t-1"]]
            ),
            (
                .post, "/gmail/v1/users/me/messages/send", ["raw", "threadId"], .ok,
                ["id": "m-2", "threadId": "t-1", "labelIds": ["SENT"]]
            ),
            (
                .post, "/gmail/v1/users/me/messages/{id}/trash", [], .ok,
                ["id": "m-3", "threadId": "t-2", "labelIds": ["TRASH"]]
            ),
            (.post, "/gmail/v1/users/me/settings/filters", ["criteria", "action"], .ok, ["id": "ANe1Bmj1"]),
            (
                .post, "/calendar/v3/calendars/{calendar}/events",
                ["summary", "description", "location", "start", "end", "attendees", "recurrence"], .ok,
                [
                    "id": "evt0a1b2c3", "htmlLink": "https://www.google.com/calendar/event?eid=ZXZ0",
                    "status": "confirmed",
                ]
            ),
            (
                .patch, "/calendar/v3/calendars/{calendar}/events/{event}",
                ["summary", "description", "location", "start", "end", "attendees", "recurrence"], .ok,
                [
                    "id": "evt0a1b2c3", "htmlLink": "https://www.google.com/calendar/event?eid=ZXZ0",
                    "status": "confirmed",
                ]
            ),
            (.delete, "/calendar/v3/calendars/{calendar}/events/{event}", [], .noContent, .null),
        ]
        // The organisation's directory (People API), for look-ups.
        router.get("/v1/people:searchDirectoryPeople") { request, _ in
            let query = request.uri.queryParameters
            var problems: [String] = []
            if request.headers[.authorization] != "Bearer \(Self.token)" {
                problems.append("a directory look-up without the vended token")
            }
            if query["readMask"] == nil { problems.append("no readMask") }
            if query.getAll("sources").isEmpty { problems.append("no sources") }
            let address = query["query"].map { String($0).lowercased() } ?? ""
            self.recordGET(request, problems)
            let people: [JSONValue] =
                Self.directory.contains(address) ? [["emailAddresses": [["value": .string(address)]]]] : []
            return Response(
                status: problems.isEmpty ? .ok : .badRequest,
                headers: [.contentType: "application/json; charset=UTF-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(["people": .array(people)])))
            )
        }
        // Reading a message (`users.messages.get`): no body, `format=full`.
        router.get("/gmail/v1/users/me/messages/{id}") { request, context in
            var problems: [String] = []
            if request.headers[.authorization] != "Bearer \(Self.token)" {
                problems.append("Authorization is not the vended token")
            }
            if request.uri.queryParameters["format"] != "full" { problems.append("a message read without format=full") }
            if request.headers[.contentType] != nil { problems.append("a body on a GET") }
            self.recordGET(request, problems)
            let id = context.parameters.get("id") ?? ""
            let found = self.mailbox.withLock { $0[id] }
            let (status, body): (HTTPResponse.Status, JSONValue) =
                !problems.isEmpty
                ? (.badRequest, ["error": ["code": 400, "message": "Bad request", "status": "INVALID_ARGUMENT"]])
                : found.map { (.ok, $0) }
                    ?? (
                        .notFound,
                        [
                            "error": [
                                "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
                                "errors": [["message": "Requested entity was not found.", "reason": "notFound"]],
                            ]
                        ]
                    )
            return Response(
                status: status,
                headers: [.contentType: "application/json; charset=UTF-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(body)))
            )
        }
        for (method, path, allowed, status, answer) in routes {
            router.on(RouterPath(path), method: method) { request, _ in
                try await self.handle(request, allowed: allowed, status: status, answer: answer)
            }
        }
        return try await serveOnLoopback(router, listening: { url in self.base.withLock { $0 = url } }, body)
    }

    /// Records a GET and what was wrong with it.
    private func recordGET(_ request: Request, _ problems: [String]) {
        state.withLock {
            $0.received.append(
                Received(method: "GET", path: request.uri.path, query: request.uri.query ?? "", body: nil, message: nil)
            )
            $0.problems += problems
        }
    }

    private func handle(
        _ request: Request,
        allowed: Set<String>,
        status: HTTPResponse.Status,
        answer: JSONValue
    ) async throws -> Response {
        var problems: [String] = []
        if request.headers[.authorization] != "Bearer \(Self.token)" {
            problems.append("Authorization is not the vended token")
        }
        var request = request
        let bytes = try await request.collectBody(upTo: 32 << 20)
        var body: JSONValue?
        var message: String?
        if bytes.readableBytes > 0 {
            if request.headers[.contentType] != "application/json" {
                problems.append("a body without Content-Type: application/json")
            }
            guard case .object(let members)? = try? JSONParser().parse(Array(buffer: bytes)) else {
                return Response(status: .badRequest)
            }
            body = .object(members)
            for key in members.keys where !allowed.contains(key) { problems.append("Google does not take \(key) here") }
            if let raw = (members["raw"] ?? members["message"]?["raw"])?.stringValue {
                var base64 = raw.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
                base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
                if raw.contains("+") || raw.contains("/") || raw.contains("=") {
                    problems.append("raw is not base64url")
                }
                message = Data(base64Encoded: base64).map { String(decoding: $0, as: UTF8.self) }
                if let text = message {
                    if text.replacingOccurrences(of: "\r\n", with: "").contains("\n") {
                        problems.append("a bare LF in the message")
                    }
                    if !text.contains("MIME-Version: 1.0\r\n") { problems.append("no MIME-Version") }
                    if !text.contains("\r\nSubject: ") && !text.hasPrefix("Subject: ") { problems.append("no Subject") }
                } else {
                    problems.append("raw does not decode")
                }
            }
            if let attendees = members["attendees"]?.arrayValue,
                attendees.contains(where: { $0["email"]?.stringValue == nil })
            {
                problems.append("attendees must be objects with an email")
            }
        }
        state.withLock {
            $0.received.append(
                Received(
                    method: request.method.rawValue,
                    path: request.uri.path,
                    query: request.uri.query ?? "",
                    body: body,
                    message: message
                )
            )
            $0.problems += problems
        }
        if !problems.isEmpty { return Response(status: .badRequest) }
        if let (scriptedStatus, scripted) = state.withLock({ state -> (HTTPResponse.Status, JSONValue)? in
            defer { state.scripted = nil }
            return state.scripted
        }) {
            return Response(
                status: scriptedStatus,
                headers: [.contentType: "application/json; charset=UTF-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(scripted)))
            )
        }
        guard answer != .null else { return Response(status: status) }
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(answer)))
        )
    }
}
