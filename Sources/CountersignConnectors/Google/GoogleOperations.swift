public import Countersign
import Foundation

/// Gmail (API v1) and Google Calendar (API v3) operations: schemas, OAuth scopes, hints on who an
/// action reaches, and impact from the arguments.
public enum GoogleOperations {
    static let email: JSONValue = ["type": "string", "pattern": "^[^\\s@<>,;\"]+@[^\\s@<>,;\"]+\\.[^\\s@<>,;\"]+$"]
    static let emails: JSONValue = ["type": "array", "items": email, "maxItems": 500, "uniqueItems": true]
    static let messageID: JSONValue = ["type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"]

    static func schema(_ required: [String], _ properties: [String: JSONValue]) -> JSONValue {
        [
            "type": "object", "additionalProperties": false, "required": .array(required.map(JSONValue.string)),
            "properties": .object(properties),
        ]
    }

    static func domain(of address: String) -> String {
        String(address.split(separator: "@").last ?? "").lowercased()
    }

    static func addresses(_ arguments: JSONValue, _ keys: [String]) -> [String] {
        keys.flatMap { key in (arguments[key]?.arrayValue ?? []).compactMap(\.stringValue) }
    }

    /// Recipients (or attendees) outside the principal's own domain.
    static func outside(_ action: ProposedAction, _ keys: [String]) -> [String] {
        let home = domain(of: action.principal)
        return addresses(action.arguments, keys).filter { domain(of: $0) != home }
    }

    static func recipientHints(_ keys: [String], what: String) -> [RiskHint] {
        [
            RiskHint(action: "external_recipients") { action in
                let outside = outside(action, keys)
                guard !outside.isEmpty else { return nil }
                let domains = Set(outside.map(domain(of:))).sorted()
                return (
                    outside.count > 10 ? .critical : .high,
                    "\(what) \(outside.count) \(outside.count == 1 ? "address" : "addresses") outside \(domain(of: action.principal)) (\(domains.prefix(5).joined(separator: ", "))\(domains.count > 5 ? ", …" : ""))"
                )
            },
            RiskHint("many_recipients") { arguments in
                let count = addresses(arguments, keys).count
                return count > 25 ? (.high, "\(what) \(count) addresses at once") : nil
            },
        ]
    }

    static let readonly = "https://www.googleapis.com/auth/gmail.readonly"
    static let compose = "https://www.googleapis.com/auth/gmail.compose"
    static let send = "https://www.googleapis.com/auth/gmail.send"
    static let modify = "https://www.googleapis.com/auth/gmail.modify"
    static let settingsBasic = "https://www.googleapis.com/auth/gmail.settings.basic"
    static let settingsSharing = "https://www.googleapis.com/auth/gmail.settings.sharing"
    static let calendarEvents = "https://www.googleapis.com/auth/calendar.events"

    static func operation(
        _ id: String,
        summary: String,
        schema: JSONValue,
        scopes: [String],
        defaultLevel: RiskLevel,
        hints: [RiskHint] = [],
        isReversible: Bool,
        target: @escaping @Sendable (JSONValue) -> String?,
        impact: @escaping @Sendable (JSONValue) -> String,
        undo: (@Sendable (JSONValue, JSONValue) -> (operation: String, arguments: JSONValue)?)? = nil
    ) throws(SchemaError) -> OperationDescriptor {
        try ProviderOperations.descriptor(
            id,
            provider: "google",
            summary: summary,
            schema: schema,
            scopes: scopes,
            defaultLevel: defaultLevel,
            hints: hints,
            isReversible: isReversible,
            target: target,
            impact: impact,
            undo: undo
        )
    }

    static let message: [String: JSONValue] = [
        "to": emails, "cc": emails, "bcc": emails,
        "subject": ["type": "string", "maxLength": 998, "pattern": "^[^\\r\\n]*$"],
        "body": ["type": "string", "maxLength": 5_000_000],
        "attachments": [
            "type": "array", "maxItems": 20,
            "items": [
                "type": "object", "additionalProperties": false, "required": ["filename", "content"],
                "properties": [
                    "filename": ["type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^/\\\\\\r\\n\"]+$"],
                    "content": ["type": "string", "maxLength": 20_000_000, "description": "The file's bytes, base64."],
                    "mimeType": ["type": "string", "pattern": "^[a-z]+/[A-Za-z0-9.+-]+$"],
                ],
            ],
        ],
    ]

    static func messageImpact(_ verb: String, _ arguments: JSONValue) -> String {
        let to = addresses(arguments, ["to", "cc", "bcc"])
        let attachments = (arguments["attachments"]?.arrayValue ?? []).compactMap { $0["filename"]?.stringValue }
        return
            "\(verb) to \(to.count) \(to.count == 1 ? "recipient" : "recipients") (\(to.prefix(8).joined(separator: ", "))\(to.count > 8 ? ", …" : "")) from the principal's mailbox, subject \(ProviderOperations.quoted(arguments["subject"]?.stringValue))"
            + (attachments.isEmpty
                ? "" : ", with \(attachments.count) attachment(s): \(attachments.joined(separator: ", "))")
            + "."
    }

