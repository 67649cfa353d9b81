import Countersign
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// The sandbox Google: Gmail API v1, Calendar API v3 and the People API's directory search under
/// `/sandbox/google`, for the operations and look-ups Countersign's connectors make, with Google's
/// error shape (`{"error": {"code", "message", "status", "errors": [{"reason"}]}}`).
extension Sandbox {
    /// A Google error answer.
    struct GoogleRefusal: Error {
        let status: Int
        let message: String
        let reason: String

        var body: JSONValue {
            let statuses = [
                400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                410: "NOT_FOUND",
            ]
            return [
                "error": [
                    "code": .number(Double(status)), "message": .string(message),
                    "status": .string(statuses[status] ?? "FAILED_PRECONDITION"),
                    "errors": [["message": .string(message), "domain": "global", "reason": .string(reason)]],
                ]
            ]
        }

        static let notFound = GoogleRefusal(status: 404, message: "Requested entity was not found.", reason: "notFound")
        static let scope = GoogleRefusal(
            status: 403,
            message: "Request had insufficient authentication scopes.",
            reason: "insufficientPermissions"
        )

        static func invalid(_ message: String) -> GoogleRefusal {
            GoogleRefusal(status: 400, message: message, reason: "invalid")
        }
    }

    typealias GoogleHandler = @Sendable (Call, inout SandboxWorld, [String]) throws(GoogleRefusal) -> Answer

    static let mail = "https://mail.google.com/"
    static func gmailScope(_ name: String) -> String { "https://www.googleapis.com/auth/gmail.\(name)" }
    static let calendarScopes = [
        "https://www.googleapis.com/auth/calendar", "https://www.googleapis.com/auth/calendar.events",
    ]

