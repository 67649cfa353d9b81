import AsyncHTTPClient
public import Countersign
import Foundation
import NIOCore
import NIOHTTP1

/// Slack's Web API, with a user token the vault vends for each approved request.
///
/// Write methods are POSTed as JSON (`application/json; charset=utf-8`) with the token as a bearer;
/// a file is shared the way Slack now requires: `files.getUploadURLExternal`, the bytes to the
/// upload URL, then `files.completeUploadExternal`. Slack answers HTTP 200 with `ok: false` for most
/// errors; those become outcomes to act on (missing scope with the scope Slack named, not found,
/// rate limited with `Retry-After`).
public struct SlackConnector: Connector {
    public let name = "slack"
    public let operations: [OperationDescriptor]
    /// The Web API's base URL.
    public let baseURL: String

    /// Creates the connector.
    ///
    /// - Parameters:
    ///   - baseURL: The Web API's base URL.
    ///   - sandbox: The sandbox's name when `baseURL` is a sandbox that ships with Countersign;
    ///     every operation is then labelled with it.
    /// - Throws: ``SchemaError`` if a schema does not compile.
    public init(baseURL: String = "https://slack.com/api", sandbox: String? = nil) throws(SchemaError) {
        self.baseURL = ProviderHTTPClient.base(baseURL)
        let descriptors = try SlackOperations.descriptors()
        operations = sandbox.map { name in descriptors.map { $0.inSandbox(name) } } ?? descriptors
    }

