import AsyncHTTPClient
public import Countersign
import Foundation
import NIOCore
import NIOHTTP1

/// Gmail (API v1) or Google Calendar (API v3), with a token the vault vends for each approved
/// request from the principal's connected Google account (provider `google`).
public struct GoogleConnector: Connector {
    /// Which of Google's services: its operations are `gmail.*` or `calendar.*`.
    public enum Service: String, Sendable {
        case gmail, calendar
    }

    public let name: String
    public let operations: [OperationDescriptor]
    /// Gmail's base URL.
    public let gmailURL: String
    /// Calendar's base URL.
    public let calendarURL: String
    /// The People API's base URL, where recipients are looked up in the organisation's directory.
    public let peopleURL: String

    /// Creates the connector.
    ///
    /// - Parameters:
    ///   - service: Gmail or Calendar.
    ///   - gmailURL: Gmail's base URL.
    ///   - calendarURL: Calendar's base URL.
    ///   - peopleURL: The People API's base URL (the organisation's directory).
    ///   - sandbox: The sandbox's name when the URLs are a sandbox that ships with Countersign;
    ///     every operation is then labelled with it.
    /// - Throws: ``SchemaError`` if a schema does not compile.
    public init(
        _ service: Service,
        gmailURL: String = "https://gmail.googleapis.com",
        calendarURL: String = "https://www.googleapis.com/calendar/v3",
        peopleURL: String = "https://people.googleapis.com",
        sandbox: String? = nil
    ) throws(SchemaError) {
        name = service.rawValue
        self.gmailURL = ProviderHTTPClient.base(gmailURL)
        self.calendarURL = ProviderHTTPClient.base(calendarURL)
        self.peopleURL = ProviderHTTPClient.base(peopleURL)
        let descriptors = try GoogleOperations.descriptors().filter { $0.id.connector == service.rawValue }
        operations = sandbox.map { name in descriptors.map { $0.inSandbox(name) } } ?? descriptors
    }

    public var lookupOperations: Set<String> {
        name == "gmail" ? ["send_message", "reply", "create_draft"] : ["create_event", "update_event"]
    }

    /// The most recipients looked up for one request.
    static let directoryLimit = 50
    static let directoryScope = "https://www.googleapis.com/auth/directory.readonly"

    /// For a message or an event: which recipients (or guests) are not in the organisation's
    /// directory, read from the People API with a look-up token for `directory.readonly`.
    public func blastRadius(
        _ operation: OperationID,
        arguments: JSONValue,
        context: LookupContext
    ) async throws(ConnectorError) -> [RiskReason] {
        guard lookupOperations.contains(operation.name) else { return [] }
        var seen = Set<String>()
        let everyone = GoogleOperations.addresses(arguments, name == "gmail" ? ["to", "cc", "bcc"] : ["attendees"])
            .map { $0.lowercased() }.filter { seen.insert($0).inserted }
        guard !everyone.isEmpty else { return [] }
        let token = try await context.readToken(provider: "google", scopes: [Self.directoryScope])
        let checked = Array(everyone.prefix(Self.directoryLimit))
        var outside: [String] = []
        var failure: ConnectorError?
        await withTaskGroup(of: (String, Result<Bool, ConnectorError>).self) { group in
            for address in checked {
                group.addTask {
                    do throws(ConnectorError) {
                        return (address, .success(try await inDirectory(address, token: token.secret)))
                    } catch {
                        return (address, .failure(error))
                    }
                }
            }
            for await (address, found) in group {
                switch found {
                case .success(false): outside.append(address)
                case .success(true): break
                case .failure(let error): failure = failure ?? error
                }
            }
        }
        if let failure { throw failure }
        outside.sort()
        let who = name == "gmail" ? "recipients" : "guests"
        let unchecked =
            everyone.count > checked.count ? " (the first \(checked.count) of \(everyone.count) checked)" : ""
        guard !outside.isEmpty else {
            return [
                RiskReason(
                    source: .blastRadius,
                    name: "directory",
                    level: .low,
                    text:
                        "Google directory: all \(checked.count) \(who) are in the organisation's directory\(unchecked)"
                )
            ]
        }
        let shown = outside.prefix(8).joined(separator: ", ") + (outside.count > 8 ? ", …" : "")
        return [
            RiskReason(
                source: .blastRadius,
                name: "directory",
                level: outside.count > 10 ? .critical : .high,
                text:
                    "Google directory: \(outside.count) of \(checked.count) \(who) are not in the organisation's directory (\(shown))\(unchecked)"
            )
        ]
    }