    func addGoogle<Context: RequestContext>(to router: Router<Context>) {
        let base = "/sandbox/google"
        let gmail = base + "/gmail/v1/users/me"
        router.post(RouterPath(base + "/revoke")) { request, context in
            try await self.handle(request, .google, context: context) { call in
                try self.mutate { world in
                    let token = Self.digest(call.form?["token"] ?? "")
                    let grant =
                        world.tokens[token]?.grant
                        ?? world.grants.values.first { $0.service == "google" && $0.refreshSHA256 == token }?.id
                    guard let grant else { return Answer(status: 400, body: ["error": "invalid_token"]) }
                    world.revoke(grant: grant)
                    return Answer(status: 200, body: [:], shown: ["token": "[redacted]"])
                }
            }
        }
        google(
            router,
            .post,
            gmail + "/drafts",
            scopes: [Self.gmailScope("compose"), Self.gmailScope("modify"), Self.mail]
        ) {
            call,
            world,
            _ throws(GoogleRefusal) in
            let body = try Self.googleMembers(call, required: ["message"], allowed: ["id", "message"])
            var message = try Self.parseMessage(body["message"]?["raw"], requireRecipients: false, world: &world)
            message.labels = ["DRAFT"]
            world.google.messages[message.id] = message
            let draft = "r" + String(world.next())
            world.google.drafts[draft] = message.id
            return Answer(
                status: 200,
                body: [
                    "id": .string(draft),
                    "message": ["id": .string(message.id), "threadId": .string(message.threadId)],
                ],
                shown: Self.shownMessage(message)
            )
        }
        google(
            router,
            .post,
            gmail + "/messages/send",
            scopes: [Self.gmailScope("send"), Self.gmailScope("compose"), Self.gmailScope("modify"), Self.mail]
        ) { call, world, _ throws(GoogleRefusal) in
            let body = try Self.googleMembers(call, required: ["raw"], allowed: ["raw", "threadId", "labelIds"])
            var message = try Self.parseMessage(body["raw"], requireRecipients: true, world: &world)
            if let thread = body["threadId"]?.stringValue {
                guard world.google.messages.values.contains(where: { $0.threadId == thread }) else {
                    throw GoogleRefusal.notFound
                }
                message.threadId = thread
            }
            message.labels = ["SENT"]
            world.google.messages[message.id] = message
            return Answer(
                status: 200,
                body: ["id": .string(message.id), "threadId": .string(message.threadId), "labelIds": ["SENT"]],
                shown: Self.shownMessage(message)
            )
        }
        google(
            router,
            .get,
            gmail + "/messages/{id}",
            scopes: [Self.gmailScope("readonly"), Self.gmailScope("modify"), Self.mail],
            reads: true
        ) { call, world, _ throws(GoogleRefusal) in
            guard let message = world.google.messages[call.parameters["id"] ?? ""] else { throw GoogleRefusal.notFound }
            guard call.query["format"] == nil || ["full", "metadata", "minimal"].contains(call.query["format"] ?? "")
            else { throw GoogleRefusal.invalid("Invalid value for format") }
            return Answer(status: 200, body: Self.fullMessage(message), shown: Self.shownMessage(message))
        }
        google(router, .post, gmail + "/messages/{id}/trash", scopes: [Self.gmailScope("modify"), Self.mail]) {
            call,
            world,
            _ throws(GoogleRefusal) in
            guard var message = world.google.messages[call.parameters["id"] ?? ""] else { throw GoogleRefusal.notFound }
            message.labels = message.labels.filter { $0 != "INBOX" } + ["TRASH"]
            world.google.messages[message.id] = message
            return Answer(
                status: 200,
                body: [
                    "id": .string(message.id), "threadId": .string(message.threadId),
                    "labelIds": .array(message.labels.map(JSONValue.string)),
                ]
            )
        }
        google(router, .post, gmail + "/settings/filters", scopes: [Self.gmailScope("settings.basic")]) {
            call,
            world,
            scopes throws(GoogleRefusal) in
            let body = try Self.googleMembers(
                call,
                required: ["criteria", "action"],
                allowed: ["id", "criteria", "action"]
            )
            guard case .object(let criteria)? = body["criteria"], !criteria.isEmpty,
                case .object(let action)? = body["action"], !action.isEmpty
            else { throw GoogleRefusal.invalid("Filter doesn't have any criteria or action") }
            if let forward = action["forward"]?.stringValue {
                // Forwarding is a sharing setting, and only to a verified forwarding address.
                guard scopes.contains(Self.gmailScope("settings.sharing")) else { throw GoogleRefusal.scope }
                guard world.google.forwardingAddresses.contains(forward.lowercased()) else {
                    throw GoogleRefusal(
                        status: 400,
                        message: "Invalid forwarding address: \(forward) has not been verified",
                        reason: "invalidArgument"
                    )
                }
            }
            let id = "ANe1Bm" + String(world.next())
            world.google.filters[id] = CanonicalJSON.string(.object(body))
            return Answer(
                status: 200,
                body: ["id": .string(id), "criteria": .object(criteria), "action": .object(action)],
                shown: .object(body)
            )
        }
        let events = base + "/calendar/v3/calendars/{calendar}/events"
        google(router, .post, events, scopes: Self.calendarScopes) { call, world, _ throws(GoogleRefusal) in
            let body = try Self.googleMembers(call, required: ["start", "end"], allowed: Self.eventKeys)
            try Self.calendar(call)
            var event = GoogleWorld.Event(
                id: String(format: "sb%018x", world.next()),
                summary: nil,
                start: "",
                end: "",
                attendees: [],
                recurrence: [],
                status: "confirmed",
                sequence: 0
            )
            try Self.apply(body, to: &event)
            world.google.events[event.id] = event
            return Answer(status: 200, body: Self.eventJSON(event, origin: call.origin), shown: .object(body))
        }
        google(router, .patch, events + "/{event}", scopes: Self.calendarScopes) {
            call,
            world,
            _ throws(GoogleRefusal) in
            let body = try Self.googleMembers(call, required: [], allowed: Self.eventKeys)
            try Self.calendar(call)
            guard var event = world.google.events[call.parameters["event"] ?? ""] else { throw GoogleRefusal.notFound }
            guard event.status != "cancelled" else {
                throw GoogleRefusal(status: 410, message: "Resource has been deleted", reason: "deleted")
            }
            try Self.apply(body, to: &event)
            event.sequence += 1
            world.google.events[event.id] = event
            return Answer(status: 200, body: Self.eventJSON(event, origin: call.origin), shown: .object(body))
        }
        google(router, .delete, events + "/{event}", scopes: Self.calendarScopes) {
            call,
            world,
            _ throws(GoogleRefusal) in
            try Self.calendar(call)
            guard var event = world.google.events[call.parameters["event"] ?? ""] else { throw GoogleRefusal.notFound }
            guard event.status != "cancelled" else {
                throw GoogleRefusal(status: 410, message: "Resource has been deleted", reason: "deleted")
            }
            event.status = "cancelled"
            world.google.events[event.id] = event
            return Answer(status: 204)
        }
        google(
            router,
            .get,
            base + "/v1/people:searchDirectoryPeople",
            scopes: ["https://www.googleapis.com/auth/directory.readonly"],
            reads: true
        ) { call, world, _ throws(GoogleRefusal) in
            let query = call.query
            guard let text = query["query"], query["readMask"] != nil,
                call.request.uri.queryParameters.getAll("sources").allSatisfy({
                    $0 == "DIRECTORY_SOURCE_TYPE_DOMAIN_PROFILE" || $0 == "DIRECTORY_SOURCE_TYPE_DOMAIN_CONTACT"
                }), !call.request.uri.queryParameters.getAll("sources").isEmpty
            else { throw GoogleRefusal.invalid("query, readMask and sources are required") }
            let matches = world.google.directory.filter { $0.hasPrefix(text.lowercased()) }.sorted()
            return Answer(
                status: 200,
                body: [
                    "people": .array(matches.map { ["emailAddresses": [["value": .string($0)]]] }),
                    "totalSize": .number(Double(matches.count)),
                ],
                shown: .object(query.mapValues(JSONValue.string))
            )
        }
    }