    static let attachmentHint = RiskHint("attachments") { arguments in
        let files = arguments["attachments"]?.arrayValue?.count ?? 0
        return files > 0 ? (.medium, "carries \(files) attachment(s) out of the mailbox") : nil
    }

    /// Gmail's and Calendar's operations.
    public static func descriptors() throws(SchemaError) -> [OperationDescriptor] {
        let recipients = recipientHints(["to", "cc", "bcc"], what: "writes to")
        let attendees = recipientHints(["attendees"], what: "invites")
        return [
            try operation(
                "gmail.read_message",
                summary: "Read an email: its sender, recipients, subject and text",
                schema: schema(["message_id"], ["message_id": messageID]),
                scopes: [readonly],
                defaultLevel: .low,
                isReversible: true,
                target: { $0["message_id"]?.stringValue },
                impact: {
                    "Reads the message \($0["message_id"]?.stringValue ?? "?") in the principal's mailbox (its sender, recipients, subject and text go to the agent); nothing changes."
                }
            ),
            try operation(
                "gmail.create_draft",
                summary: "Save an email as a draft (nothing is sent)",
                schema: schema([], message),
                scopes: [compose],
                defaultLevel: .low,
                isReversible: true,
                target: { addresses($0, ["to"]).first },
                impact: {
                    "Saves a draft in the principal's mailbox (not sent) addressed "
                        + messageImpact("", $0).dropFirst(1)
                }
            ),
            try operation(
                "gmail.send_message",
                summary: "Send an email",
                schema: schema(["to", "subject", "body"], message),
                scopes: [send],
                defaultLevel: .medium,
                hints: recipients + [attachmentHint],
                isReversible: false,
                target: { addresses($0, ["to"]).first },
                impact: { messageImpact("Sends an email", $0) + " Once sent, it cannot be recalled." }
            ),
            try operation(
                "gmail.reply",
                summary: "Reply in a thread",
                schema: schema(
                    ["thread_id", "in_reply_to", "to", "body"],
                    message.merging([
                        "thread_id": messageID,
                        "in_reply_to": [
                            "type": "string", "pattern": "^<[^<>\\s]+@[^<>\\s]+>$",
                            "description": "The Message-ID replied to.",
                        ],
                    ]) { $1 }
                ),
                scopes: [send],
                defaultLevel: .medium,
                hints: recipients + [attachmentHint],
                isReversible: false,
                target: { addresses($0, ["to"]).first },
                impact: {
                    messageImpact("Replies in thread \($0["thread_id"]?.stringValue ?? "?")", $0)
                        + " Once sent, it cannot be recalled."
                }
            ),
            try operation(
                "gmail.trash_message",
                summary: "Move an email to the trash",
                schema: schema(["message_id"], ["message_id": messageID]),
                scopes: [modify],
                defaultLevel: .medium,
                isReversible: true,
                target: { $0["message_id"]?.stringValue },
                impact: {
                    "Moves the message \($0["message_id"]?.stringValue ?? "?") to the trash; Gmail deletes it for good after 30 days."
                }
            ),
            try operation(
                "gmail.create_filter",
                summary: "Create a filter that acts on incoming mail",
                schema: schema(
                    ["criteria", "action"],
                    [
                        "criteria": [
                            "type": "object", "additionalProperties": false, "minProperties": 1,
                            "properties": [
                                "from": ["type": "string"], "to": ["type": "string"], "subject": ["type": "string"],
                                "query": ["type": "string"], "hasAttachment": ["type": "boolean"],
                            ],
                        ],
                        "action": [
                            "type": "object", "additionalProperties": false, "minProperties": 1,
                            "properties": [
                                "addLabelIds": ["type": "array", "items": ["type": "string"]],
                                "removeLabelIds": ["type": "array", "items": ["type": "string"]],
                                "forward": email,
                            ],
                        ],
                    ]
                ),
                // Forwarding filters need the sharing scope as well (Gmail's documented requirement).
                scopes: [settingsBasic, settingsSharing],
                defaultLevel: .high,
                hints: [
                    RiskHint("forwarding") { arguments in
                        arguments["action"]?["forward"]?.stringValue.map {
                            (.critical, "forwards matching mail to \($0) from now on, without anyone looking")
                        }
                    },
                    RiskHint("hides_mail") { arguments in
                        let removed = (arguments["action"]?["removeLabelIds"]?.arrayValue ?? []).compactMap(
                            \.stringValue
                        )
                        return removed.contains("INBOX")
                            || (arguments["action"]?["addLabelIds"]?.arrayValue ?? []).contains("TRASH")
                            ? (.high, "hides matching mail from the inbox") : nil
                    },
                ],
                isReversible: true,
                target: { $0["action"]?["forward"]?.stringValue ?? "filter" },
                impact: { arguments in
                    let criteria = CanonicalJSON.string(arguments["criteria"] ?? .null)
                    let action = CanonicalJSON.string(arguments["action"] ?? .null)
                    return
                        "Creates a Gmail filter: every incoming message matching \(criteria) gets \(action), from now on until the filter is deleted."
                }
            ),
            try operation(
                "calendar.create_event",
                summary: "Create a calendar event",
                schema: schema(["summary", "start", "end"], eventProperties),
                scopes: [calendarEvents],
                defaultLevel: .low,
                hints: attendees + eventHints(),
                isReversible: true,
                target: { $0["summary"]?.stringValue },
                impact: { eventImpact("Creates the event", $0) },
                undo: { arguments, result in
                    guard let event = result["event"], event != .null else { return nil }
                    var undo: [String: JSONValue] = ["event_id": event]
                    if let calendar = arguments["calendar_id"] { undo["calendar_id"] = calendar }
                    if let updates = arguments["send_updates"] { undo["send_updates"] = updates }
                    return ("delete_event", .object(undo))
                }
            ),
            try operation(
                "calendar.update_event",
                summary: "Change a calendar event",
                schema: schema(["event_id"], eventProperties.merging(["event_id": eventID]) { $1 }),
                scopes: [calendarEvents],
                defaultLevel: .medium,
                hints: attendees + eventHints(),
                isReversible: true,
                target: { $0["event_id"]?.stringValue },
                impact: { eventImpact("Changes the event \($0["event_id"]?.stringValue ?? "?")", $0) }
            ),
            try operation(
                "calendar.delete_event",
                summary: "Delete a calendar event",
                schema: schema(
                    ["event_id"],
                    [
                        "calendar_id": calendarID, "event_id": eventID,
                        "send_updates": ["enum": ["all", "externalOnly", "none"]],
                    ]
                ),
                scopes: [calendarEvents],
                defaultLevel: .medium,
                hints: eventHints(),
                isReversible: false,
                target: { $0["event_id"]?.stringValue },
                impact: { arguments in
                    "Deletes the event \(arguments["event_id"]?.stringValue ?? "?") from \(arguments["calendar_id"]?.stringValue ?? "the primary calendar")"
                        + (arguments["send_updates"]?.stringValue == "none"
                            ? " without telling its guests." : ", and its guests are told it is cancelled.")
                }
            ),
        ]
    }

