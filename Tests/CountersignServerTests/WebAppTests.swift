import Countersign
import CountersignAgent
import CountersignConnectors
import CountersignStore
import CountersignVault
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CountersignServer

/// The web app through the real router: sessions, CSRF, cross-site refusal, rate limits and the
/// headers every page carries. (The pages themselves are driven in Chromium by Tests/web.)
@Suite("Web app")
struct WebAppTests {
    static let password = "correct horse battery staple"

    func withApp(
        more: [any Connector] = [],
        _ body: @Sendable (any TestClientProtocol, AgentAPITests) async throws -> Void
    ) async throws {
        let api = try await AgentAPITests(policyYAML: Policy.defaultYAML, more: more)
        try await Self.addApprover(api)
        let context = try api.webContext()
        let app = Application(router: buildRouter(context))
        try await app.test(.router) { client in try await body(client, api) }
    }

    /// Adds bob, an approver with a password and no authenticator.
    static func addApprover(_ api: AgentAPITests) async throws {
        try await api.store.createUser(
            User(
                email: "bob@acme.test",
                role: .approver,
                passwordHash: Password.hash(Secret(password), cost: 4),
                createdAt: Date()
            ),
            actor: "test"
        )
    }

    static func cookie(_ name: String, in response: TestResponse) -> String? {
        for value in response.headers[values: .setCookie] where value.hasPrefix(name + "=") {
            return String(value.dropFirst(name.count + 1).prefix { $0 != ";" })
        }
        return nil
    }

    /// Signs bob in and returns the session cookie's value.
    func signIn(
        _ client: some TestClientProtocol,
        password: String = password,
        next: String = "%2Finbox"
    ) async throws -> TestResponse {
        let page = try await client.execute(uri: "/sign-in", method: .get)
        let browser = try #require(Self.cookie("__Host-countersign-signin", in: page))
        let form =
            "csrf=\(browser)&email=bob%40acme.test&password=\(password.replacingOccurrences(of: " ", with: "+"))&next=\(next)"
        return try await client.execute(
            uri: "/sign-in",
            method: .post,
            headers: [
                .cookie: "__Host-countersign-signin=\(browser)",
                .contentType: "application/x-www-form-urlencoded",
            ],
            body: ByteBuffer(string: form)
        )
    }

