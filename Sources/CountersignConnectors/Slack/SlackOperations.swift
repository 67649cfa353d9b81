public import Countersign
import Foundation

/// Slack's operations (Web API): schemas, user-token scopes, hints and impact from the arguments.
public enum SlackOperations {
    static let channel: JSONValue = [
        "type": "string", "pattern": "^(?:[CGD][A-Z0-9]{8,}|#?[a-z0-9][a-z0-9._-]{0,79})$",
        "description": "A channel id (C…, G…, D…) or a channel name.",
    ]
    /// Conversations methods take ids only.
    static let channelID: JSONValue = [
        "type": "string", "pattern": "^[CGD][A-Z0-9]{8,}$", "description": "A channel id (C…, G…).",
    ]
    static let timestamp: JSONValue = ["type": "string", "pattern": "^[0-9]{10}\\.[0-9]{6}$"]
    static let text: JSONValue = ["type": "string", "minLength": 1, "maxLength": 40000]

    static func schema(_ required: [String], _ properties: [String: JSONValue]) -> JSONValue {
        [
            "type": "object", "additionalProperties": false, "required": .array(required.map(JSONValue.string)),
            "properties": .object(properties),
        ]
    }

    /// `<!channel>`, `<!here>`, `<!everyone>` (and their plain-text forms) notify a whole channel.
    static func massMention() -> RiskHint {
        RiskHint("mass_mention") { arguments in
            let text = arguments["text"]?.stringValue ?? arguments["initial_comment"]?.stringValue ?? ""
            let found = ["<!channel>", "<!here>", "<!everyone>", "@channel", "@here", "@everyone"].filter {
                text.contains($0)
            }
            return found.isEmpty ? nil : (.high, "notifies everyone in the channel (\(found.joined(separator: ", ")))")
        }
    }

    /// Links send readers elsewhere; the approver is told where.
    static func links() -> RiskHint {
        RiskHint("links") { arguments in
            let text = arguments["text"]?.stringValue ?? ""
            let hosts = Set(
                text.matches(of: /https?:\/\/([A-Za-z0-9.-]+)/).map { String($0.output.1).lowercased() }
            ).sorted()
            return hosts.isEmpty ? nil : (.medium, "links to \(hosts.joined(separator: ", "))")
        }
    }

    static func operation(
        _ name: String,
        summary: String,
        schema: JSONValue,
        scopes: [String],
        defaultLevel: RiskLevel,
        hints: [RiskHint] = [],
        isReversible: Bool,
        impact: @escaping @Sendable (JSONValue) -> String,
        undo: (@Sendable (JSONValue, JSONValue) -> (operation: String, arguments: JSONValue)?)? = nil
    ) throws(SchemaError) -> OperationDescriptor {
        try ProviderOperations.descriptor(
            "slack." + name,
            provider: "slack",
            summary: summary,
            schema: schema,
            scopes: scopes,
            defaultLevel: defaultLevel,
            hints: hints,
            isReversible: isReversible,
            target: { $0["channel"]?.stringValue ?? $0["name"]?.stringValue },
            impact: impact,
            undo: undo
        )
    }

