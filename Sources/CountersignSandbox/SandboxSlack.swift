import Countersign
import Foundation
import Hummingbird
import Synchronization

/// The sandbox Slack: the Web API under `/sandbox/slack/api`, for the methods Countersign's
/// connector calls, answering as Slack does (HTTP 200 with `ok`, or `ok: false` and an error code).
extension Sandbox {
    /// A Web API method: the scopes it accepts (any one), whether it takes a form, what it requires
    /// and allows.
    struct SlackMethod: Sendable {
        let scopes: [String]
        let form: Bool
        let required: [String]
        let allowed: Set<String>
    }

    static let slackMethods: [String: SlackMethod] = [
        "chat.postMessage": SlackMethod(
            scopes: ["chat:write"],
            form: false,
            required: ["channel"],
            allowed: [
                "channel", "text", "thread_ts", "unfurl_links", "unfurl_media", "blocks", "mrkdwn", "reply_broadcast",
            ]
        ),
        "chat.update": SlackMethod(
            scopes: ["chat:write"],
            form: false,
            required: ["channel", "ts"],
            allowed: ["channel", "ts", "text", "blocks"]
        ),
        "chat.delete": SlackMethod(
            scopes: ["chat:write"],
            form: false,
            required: ["channel", "ts"],
            allowed: ["channel", "ts"]
        ),
        "conversations.create": SlackMethod(
            scopes: ["channels:manage", "groups:write"],
            form: false,
            required: ["name"],
            allowed: ["name", "is_private", "team_id"]
        ),
        "conversations.invite": SlackMethod(
            scopes: ["channels:manage", "groups:write"],
            form: false,
            required: ["channel", "users"],
            allowed: ["channel", "users", "force"]
        ),
        "conversations.archive": SlackMethod(
            scopes: ["channels:manage", "groups:write"],
            form: false,
            required: ["channel"],
            allowed: ["channel"]
        ),
        "files.getUploadURLExternal": SlackMethod(
            scopes: ["files:write"],
            form: true,
            required: ["filename", "length"],
            allowed: ["filename", "length", "alt_txt", "snippet_type"]
        ),
        "files.completeUploadExternal": SlackMethod(
            scopes: ["files:write"],
            form: false,
            required: ["files"],
            allowed: ["files", "channel_id", "channels", "initial_comment", "thread_ts", "blocks"]
        ),
    ]

    func addSlack<Context: RequestContext>(to router: Router<Context>) {
        let api = "/sandbox/slack/api"
        router.post(RouterPath(api + "/oauth.v2.access")) { request, context in
            try await self.handle(request, .slack, context: context) { call in try self.slackToken(call) }
        }
        router.post(RouterPath(api + "/auth.revoke")) { request, context in
            try await self.handle(request, .slack, context: context) { call in
                try self.mutate { world in
                    guard let digest = call.tokenSHA256, let token = world.tokens[digest] else {
                        return Answer(status: 200, body: ["ok": false, "error": "invalid_auth"])
                    }
                    world.revoke(grant: token.grant)
                    return Answer(status: 200, body: ["ok": true, "revoked": true])
                }
            }
        }
        router.get(RouterPath(api + "/conversations.info")) { request, context in
            try await self.handle(request, .slack, context: context) { call in
                self.world.withLock { world in
                    if let refusal = Self.slackAuth(call, world, scopes: ["channels:read", "groups:read"]) {
                        return refusal
                    }
                    let shown = JSONValue.object(call.query.mapValues(JSONValue.string))
                    guard let id = call.query["channel"], let channel = world.slack.channels[id] else {
                        return Answer(status: 200, body: ["ok": false, "error": "channel_not_found"], shown: shown)
                    }
                    var info: [String: JSONValue] = [
                        "id": .string(channel.id), "name": .string(channel.name), "is_channel": true,
                        "is_private": .bool(channel.isPrivate), "is_archived": .bool(channel.archived),
                        "is_shared": .bool(channel.isExtShared), "is_ext_shared": .bool(channel.isExtShared),
                    ]
                    if call.query["include_num_members"] == "true" {
                        info["num_members"] = .number(Double(channel.members.count + channel.otherMembers))
                    }
                    return Answer(status: 200, body: ["ok": true, "channel": .object(info)], shown: shown)
                }
            }
        }
        router.post(RouterPath(api + "/upload/{file}")) { request, context in
            try await self.handle(request, .slack, context: context) { call in try self.receiveUpload(call) }
        }
        router.post(RouterPath(api + "/{method}")) { request, context in
            try await self.handle(request, .slack, context: context) { call in try self.slackMethod(call) }
        }
    }