    /// Whether the directory has a person (a domain profile or a domain contact) with exactly this address.
    func inDirectory(_ address: String, token: Secret) async throws(ConnectorError) -> Bool {
        let query = [
            ("query", address), ("readMask", "emailAddresses"), ("sources", "DIRECTORY_SOURCE_TYPE_DOMAIN_PROFILE"),
            ("sources", "DIRECTORY_SOURCE_TYPE_DOMAIN_CONTACT"), ("pageSize", "10"),
        ].map { "\($0.0)=\(Self.segment($0.1))" }.joined(separator: "&")
        var request = HTTPClientRequest(url: "\(peopleURL)/v1/people:searchDirectoryPeople?\(query)")
        request.headers.add(name: "Authorization", value: "Bearer \(token.reveal())")
        request.headers.add(name: "Accept", value: "application/json")
        let (status, headers, body) = try await ProviderHTTPClient.send(request, to: "Google")
        guard status == 200 else { throw Self.error(status: status, headers: headers, body: body) }
        return (body["people"]?.arrayValue ?? []).contains { person in
            (person["emailAddresses"]?.arrayValue ?? []).contains { $0["value"]?.stringValue?.lowercased() == address }
        }
    }

    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~@")))
            ?? ""
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// An RFC 2047 encoded word when the text is not plain ASCII.
    static func header(_ text: String) -> String {
        text.allSatisfy { $0.isASCII } ? text : "=?UTF-8?B?\(Data(text.utf8).base64EncodedString())?="
    }

    /// The message as RFC 5322 text (MIME), which Gmail takes base64url-encoded as `raw`.
    static func mime(_ arguments: JSONValue, boundary: String) -> String {
        var lines: [String] = []
        for (name, key) in [("To", "to"), ("Cc", "cc"), ("Bcc", "bcc")] {
            let list = (arguments[key]?.arrayValue ?? []).compactMap(\.stringValue)
            if !list.isEmpty { lines.append("\(name): \(list.joined(separator: ", "))") }
        }
        var subject = arguments["subject"]?.stringValue ?? ""
        if let reply = arguments["in_reply_to"]?.stringValue {
            lines.append("In-Reply-To: \(reply)")
            lines.append("References: \(reply)")
            if subject.isEmpty { subject = "Re:" }
        }
        lines.append("Subject: \(header(subject))")
        lines.append("MIME-Version: 1.0")
        let body = Data((arguments["body"]?.stringValue ?? "").utf8).base64EncodedString(
            options: .lineLength76Characters
        )
        let attachments = arguments["attachments"]?.arrayValue ?? []
        if attachments.isEmpty {
            lines += ["Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: base64", "", body]
        } else {
            lines += ["Content-Type: multipart/mixed; boundary=\"\(boundary)\"", ""]
            lines += [
                "--\(boundary)", "Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: base64", "",
                body,
            ]
            for attachment in attachments {
                let filename = attachment["filename"]?.stringValue ?? "attachment"
                let content = Data(base64Encoded: attachment["content"]?.stringValue ?? "") ?? Data()
                lines += [
                    "--\(boundary)",
                    "Content-Type: \(attachment["mimeType"]?.stringValue ?? "application/octet-stream"); name=\"\(filename)\"",
                    "Content-Disposition: attachment; filename=\"\(filename)\"", "Content-Transfer-Encoding: base64",
                    "",
                    content.base64EncodedString(options: .lineLength76Characters),
                ]
            }
            lines.append("--\(boundary)--")
        }
        return lines.joined(separator: "\r\n")
    }