    /// Posts a form, URL-encoded, with the session's cookie and CSRF token.
    static func postForm(
        _ client: some TestClientProtocol,
        _ uri: String,
        _ form: [(String, String)],
        cookie: HTTPFields,
        csrf: String
    ) async throws -> TestResponse {
        var headers = cookie
        headers[.contentType] = "application/x-www-form-urlencoded"
        let body = form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }
        return try await client.execute(
            uri: uri,
            method: .post,
            headers: headers,
            body: ByteBuffer(string: (body + ["csrf=\(csrf)"]).joined(separator: "&"))
        )
    }

    static func csrf(in page: TestResponse) -> String? {
        let html = String(buffer: page.body)
        guard let range = html.range(of: #"name="csrf" value=""#) else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    @Test("sign-in sets a __Host- session cookie; pages need it and carry the security headers")
    func signInAndHeaders() async throws {
        try await withApp { client, _ in
            let anonymous = try await client.execute(uri: "/inbox", method: .get)
            #expect(anonymous.status == .seeOther && anonymous.headers[.location] == "/sign-in?next=%2Finbox")

            let signedIn = try await signIn(client)
            #expect(signedIn.status == .seeOther && signedIn.headers[.location] == "/inbox")
            let setCookie = try #require(
                signedIn.headers[values: .setCookie].first { $0.hasPrefix("__Host-countersign=") }
            )
            for attribute in ["Path=/", "HttpOnly", "SameSite=Strict", "Secure"] {
                #expect(setCookie.contains(attribute), "\(attribute)")
            }
            let session = try #require(Self.cookie("__Host-countersign", in: signedIn))
            let inbox = try await client.execute(
                uri: "/inbox",
                method: .get,
                headers: [.cookie: "__Host-countersign=\(session)"]
            )
            #expect(inbox.status == .ok && String(buffer: inbox.body).contains("Waiting for a decision"))
            #expect(inbox.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
            #expect(inbox.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            #expect(inbox.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            #expect(inbox.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")

            // A forged cookie (right id, wrong secret) is no session.
            let forged = session.prefix { $0 != "." } + "." + String(repeating: "0", count: 64)
            let refused = try await client.execute(
                uri: "/inbox",
                method: .get,
                headers: [.cookie: "__Host-countersign=\(forged)"]
            )
            #expect(refused.status == .seeOther)
        }
    }

    @Test("an approval needs the session's CSRF token and a same-site request; then it is recorded")
    func csrfAndCrossSite() async throws {
        try await withApp { client, api in
            let held = try await api.holdWrite(client)
            let id = try #require(held["id"]?.stringValue)
            let digest = try #require(held["digest"]?.stringValue)
            let session = try #require(Self.cookie("__Host-countersign", in: try await signIn(client)))
            let cookie: HTTPFields = [.cookie: "__Host-countersign=\(session)"]
            let page = try await client.execute(uri: "/approvals/\(id)", method: .get, headers: cookie)
            let csrf = try #require(Self.csrf(in: page))
            #expect(String(buffer: page.body).contains(digest))

            func post(_ form: String, crossSite: Bool = false) async throws -> TestResponse {
                var headers = cookie
                headers[.contentType] = "application/x-www-form-urlencoded"
                if crossSite { headers[HTTPField.Name("Sec-Fetch-Site")!] = "cross-site" }
                return try await client.execute(
                    uri: "/approvals/\(id)/approve",
                    method: .post,
                    headers: headers,
                    body: ByteBuffer(string: form)
                )
            }
            #expect(try await post("digest=\(digest)").status == .forbidden)
            #expect(try await post("digest=\(digest)&csrf=\(String(repeating: "a", count: 64))").status == .forbidden)
            #expect(try await post("digest=\(digest)&csrf=\(csrf)", crossSite: true).status == .forbidden)
            #expect(try await api.requests.request(id: id)?.state == .pending)

            let approved = try await post("digest=\(digest)&csrf=\(csrf)")
            #expect(approved.status == .seeOther)
            #expect(try await api.requests.request(id: id)?.state == .approved)
            let decision = try #require(try await api.requests.decisions(for: id).first)
            #expect(decision.approver == "bob@acme.test" && decision.authentication.method == .password)
        }
    }

    @Test("after five failed sign-ins for an account, even the right password is refused for a while")
    func signInRateLimit() async throws {
        try await withApp { client, api in
            for _ in 0..<5 {
                let refused = try await signIn(client, password: "wrong password here", next: "%2Fhistory")
                #expect(refused.status == .unauthorized)
                // The form asked again still goes where the approver was headed.
                #expect(String(buffer: refused.body).contains(#"name="next" value="/history""#))
            }
            #expect(try await signIn(client).status == .tooManyRequests)
            let events = try await api.store.auditEntries(after: 0, limit: 1000)
            #expect(!events.contains { String(decoding: $0.body, as: UTF8.self).contains("signed_in") })
        }
    }

    @Test("sessions end when idle or too old; a new sign-in replaces the browser's session")
    func sessionLifetime() async throws {
        let start = Date(timeIntervalSince1970: 1_900_000_000)
        let session = WebSession(
            id: "s",
            secretHash: Array(repeating: 1, count: 32),
            email: "bob@acme.test",
            createdAt: start,
            lastSeenAt: start,
            authentication: AuthenticationRecord(method: .password, authTime: start)
        )
        #expect(session.isLive(at: start.addingTimeInterval(60)))
        #expect(!session.isLive(at: start.addingTimeInterval(WebSession.idleTimeout + 1)))
        var busy = session
        busy.lastSeenAt = start.addingTimeInterval(WebSession.absoluteTimeout - 10)
        #expect(!busy.isLive(at: start.addingTimeInterval(WebSession.absoluteTimeout + 1)))

        try await withApp { client, api in
            let first = try #require(Self.cookie("__Host-countersign", in: try await signIn(client)))
            let firstID = String(first.prefix { $0 != "." })
            let page = try await client.execute(uri: "/sign-in", method: .get)
            let browser = try #require(Self.cookie("__Host-countersign-signin", in: page))
            let again = try await client.execute(
                uri: "/sign-in",
                method: .post,
                headers: [
                    .cookie: "__Host-countersign-signin=\(browser); __Host-countersign=\(first)",
                    .contentType: "application/x-www-form-urlencoded",
                ],
                body: ByteBuffer(string: "csrf=\(browser)&email=bob%40acme.test&password=correct+horse+battery+staple")
            )
            let second = try #require(Self.cookie("__Host-countersign", in: again))
            #expect(second != first)
            #expect(try await api.store.session(id: firstID) == nil)
        }
    }

    @Test("the payload is escaped everywhere and long values are folded, not cut")
    func payloadHTML() {
        let long = String(repeating: "x", count: 500)
        let html = PayloadHTML.render(["to": ["<script>alert(1)</script>"], "body": .string(long), "n": 1])
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"))
        #expect(html.contains("<details><summary>… 342 more characters</summary>"))
        #expect(
            html.replacingOccurrences(of: #"<details><summary>… 342 more characters</summary>"#, with: "").contains(
                long
            )
        )
    }

    @Test("an edit is validated, rated again never lower, bound to a new digest, and shown to the agent")
    func editBeforeApproval() async throws {
        try await withApp { client, api in
            let held = try await api.holdWrite(client, path: "draft.md")
            let id = try #require(held["id"]?.stringValue)
            let digest = try #require(held["digest"]?.stringValue)
            let session = try #require(Self.cookie("__Host-countersign", in: try await signIn(client)))
            let cookie: HTTPFields = [.cookie: "__Host-countersign=\(session)"]
            let page = try await client.execute(uri: "/approvals/\(id)", method: .get, headers: cookie)
            let csrf = try #require(Self.csrf(in: page))
            func post(_ path: String, _ form: [(String, String)]) async throws -> TestResponse {
                try await Self.postForm(client, "/approvals/\(id)/\(path)", form, cookie: cookie, csrf: csrf)
            }
            // The schema refuses it: nothing changes.
            let invalid = try await post("edit", [("digest", digest), ("arguments", #"{"path":"x.md"}"#)])
            #expect(invalid.status == .unprocessableContent)
            #expect(try await api.requests.request(id: id)?.digest.description == digest)
            // A stale digest is refused.
            let stale = try await post(
                "edit",
                [
                    ("digest", "sha256:" + String(repeating: "0", count: 64)),
                    ("arguments", #"{"path":"a.md","content":"y"}"#),
                ]
            )
            #expect(stale.status == .conflict)

            // A plain edit keeps the level and says it was edited.
            let edited = try await post(
                "edit",
                [("digest", digest), ("arguments", #"{"path":"final.md","content":"done"}"#)]
            )
            #expect(edited.status == .seeOther)
            let stored = try #require(try await api.requests.request(id: id))
            #expect(stored.digest.description != digest && stored.isPayloadIntact)
            #expect(stored.assessment.level >= .medium && stored.action.arguments["path"] == "final.md")
            #expect(stored.assessment.reasons.contains { $0.name == "edited" })
            let shown = String(
                buffer: try await client.execute(uri: "/approvals/\(id)", method: .get, headers: cookie).body
            )
            #expect(shown.contains("Edited by bob@acme.test") && shown.contains("/content") && shown.contains("/path"))

            // The approval binds to the new digest: the old one is refused.
            #expect(try await post("approve", [("digest", digest)]).status == .conflict)
            #expect(try await post("approve", [("digest", stored.digest.description)]).status == .seeOther)
            // Edits stop once there are approvals.
            #expect(
                try await post("edit", [("digest", stored.digest.description), ("arguments", "{}")]).status != .seeOther
            )

            // An edit that makes it riskier raises the level: a credential file is High.
            let other = try await api.holdWrite(client, path: "notes.md")
            let otherID = try #require(other["id"]?.stringValue)
            let raised = try await client.execute(
                uri: "/approvals/\(otherID)/edit",
                method: .post,
                headers: [.cookie: "__Host-countersign=\(session)", .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(
                    string: "csrf=\(csrf)&digest=\(try #require(other["digest"]?.stringValue))&arguments="
                        + #"{"path":".env","content":"x"}"#.addingPercentEncoding(
                            withAllowedCharacters: .alphanumerics
                        )!
                )
            )
            #expect(raised.status == .seeOther)
            let raisedRequest = try #require(try await api.requests.request(id: otherID))
            #expect(raisedRequest.assessment.level == .high && raisedRequest.assessment.requirements.confirmText != nil)

            let agentView = try await client.execute(uri: "/v1/actions/\(id)", method: .get, headers: api.headers())
            let body = try api.json(agentView)
            #expect(body["edited"]?["changed"] == ["/content", "/path"])
            #expect(body["edited"]?["originalArguments"]?["path"] == "draft.md")
            let audit = try await api.store.auditEntries(forRequest: id)
            #expect(audit.contains { String(decoding: $0.body, as: UTF8.self).contains("action.edited") })

            // Approvers using the API (and the CLI on it) see the edit too.
            let token = APIKey.generate(.personal)
            try await api.store.createToken(
                PersonalToken(id: token.id, email: "bob@acme.test", hash: token.hash, createdAt: Date()),
                actor: "test"
            )
            let approval = try await client.execute(
                uri: "/v1/approvals/\(id)",
                method: .get,
                headers: [.authorization: "Bearer \(token.secret.reveal())"]
            )
            #expect(try api.json(approval)["edited"]?["by"] == "bob@acme.test")
        }
    }

    @Test("a run's page shows its plan; its Low and Medium steps are approved together, High and Critical never")
    func runBatchApproval() async throws {
        try await withApp { client, api in
            let engine = RunEngine(runs: api.store, requests: api.requests, gateway: api.gateway)
            let run = try await engine.start(
                goal: "Tidy the notes",
                principal: "ana@acme.test",
                agent: "planner",
                planner: try PlanFile(
                    text: """
                        steps:
                          - operation: files.write
                            arguments: { path: a.md, content: "one" }
                            rationale: Write the first note
                          - operation: files.write
                            arguments: { path: b.md, content: "two" }
                            rationale: Write the second note
                          - operation: shell.run
                            arguments: { program: rm, arguments: ["-rf", "old"] }
                            rationale: Remove the old notes
                        """
                )
            )
            #expect(run.steps.map(\.state) == [.proposed, .proposed, .proposed])
            let ids = run.steps.compactMap(\.requestID)
            let session = try #require(Self.cookie("__Host-countersign", in: try await signIn(client)))
            let cookie: HTTPFields = [.cookie: "__Host-countersign=\(session)"]
            let list = try await client.execute(uri: "/runs", method: .get, headers: cookie)
            #expect(String(buffer: list.body).contains("Tidy the notes"))
            let page = try await client.execute(uri: "/runs/\(run.id)", method: .get, headers: cookie)
            let html = String(buffer: page.body)
            #expect(page.status == .ok)
            // The two writes are ticked for the batch with their digests; the Critical step is not.
            let first = try #require(try await api.requests.request(id: ids[0]))
            #expect(html.contains(#"name="approve-\#(ids[0])" value="\#(first.digest)""#))
            #expect(html.contains("approve-\(ids[1])"))
            #expect(!html.contains("approve-\(ids[2])"))
            #expect(html.contains("Decide on its page"))
            #expect(html.contains("Write the first note"))
            let csrf = try #require(Self.csrf(in: page))
            func post(_ form: [(String, String)]) async throws -> TestResponse {
                try await Self.postForm(client, "/runs/\(run.id)/approve", form, cookie: cookie, csrf: csrf)
            }
            let critical = try #require(try await api.requests.request(id: ids[2]))
            // A Critical step slipped into the batch refuses the whole batch.
            let refused = try await post([
                ("approve-\(ids[0])", first.digest.description), ("approve-\(ids[2])", critical.digest.description),
            ])
            #expect(refused.status == .forbidden)
            #expect(try await api.requests.request(id: ids[0])?.state == .pending)
            // A request of another run (or none) is refused too.
            let other = try await api.holdWrite(client, path: "c.md")
            let stranger = try #require(other["id"]?.stringValue)
            #expect(try await post([("approve-\(stranger)", other["digest"]?.stringValue ?? "")]).status == .badRequest)
            // A stale digest is refused for its step; the other is approved.
            let second = try #require(try await api.requests.request(id: ids[1]))
            let mixed = try await post([
                ("approve-\(ids[0])", first.digest.description),
                ("approve-\(ids[1])", "sha256:" + String(repeating: "0", count: 64)),
            ])
            #expect(mixed.status == .conflict)
            #expect(String(buffer: mixed.body).contains("Approved step 0."))
            #expect(try await api.requests.request(id: ids[0])?.state == .approved)
            #expect(try await api.requests.request(id: ids[1])?.state == .pending)
            let done = try await post([("approve-\(ids[1])", second.digest.description)])
            #expect(done.status == .ok)
            #expect(try await api.requests.request(id: ids[1])?.state == .approved)
            #expect(try await api.requests.request(id: ids[2])?.state == .pending)
            // The request page links back to its run.
            let step = try await client.execute(uri: "/approvals/\(ids[2])", method: .get, headers: cookie)
            #expect(String(buffer: step.body).contains("/runs/\(run.id)"))
        }
    }

    @Test("changes between arguments are named by JSON Pointer")
    func changedPaths() {
        #expect(
            RequestEdit.changes(from: ["a": 1, "b": ["c": 2]], to: ["a": 1, "b": ["c": 3], "d": true]) == [
                "/b/c", "/d",
            ]
        )
        #expect(RequestEdit.changes(from: ["to": ["x"]], to: ["to": ["x", "y"]]) == ["/to"])
        #expect(RequestEdit.changes(from: ["a/b": 1], to: [:]) == ["/a~1b"])
        #expect(RequestEdit.changes(from: 1, to: 2) == ["/"])
    }

    @Test("only an admin creates and revokes agents; the key is shown once; the audit page verifies the log")
    func agentsAndAudit() async throws {
        try await withApp { client, api in
            let session = try #require(Self.cookie("__Host-countersign", in: try await signIn(client)))
            var headers: HTTPFields = [.cookie: "__Host-countersign=\(session)"]
            let page = try await client.execute(uri: "/agents", method: .get, headers: headers)
            #expect(page.status == .ok && String(buffer: page.body).contains("planner"))
            #expect(!String(buffer: page.body).contains("New agent"))
            let csrf = try #require(Self.csrf(in: page))
            headers[.contentType] = "application/x-www-form-urlencoded"
            let refused = try await client.execute(
                uri: "/agents",
                method: .post,
                headers: headers,
                body: ByteBuffer(string: "csrf=\(csrf)&name=sneaky")
            )
            #expect(refused.status == .forbidden)

            try await api.store.createUser(
                User(
                    email: "root@acme.test",
                    role: .admin,
                    passwordHash: Password.hash(Secret(Self.password), cost: 4),
                    createdAt: Date()
                ),
                actor: "test"
            )
            let signInPage = try await client.execute(uri: "/sign-in", method: .get)
            let browser = try #require(Self.cookie("__Host-countersign-signin", in: signInPage))
            let admin = try await client.execute(
                uri: "/sign-in",
                method: .post,
                headers: [
                    .cookie: "__Host-countersign-signin=\(browser)", .contentType: "application/x-www-form-urlencoded",
                ],
                body: ByteBuffer(string: "csrf=\(browser)&email=root%40acme.test&password=correct+horse+battery+staple")
            )
            let adminCookie: HTTPFields = [
                .cookie: "__Host-countersign=\(try #require(Self.cookie("__Host-countersign", in: admin)))",
                .contentType: "application/x-www-form-urlencoded",
            ]
            let adminPage = try await client.execute(uri: "/agents", method: .get, headers: adminCookie)
            let adminCSRF = try #require(Self.csrf(in: adminPage))
            let created = try await client.execute(
                uri: "/agents",
                method: .post,
                headers: adminCookie,
                body: ByteBuffer(string: "csrf=\(adminCSRF)&name=web-bot")
            )
            let html = String(buffer: created.body)
            let key = try #require(html.firstMatch(of: /csk_[0-9a-f_]+/).map { String($0.output) })
            #expect(try await api.store.authenticate(key: key)?.name == "web-bot")
            // Shown once: the list afterwards does not hold it.
            #expect(
                !String(buffer: try await client.execute(uri: "/agents", method: .get, headers: adminCookie).body)
                    .contains(key)
            )
            let revoked = try await client.execute(
                uri: "/agents/web-bot/revoke",
                method: .post,
                headers: adminCookie,
                body: ByteBuffer(string: "csrf=\(adminCSRF)")
            )
            #expect(revoked.status == .seeOther)
            #expect(try await api.store.authenticate(key: key) == nil)

            let audit = try await client.execute(uri: "/audit?actor=user:root", method: .get, headers: adminCookie)
            let auditHTML = String(buffer: audit.body)
            #expect(audit.status == .ok && auditHTML.contains("Intact:") && auditHTML.contains("agent.changed"))
            #expect(!auditHTML.contains(key))
        }
    }

    @Test("connecting an account from the web starts the vault's flow for the approver's own account")
    func connectFromWeb() async throws {
        try await withApp { client, api in
            try await api.vault.setProviderClient(
                provider: "github",
                clientID: "Iv1.test",
                clientSecret: Secret("s3cr3t-client"),
                redirectURI: "http://127.0.0.1:8787/oauth/callback",
                actor: "test"
            )
            let session = try #require(Self.cookie("__Host-countersign", in: try await signIn(client)))
            var headers: HTTPFields = [.cookie: "__Host-countersign=\(session)"]
            let page = try await client.execute(uri: "/connections", method: .get, headers: headers)
            #expect(page.status == .ok && String(buffer: page.body).contains("No connected accounts"))
            #expect(String(buffer: page.body).contains("<option>github</option>"))
            headers[.contentType] = "application/x-www-form-urlencoded"
            let started = try await client.execute(
                uri: "/connections/connect",
                method: .post,
                headers: headers,
                body: ByteBuffer(
                    string: "csrf=\(try #require(Self.csrf(in: page)))&provider=github&scopes=repo+read%3Auser"
                )
            )
            #expect(started.status == .seeOther)
            #expect(started.headers[.location]?.contains("/oauth/start?flow=flow_") == true)
        }
    }

    @Test("an operation run against a sandbox says so in the catalog, both APIs, the audit and the inbox")
    func sandboxLabels() async throws {
        let slack = try SlackConnector(baseURL: "http://127.0.0.1:9/api", sandbox: "Slack sandbox")
        try await withApp(more: [slack]) { client, api in
            let catalog = try api.json(
                try await client.execute(uri: "/v1/catalog", method: .get, headers: api.headers())
            )
            let post = try #require(
                catalog["operations"]?.arrayValue?.first { $0["operation"] == "slack.post_message" }
            )
            #expect(post["sandbox"] == "Slack sandbox")
            #expect(post["summary"]?.stringValue?.hasPrefix("[Slack sandbox] ") == true)
            #expect(catalog["operations"]?.arrayValue?.first { $0["operation"] == "files.read" }?["sandbox"] == nil)

            let proposed = try api.json(
                try await api.propose(
                    client,
                    ##"{"operation":"slack.post_message","arguments":{"channel":"#releases","text":"1.4 is out"},"onBehalfOf":"ana@acme.test"}"##
                )
            )
            let id = try #require(proposed["id"]?.stringValue)
            #expect(proposed["sandbox"] == "Slack sandbox")
            #expect(proposed["impact"]?.stringValue?.hasPrefix("In the Slack sandbox, not the real service: ") == true)
            let audit = try await api.store.auditEntries(forRequest: id).map {
                String(decoding: $0.body, as: UTF8.self)
            }
            #expect(audit.contains { $0.contains(#""kind":"action.proposed""#) && $0.contains("In the Slack sandbox") })

            let token = APIKey.generate(.personal)
            try await api.store.createToken(
                PersonalToken(id: token.id, email: "bob@acme.test", hash: token.hash, createdAt: Date()),
                actor: "test"
            )
            let approval = try api.json(
                try await client.execute(
                    uri: "/v1/approvals/\(id)",
                    method: .get,
                    headers: [.authorization: "Bearer \(token.secret.reveal())"]
                )
            )
            #expect(approval["sandbox"] == "Slack sandbox")

            let session = try #require(Self.cookie("__Host-countersign", in: try await signIn(client)))
            let inbox = try await client.execute(
                uri: "/inbox",
                method: .get,
                headers: [.cookie: "__Host-countersign=\(session)"]
            )
            let html = String(buffer: inbox.body)
            #expect(html.contains(#"slack.post_message</a> <span class="badge sandbox""#))
            #expect(html.contains(">Slack sandbox</span>"))
        }
    }
}