    /// The token check Slack makes: a live token, with one of the method's scopes.
    static func slackAuth(_ call: Call, _ world: SandboxWorld, scopes: [String]) -> Answer? {
        for field in call.request.headers
        where field.name.canonicalName.hasPrefix("x-countersign") || field.name == .cookie {
            return Answer(
                status: 400,
                body: [
                    "ok": false, "error": "invalid_request",
                    "detail": .string("the sandbox refuses \(field.name): only the token may reach Slack"),
                ]
            )
        }
        guard let digest = call.tokenSHA256 else {
            return Answer(status: 200, body: ["ok": false, "error": "not_authed"])
        }
        guard let (_, token) = world.liveGrant(tokenSHA256: digest, service: "slack", now: Date()) else {
            return Answer(status: 200, body: ["ok": false, "error": "invalid_auth"])
        }
        guard scopes.contains(where: token.scopes.contains) else {
            return Answer(
                status: 200,
                body: [
                    "ok": false, "error": "missing_scope", "needed": .string(scopes.joined(separator: ",")),
                    "provided": .string(token.scopes.joined(separator: ",")),
                ]
            )
        }
        return nil
    }

    private func slackMethod(_ call: Call) throws -> Answer {
        let name = call.parameters["method"] ?? ""
        guard let method = Self.slackMethods[name] else {
            return Answer(status: 200, body: ["ok": false, "error": "unknown_method"])
        }
        var arguments: [String: JSONValue] = [:]
        if method.form {
            guard let form = call.form else {
                return Answer(status: 200, body: ["ok": false, "error": "invalid_form_data"])
            }
            arguments = form.mapValues(JSONValue.string)
        } else {
            guard call.request.headers[.contentType] == "application/json; charset=utf-8" else {
                // Slack reads JSON only when it is declared, charset included; it warns otherwise.
                return Answer(status: 200, body: ["ok": false, "error": "invalid_json", "warning": "missing_charset"])
            }
            guard case .object(let members)? = call.json else {
                return Answer(status: 200, body: ["ok": false, "error": "invalid_json"])
            }
            arguments = members
        }
        let shown = JSONValue.object(arguments)
        for key in arguments.keys.sorted() where !method.allowed.contains(key) {
            return Answer(
                status: 200,
                body: [
                    "ok": false, "error": "invalid_arguments",
                    "detail": .string("\(key) is not an argument of \(name)"),
                ],
                shown: shown
            )
        }
        for key in method.required where arguments[key] == nil {
            return Answer(
                status: 200,
                body: ["ok": false, "error": "invalid_arguments", "detail": .string("\(key) is required")],
                shown: shown
            )
        }
        return try mutate { world in
            if let refusal = Self.slackAuth(call, world, scopes: method.scopes) {
                return Answer(status: refusal.status, body: refusal.body, shown: shown)
            }
            var copy = world
            var answer = Self.perform(name, arguments, in: &copy.slack, counter: &copy.counter, origin: call.origin)
            answer.shown = shown
            if answer.body?["ok"] == true { world = copy }
            return answer
        }
    }