    static let eventKeys: Set<String> = [
        "summary", "description", "location", "start", "end", "attendees", "recurrence", "reminders", "visibility",
    ]

    /// Registers a Google route with the checks every call gets: a live token the sandbox issued,
    /// one of the method's scopes, JSON bodies, nothing of Countersign's besides the token.
    private func google<Context: RequestContext>(
        _ router: Router<Context>,
        _ method: HTTPRequest.Method,
        _ path: String,
        scopes accepted: [String],
        reads: Bool = false,
        _ handler: @escaping GoogleHandler
    ) {
        router.on(RouterPath(path), method: method) { request, context in
            try await self.handle(request, .google, context: context) { call in
                func run(_ world: inout SandboxWorld) -> Answer {
                    do throws(GoogleRefusal) {
                        for field in call.request.headers
                        where field.name.canonicalName.hasPrefix("x-countersign") || field.name == .cookie {
                            throw GoogleRefusal.invalid(
                                "the sandbox refuses \(field.name): only the token may reach Google"
                            )
                        }
                        guard let digest = call.tokenSHA256,
                            let (_, token) = world.liveGrant(tokenSHA256: digest, service: "google", now: Date())
                        else {
                            throw GoogleRefusal(
                                status: 401,
                                message: "Request had invalid authentication credentials.",
                                reason: "authError"
                            )
                        }
                        guard accepted.contains(where: token.scopes.contains) else { throw GoogleRefusal.scope }
                        if !call.body.isEmpty, call.request.headers[.contentType]?.hasPrefix("application/json") != true
                        {
                            throw GoogleRefusal.invalid("the body must be application/json")
                        }
                        return try handler(call, &world, token.scopes)
                    } catch {
                        return Answer(status: error.status, body: error.body, shown: call.json ?? .null)
                    }
                }
                return try self.transact(reads: reads, run)
            }
        }
    }