    /// All of Slack's operations.
    public static func descriptors() throws(SchemaError) -> [OperationDescriptor] {
        [
            try operation(
                "post_message",
                summary: "Post a message to a channel or conversation",
                schema: schema(
                    ["channel", "text"],
                    ["channel": channel, "text": text, "thread_ts": timestamp, "unfurl_links": ["type": "boolean"]]
                ),
                scopes: ["chat:write"],
                defaultLevel: .medium,
                hints: [massMention(), links()],
                isReversible: true,
                impact: { arguments in
                    let text = arguments["text"]?.stringValue ?? ""
                    return
                        "Posts to \(arguments["channel"]?.stringValue ?? "?")"
                        + (arguments["thread_ts"] != nil ? " (in a thread)" : "")
                        + " as the principal a message of \(text.count) characters: \(ProviderOperations.quoted(text))."
                },
                undo: { _, result in
                    guard let channel = result["channel"], let ts = result["ts"], ts != .null else { return nil }
                    return ("delete_message", ["channel": channel, "ts": ts])
                }
            ),
            try operation(
                "update_message",
                summary: "Edit a message the principal posted",
                schema: schema(["channel", "ts", "text"], ["channel": channelID, "ts": timestamp, "text": text]),
                scopes: ["chat:write"],
                defaultLevel: .medium,
                hints: [massMention(), links()],
                isReversible: true,
                impact: { arguments in
                    "Replaces the text of the message \(arguments["ts"]?.stringValue ?? "?") in \(arguments["channel"]?.stringValue ?? "?") with \(ProviderOperations.quoted(arguments["text"]?.stringValue))."
                }
            ),
            try operation(
                "delete_message",
                summary: "Delete a message",
                schema: schema(["channel", "ts"], ["channel": channelID, "ts": timestamp]),
                scopes: ["chat:write"],
                defaultLevel: .medium,
                isReversible: false,
                impact: { arguments in
                    "Deletes the message \(arguments["ts"]?.stringValue ?? "?") from \(arguments["channel"]?.stringValue ?? "?"); it cannot be restored."
                }
            ),
            try operation(
                "create_channel",
                summary: "Create a channel",
                schema: schema(
                    ["name"],
                    [
                        "name": ["type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,79}$"],
                        "is_private": ["type": "boolean"],
                    ]
                ),
                scopes: ["channels:manage", "groups:write"],
                defaultLevel: .low,
                isReversible: true,
                impact: { arguments in
                    "Creates the \(arguments["is_private"] == true ? "private" : "public") channel #\(arguments["name"]?.stringValue ?? "?")"
                        + (arguments["is_private"] == true
                            ? "." : ", which everyone in the workspace can find and join.")
                },
                undo: { _, result in
                    result["channel"].flatMap { $0 == .null ? nil : ("archive_channel", ["channel": $0]) }
                }
            ),
            try operation(
                "invite_to_channel",
                summary: "Invite people to a channel",
                schema: schema(
                    ["channel", "users"],
                    [
                        "channel": channelID,
                        "users": [
                            "type": "array", "minItems": 1, "maxItems": 1000, "uniqueItems": true,
                            "items": ["type": "string", "pattern": "^[UW][A-Z0-9]{8,}$"],
                        ],
                    ]
                ),
                scopes: ["channels:manage", "groups:write"],
                defaultLevel: .medium,
                hints: [
                    RiskHint("many_people") { arguments in
                        let count = arguments["users"]?.arrayValue?.count ?? 0
                        return count > 20 ? (.high, "invites \(count) people at once") : nil
                    }
                ],
                isReversible: true,
                impact: { arguments in
                    let users = (arguments["users"]?.arrayValue ?? []).compactMap(\.stringValue)
                    return
                        "Invites \(users.count) \(users.count == 1 ? "person" : "people") (\(users.prefix(10).joined(separator: ", "))\(users.count > 10 ? ", …" : "")) to \(arguments["channel"]?.stringValue ?? "?"): they can read its history."
                }
            ),
            try operation(
                "archive_channel",
                summary: "Archive a channel",
                schema: schema(["channel"], ["channel": channelID]),
                scopes: ["channels:manage", "groups:write"],
                defaultLevel: .high,
                isReversible: true,
                impact: { arguments in
                    "Archives \(arguments["channel"]?.stringValue ?? "?"): nobody can post in it until it is unarchived."
                }
            ),
            try operation(
                "upload_file",
                summary: "Share a file in a channel",
                schema: schema(
                    ["channel", "filename", "content"],
                    [
                        "channel": channelID,
                        "filename": ["type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^/\\\\]+$"],
                        "content": ["type": "string", "maxLength": 10_485_760],
                        "title": ["type": "string", "maxLength": 255],
                        "initial_comment": ["type": "string", "maxLength": 4000],
                    ]
                ),
                scopes: ["files:write"],
                defaultLevel: .medium,
                hints: [
                    massMention(),
                    RiskHint("large_file") { arguments in
                        let size = arguments["content"]?.stringValue?.utf8.count ?? 0
                        return size > 1_048_576 ? (.high, "shares a file of \(size) bytes (more than 1 MiB)") : nil
                    },
                ],
                isReversible: true,
                impact: { arguments in
                    "Shares the file \(arguments["filename"]?.stringValue ?? "?") (\(arguments["content"]?.stringValue?.utf8.count ?? 0) bytes) in \(arguments["channel"]?.stringValue ?? "?") as the principal."
                }
            ),
        ]
    }
}