    /// The Web API method and JSON body an operation calls.
    static func call(
        _ operation: String,
        _ arguments: JSONValue
    ) throws(ConnectorError) -> (method: String, body: JSONValue) {
        func pick(_ keys: [String]) -> JSONValue {
            var body: [String: JSONValue] = [:]
            for key in keys { if let value = arguments[key] { body[key] = value } }
            return .object(body)
        }
        switch operation {
        case "post_message": return ("chat.postMessage", pick(["channel", "text", "thread_ts", "unfurl_links"]))
        case "update_message": return ("chat.update", pick(["channel", "ts", "text"]))
        case "delete_message": return ("chat.delete", pick(["channel", "ts"]))
        case "create_channel": return ("conversations.create", pick(["name", "is_private"]))
        case "invite_to_channel":
            let users = (arguments["users"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ",")
            return ("conversations.invite", ["channel": arguments["channel"] ?? .null, "users": .string(users)])
        case "archive_channel": return ("conversations.archive", pick(["channel"]))
        default: throw .refused("Slack has no operation \(operation) here")
        }
    }

    public func execute(
        _ operation: OperationID,
        arguments: JSONValue,
        context: ExecutionContext
    ) async throws(ConnectorError) -> JSONValue {
        let token = try await context.accessToken(provider: "slack")
        if operation.name == "upload_file" { return try await upload(arguments, token: token.secret) }
        let (method, body) = try Self.call(operation.name, arguments)
        let answer = try await send(method, json: body, token: token.secret)
        switch operation.name {
        case "post_message", "update_message":
            return ["channel": answer["channel"] ?? .null, "ts": answer["ts"] ?? .null]
        case "delete_message":
            return ["deleted": true, "channel": answer["channel"] ?? .null, "ts": answer["ts"] ?? .null]
        case "create_channel":
            return ["channel": answer["channel"]?["id"] ?? .null, "name": answer["channel"]?["name"] ?? .null]
        case "invite_to_channel":
            return ["channel": answer["channel"]?["id"] ?? .null, "invited": arguments["users"] ?? .null]
        default: return ["archived": true, "channel": arguments["channel"] ?? .null]
        }
    }

    public var lookupOperations: Set<String> { ["post_message", "upload_file"] }

    public var publishingOperations: Set<String> { ["post_message", "upload_file"] }

    /// Who reads a channel: people outside when it is shared with other organisations (Slack Connect).
    ///
    /// A channel of this workspace only is read inside; one given by name (or a direct message)
    /// cannot be looked up, and is refused.
    public func audience(
        _ operation: OperationID,
        arguments: JSONValue,
        context: LookupContext
    ) async throws(ConnectorError) -> Audience {
        guard publishingOperations.contains(operation.name), let channel = arguments["channel"]?.stringValue,
            Self.isChannelID(channel)
        else {
            throw .refused("the channel is not given by its id (C… or G…), so who reads it cannot be looked up")
        }
        let info = try await channelInfo(channel, context: context)
        let name = info["name"]?.stringValue.map { "#\($0)" } ?? channel
        guard info["is_ext_shared"] == true || info["is_shared"] == true else {
            return .organisation("\(name) is a channel of this workspace only")
        }
        return .outside("posts in \(name), a channel shared with other organisations")
    }

    /// Whether `channel` is a channel's id (`C…` public, `G…` private), the only form
    /// `conversations.info` looks up; a name or a direct message's id is not.
    static func isChannelID(_ channel: String) -> Bool {
        channel.first.map { "CG".contains($0) } == true
    }

    /// `conversations.info` for a channel, with its member count, read with a look-up token.
    private func channelInfo(_ channel: String, context: LookupContext) async throws(ConnectorError) -> JSONValue {
        let token = try await context.readToken(provider: "slack", scopes: ["channels:read", "groups:read"])
        var request = HTTPClientRequest(
            url: "\(baseURL)/conversations.info?channel=\(channel)&include_num_members=true"
        )
        request.method = .GET
        request.headers.add(name: "Authorization", value: "Bearer \(token.secret.reveal())")
        request.headers.add(name: "User-Agent", value: "Countersign")
        let (status, _, body) = try await ProviderHTTPClient.send(request, to: "Slack")
        guard status == 200, body["ok"] == true else { throw Self.error(status: status, body: body) }
        return body["channel"] ?? .null
    }

    /// For a message or a file about to be shared: how many people are in the channel and whether it
    /// is shared with other organisations, read with a look-up token.
    public func blastRadius(
        _ operation: OperationID,
        arguments: JSONValue,
        context: LookupContext
    ) async throws(ConnectorError) -> [RiskReason] {
        guard lookupOperations.contains(operation.name), let channel = arguments["channel"]?.stringValue else {
            return []
        }
        guard Self.isChannelID(channel) else {
            return [
                RiskReason(
                    source: .blastRadius,
                    name: "channel",
                    level: .low,
                    text: "Slack: the channel is given by name, so its members were not looked up"
                )
            ]
        }
        let info = try await channelInfo(channel, context: context)
        let members = Int(info["num_members"]?.numberValue ?? 0)
        var facts: [RiskReason] = []
        if info["is_ext_shared"] == true || info["is_shared"] == true {
            facts.append(
                RiskReason(
                    source: .blastRadius,
                    name: "external_channel",
                    level: .high,
                    text: "Slack: the channel is shared with other organisations"
                )
            )
        }
        let level: RiskLevel = members >= 1000 ? .high : (members >= 100 ? .medium : .low)
        facts.append(
            RiskReason(
                source: .blastRadius,
                name: "channel_members",
                level: level,
                text:
                    "Slack: \(info["name"]?.stringValue.map { "#\($0) has " } ?? "the channel has ")\(members) members"
                    + (info["is_private"] == true ? " (private)" : "")
            )
        )
        return facts
    }

    /// Shares a file: an upload URL, the bytes, then completing the upload into the channel.
    func upload(_ arguments: JSONValue, token: Secret) async throws(ConnectorError) -> JSONValue {
        let content = Array((arguments["content"]?.stringValue ?? "").utf8)
        let filename = arguments["filename"]?.stringValue ?? "file"
        let ticket = try await send(
            "files.getUploadURLExternal",
            form: [("filename", filename), ("length", String(content.count))],
            token: token
        )
        guard let uploadURL = ticket["upload_url"]?.stringValue, let fileID = ticket["file_id"]?.stringValue,
            uploadURL.hasPrefix("https://") || uploadURL.hasPrefix(baseURL)
        else { throw .failed("Slack did not give an upload URL for the file") }
        var request = HTTPClientRequest(url: uploadURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.body = .bytes(ByteBuffer(bytes: content))
        do {
            let response = try await ProviderHTTPClient.shared.execute(request, timeout: .seconds(60))
            _ = try await response.body.collect(upTo: 1 << 16)
            guard response.status == .ok else {
                throw ConnectorError.failed(
                    "Slack refused the file's bytes (HTTP \(response.status.code)); nothing was shared"
                )
            }
        } catch let error as ConnectorError {
            throw error
        } catch {
            throw .failed("Slack could not be reached to upload the file; nothing was shared")
        }
        var file: [String: JSONValue] = ["id": .string(fileID)]
        if let title = arguments["title"] { file["title"] = title }
        var body: [String: JSONValue] = ["files": [.object(file)], "channel_id": arguments["channel"] ?? .null]
        if let comment = arguments["initial_comment"] { body["initial_comment"] = comment }
        let done = try await send("files.completeUploadExternal", json: .object(body), token: token)
        return ["file": .string(fileID), "channel": arguments["channel"] ?? .null, "shared": done["ok"] ?? .null]
    }

    func send(_ method: String, json: JSONValue, token: Secret) async throws(ConnectorError) -> JSONValue {
        var request = HTTPClientRequest(url: "\(baseURL)/\(method)")
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.bytes(json)))
        return try await send(request, token: token)
    }

