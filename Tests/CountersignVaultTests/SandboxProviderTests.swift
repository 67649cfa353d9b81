import AsyncHTTPClient
import Countersign
import CountersignConnectors
import CountersignServer
import CountersignStore
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import CountersignSandbox
@testable import CountersignVault

/// The GitHub and Slack sandboxes that ship with Countersign, through the vault's connect flow,
/// the real connectors and raw HTTP.
@Suite("Sandbox providers")
struct SandboxProviderTests {
    let files: VaultFiles
    let directory: String

    init() throws {
        files = try VaultFiles()
        directory = FileManager.default.temporaryDirectory.appending(path: "sandbox-\(UUID().uuidString)").path
    }

    /// Serves the vault's connect routes and the sandbox on loopback while `body` runs.
    func serve(
        _ body:
            @Sendable (_ server: String, _ sandbox: Sandbox, _ vault: Vault, _ store: SQLiteStore) async throws -> Void
    ) async throws {
        let (vault, store) = try await files.open()
        let sandbox = try Sandbox(directory: directory)
        let router = Router()
        ConnectRoutes.add(to: router, vault: vault)
        sandbox.add(to: router)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await body("http://127.0.0.1:\(try #require(client.port))", sandbox, vault, store)
        }
    }

    /// Registers Countersign with a sandbox service and connects Ana's account there through the
    /// vault, playing the browser.
    static func connect(
        _ service: Sandbox.Service,
        scopes: [String],
        server: String,
        sandbox: Sandbox,
        vault: Vault
    ) async throws -> Connection {
        try sandbox.register(
            service,
            clientID: "countersign-test",
            clientSecret: Secret("sandbox-client-secret"),
            redirectURI: server + "/oauth/callback"
        )
        try await vault.setProviderClient(
            provider: service.rawValue,
            clientID: "countersign-test",
            clientSecret: Secret("sandbox-client-secret"),
            redirectURI: server + "/oauth/callback",
            endpoints: Sandbox.endpoints(service, server: server),
            displayName: service.displayName,
            actor: "test"
        )
        let link = try await vault.beginConnect(
            provider: service.rawValue,
            principal: "ana@acme.test",
            scopes: scopes,
            serverURL: server,
            actor: "test"
        )
        let started = try await ConnectTests.browser.get(url: link.url).get()
        let cookie = String(try #require(started.headers.first(name: "Set-Cookie")).split(separator: ";")[0])
        let consent = try await ConnectTests.browser.get(url: try #require(started.headers.first(name: "Location")))
            .get()
        var callback = HTTPClientRequest(url: try #require(consent.headers.first(name: "Location")))
        callback.headers.add(name: "Cookie", value: cookie)
        let finished = try await ConnectTests.browser.execute(callback, timeout: .seconds(10))
        #expect(finished.status == .ok)
        return try #require(
            try await vault.connections(principal: "ana@acme.test").first { $0.provider == service.rawValue }
        )
    }

    /// Runs one operation with a token the vault vends for an executing request.
    static func run(
        _ connector: any Connector,
        _ operation: String,
        _ arguments: JSONValue,
        vault: Vault,
        store: SQLiteStore
    ) async throws -> JSONValue {
        let id = try #require(OperationID(operation))
        let descriptor = try #require(connector.operations.first { $0.id == id })
        #expect(descriptor.argumentSchema.validate(arguments).isEmpty, "\(operation) arguments")
        let request = try await VendTests.executingRequest(store, scopes: descriptor.scopes)
        return try await connector.execute(
            id,
            arguments: arguments,
            context: ExecutionContext(requestID: request.id, principal: "ana@acme.test", agent: "a", tokens: vault)
        )
    }

    @Test(
        "every GitHub and Slack operation runs against its sandbox with a vended token; state survives a restart and holds no token"
    )
    func everyOperation() async throws {
        try await serve { server, sandbox, vault, store in
            let githubAccount = try await Self.connect(
                .github,
                scopes: ["repo", "delete_repo"],
                server: server,
                sandbox: sandbox,
                vault: vault
            )
            #expect(githubAccount.account == "dana" && githubAccount.scopes == ["delete_repo", "repo"])
            let slackAccount = try await Self.connect(
                .slack,
                scopes: ["chat:write", "channels:manage", "groups:write", "files:write"],
                server: server,
                sandbox: sandbox,
                vault: vault
            )
            #expect(slackAccount.account == "T0SANDBOX1/U0DANA0001")
            #expect(try await vault.tokenSource(for: "github")?.displayName == "GitHub sandbox")

            let gh = try GitHubConnector(baseURL: Sandbox.apiURL(.github, server: server), sandbox: "GitHub sandbox")
            #expect(
                gh.operations.allSatisfy { $0.sandbox == "GitHub sandbox" && $0.summary.hasPrefix("[GitHub sandbox]") }
            )
            func github(_ operation: String, _ arguments: JSONValue) async throws -> JSONValue {
                try await Self.run(gh, "github." + operation, arguments, vault: vault, store: store)
            }
            let app: [String: JSONValue] = ["owner": "acme", "repo": "app"]
            func on(_ repository: [String: JSONValue], _ extra: [String: JSONValue]) -> JSONValue {
                .object(repository.merging(extra) { $1 })
            }
            let issue = try await github("create_issue", on(app, ["title": "Release 1.4", "labels": ["release"]]))
            let number = try #require(issue["number"]?.numberValue)
            #expect(issue["url"]?.stringValue?.hasPrefix(server + "/sandbox/view/github/acme/app/issues/") == true)
            _ = try await github("comment_issue", on(app, ["issue_number": .number(number), "body": "On it."]))
            let read = try await github("read_issue", on(app, ["issue_number": .number(number)]))
            #expect(read["title"] == "Release 1.4")
            #expect(read["comments"]?.arrayValue?.map { $0["body"] } == ["On it."])
            let closed = try await github(
                "set_issue_state",
                on(app, ["issue_number": .number(number), "state": "closed", "state_reason": "completed"])
            )
            #expect(closed["state"] == "closed")
            let main = sandbox.world.withLock { $0.github.repositories["acme/app"]?.branches["main"] ?? "" }
            let branch = try await github("create_branch", on(app, ["branch": "release-1.4", "sha": .string(main)]))
            #expect(branch["ref"] == "refs/heads/release-1.4")
            let created = try await github(
                "put_file",
                on(app, ["path": "docs/notes.md", "content": "# 1.4\n", "message": "Notes", "branch": "release-1.4"])
            )
            let updated = try await github(
                "put_file",
                on(
                    app,
                    [
                        "path": "docs/notes.md", "content": "# 1.4\n\n- faster sync\n", "message": "More notes",
                        "branch": "release-1.4", "sha": created["sha"] ?? .null,
                    ]
                )
            )
            #expect(updated["sha"] != created["sha"])
            let pull = try await github(
                "create_pull_request",
                on(app, ["title": "Release 1.4", "head": "release-1.4", "base": "main"])
            )
            let merged = try await github(
                "merge_pull_request",
                on(app, ["pull_number": pull["number"] ?? .null, "base": "main", "merge_method": "squash"])
            )
            #expect(merged["merged"] == true)
            let release = try await github("create_release", on(app, ["tag_name": "v1.4.0", "name": "1.4"]))
            #expect(release["tag"] == "v1.4.0")
            let invited = try await github("add_collaborator", on(app, ["username": "bob", "permission": "triage"]))
            #expect(invited["username"] == "bob")
            _ = try await github("delete_branch", on(app, ["branch": "release-1.4"]))
            let prototype: [String: JSONValue] = ["owner": "dana", "repo": "old-prototype"]
            let visible = try await github("set_visibility", on(prototype, ["visibility": "public"]))
            #expect(visible["visibility"] == "public")
            let archived = try await github("archive_repository", .object(prototype))
            #expect(archived["archived"] == true)
            _ = try await github("delete_repository", .object(prototype))

            // A missing repository is GitHub's 404, mapped for the agent.
            await #expect(throws: ConnectorError.self) {
                _ = try await github("create_issue", ["owner": "acme", "repo": "nope", "title": "x"])
            }

            let sl = try SlackConnector(baseURL: Sandbox.apiURL(.slack, server: server), sandbox: "Slack sandbox")
            func slack(_ operation: String, _ arguments: JSONValue) async throws -> JSONValue {
                try await Self.run(sl, "slack." + operation, arguments, vault: vault, store: store)
            }
            let posted = try await slack("post_message", ["channel": "C0RELEASES1", "text": "1.4 is out"])
            let ts = try #require(posted["ts"])
            _ = try await slack("update_message", ["channel": "C0RELEASES1", "ts": ts, "text": "1.4 is out!"])
            let channel = try await slack("create_channel", ["name": "launch-1-4"])
            let id = try #require(channel["channel"]?.stringValue)
            _ = try await slack("invite_to_channel", ["channel": .string(id), "users": ["U0BOB00001", "U0CARL0001"]])
            let shared = try await slack(
                "upload_file",
                ["channel": .string(id), "filename": "notes.md", "content": "# 1.4\n", "title": "Notes"]
            )
            #expect(shared["shared"] == true)
            _ = try await slack("archive_channel", ["channel": .string(id)])
            _ = try await slack("delete_message", ["channel": "C0RELEASES1", "ts": ts])

            // Every call carried a token the sandbox issued to the connected account.
            let calls = sandbox.received.filter { !$0.call.contains("/oauth") && !$0.call.contains("access_token") }
            #expect(calls.count >= 24)
            for call in calls where !call.call.contains("/upload/") {
                #expect(
                    call.credential.hasPrefix("dana's token") || call.credential.hasPrefix("U0DANA0001's token"),
                    "\(call.call): \(call.credential)"
                )
            }

            // The state is on disk: a restarted sandbox has it; no file holds a token.
            let reopened = try Sandbox(directory: directory)
            #expect(reopened.snapshot() == sandbox.snapshot())
            let state = reopened.snapshot()
            #expect(state["github"]?["repositories"]?["dana/old-prototype"] == nil)
            #expect(state["github"]?["repositories"]?["acme/app"]?["releases"] == ["v1.4.0"])
            #expect(state["slack"]?["channels"]?["C0RELEASES1"]?["messages"] == [])
            for name in ["state.json", "received.jsonl"] {
                let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
                #expect(!text.contains("ghu_") && !text.contains("ghr_") && !text.contains("xoxe"), "\(name)")
                #expect(!text.contains("sandbox-client-secret"))
                let mode = try FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.posixPermissions]
                #expect((mode as? Int) == 0o600)
            }
            let page = try await ConnectTests.browser.get(url: server + "/sandbox").get()
            let html = String(buffer: page.body ?? ByteBuffer())
            #expect(html.contains("Sandbox:") && html.contains("POST /sandbox/slack/api/chat.postMessage"))
        }
    }

    @Test("the sandboxes refuse what GitHub and Slack refuse, and anything of Countersign's besides the token")
    func refusals() async throws {
        try await serve { server, sandbox, vault, store in
            _ = try await Self.connect(.github, scopes: ["public_repo"], server: server, sandbox: sandbox, vault: vault)
            _ = try await Self.connect(.slack, scopes: ["chat:write"], server: server, sandbox: sandbox, vault: vault)
            func token(_ provider: String, _ scopes: [String]) async throws -> Secret {
                let request = try await VendTests.executingRequest(store, scopes: scopes)
                let context = ExecutionContext(
                    requestID: request.id,
                    principal: "ana@acme.test",
                    agent: "a",
                    tokens: vault
                )
                return try await vault.accessToken(provider: provider, account: nil, for: context).secret
            }
            let githubToken = try await token("github", ["public_repo"])
            let slackToken = try await token("slack", ["chat:write"])

            func github(
                _ method: HTTPMethod,
                _ path: String,
                _ body: String? = nil,
                drop: String? = nil,
                add: (String, String)? = nil
            ) async throws -> (UInt, String) {
                var request = HTTPClientRequest(url: Sandbox.apiURL(.github, server: server) + path)
                request.method = method
                var headers = [
                    ("Authorization", "Bearer \(githubToken.reveal())"), ("Accept", "application/vnd.github+json"),
                    ("X-GitHub-Api-Version", "2022-11-28"), ("User-Agent", "test"),
                    ("Content-Type", "application/json"),
                ]
                headers.removeAll { $0.0 == drop }
                if let add { headers.append(add) }
                for (name, value) in headers { request.headers.add(name: name, value: value) }
                if let body { request.body = .bytes(ByteBuffer(string: body)) }
                let response = try await ConnectTests.browser.execute(request, timeout: .seconds(10))
                return (response.status.code, String(buffer: try await response.body.collect(upTo: 1 << 20)))
            }
            let issue = #"{"title":"x"}"#
            #expect(try await github(.POST, "/repos/acme/website/issues", issue).0 == 201)
            #expect(
                try await github(.POST, "/repos/acme/website/issues", issue, add: ("X-Countersign-Request", "r")).0
                    == 400
            )
            #expect(
                try await github(.POST, "/repos/acme/website/issues", issue, add: ("Cookie", "__Host-countersign=s")).0
                    == 400
            )
            #expect(try await github(.POST, "/repos/acme/website/issues", issue, drop: "X-GitHub-Api-Version").0 == 400)
            #expect(try await github(.POST, "/repos/acme/website/issues", issue, drop: "User-Agent").0 == 403)
            #expect(try await github(.POST, "/repos/acme/website/issues", issue, drop: "Authorization").0 == 401)
            let unknown = try await github(.POST, "/repos/acme/website/issues", #"{"title":"x","labelz":[]}"#)
            #expect(unknown.0 == 422 && unknown.1.contains("is not a permitted key"))
            #expect(try await github(.POST, "/repos/acme/website/issues", #"{"body":"x"}"#).0 == 422)
            // public_repo reaches public repositories only: a private one is invisible (404).
            #expect(try await github(.POST, "/repos/acme/app/issues", issue).0 == 404)
            let delete = try await github(.DELETE, "/repos/acme/website")
            #expect(delete.0 == 403 && delete.1.contains("admin rights"))
            #expect(sandbox.snapshot()["github"]?["repositories"]?["acme/website"] != nil)

            func slack(
                _ method: String,
                _ body: String,
                contentType: String = "application/json; charset=utf-8"
            )
                async throws -> JSONValue
            {
                var request = HTTPClientRequest(url: Sandbox.apiURL(.slack, server: server) + "/" + method)
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(slackToken.reveal())")
                request.headers.add(name: "Content-Type", value: contentType)
                request.body = .bytes(ByteBuffer(string: body))
                let response = try await ConnectTests.browser.execute(request, timeout: .seconds(10))
                return try JSONParser().parse(Array(buffer: try await response.body.collect(upTo: 1 << 20)))
            }
            #expect(try await slack("chat.postMessage", #"{"channel":"C0RELEASES1","text":"hi"}"#)["ok"] == true)
            let scope = try await slack("conversations.create", #"{"name":"x"}"#)
            #expect(scope["error"] == "missing_scope" && scope["needed"] == "channels:manage,groups:write")
            #expect(
                try await slack(
                    "chat.postMessage",
                    #"{"channel":"C0RELEASES1","text":"hi"}"#,
                    contentType: "application/json"
                )[
                    "error"
                ] == "invalid_json"
            )
            #expect(
                try await slack("chat.postMessage", #"{"channel":"C0NOPE00001","text":"hi"}"#)["error"]
                    == "channel_not_found"
            )
            #expect(
                try await slack("chat.postMessage", #"{"channel":"C0RELEASES1","txt":"hi"}"#)["error"]
                    == "invalid_arguments"
            )

            // Presenting a rotated-away refresh token again revokes the grant, as Slack does.
            let connection = try #require(
                try await vault.connections(principal: "ana@acme.test").first { $0.provider == "slack" }
            )
            let (_, current) = try await vault.refreshToken(connectionID: connection.id)
            let oauth = try await vault.oauthClient(for: "slack")
            _ = try await oauth.refresh(current, scopes: nil)
            let reuse = await vaultError { _ = try await oauth.refresh(current, scopes: nil) }
            #expect(reuse?.code == .needsReconsent)
            #expect(
                try await slack("chat.postMessage", #"{"channel":"C0RELEASES1","text":"hi"}"#)["error"]
                    == "invalid_auth"
            )
        }
    }

    @Test(
        "Gmail, Calendar and the directory run against the Google sandbox: ID token account, narrowed tokens, Google's refusals"
    )
    func google() async throws {
        try await serve { server, sandbox, vault, store in
            let scopes = [
                "https://www.googleapis.com/auth/gmail.readonly",
                "https://www.googleapis.com/auth/gmail.compose", "https://www.googleapis.com/auth/gmail.send",
                "https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.settings.basic",
                "https://www.googleapis.com/auth/gmail.settings.sharing",
                "https://www.googleapis.com/auth/calendar.events",
                "https://www.googleapis.com/auth/directory.readonly",
            ]
            let account = try await Self.connect(
                .google,
                scopes: scopes,
                server: server,
                sandbox: sandbox,
                vault: vault
            )
            #expect(account.account == "dana@demo.countersign.local")
            #expect(try await vault.tokenSource(for: "google")?.narrowed == true)
            let connectors = [GoogleConnector.Service.gmail, .calendar].map { service in
                try! GoogleConnector(
                    service,
                    gmailURL: Sandbox.apiURL(.google, server: server),
                    calendarURL: Sandbox.calendarURL(server: server),
                    peopleURL: Sandbox.apiURL(.google, server: server),
                    sandbox: "Google sandbox"
                )
            }
            func run(_ operation: String, _ arguments: JSONValue) async throws -> JSONValue {
                let connector = connectors[operation.hasPrefix("gmail.") ? 0 : 1]
                return try await Self.run(connector, operation, arguments, vault: vault, store: store)
            }
            let draft = try await run(
                "gmail.create_draft",
                ["to": ["bob@demo.countersign.local"], "subject": "Notes", "body": "Draft."]
            )
            #expect(draft["draft"] != nil || draft["id"] != nil)
            let sent = try await run(
                "gmail.send_message",
                [
                    "to": ["bob@demo.countersign.local"], "cc": ["x@partner.example"], "subject": "1.4",
                    "body": "Shipped.",
                ]
            )
            let thread = try #require(sent["thread"] ?? sent["threadId"])
            _ = try await run(
                "gmail.reply",
                [
                    "to": ["bob@demo.countersign.local"], "thread_id": thread, "subject": "Re: 1.4", "body": "Thanks.",
                    "in_reply_to": "<CAF1-release@mail.demo.countersign.local>",
                ]
            )
            let welcome = try await run("gmail.read_message", ["message_id": "18c0000000000a1"])
            #expect(welcome["subject"] == "Welcome to the sandbox")
            #expect(welcome["text"]?.stringValue?.hasPrefix("Welcome.") == true)
            _ = try await run("gmail.trash_message", ["message_id": "18c0000000000a1"])
            _ = try await run(
                "gmail.create_filter",
                ["criteria": ["from": "noreply@ci.example"], "action": ["removeLabelIds": ["INBOX"]]]
            )
            // Forwarding goes only to a verified forwarding address, as at Google.
            _ = try await run(
                "gmail.create_filter",
                ["criteria": ["from": "boss@acme.test"], "action": ["forward": "archive@demo.countersign.local"]]
            )
            await #expect(throws: ConnectorError.self) {
                _ = try await run(
                    "gmail.create_filter",
                    ["criteria": ["from": "boss@acme.test"], "action": ["forward": "me@elsewhere.example"]]
                )
            }
            let start: JSONValue = ["dateTime": "2026-12-01T10:00:00+01:00"]
            let end: JSONValue = ["dateTime": "2026-12-01T10:30:00+01:00"]
            let event = try await run(
                "calendar.create_event",
                ["summary": "Release review", "start": start, "end": end, "attendees": ["bob@demo.countersign.local"]]
            )
            let id = try #require(event["event"] ?? event["id"])
            _ = try await run("calendar.update_event", ["event_id": id, "summary": "Release review (moved)"])
            _ = try await run("calendar.delete_event", ["event_id": id, "send_updates": "none"])
            // A deleted event is gone (410), mapped for the agent.
            await #expect(throws: ConnectorError.self) { _ = try await run("calendar.delete_event", ["event_id": id]) }

            let state = sandbox.snapshot()["google"]
            let messages = state?["messages"]?.arrayValue ?? []
            #expect(messages.contains { $0["subject"] == "1.4" && $0["labels"] == ["SENT"] })
            #expect(
                messages.contains {
                    $0["id"] == "18c0000000000a1" && $0["labels"]?.arrayValue?.contains("TRASH") == true
                }
            )
            #expect(state?["filters"] == 2 && state?["drafts"] == 1)
            #expect(state?["events"]?.arrayValue?.first?["status"] == "cancelled")

            // Blast radius against the sandbox directory, with a token for directory.readonly only.
            let request = try await VendTests.executingRequest(
                store,
                scopes: ["https://www.googleapis.com/auth/directory.readonly"]
            )
            let context = LookupContext(requestID: request.id, principal: "ana@acme.test", tokens: vault)
            let facts = try await connectors[0].blastRadius(
                OperationID("gmail.send_message")!,
                arguments: ["to": ["bob@demo.countersign.local", "x@partner.example"], "subject": "s", "body": "b"],
                context: context
            )
            #expect(
                facts.map(\.text) == [
                    "Google directory: 1 of 2 recipients are not in the organisation's directory (x@partner.example)"
                ]
            )
            let calls = sandbox.received.filter { $0.service == "google" && $0.call.contains("/gmail/") }
            #expect(calls.allSatisfy { $0.credential.hasPrefix("dana@demo.countersign.local's token") })
            // Each vend was narrowed to the operation's scope (Google narrows on refresh).
            #expect(calls.contains { $0.credential.hasSuffix("for https://www.googleapis.com/auth/gmail.send") })
        }
    }
}