    static let calendarID: JSONValue = ["type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^/\\s]+$"]
    static let eventID: JSONValue = ["type": "string", "pattern": "^[a-v0-9]{5,1024}(?:_[0-9TZ]+)?$"]
    static let time: JSONValue = [
        "type": "object", "additionalProperties": false,
        "properties": [
            "dateTime": ["type": "string", "format": "date-time"],
            "date": ["type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"], "timeZone": ["type": "string"],
        ],
        "minProperties": 1,
    ]
    static let eventProperties: [String: JSONValue] = [
        "calendar_id": calendarID, "summary": ["type": "string", "minLength": 1, "maxLength": 1024],
        "description": ["type": "string", "maxLength": 8192], "location": ["type": "string", "maxLength": 1024],
        "start": time, "end": time, "attendees": emails,
        "recurrence": [
            "type": "array", "items": ["type": "string", "pattern": "^(RRULE|EXRULE|RDATE|EXDATE)[:;]"], "maxItems": 10,
        ],
        "send_updates": ["enum": ["all", "externalOnly", "none"]],
    ]

    static func eventHints() -> [RiskHint] {
        [
            RiskHint("recurring") { arguments in
                arguments["recurrence"]?.arrayValue?.isEmpty == false ? (.medium, "makes it a recurring series") : nil
            },
            RiskHint("notifies_guests") { arguments in
                let count = arguments["attendees"]?.arrayValue?.count ?? 0
                return arguments["send_updates"]?.stringValue == "all" && count > 0
                    ? (.medium, "emails \(count) guest(s) from the principal's calendar") : nil
            },
        ]
    }

    static func eventImpact(_ verb: String, _ arguments: JSONValue) -> String {
        let attendees = addresses(arguments, ["attendees"])
        let when = arguments["start"]?["dateTime"]?.stringValue ?? arguments["start"]?["date"]?.stringValue
        var text = "\(verb)"
        if let summary = arguments["summary"]?.stringValue { text += " \(ProviderOperations.quoted(summary))" }
        text += " in \(arguments["calendar_id"]?.stringValue ?? "the primary calendar")"
        if let when { text += " at \(when)" }
        if arguments["recurrence"]?.arrayValue?.isEmpty == false { text += ", repeating" }
        if !attendees.isEmpty {
            text += ", with \(attendees.count) guest(s): \(attendees.prefix(8).joined(separator: ", "))"
            text += arguments["send_updates"]?.stringValue == "none" ? " (not emailed)" : " (emailed an invitation)"
        }
        return text + "."
    }
}
