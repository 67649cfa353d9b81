import Countersign
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization

/// Slack's Web API as far as the connector uses it, on 127.0.0.1 under `/api`: each method checks
/// the bearer token, the content type Slack takes for it and the arguments it requires and allows,
/// and answers as Slack does (`ok`, or HTTP 200 with `ok: false` and an error code).
final class TestSlackServer: Sendable {
    static let token = "xoxp-contract-test-token-0123456789"

    struct Received: Sendable {
        let method: String
        let arguments: JSONValue
    }

    private let state = Mutex<(received: [Received], problems: [String], scripted: JSONValue?, uploaded: Int?)>(
        ([], [], nil, nil)
    )
    private let base = Mutex<String>("")

    var url: String { base.withLock { $0 } + "/api" }
    var received: [Received] { state.withLock { $0.received } }
    var problems: [String] { state.withLock { $0.problems } }
    var uploadedBytes: Int? { state.withLock { $0.uploaded } }

    /// The next method call answers this (an `ok: false` body) instead.
    func script(_ answer: JSONValue) { state.withLock { $0.scripted = answer } }

    static let methods: [String: (form: Bool, required: Set<String>, allowed: Set<String>, answer: JSONValue)] = [
        "chat.postMessage": (
            false, ["channel", "text"], ["channel", "text", "thread_ts", "unfurl_links", "blocks"],
            [
                "ok": true, "channel": "C0123456789", "ts": "1700000000.000100",
            ]
        ),
        "chat.update": (
            false, ["channel", "ts"], ["channel", "ts", "text", "blocks"],
            [
                "ok": true, "channel": "C0123456789", "ts": "1700000000.000100",
            ]
        ),
        "chat.delete": (
            false, ["channel", "ts"], ["channel", "ts"],
            [
                "ok": true, "channel": "C0123456789", "ts": "1700000000.000100",
            ]
        ),
        "conversations.create": (
            false, ["name"], ["name", "is_private", "team_id"],
            [
                "ok": true, "channel": ["id": "C0NEWCHANNEL", "name": "launch"],
            ]
        ),
        "conversations.invite": (
            false, ["channel", "users"], ["channel", "users", "force"],
            [
                "ok": true, "channel": ["id": "C0123456789"],
            ]
        ),
        "conversations.archive": (false, ["channel"], ["channel"], ["ok": true]),
        "files.getUploadURLExternal": (
            true, ["filename", "length"], ["filename", "length", "alt_txt", "snippet_type"], .null
        ),
        "files.completeUploadExternal": (
            false, ["files"], ["files", "channel_id", "channels", "initial_comment", "thread_ts"],
            [
                "ok": true, "files": [["id": "F0UPLOAD01", "title": "notes.txt"]],
            ]
        ),
    ]

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let router = Router()
        router.get("/api/conversations.info") { request, _ in
            if request.headers[.authorization] != "Bearer \(Self.token)" {
                self.problem("a look-up without the vended token")
            }
            let channel = request.uri.queryParameters["channel"].map(String.init) ?? ""
            if request.uri.queryParameters["include_num_members"] != "true" {
                self.problem("num_members not asked for")
            }
            self.state.withLock {
                $0.received.append(Received(method: "conversations.info", arguments: ["channel": .string(channel)]))
            }
            switch channel {
            case "C0SMALL001":
                return self.json([
                    "ok": true,
                    "channel": ["id": "C0SMALL001", "name": "team-3", "num_members": 3, "is_ext_shared": false],
                ])
            case "C0BIGEXT01":
                return self.json([
                    "ok": true,
                    "channel": [
                        "id": "C0BIGEXT01", "name": "all-partners", "num_members": 4000, "is_ext_shared": true,
                    ],
                ])
            default: return self.json(["ok": false, "error": "channel_not_found"])
            }
        }
        router.post("/api/{method}") { request, context in
            try await self.handle(request, method: try context.parameters.require("method"))
        }
        router.post("/api/upload/{file}") { request, _ in
            var request = request
            let bytes = try await request.collectBody(upTo: 16 << 20)
            if request.headers[.authorization] != nil { self.problem("the token went to the upload URL") }
            self.state.withLock { $0.uploaded = bytes.readableBytes }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "OK - \(bytes.readableBytes)")))
        }
        return try await serveOnLoopback(router, listening: { url in self.base.withLock { $0 = url } }, body)
    }

    private func problem(_ text: String) { state.withLock { $0.problems.append(text) } }

    private func json(_ value: JSONValue) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(value)))
        )
    }

    private func handle(_ request: Request, method: String) async throws -> Response {
        guard let spec = Self.methods[method] else { return json(["ok": false, "error": "unknown_method"]) }
        if request.headers[.authorization] != "Bearer \(Self.token)" {
            problem("\(method): Authorization is not the vended token")
            return json(["ok": false, "error": "invalid_auth"])
        }
        var request = request
        let text = String(buffer: try await request.collectBody(upTo: 16 << 20))
        var arguments: [String: JSONValue] = [:]
        if spec.form {
            guard request.headers[.contentType] == "application/x-www-form-urlencoded" else {
                problem("\(method): not form-encoded")
                return json(["ok": false, "error": "invalid_form_data"])
            }
            for pair in text.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
                if parts.count == 2 { arguments[parts[0]] = .string(parts[1]) }
            }
        } else {
            guard request.headers[.contentType] == "application/json; charset=utf-8",
                case .object(let members)? = try? JSONParser().parse(Array(text.utf8))
            else {
                problem("\(method): not a JSON object with Content-Type application/json; charset=utf-8")
                return json(["ok": false, "error": "invalid_json"])
            }
            arguments = members
        }
        for key in spec.required where arguments[key] == nil { problem("\(method): missing \(key)") }
        for key in arguments.keys where !spec.allowed.contains(key) { problem("\(method): Slack does not take \(key)") }
        if method == "conversations.invite", arguments["users"]?.stringValue == nil {
            problem("conversations.invite: users must be a comma-separated string")
        }
        state.withLock { $0.received.append(Received(method: method, arguments: .object(arguments))) }
        if let scripted = state.withLock({ state -> JSONValue? in
            defer { state.scripted = nil }
            return state.scripted
        }) {
            return json(scripted)
        }
        if method == "files.getUploadURLExternal" {
            return json(["ok": true, "upload_url": .string(url + "/upload/F0UPLOAD01"), "file_id": "F0UPLOAD01"])
        }
        return json(spec.answer)
    }
}