    struct Call {
        let method: HTTPMethod
        let url: String
        let body: JSONValue?
    }

    /// The request an operation makes, as Google documents it.
    func call(_ operation: String, _ arguments: JSONValue) throws(ConnectorError) -> Call {
        let gmail = "\(gmailURL)/gmail/v1/users/me"
        let boundary = "countersign-" + UUID().uuidString.lowercased()
        func raw() -> JSONValue { .string(Self.base64URL(Array(Self.mime(arguments, boundary: boundary).utf8))) }
        let calendar =
            "\(calendarURL)/calendars/\(Self.segment(arguments["calendar_id"]?.stringValue ?? "primary"))/events"
        let updates = arguments["send_updates"]?.stringValue.map { "?sendUpdates=\($0)" } ?? ""
        func event() -> JSONValue {
            var body: [String: JSONValue] = [:]
            for key in ["summary", "description", "location", "start", "end", "recurrence"] {
                if let value = arguments[key] { body[key] = value }
            }
            if let attendees = arguments["attendees"]?.arrayValue {
                body["attendees"] = .array(attendees.map { ["email": $0] })
            }
            return .object(body)
        }
        let eventID = Self.segment(arguments["event_id"]?.stringValue ?? "")
        switch operation {
        case "gmail.read_message":
            return Call(
                method: .GET,
                url: "\(gmail)/messages/\(Self.segment(arguments["message_id"]?.stringValue ?? ""))?format=full",
                body: nil
            )
        case "gmail.create_draft": return Call(method: .POST, url: "\(gmail)/drafts", body: ["message": ["raw": raw()]])
        case "gmail.send_message": return Call(method: .POST, url: "\(gmail)/messages/send", body: ["raw": raw()])
        case "gmail.reply":
            return Call(
                method: .POST,
                url: "\(gmail)/messages/send",
                body: ["raw": raw(), "threadId": arguments["thread_id"] ?? .null]
            )
        case "gmail.trash_message":
            return Call(
                method: .POST,
                url: "\(gmail)/messages/\(Self.segment(arguments["message_id"]?.stringValue ?? ""))/trash",
                body: nil
            )
        case "gmail.create_filter":
            return Call(
                method: .POST,
                url: "\(gmail)/settings/filters",
                body: ["criteria": arguments["criteria"] ?? [:], "action": arguments["action"] ?? [:]]
            )
        case "calendar.create_event": return Call(method: .POST, url: calendar + updates, body: event())
        case "calendar.update_event":
            return Call(method: .PATCH, url: "\(calendar)/\(eventID)\(updates)", body: event())
        case "calendar.delete_event": return Call(method: .DELETE, url: "\(calendar)/\(eventID)\(updates)", body: nil)
        default: throw .refused("Google has no operation \(operation) here")
        }
    }