    static func googleMembers(
        _ call: Call,
        required: [String],
        allowed: Set<String>
    ) throws(GoogleRefusal) -> [String: JSONValue] {
        do {
            return try bodyMembers(call, required: required, allowed: allowed)
        } catch {
            switch error {
            case .notAnObject: throw GoogleRefusal.invalid("Invalid JSON payload received.")
            case .unknown(let key):
                throw GoogleRefusal.invalid(
                    "Invalid JSON payload received. Unknown name \"\(key)\": Cannot find field."
                )
            case .missing(let key): throw GoogleRefusal.invalid("'\(key)' is required")
            }
        }
    }

    /// A Gmail `raw` message: base64url RFC 5322 text with CRLF lines, `MIME-Version` and `Subject`.
    static func parseMessage(
        _ raw: JSONValue?,
        requireRecipients: Bool,
        world: inout SandboxWorld
    ) throws(GoogleRefusal) -> GoogleWorld.Message {
        guard let encoded = raw?.stringValue, !encoded.isEmpty else { throw GoogleRefusal.invalid("'raw' is required") }
        guard !encoded.contains(where: { "+/=".contains($0) }) else {
            throw GoogleRefusal.invalid("Invalid value for ByteString: raw must be base64url")
        }
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else {
            throw GoogleRefusal.invalid("Invalid value for ByteString")
        }
        guard let split = text.range(of: "\r\n\r\n") else { throw GoogleRefusal.invalid("Invalid RFC 5322 message") }
        let head = String(text[..<split.lowerBound])
        guard !head.replacingOccurrences(of: "\r\n", with: "").contains("\n") else {
            throw GoogleRefusal.invalid("Invalid RFC 5322 message: bare LF")
        }
        var headers: [String: String] = [:]
        for line in head.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces
            )
        }
        guard headers["mime-version"] == "1.0", headers["subject"] != nil else {
            throw GoogleRefusal.invalid("Invalid RFC 5322 message: MIME-Version and Subject are required")
        }
        let recipients = ["to", "cc", "bcc"].flatMap { key in
            (headers[key] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
        }
        if requireRecipients && recipients.isEmpty { throw GoogleRefusal.invalid("Recipient address required") }
        let id = String(format: "18c%013x", world.next())
        return GoogleWorld.Message(
            id: id,
            threadId: id,
            labels: [],
            to: recipients,
            subject: headers["subject"] ?? "",
            bytes: data.count
        )
    }

    /// A message as `users.messages.get` with `format=full` gives it: one `text/plain` part.
    static func fullMessage(_ message: GoogleWorld.Message) -> JSONValue {
        let text = message.text ?? ""
        var headers: [JSONValue] = [
            ["name": "To", "value": .string(message.to.joined(separator: ", "))],
            ["name": "Subject", "value": .string(message.subject)],
            ["name": "Content-Type", "value": "text/plain; charset=UTF-8"],
        ]
        if let from = message.from { headers.insert(["name": "From", "value": .string(from)], at: 0) }
        return [
            "id": .string(message.id), "threadId": .string(message.threadId),
            "labelIds": .array(message.labels.map(JSONValue.string)), "snippet": .string(String(text.prefix(100))),
            "sizeEstimate": .number(Double(message.bytes)),
            "payload": [
                "partId": "", "mimeType": "text/plain", "filename": "", "headers": .array(headers),
                "body": ["size": .number(Double(text.utf8.count)), "data": .string(base64URL(Array(text.utf8)))],
            ],
        ]
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func shownMessage(_ message: GoogleWorld.Message) -> JSONValue {
        [
            "recipients": .array(message.to.map(JSONValue.string)), "subject": .string(message.subject),
            "bytes": .number(Double(message.bytes)),
        ]
    }

    /// The calendar a call names: the account's primary calendar only.
    static func calendar(_ call: Call) throws(GoogleRefusal) {
        let calendar = call.parameters["calendar"]?.removingPercentEncoding ?? ""
        guard calendar == "primary" || calendar == googleAccount else { throw GoogleRefusal.notFound }
        if let updates = call.query["sendUpdates"], !["all", "externalOnly", "none"].contains(updates) {
            throw GoogleRefusal.invalid("Invalid value for sendUpdates: \(updates)")
        }
    }

    static func apply(_ body: [String: JSONValue], to event: inout GoogleWorld.Event) throws(GoogleRefusal) {
        func time(_ value: JSONValue?) throws(GoogleRefusal) -> String? {
            guard let value else { return nil }
            guard let text = value["dateTime"]?.stringValue ?? value["date"]?.stringValue else {
                throw GoogleRefusal.invalid("Missing time: dateTime or date is required")
            }
            return text
        }
        if let summary = body["summary"]?.stringValue { event.summary = summary }
        if let start = try time(body["start"]) { event.start = start }
        if let end = try time(body["end"]) { event.end = end }
        guard event.start < event.end || event.start.count != event.end.count else {
            throw GoogleRefusal.invalid("The specified time range is empty.")
        }
        if let attendees = body["attendees"]?.arrayValue {
            event.attendees = try attendees.map { attendee throws(GoogleRefusal) in
                guard let email = attendee["email"]?.stringValue, email.contains("@") else {
                    throw GoogleRefusal.invalid("Invalid attendee email.")
                }
                return email
            }
        }
        if let recurrence = body["recurrence"]?.arrayValue { event.recurrence = recurrence.compactMap(\.stringValue) }
    }

    static func eventJSON(_ event: GoogleWorld.Event, origin: String) -> JSONValue {
        [
            "id": .string(event.id), "status": .string(event.status),
            "htmlLink": .string("\(origin)/sandbox/view/google/calendar/\(event.id)"),
            "summary": event.summary.map(JSONValue.string) ?? .null, "start": ["dateTime": .string(event.start)],
            "end": ["dateTime": .string(event.end)],
            "attendees": .array(event.attendees.map { ["email": .string($0), "responseStatus": "needsAction"] }),
            "sequence": .number(Double(event.sequence)),
        ]
    }
}

