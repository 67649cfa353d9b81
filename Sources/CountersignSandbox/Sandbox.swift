public import Countersign
import CountersignVault
import Crypto
public import Foundation
public import Hummingbird
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The sandbox providers that ship with Countersign: GitHub and Slack as local HTTP services that
/// speak the same endpoints with the same request validation, keep their state in the data
/// directory (`sandbox/state.json`) and show what they received (`sandbox/received.jsonl`, and the
/// page at `/sandbox`).
///
/// Each has an OAuth 2.0 authorization server in its provider's dialect (GitHub: form in, JSON out
/// when asked, errors with HTTP 200, comma-separated scopes, rotating `ghr_` refresh tokens; Slack:
/// `oauth.v2.access` with HTTP Basic client authentication and the user token under `authed_user`),
/// so the vault connects and vends exactly as with the real services. Every API call must carry a
/// live token the sandbox issued, as a bearer, with the scopes the real API wants, and nothing
/// else of Countersign's (no cookie, no `X-Countersign-*` header).
///
/// Consent is given for the sandbox's own account (`dana` at GitHub, `U0DANA0001` at Slack); the
/// sandbox is never mistaken for the real service: its operations, connections and audit entries
/// are labelled "sandbox".
public final class Sandbox: Sendable {
    /// A sandboxed service.
    public enum Service: String, Sendable, CaseIterable {
        case github
        case slack
        case google

        /// What people call it, labelled.
        public var displayName: String {
            switch self {
            case .github: "GitHub sandbox"
            case .slack: "Slack sandbox"
            case .google: "Google sandbox"
            }
        }
    }

    /// One call the sandbox received, as the page and `received.jsonl` show it.
    public struct Received: Sendable, Hashable {
        /// When it arrived.
        public let at: Date
        /// The service it was for.
        public let service: String
        /// `POST /repos/acme/app/issues`.
        public let call: String
        /// The status answered.
        public let status: Int
        /// Whose token it carried (account, scopes and the token's digest prefix), or why none counted.
        public let credential: String
        /// The arguments received, secret-named members redacted and long texts cut.
        public let arguments: JSONValue

        var json: JSONValue {
            [
                "at": .string(Timestamp.string(at)), "service": .string(service), "call": .string(call),
                "status": .number(Double(status)), "credential": .string(credential), "arguments": arguments,
            ]
        }
    }

    let world: Mutex<SandboxWorld>
    private let log: Mutex<[Received]>
    /// The directory the sandbox keeps its state in.
    public let directory: URL

    /// The account the sandbox GitHub grants consent for.
    public static let githubAccount = "dana"
    /// The Slack user the sandbox grants consent for.
    public static let slackUser = "U0DANA0001"
    /// The Google account the sandbox grants consent for.
    public static let googleAccount = "dana@demo.countersign.local"