    public func execute(
        _ operation: OperationID,
        arguments: JSONValue,
        context: ExecutionContext
    ) async throws(ConnectorError) -> JSONValue {
        let name = operation.description
        guard operation.connector == self.name else { throw .refused("\(self.name) has no operation \(name)") }
        let call = try call(name, arguments)
        let token = try await context.accessToken(provider: "google")
        var request = HTTPClientRequest(url: call.url)
        request.method = call.method
        request.headers.add(name: "Authorization", value: "Bearer \(token.secret.reveal())")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Countersign")
        if let body = call.body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.bytes(body)))
        }
        let (status, headers, body) = try await ProviderHTTPClient.send(request, to: "Google")
        guard (200..<300).contains(status) else { throw Self.error(status: status, headers: headers, body: body) }
        switch name {
        case "gmail.read_message": return Self.readMessage(body)
        case "gmail.create_draft": return ["draft": body["id"] ?? .null, "message": body["message"]?["id"] ?? .null]
        case "gmail.send_message", "gmail.reply", "gmail.trash_message":
            return [
                "message": body["id"] ?? .null, "thread": body["threadId"] ?? .null,
                "labels": body["labelIds"] ?? .null,
            ]
        case "gmail.create_filter": return ["filter": body["id"] ?? .null]
        case "calendar.delete_event": return ["deleted": true, "event": arguments["event_id"] ?? .null]
        default:
            return ["event": body["id"] ?? .null, "url": body["htmlLink"] ?? .null, "status": body["status"] ?? .null]
        }
    }

    /// At most this many characters of a message's text are read.
    static let maximumText = 100_000

    /// A message as Gmail gives it (`format=full`), as the agent sees it: headers it needs and the
    /// text, from the first `text/plain` part (or the first `text/html` part, without its tags).
    static func readMessage(_ body: JSONValue) -> JSONValue {
        let payload = body["payload"] ?? .null
        var headers: [String: String] = [:]
        for header in payload["headers"]?.arrayValue ?? [] {
            guard let name = header["name"]?.stringValue?.lowercased(), let value = header["value"]?.stringValue,
                ["from", "to", "cc", "subject", "date"].contains(name), headers[name] == nil
            else { continue }
            headers[name] = value
        }
        var text = part(payload, mimeType: "text/plain") ?? part(payload, mimeType: "text/html").map(withoutTags) ?? ""
        var truncated = false
        if text.count > maximumText {
            text = String(text.prefix(maximumText))
            truncated = true
        }
        var result: [String: JSONValue] = [
            "message": body["id"] ?? .null, "thread": body["threadId"] ?? .null, "labels": body["labelIds"] ?? .null,
            "text": .string(text),
        ]
        for (name, value) in headers { result[name] = .string(value) }
        if truncated { result["truncated"] = true }
        return .object(result)
    }

    /// The decoded body of the first part (depth first) of this MIME type.
    static func part(_ part: JSONValue, mimeType: String) -> String? {
        if part["mimeType"]?.stringValue?.lowercased() == mimeType, let data = part["body"]?["data"]?.stringValue {
            var base64 = data.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
            return Data(base64Encoded: base64).map { String(decoding: $0, as: UTF8.self) }
        }
        for child in part["parts"]?.arrayValue ?? [] {
            if let text = self.part(child, mimeType: mimeType) { return text }
        }
        return nil
    }

    /// HTML as text: tags dropped, whitespace collapsed.
    static func withoutTags(_ html: String) -> String {
        html.replacingOccurrences(of: "<[^>]*>", with: " ", options: .regularExpression)
            .replacingOccurrences(of: "\\s+", with: " ", options: .regularExpression)
            .trimmingCharacters(in: .whitespaces)
    }

    /// Google's error answers (`{"error": {code, message, status, errors: [{reason}]}}`) as outcomes.
    static func error(status: UInt, headers: HTTPHeaders, body: JSONValue) -> ConnectorError {
        let message = body["error"]?["message"]?.stringValue ?? "HTTP \(status)"
        let reasons = (body["error"]?["errors"]?.arrayValue ?? []).compactMap { $0["reason"]?.stringValue }
        if status == 429 || reasons.contains(where: { $0.hasSuffix("ateLimitExceeded") || $0 == "quotaExceeded" }) {
            let wait = headers.first(name: "retry-after").map { "in \($0) s" } ?? "later"
            return .failed("Google rate-limited the call; nothing changed. Try again \(wait).")
        }
        switch status {
        case 401:
            return .refused("Google refused the token (\(message)); the principal may need to connect Google again")
        case 403:
            return reasons.contains("insufficientPermissions") || body["error"]?["status"] == "PERMISSION_DENIED"
                ? .refused("Google says the token lacks a scope for this (\(message)); reconnect Google granting it")
                : .refused("Google forbade it: \(message)")
        case 404:
            return .notFound(
                "Google found no such message, event or calendar, or the principal cannot see it (\(message))"
            )
        case 409: return .conflict("Google reports a conflict: \(message)")
        case 400, 412, 422: return .refused("Google did not accept it: \(message)")
        default: return .failed("Google failed (HTTP \(status)): \(message)")
        }
    }
}