    /// One method's effect on the workspace.
    static func perform(
        _ name: String,
        _ arguments: [String: JSONValue],
        in slack: inout SlackWorld,
        counter: inout Int,
        origin: String
    ) -> Answer {
        func fail(_ error: String) -> Answer { Answer(status: 200, body: ["ok": false, "error": .string(error)]) }
        func channel(_ key: String) -> SlackWorld.Channel? {
            arguments[key]?.stringValue.flatMap { slack.channelID($0) }.flatMap { slack.channels[$0] }
        }
        func timestamp() -> String {
            counter += 1
            return "\(Int(Date().timeIntervalSince1970)).\(String(format: "%06d", counter % 1_000_000))"
        }
        switch name {
        case "chat.postMessage":
            guard var target = channel("channel") else { return fail("channel_not_found") }
            guard !target.archived else { return fail("is_archived") }
            guard target.members.contains(slackUser) else { return fail("not_in_channel") }
            let text = arguments["text"]?.stringValue ?? ""
            guard !text.isEmpty || arguments["blocks"] != nil else { return fail("no_text") }
            guard text.count <= 40_000 else { return fail("msg_too_long") }
            let message = SlackWorld.Message(
                ts: timestamp(),
                user: slackUser,
                text: text,
                threadTS: arguments["thread_ts"]?.stringValue,
                edited: false
            )
            target.messages.append(message)
            slack.channels[target.id] = target
            return Answer(
                status: 200,
                body: [
                    "ok": true, "channel": .string(target.id), "ts": .string(message.ts),
                    "message": [
                        "type": "message", "user": .string(slackUser), "text": .string(text), "ts": .string(message.ts),
                    ],
                ]
            )
        case "chat.update", "chat.delete":
            guard var target = channel("channel") else { return fail("channel_not_found") }
            guard let index = target.messages.firstIndex(where: { $0.ts == arguments["ts"]?.stringValue }) else {
                return fail("message_not_found")
            }
            guard target.messages[index].user == slackUser else {
                return fail(name == "chat.update" ? "cant_update_message" : "cant_delete_message")
            }
            let ts = target.messages[index].ts
            if name == "chat.delete" {
                target.messages.remove(at: index)
            } else {
                target.messages[index].text = arguments["text"]?.stringValue ?? target.messages[index].text
                target.messages[index].edited = true
            }
            slack.channels[target.id] = target
            return Answer(status: 200, body: ["ok": true, "channel": .string(target.id), "ts": .string(ts)])
        case "conversations.create":
            let channelName = arguments["name"]?.stringValue ?? ""
            guard channelName.wholeMatch(of: /[a-z0-9][a-z0-9_-]{0,79}/) != nil else {
                return fail("invalid_name_specials")
            }
            guard !slack.channels.values.contains(where: { $0.name == channelName }) else { return fail("name_taken") }
            counter += 1
            let id = "C0NEW" + String(format: "%06d", counter)
            slack.channels[id] = SlackWorld.Channel(
                id: id,
                name: channelName,
                isPrivate: arguments["is_private"] == true,
                isExtShared: false,
                members: [slackUser],
                otherMembers: 0,
                archived: false,
                messages: []
            )
            return Answer(
                status: 200,
                body: [
                    "ok": true,
                    "channel": [
                        "id": .string(id), "name": .string(channelName), "is_private": arguments["is_private"] ?? false,
                    ],
                ]
            )
        case "conversations.invite":
            guard var target = channel("channel") else { return fail("channel_not_found") }
            guard let list = arguments["users"]?.stringValue else { return fail("invalid_arguments") }
            let users = list.split(separator: ",").map(String.init)
            guard !users.isEmpty, users.allSatisfy({ slack.users[$0] != nil }) else { return fail("user_not_found") }
            guard !target.archived else { return fail("is_archived") }
            let fresh = users.filter { !target.members.contains($0) }
            guard !fresh.isEmpty else { return fail("already_in_channel") }
            target.members += fresh
            slack.channels[target.id] = target
            return Answer(
                status: 200,
                body: ["ok": true, "channel": ["id": .string(target.id), "name": .string(target.name)]]
            )
        case "conversations.archive":
            guard var target = channel("channel") else { return fail("channel_not_found") }
            guard !target.archived else { return fail("already_archived") }
            target.archived = true
            slack.channels[target.id] = target
            return Answer(status: 200, body: ["ok": true])
        case "files.getUploadURLExternal":
            guard let length = arguments["length"]?.stringValue.flatMap(Int.init), length > 0,
                let filename = arguments["filename"]?.stringValue, !filename.isEmpty
            else { return fail("invalid_arguments") }
            counter += 1
            let id = "F0SBX" + String(format: "%06d", counter)
            slack.files[id] = SlackWorld.File(
                id: id,
                name: filename,
                length: length,
                received: nil,
                title: nil,
                channel: nil
            )
            return Answer(
                status: 200,
                body: [
                    "ok": true, "upload_url": .string("\(origin)/sandbox/slack/api/upload/\(id)"),
                    "file_id": .string(id),
                ]
            )
        default:  // files.completeUploadExternal
            guard let entries = arguments["files"]?.arrayValue, !entries.isEmpty else {
                return fail("invalid_arguments")
            }
            var shared: [JSONValue] = []
            for entry in entries {
                guard let id = entry["id"]?.stringValue, var file = slack.files[id] else {
                    return fail("file_not_found")
                }
                guard file.received == file.length else { return fail("upload_incomplete") }
                if let target = arguments["channel_id"]?.stringValue {
                    guard let found = slack.channels[target] else { return fail("channel_not_found") }
                    guard found.members.contains(slackUser) else { return fail("not_in_channel") }
                    file.channel = target
                }
                file.title = entry["title"]?.stringValue ?? file.name
                slack.files[id] = file
                shared.append(["id": .string(id), "title": .string(file.title ?? "")])
            }
            return Answer(status: 200, body: ["ok": true, "files": .array(shared)])
        }
    }

    /// The upload URL Slack hands out: the file's bytes, with no token (the URL is the credential).
    private func receiveUpload(_ call: Call) throws -> Answer {
        let id = call.parameters["file"] ?? ""
        let shown: JSONValue = ["bytes": .number(Double(call.body.count))]
        if call.request.headers[.authorization] != nil {
            return Answer(status: 400, text: "the upload URL takes no token; the sandbox refused it\n", shown: shown)
        }
        return try mutate { world in
            guard var file = world.slack.files[id], file.received == nil else {
                return Answer(status: 404, text: "no such upload\n", shown: shown)
            }
            guard call.body.count == file.length else {
                return Answer(
                    status: 400,
                    text: "expected \(file.length) bytes, received \(call.body.count)\n",
                    shown: shown
                )
            }
            file.received = call.body.count
            world.slack.files[id] = file
            return Answer(status: 200, text: "OK - \(call.body.count)", shown: shown)
        }
    }
}