    func send(_ method: String, form: [(String, String)], token: Secret) async throws(ConnectorError) -> JSONValue {
        var request = HTTPClientRequest(url: "\(baseURL)/\(method)")
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        let encoded = form.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? "")"
        }
        request.body = .bytes(ByteBuffer(string: encoded.joined(separator: "&")))
        return try await send(request, token: token)
    }

    private func send(_ request: HTTPClientRequest, token: Secret) async throws(ConnectorError) -> JSONValue {
        var request = request
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token.reveal())")
        request.headers.add(name: "User-Agent", value: "Countersign")
        let (status, headers, body) = try await ProviderHTTPClient.send(request, to: "Slack")
        if status == 429 {
            let wait = headers.first(name: "retry-after").map { "in \($0) s" } ?? "later"
            throw .failed("Slack rate-limited the call; nothing changed. Try again \(wait).")
        }
        guard status == 200, body["ok"] == true else { throw Self.error(status: status, body: body) }
        return body
    }

    /// Slack's `ok: false` answers as outcomes to act on.
    static func error(status: UInt, body: JSONValue) -> ConnectorError {
        let code = body["error"]?.stringValue ?? "HTTP \(status)"
        switch code {
        case "missing_scope":
            return .refused(
                "Slack says the token lacks a scope"
                    + (body["needed"]?.stringValue.map { " (it needs \($0)); reconnect Slack granting it" } ?? "")
            )
        case "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive":
            return .refused("Slack refused the token (\(code)); the principal may need to connect Slack again")
        case "channel_not_found", "not_in_channel", "message_not_found", "user_not_found", "file_not_found":
            return .notFound("Slack found no such channel, message or user, or the principal cannot see it (\(code))")
        case "name_taken", "already_in_channel", "already_archived", "cant_invite_self", "is_archived":
            return .conflict("Slack cannot do it in the current state (\(code))")
        case "cant_delete_message", "cant_update_message", "edit_window_closed", "restricted_action",
            "not_allowed_token_type":
            return .refused("Slack does not allow it for the principal (\(code))")
        case "invalid_arguments", "invalid_name", "invalid_name_specials", "msg_too_long", "no_text":
            return .refused("Slack did not accept the arguments (\(code))")
        default:
            return .failed("Slack failed (\(code))")
        }
    }
}