/// The sandbox's Google account: a mailbox, filters, a primary calendar and the organisation's directory.
struct GoogleWorld: Codable, Sendable {
    struct Message: Codable, Sendable {
        var id: String
        var threadId: String
        var labels: [String]
        var to: [String]
        var subject: String
        var bytes: Int
        /// Who sent it (messages the sandbox seeded).
        var from: String?
        /// Its text (messages the sandbox seeded).
        var text: String?
    }

    struct Event: Codable, Sendable {
        var id: String
        var summary: String?
        var start: String
        var end: String
        var attendees: [String]
        var recurrence: [String]
        var status: String
        var sequence: Int
    }

    var messages: [String: Message]
    /// Draft id → message id.
    var drafts: [String: String]
    /// Filter id → the filter as canonical JSON.
    var filters: [String: String]
    var events: [String: Event]
    /// Addresses in the organisation's directory (domain profiles and contacts).
    var directory: [String]
    /// Verified forwarding addresses.
    var forwardingAddresses: [String]

    static func seed() -> GoogleWorld {
        let welcome = Message(
            id: "18c0000000000a1",
            threadId: "18c0000000000a1",
            labels: ["INBOX", "UNREAD"],
            to: [Sandbox.googleAccount],
            subject: "Welcome to the sandbox",
            bytes: 512,
            from: "Countersign sandbox <hello@demo.countersign.local>",
            text: "Welcome. This mailbox is the sandbox's: mail sent from it goes nowhere."
        )
        return GoogleWorld(
            messages: [welcome.id: welcome],
            drafts: [:],
            filters: [:],
            events: [:],
            directory: ["bob@demo.countersign.local", "carl@demo.countersign.local", Sandbox.googleAccount],
            forwardingAddresses: ["archive@demo.countersign.local"]
        )
    }
}