    /// Opens the sandbox in `directory`, creating its seeded state on first use.
    ///
    /// - Parameter directory: Where `state.json` and `received.jsonl` live (created, mode 0700).
    /// - Throws: When the directory cannot be created or the state file is unreadable.
    public init(directory: String) throws {
        self.directory = URL(filePath: directory)
        try FileManager.default.createDirectory(
            at: self.directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let stateURL = self.directory.appending(path: "state.json")
        if FileManager.default.fileExists(atPath: stateURL.path) {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .secondsSince1970
            world = Mutex(try decoder.decode(SandboxWorld.self, from: Data(contentsOf: stateURL)))
        } else {
            world = Mutex(SandboxWorld())
        }
        log = Mutex([])
        try world.withLock { try Self.save($0, to: stateURL) }
    }

    /// Registers Countersign's client with a service's authorization server.
    public func register(_ service: Service, clientID: String, clientSecret: Secret, redirectURI: String) throws {
        try mutate { world in
            world.clients[service.rawValue] = SandboxWorld.Client(
                id: clientID,
                secretSHA256: Self.digest(clientSecret.reveal()),
                redirectURI: redirectURI
            )
        }
    }

    /// The OAuth endpoints of a service on `server`, as `providers set --endpoint` takes them.
    public static func endpoints(_ service: Service, server: String) -> [String: String] {
        switch service {
        case .github:
            [
                "authorization": server + "/sandbox/github/login/oauth/authorize",
                "token": server + "/sandbox/github/login/oauth/access_token",
                "revocation": server + "/sandbox/github/api/applications/{client_id}/grant",
                "account": server + "/sandbox/github/api/user",
            ]
        case .slack:
            [
                "authorization": server + "/sandbox/slack/oauth/v2/authorize",
                "token": server + "/sandbox/slack/api/oauth.v2.access",
                "revocation": server + "/sandbox/slack/api/auth.revoke",
            ]
        case .google:
            [
                "authorization": server + "/sandbox/google/o/oauth2/v2/auth", "token": server + "/sandbox/google/token",
                "revocation": server + "/sandbox/google/revoke", "issuer": server + "/sandbox/google",
            ]
        }
    }

    /// The API base URL a connector is configured with (for Google: Gmail's and the People API's;
    /// Calendar's is ``calendarURL(server:)``).
    public static func apiURL(_ service: Service, server: String) -> String {
        service == .google ? "\(server)/sandbox/google" : "\(server)/sandbox/\(service.rawValue)/api"
    }

    /// The Google sandbox's Calendar API base URL.
    public static func calendarURL(server: String) -> String { "\(server)/sandbox/google/calendar/v3" }

    /// What the sandbox received, oldest first (the last 500 calls).
    public var received: [Received] { log.withLock { $0 } }

    /// The sandbox's state as JSON (repositories, issues, channels, messages), without its secrets.
    public func snapshot() -> JSONValue {
        world.withLock { world in
            var repositories: [String: JSONValue] = [:]
            for (name, repository) in world.github.repositories {
                repositories[name] = [
                    "private": .bool(repository.isPrivate), "archived": .bool(repository.archived),
                    "branches": .array(repository.branches.keys.sorted().map(JSONValue.string)),
                    "issues": .array(
                        repository.issues.map {
                            [
                                "number": .number(Double($0.number)), "title": .string($0.title),
                                "state": .string($0.state), "comments": .number(Double($0.comments.count)),
                            ]
                        }
                    ),
                    "pulls": .array(
                        repository.pulls.map {
                            [
                                "number": .number(Double($0.number)), "state": .string($0.state),
                                "merged": .bool($0.merged),
                            ]
                        }
                    ),
                    "releases": .array(repository.releases.map { .string($0.tag) }),
                    "collaborators": .object(repository.collaborators.mapValues(JSONValue.string)),
                ]
            }
            var channels: [String: JSONValue] = [:]
            for channel in world.slack.channels.values {
                channels[channel.id] = [
                    "name": .string(channel.name), "archived": .bool(channel.archived),
                    "members": .number(Double(channel.members.count + channel.otherMembers)),
                    "messages": .array(
                        channel.messages.map {
                            ["ts": .string($0.ts), "user": .string($0.user), "text": .string($0.text)]
                        }
                    ),
                ]
            }
            let google = world.google
            let messages = google.messages.values.sorted { $0.id < $1.id }.map { message -> JSONValue in
                [
                    "id": .string(message.id), "labels": .array(message.labels.map(JSONValue.string)),
                    "to": .array(message.to.map(JSONValue.string)), "subject": .string(message.subject),
                ]
            }
            let events = google.events.values.sorted { $0.id < $1.id }.map { event -> JSONValue in
                [
                    "id": .string(event.id), "summary": event.summary.map(JSONValue.string) ?? .null,
                    "status": .string(event.status), "attendees": .array(event.attendees.map(JSONValue.string)),
                ]
            }
            return [
                "github": ["repositories": .object(repositories)], "slack": ["channels": .object(channels)],
                "google": [
                    "messages": .array(messages), "events": .array(events),
                    "filters": .number(Double(google.filters.count)), "drafts": .number(Double(google.drafts.count)),
                ],
            ]
        }
    }

    /// Adds the sandbox's routes under `/sandbox/` to a router.
    public func add<Context: RequestContext>(to router: Router<Context>) {
        router.get("/sandbox") { request, _ in self.page(request) }
        router.get("/sandbox/view/**") { request, _ in self.page(request) }
        router.get("/sandbox/github/login/oauth/authorize") { request, _ in self.authorize(request, .github) }
        router.post("/sandbox/github/login/oauth/access_token") { request, context in
            try await self.handle(request, .github, context: context) { call in try self.githubToken(call) }
        }
        router.get("/sandbox/slack/oauth/v2/authorize") { request, _ in self.authorize(request, .slack) }
        router.get("/sandbox/google/o/oauth2/v2/auth") { request, _ in self.authorize(request, .google) }
        router.post("/sandbox/google/token") { request, context in
            try await self.handle(request, .google, context: context) { call in try self.googleToken(call) }
        }
        addGitHub(to: router)
        addSlack(to: router)
        addGoogle(to: router)
    }

    // MARK: Calls

    /// A call as the handlers see it: its parts, the body read, and the token it carried.
    struct Call {
        let request: Request
        let body: [UInt8]
        let service: Service
        /// The bearer token's digest, when the call carried one.
        let tokenSHA256: String?
        /// Parameters from the path.
        let parameters: [String: String]
        /// The path's tail for `**` routes.
        let tail: String

        var query: [String: String] {
            var query: [String: String] = [:]
            for (name, value) in request.uri.queryParameters where query[String(name)] == nil {
                query[String(name)] = String(value)
            }
            return query
        }

        var form: [String: String]? {
            guard request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true else {
                return nil
            }
            return FormEncoding.fields(String(decoding: body, as: UTF8.self))
        }

        var json: JSONValue? { try? JSONParser().parse(body) }

        /// The form as the log shows it: codes, verifiers, secrets and refresh tokens redacted.
        var shownForm: JSONValue {
            var shown = form ?? [:]
            for key in ["client_secret", "code", "code_verifier", "refresh_token"] where shown[key] != nil {
                shown[key] = "[redacted]"
            }
            return .object(shown.mapValues(JSONValue.string))
        }

        /// A client's id and secret from HTTP Basic authentication, if the call carries them.
        var basicCredentials: (id: String, secret: String)? {
            guard let header = request.headers[.authorization], header.hasPrefix("Basic "),
                let data = Data(base64Encoded: String(header.dropFirst(6)))
            else { return nil }
            let decoded = String(decoding: data, as: UTF8.self)
            guard let colon = decoded.firstIndex(of: ":") else { return nil }
            return (
                String(decoded[..<colon]).removingPercentEncoding ?? "",
                String(decoded[decoded.index(after: colon)...]).removingPercentEncoding ?? ""
            )
        }

        /// The server's own address, for the URLs the sandbox hands back.
        var origin: String { "http://\(request.head.authority ?? "127.0.0.1")" }
    }

    /// A handler's answer, and the arguments to show in the log.
    struct Answer {
        var status: Int
        var headers: HTTPFields = [:]
        var body: JSONValue?
        var text: String?
        var shown: JSONValue = .null
    }

    /// Reads the call, runs `handler`, records what was received and answers.
    func handle<Context: RequestContext>(
        _ request: Request,
        _ service: Service,
        context: Context,
        _ handler: (Call) throws -> Answer
    ) async throws -> Response {
        var request = request
        let body = Array(buffer: try await request.collectBody(upTo: 16 << 20))
        var bearer: String?
        if let authorization = request.headers[.authorization] {
            for prefix in ["Bearer ", "bearer ", "token "] where authorization.hasPrefix(prefix) {
                bearer = String(authorization.dropFirst(prefix.count))
            }
        }
        var parameters: [String: String] = [:]
        var tail = ""
        for (name, value) in context.parameters { parameters[String(name)] = String(value) }
        tail = context.parameters.getCatchAll().joined(separator: "/")
        let call = Call(
            request: request,
            body: body,
            service: service,
            tokenSHA256: bearer.map(Self.digest),
            parameters: parameters,
            tail: tail
        )
        var answer: Answer
        do {
            answer = try handler(call)
        } catch {
            answer = Answer(status: 500, body: ["message": "the sandbox could not save its state"])
        }
        record(call, answer)
        var headers = answer.headers
        headers[.cacheControl] = "no-store"
        if let text = answer.text {
            headers[.contentType] = headers[.contentType] ?? "text/plain; charset=utf-8"
            return Response(
                status: .init(code: answer.status),
                headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: text))
            )
        }
        guard let json = answer.body else { return Response(status: .init(code: answer.status), headers: headers) }
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(
            status: .init(code: answer.status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(json)))
        )
    }

    private func record(_ call: Call, _ answer: Answer) {
        let credential: String = world.withLock { world in
            guard let digest = call.tokenSHA256 else {
                return call.request.headers[.authorization] == nil ? "no token" : "client credentials"
            }
            guard let (grant, token) = world.liveGrant(tokenSHA256: digest, service: call.service.rawValue, now: Date())
            else { return "a token the sandbox does not know (sha256 \(digest.prefix(12))…)" }
            return "\(grant.account)'s token (sha256 \(digest.prefix(12))…) for \(token.scopes.joined(separator: " "))"
        }
        var path = call.request.uri.path
        if let query = call.request.uri.query, !query.isEmpty { path += "?" + query }
        let entry = Received(
            at: Date(),
            service: call.service.rawValue,
            call: "\(call.request.method.rawValue) \(path)",
            status: answer.status,
            credential: credential,
            arguments: Self.shown(answer.shown)
        )
        let line = Array((CanonicalJSON.string(entry.json) + "\n").utf8)
        let file = directory.appending(path: "received.jsonl").path
        log.withLock { log in
            log.append(entry)
            if log.count > 500 { log.removeFirst(log.count - 500) }
            // One write with O_APPEND, in the log's order: concurrent calls never overwrite each other.
            let descriptor = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { return }
            _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            close(descriptor)
        }
    }

    /// Arguments as the log shows them: secret-named members redacted, long strings cut.
    static func shown(_ value: JSONValue) -> JSONValue {
        switch value.redactingSecrets() {
        case .string(let text) where text.count > 200: .string(String(text.prefix(200)) + "…")
        case .object(let members): .object(members.mapValues(shown))
        case .array(let items): .array(items.map(shown))
        case let other: other
        }
    }

    /// What is wrong with a JSON body, for each provider to say in its own words.
    enum BodyProblem: Error {
        case notAnObject
        case unknown(String)
        case missing(String)
    }

    /// A JSON body's members: an object, with the required members and nothing else than the allowed.
    static func bodyMembers(
        _ call: Call,
        required: [String],
        allowed: Set<String>
    ) throws(BodyProblem) -> [String: JSONValue] {
        if call.body.isEmpty && required.isEmpty { return [:] }
        guard case .object(let members)? = call.json else { throw .notAnObject }
        for key in members.keys.sorted() where !allowed.contains(key) { throw .unknown(key) }
        for key in required where members[key] == nil || members[key] == .null { throw .missing(key) }
        return members
    }

    /// Runs a handler on a copy of the state: a read changes nothing; otherwise the copy is kept
    /// and saved only when the answer is a success (a refused call changes nothing).
    func transact(reads: Bool, _ run: (inout SandboxWorld) -> Answer) throws -> Answer {
        if reads {
            return world.withLock { world in
                var copy = world
                return run(&copy)
            }
        }
        return try mutate { world in
            var copy = world
            let answer = run(&copy)
            if (200..<300).contains(answer.status) { world = copy }
            return answer
        }
    }

    /// Changes the state and saves it before answering (nothing the sandbox acknowledged is lost).
    func mutate<T>(_ body: (inout SandboxWorld) throws -> T) throws -> T {
        try world.withLock { world in
            var copy = world
            let value = try body(&copy)
            try Self.save(copy, to: directory.appending(path: "state.json"))
            world = copy
            return value
        }
    }

    private static func save(_ world: SandboxWorld, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(world).write(to: url, options: [.atomic])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
    }

    // MARK: OAuth

    private func authorize(_ request: Request, _ service: Service) -> Response {
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters where query[String(name)] == nil {
            query[String(name)] = String(value)
        }
        let scopeParameter = service == .slack ? "user_scope" : "scope"
        let separator: Character = service == .slack ? "," : " "
        let code = Self.random()
        let outcome: Result<String, SandboxError>
        do {
            outcome = .success(
                try mutate { world in
                    guard let client = world.clients[service.rawValue], query["client_id"] == client.id else {
                        throw SandboxError("unknown client_id")
                    }
                    // Never redirect anywhere but the registered URI: answer the browser instead.
                    guard query["redirect_uri"] == client.redirectURI else {
                        throw SandboxError("redirect_uri does not match the registered one")
                    }
                    guard query["response_type"] ?? "code" == "code", let state = query["state"], !state.isEmpty else {
                        throw SandboxError("state is required")
                    }
                    var challenge: String?
                    if let given = query["code_challenge"] {
                        guard query["code_challenge_method"] == "S256", given.utf8.count == 43 else {
                            throw SandboxError("only PKCE S256 is supported")
                        }
                        challenge = given
                    }
                    let scopes = (query[scopeParameter] ?? "").split(separator: separator).map {
                        $0.trimmingCharacters(in: .whitespaces)
                    }.filter { !$0.isEmpty }.sorted()
                    world.codes[Self.digest(code)] = SandboxWorld.Code(
                        service: service.rawValue,
                        clientID: client.id,
                        challenge: challenge,
                        redirectURI: client.redirectURI,
                        scopes: scopes,
                        expires: Date().addingTimeInterval(600),
                        used: false
                    )
                    var location = "\(client.redirectURI)?code=\(code)&state=\(FormEncoding.component(state))"
                    if service == .google {
                        // RFC 9207: Google names itself in the authorization response.
                        let issuer = "http://\(request.head.authority ?? "127.0.0.1")/sandbox/google"
                        location += "&iss=\(FormEncoding.component(issuer))"
                    }
                    return location
                }
            )
        } catch let error as SandboxError {
            outcome = .failure(error)
        } catch {
            outcome = .failure(SandboxError("the sandbox could not save its state"))
        }
        switch outcome {
        case .success(let location):
            return Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
        case .failure(let error):
            return Response(
                status: .badRequest,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "\(service.displayName): \(error.message)\n"))
            )
        }
    }

    /// GitHub's `login/oauth/access_token`: client credentials in the form, JSON when asked for
    /// (`Accept: application/json`), errors as HTTP 200 with `error`.
    private func githubToken(_ call: Call) throws -> Answer {
        guard let form = call.form else {
            return Answer(status: 400, body: ["error": "unsupported_content_type"])
        }
        var answer = try issueTokens(
            .github,
            form: form,
            clientID: form["client_id"],
            clientSecret: form["client_secret"]
        )
        answer.shown = call.shownForm
        if call.request.headers[.accept]?.contains("application/json") != true, let body = answer.body,
            case .object(let members) = body
        {
            // Without Accept: application/json, GitHub answers form-encoded.
            let pairs = members.sorted { $0.key < $1.key }.map { key, value in
                (key, value.stringValue ?? value.numberValue.map { String(Int($0)) } ?? "")
            }
            answer.text = FormEncoding.encode(pairs)
            answer.headers[.contentType] = "application/x-www-form-urlencoded; charset=utf-8"
        }
        return answer
    }

    /// Slack's `oauth.v2.access`: HTTP Basic client authentication (or the form's), `ok` always.
    func slackToken(_ call: Call) throws -> Answer {
        guard let form = call.form else {
            return Answer(status: 200, body: ["ok": false, "error": "invalid_form_data"])
        }
        let basic = call.basicCredentials
        let clientID = basic?.id ?? form["client_id"]
        let clientSecret = basic?.secret ?? form["client_secret"]
        var answer = try issueTokens(.slack, form: form, clientID: clientID, clientSecret: clientSecret)
        answer.shown = call.shownForm
        return answer
    }

    /// Google's token endpoint: client credentials in the form, errors as HTTP 400 with `error`,
    /// the ID token on the code exchange, refresh tokens that do not rotate, narrowing on refresh.
    func googleToken(_ call: Call) throws -> Answer {
        guard let form = call.form else { return Answer(status: 400, body: ["error": "invalid_request"]) }
        var answer = try issueTokens(
            .google,
            form: form,
            clientID: form["client_id"],
            clientSecret: form["client_secret"],
            issuer: call.origin + "/sandbox/google"
        )
        answer.shown = call.shownForm
        return answer
    }

    private func issueTokens(
        _ service: Service,
        form: [String: String],
        clientID: String?,
        clientSecret: String?,
        issuer: String = ""
    ) throws -> Answer {
        func failure(_ github: String, _ slack: String, _ google: String = "invalid_grant") -> Answer {
            switch service {
            case .github: Answer(status: 200, body: ["error": .string(github)])
            case .slack: Answer(status: 200, body: ["ok": false, "error": .string(slack)])
            case .google: Answer(status: google == "invalid_client" ? 401 : 400, body: ["error": .string(google)])
            }
        }
        return try mutate { world in
            guard let client = world.clients[service.rawValue], clientID == client.id,
                ConstantTime.equals(Array(Self.digest(clientSecret ?? "").utf8), Array(client.secretSHA256.utf8))
            else { return failure("incorrect_client_credentials", "invalid_client_id", "invalid_client") }
            let grantID: Int
            var scopes: [String]
            if form["grant_type"] == "refresh_token" {
                let presented = Self.digest(form["refresh_token"] ?? "")
                if let reused = world.grants.values.first(where: { $0.retiredRefreshSHA256s.contains(presented) }) {
                    // A refresh token that was already rotated away revokes its whole family.
                    world.revoke(grant: reused.id)
                    return failure("bad_refresh_token", "invalid_refresh_token")
                }
                guard
                    let grant = world.grants.values.first(where: {
                        $0.service == service.rawValue && $0.refreshSHA256 == presented
                    }), !grant.revoked
                else { return failure("bad_refresh_token", "invalid_refresh_token") }
                grantID = grant.id
                scopes = grant.scopes
                if service == .google, let asked = form["scope"] {
                    // Google narrows on refresh: a subset of what was granted, never more.
                    let narrowed = asked.split(separator: " ").map(String.init).sorted()
                    guard Set(narrowed).isSubset(of: grant.scopes) else {
                        return failure("invalid_scope", "invalid_scope", "invalid_scope")
                    }
                    scopes = narrowed
                }
            } else {
                guard form["grant_type"] == nil || form["grant_type"] == "authorization_code" else {
                    return failure("unsupported_grant_type", "invalid_grant_type", "unsupported_grant_type")
                }
                let digest = Self.digest(form["code"] ?? "")
                guard var code = world.codes[digest], code.service == service.rawValue, code.clientID == client.id,
                    !code.used, code.expires > Date()
                else { return failure("bad_verification_code", "invalid_code") }
                guard form["redirect_uri"] == code.redirectURI else {
                    return failure("redirect_uri_mismatch", "bad_redirect_uri")
                }
                if let challenge = code.challenge {
                    guard let verifier = form["code_verifier"], Self.challenge(verifier) == challenge else {
                        return failure("bad_verification_code", "invalid_code_verifier")
                    }
                }
                code.used = true
                world.codes[digest] = code
                grantID = world.next()
                scopes = code.scopes
                let account =
                    switch service {
                    case .github: Self.githubAccount
                    case .slack: Self.slackUser
                    case .google: Self.googleAccount
                    }
                world.grants[grantID] = SandboxWorld.Grant(
                    id: grantID,
                    service: service.rawValue,
                    account: account,
                    scopes: scopes,
                    refreshSHA256: "",
                    retiredRefreshSHA256s: [],
                    revoked: false
                )
            }
            let (accessPrefix, refreshPrefix, lifetime): (String, String, TimeInterval) =
                switch service {
                case .github: ("ghu_", "ghr_", 28_800)
                case .slack: ("xoxe.xoxp-1-", "xoxe-1-", 43_200)
                case .google: ("ya29.sbx", "1//sbx", 3_599)
                }
            let access = accessPrefix + Self.random(alphanumeric: 36)
            let refresh = refreshPrefix + Self.random(alphanumeric: 76)
            if service == .google && form["grant_type"] == "refresh_token" {
                // Google's refresh tokens do not rotate: the same one keeps working.
                world.tokens[Self.digest(access)] = SandboxWorld.IssuedToken(
                    grant: grantID,
                    scopes: scopes,
                    expires: Date().addingTimeInterval(lifetime)
                )
                return Answer(
                    status: 200,
                    body: [
                        "access_token": .string(access), "expires_in": .number(lifetime),
                        "scope": .string(scopes.joined(separator: " ")), "token_type": "Bearer",
                    ]
                )
            }
            if let old = world.grants[grantID]?.refreshSHA256, !old.isEmpty {
                world.grants[grantID]?.retiredRefreshSHA256s.append(old)
            }
            world.grants[grantID]?.refreshSHA256 = Self.digest(refresh)
            world.tokens[Self.digest(access)] = SandboxWorld.IssuedToken(
                grant: grantID,
                scopes: scopes,
                expires: Date().addingTimeInterval(lifetime)
            )
            // Tokens that expired are forgotten.
            let now = Date()
            world.tokens = world.tokens.filter { $0.value.expires > now }
            world.codes = world.codes.filter { $0.value.expires > now && !$0.value.used }
            scopes.sort()
            switch service {
            case .github:
                return Answer(
                    status: 200,
                    body: [
                        "access_token": .string(access), "expires_in": .number(lifetime),
                        "refresh_token": .string(refresh), "refresh_token_expires_in": 15_811_200,
                        "scope": .string(scopes.joined(separator: ",")), "token_type": "bearer",
                    ]
                )
            case .google:
                return Answer(
                    status: 200,
                    body: [
                        "access_token": .string(access), "expires_in": .number(lifetime),
                        "refresh_token": .string(refresh), "scope": .string(scopes.joined(separator: " ")),
                        "token_type": "Bearer",
                        "id_token": .string(
                            Self.idToken(issuer: issuer, audience: client.id, email: Self.googleAccount)
                        ),
                    ]
                )
            case .slack:
                let user: JSONValue = [
                    "id": .string(Self.slackUser), "scope": .string(scopes.joined(separator: ",")),
                    "access_token": .string(access), "token_type": "user", "refresh_token": .string(refresh),
                    "expires_in": .number(lifetime),
                ]
                let team: JSONValue = ["id": .string(world.slack.teamID), "name": .string(world.slack.teamName)]
                if form["grant_type"] == "refresh_token" {
                    return Answer(
                        status: 200,
                        body: [
                            "ok": true, "access_token": .string(access), "token_type": "user",
                            "refresh_token": .string(refresh), "expires_in": .number(lifetime),
                            "scope": .string(scopes.joined(separator: ",")), "user_id": .string(Self.slackUser),
                            "team": team,
                        ]
                    )
                }
                return Answer(
                    status: 200,
                    body: [
                        "ok": true, "app_id": "A0SANDBOX1", "authed_user": user, "team": team, "enterprise": .null,
                        "is_enterprise_install": false,
                    ]
                )
            }
        }
    }

    /// An OpenID Connect ID token for the account, as Google returns it from its token endpoint
    /// (signed with a key of this process; the vault reads it from the token endpoint directly).
    static func idToken(issuer: String, audience: String, email: String) -> String {
        func encode(_ bytes: [UInt8]) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let now = Date().timeIntervalSince1970.rounded(.down)
        let claims: JSONValue = [
            "iss": .string(issuer), "aud": .string(audience), "azp": .string(audience),
            "sub": "100000000000000000001", "email": .string(email), "email_verified": true, "iat": .number(now),
            "exp": .number(now + 3600),
        ]
        let signed =
            encode(CanonicalJSON.bytes(["alg": "HS256", "typ": "JWT"])) + "." + encode(CanonicalJSON.bytes(claims))
        let signature = HMAC<SHA256>.authenticationCode(for: Array(signed.utf8), using: idTokenKey)
        return signed + "." + encode(Array(signature))
    }

    private static let idTokenKey = SymmetricKey(size: .bits256)

    // MARK: Helpers

    /// The hex SHA-256 of a text.
    static func digest(_ text: String) -> String {
        Hex.encode(Array(SHA256.hash(data: Array(text.utf8))))
    }

    /// A git object id (hex SHA-1) for a text.
    static func sha1(_ text: String) -> String {
        Hex.encode(Array(Insecure.SHA1.hash(data: Array(text.utf8))))
    }

    /// The git blob id of a file's content, as GitHub reports `sha`.
    static func blobSHA(_ content: String) -> String {
        sha1("blob \(content.utf8.count)\0\(content)")
    }

    private static func challenge(_ verifier: String) -> String {
        Data(SHA256.hash(data: Array(verifier.utf8))).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func random(alphanumeric count: Int = 32) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}

/// Why the sandbox refused a browser's authorization request.
struct SandboxError: Error {
    let message: String

    init(_ message: String) { self.message = message }
}
