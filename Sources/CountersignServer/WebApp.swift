import Countersign
import CountersignVault
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The approver's web app: sign-in, the live inbox, the request page, and the history.
///
/// Server-rendered; the only script is `/static/app.js` (countdowns, live rows, keyboard shortcuts).
///
/// Every state change is a POST with a CSRF token bound to the session and is refused when the
/// browser says it came from another site; every page forbids framing and inline script.
struct WebApp: Sendable {
    let gateway: Gateway
    let requests: any ActionStore
    let events: RequestEvents
    let users: any UserStore
    let sessions: any WebSessionStore
    let approvals: ApproverAPI
    let catalog: OperationCatalog
    let address: ServerAddress
    /// The OpenID Connect provider approvers may sign in and step up with, if one is configured.
    let oidc: OIDCClient?
    var limiter: SignInLimiter { SignInLimiter(store: sessions) }
    var pendingSignIns: PendingSignIns { PendingSignIns(store: sessions) }
    let oidcFlows = OIDCFlows()
    let stepUps = OIDCStepUps()

    /// A signed-in approver.
    struct Signed {
        let user: User
        let session: WebSession
        let csrf: String

        var layout: [String: Any] { ["email": user.email, "csrf": csrf] }

        /// How the approver is authenticated for a decision made without a fresh code.
        var authentication: AuthenticationRecord { session.authentication }
    }

    var cookies: WebCookies { WebCookies(publicURL: address.publicURL) }

    func add(to router: Router<AppRequestContext>) {
        router.get("/static/app.css") { _, _ in WebPages.asset(WebPages.css, type: "text/css; charset=utf-8") }
        router.get("/static/app.js") { _, _ in
            WebPages.asset(WebPages.javascript, type: "text/javascript; charset=utf-8")
        }
        let web = router.group().add(middleware: WebMiddleware())
        web.get("/") { _, _ in WebPages.redirect("/inbox") }
        web.get("/sign-in") { request, _ in signInPage(request) }
        web.post("/sign-in") { request, context in try await signIn(request, context: context) }
        web.post("/sign-in/code") { request, context in try await signInCode(request, context: context) }
        web.post("/sign-out") { request, _ in try await signOut(request) }
        web.get("/sign-in/oidc") { request, _ in try await startOIDCSignIn(request) }
        web.get("/sign-in/oidc/callback") { request, _ in try await oidcCallback(request) }
        web.post("/approvals/{id}/step-up") { request, context in
            try await startOIDCStepUp(request, id: try context.parameters.require("id"))
        }
        web.get("/inbox") { request, _ in try await inbox(request) }
        web.get("/inbox/rows") { request, _ in try await rows(request) }
        web.get("/inbox/events") { request, _ in try await inboxEvents(request) }
        web.get("/history") { request, _ in try await history(request) }
        web.get("/approvals/{id}") { request, context in
            try await requestPage(request, id: try context.parameters.require("id"))
        }
        web.post("/approvals/{id}/approve") { request, context in
            try await approve(request, id: try context.parameters.require("id"))
        }
        web.post("/approvals/{id}/deny") { request, context in
            try await deny(request, id: try context.parameters.require("id"))
        }
        web.post("/approvals/{id}/edit") { request, context in
            try await edit(request, id: try context.parameters.require("id"))
        }
    }

    // MARK: Sessions

    /// The signed-in approver, or a redirect to sign-in.
    func signedIn(_ request: Request) async throws -> Signed {
        let now = Date()
        let next = request.uri.path.hasPrefix("/inbox/") ? "/inbox" : request.uri.path
        let toSignIn = WebRedirect(
            location: "/sign-in?next=" + (next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        )
        guard let value = WebCookies.value(cookies.session, in: request), let dot = value.firstIndex(of: "."),
            let session = try await sessions.session(id: String(value[..<dot])),
            ConstantTime.equals(
                Array(SHA256.hash(data: Array(value[value.index(after: dot)...].utf8))),
                session.secretHash
            ),
            session.isLive(at: now),
            let user = try await users.user(email: session.email), user.disabledAt == nil
        else { throw toSignIn }
        if now.timeIntervalSince(session.lastSeenAt) > 60 { try await sessions.touchSession(id: session.id, at: now) }
        return Signed(user: user, session: session, csrf: Self.csrf(for: session))
    }

    /// The session's CSRF token: derived from its secret's hash, so it changes with the session.
    static func csrf(for session: WebSession) -> String {
        Hex.encode(
            HMAC<SHA256>.authenticationCode(
                for: Array("countersign-csrf".utf8),
                using: SymmetricKey(data: session.secretHash)
            )
        )
    }

    /// Starts a session (rotating any the browser had) and returns its cookie.
    func startSession(
        for email: String,
        authentication: AuthenticationRecord,
        replacing: String?,
        event: String
    ) async throws -> String {
        let now = Date()
        let id = WebRandom.hex(bytes: 16)
        let secret = WebRandom.hex(bytes: 32)
        try await sessions.startSession(
            WebSession(
                id: id,
                secretHash: Array(SHA256.hash(data: Array(secret.utf8))),
                email: email,
                createdAt: now,
                lastSeenAt: now,
                authentication: authentication
            ),
            replacing: replacing,
            event: event
        )
        return cookies.set(cookies.session, "\(id).\(secret)")
    }

    /// The form fields of a POST, after refusing cross-site requests and checking the CSRF token.
    func form(_ request: Request, csrf expected: String?) async throws -> [String: String] {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin", site != "none" {
            throw Problem(
                status: .forbidden,
                title: "Refused",
                detail: "a request from another site cannot change anything here"
            )
        }
        // An opaque origin ("null") says nothing either way; the CSRF token below still decides.
        if let origin = request.headers[HTTPField.Name("Origin")!], origin != "null", let host = request.head.authority,
            URL(string: origin)?.host.map({ host == $0 || host.hasPrefix($0 + ":") }) != true
        {
            throw Problem(
                status: .forbidden,
                title: "Refused",
                detail: "a request from another site cannot change anything here"
            )
        }
        var request = request
        let body = try await request.collectBody(limit: 65_536, limitText: "64 KiB")
        let fields = FormEncoding.fields(String(buffer: body))
        guard let expected, let given = fields["csrf"], ConstantTime.equals(Array(given.utf8), Array(expected.utf8))
        else {
            throw Problem(
                status: .forbidden,
                title: "Form expired",
                detail:
                    "this form is no longer valid (signed out, or sent from another site); reload the page and try again"
            )
        }
        return fields
    }

    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\") else { return "/inbox" }
        return next
    }

    // MARK: Sign-in

    func signInPage(
        _ request: Request,
        error: String? = nil,
        email: String = "",
        next: String? = nil,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        let browser = WebCookies.value(cookies.signIn, in: request) ?? WebRandom.hex(bytes: 24)
        var data: [String: Any] = [
            "csrf": browser, "email": email,
            "next": Self.safeNext(next ?? request.uri.queryParameters["next"].map(String.init)),
        ]
        if let error { data["error"] = error }
        if let oidc { data["oidc"] = ["name": oidc.configuration.displayName, "next": data["next"] ?? "/inbox"] }
        return WebPages.page(
            "sign-in",
            title: "Sign in",
            data,
            status: status,
            headers: [.setCookie: cookies.set(cookies.signIn, browser, maxAge: 3600)]
        )
    }

    func signIn(_ request: Request, context: AppRequestContext) async throws -> Response {
        let browser = WebCookies.value(cookies.signIn, in: request)
        let fields = try await form(request, csrf: browser)
        let email = User.normalizedEmail(fields["email"] ?? "") ?? (fields["email"] ?? "")
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        let now = Date()
        let next = Self.safeNext(fields["next"])
        func again(_ message: String, _ status: HTTPResponse.Status) -> Response {
            signInPage(request, error: message, email: email, next: next, status: status)
        }
        if let until = try await limiter.blockedUntil(account: email, address: address, now: now) {
            return again(
                "Too many failed sign-ins. Try again in \(max(1, Int(until.timeIntervalSince(now) / 60) + 1)) minutes.",
                .tooManyRequests
            )
        }
        let user = try await users.user(email: email)
        let password = Secret(fields["password"] ?? "")
        // The hash is checked whether or not the account exists, so that timing does not tell.
        let matches = Password.verify(password, hash: user?.passwordHash ?? Self.decoyHash)
        guard let user, matches, user.disabledAt == nil else {
            try await limiter.recordFailure(account: email, address: address, now: now)
            return again("That email and password do not match an approver.", .unauthorized)
        }
        if user.sealedTOTPSecret != nil, let browser {
            let pending = try await pendingSignIns.start(email: user.email, browser: browser, now: now)
            return WebPages.page(
                "sign-in-code",
                title: "Authenticator code",
                ["csrf": browser, "pending": pending, "next": next]
            )
        }
        try await limiter.recordSuccess(account: user.email)
        return try await completeSignIn(
            user.email,
            AuthenticationRecord(method: .password, authTime: now, amr: ["pwd"]),
            request,
            next: next
        )
    }

    /// Starts the session of a completed sign-in and sends the browser on.
    func completeSignIn(
        _ email: String,
        _ authentication: AuthenticationRecord,
        _ request: Request,
        next: String
    ) async throws -> Response {
        let cookie = try await startSession(
            for: email,
            authentication: authentication,
            replacing: currentSessionID(request),
            event: "signed_in"
        )
        var headers = HTTPFields()
        headers.append(HTTPField(name: .setCookie, value: cookie))
        headers.append(HTTPField(name: .setCookie, value: cookies.clear(cookies.signIn)))
        return WebPages.redirect(next, headers: headers)
    }

    func signInCode(_ request: Request, context: AppRequestContext) async throws -> Response {
        let browser = WebCookies.value(cookies.signIn, in: request)
        let fields = try await form(request, csrf: browser)
        let now = Date()
        let next = Self.safeNext(fields["next"])
        guard let browser, let token = fields["pending"],
            let email = try await pendingSignIns.email(token: token, browser: browser, now: now),
            let user = try await users.user(email: email), user.disabledAt == nil
        else { return signInPage(request, error: "That sign-in expired; start again.", status: .unauthorized) }
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        if let until = try await limiter.blockedUntil(account: email, address: address, now: now) {
            try await pendingSignIns.finish(token: token)
            return signInPage(
                request,
                error:
                    "Too many failed sign-ins. Try again in \(max(1, Int(until.timeIntervalSince(now) / 60) + 1)) minutes.",
                status: .tooManyRequests
            )
        }
        let authentication: AuthenticationRecord
        do {
            authentication = try await users.stepUp(user, code: fields["code"] ?? "", box: approvals.secrets, now: now)
        } catch {
            try await limiter.recordFailure(account: email, address: address, now: now)
            return WebPages.page(
                "sign-in-code",
                title: "Authenticator code",
                [
                    "csrf": browser, "pending": token, "next": next,
                    "error": "That code is wrong, expired or already used. Wait for the next one.",
                ],
                status: .unauthorized
            )
        }
        try await pendingSignIns.finish(token: token)
        try await limiter.recordSuccess(account: email)
        return try await completeSignIn(
            email,
            AuthenticationRecord(method: .totp, authTime: authentication.authTime, amr: ["pwd", "otp"]),
            request,
            next: next
        )
    }

    func signOut(_ request: Request) async throws -> Response {
        let signed = try await signedIn(request)
        _ = try await form(request, csrf: signed.csrf)
        try await sessions.endSession(id: signed.session.id, at: Date())
        return WebPages.redirect("/sign-in", headers: [.setCookie: cookies.clear(cookies.session)])
    }

    func currentSessionID(_ request: Request) -> String? {
        WebCookies.value(cookies.session, in: request).flatMap { $0.split(separator: ".").first.map(String.init) }
    }

    /// A bcrypt hash of a random password, checked when the account does not exist.
    static let decoyHash = Password.hash(Secret(WebRandom.hex(bytes: 16)))

    // MARK: OpenID Connect

    var redirectURI: String { (address.publicURL ?? "") + "/sign-in/oidc/callback" }

    func startOIDCSignIn(_ request: Request) async throws -> Response {
        guard let oidc else {
            throw Problem(status: .notFound, title: "Not found", detail: "no sign-in provider is configured")
        }
        let browser = WebCookies.value(cookies.signIn, in: request) ?? WebRandom.hex(bytes: 24)
        let next = Self.safeNext(request.uri.queryParameters["next"].map(String.init))
        let (state, flow) = oidcFlows.start(browser: browser, purpose: .signIn(next: next), now: Date())
        let location = try await authorizationURL(oidc, state: state, flow: flow, stepUp: false)
        return WebPages.redirect(location, headers: [.setCookie: cookies.set(cookies.signIn, browser, maxAge: 3600)])
    }

    /// Step-up with the provider: it must authenticate the approver afresh (`prompt=login`,
    /// `max_age=0`, the configured `acr_values`) before the approval can be given.
    func startOIDCStepUp(_ request: Request, id: String) async throws -> Response {
        let signed = try await signedIn(request)
        _ = try await form(request, csrf: signed.csrf)
        guard let oidc else {
            throw Problem(status: .notFound, title: "Not found", detail: "no sign-in provider is configured")
        }
        _ = try await approvals.load(id)
        let (state, flow) = oidcFlows.start(
            browser: signed.session.id,
            purpose: .stepUp(requestID: id, sessionID: signed.session.id, startedAt: Date()),
            now: Date()
        )
        return WebPages.redirect(
            try await authorizationURL(oidc, state: state, flow: flow, stepUp: true, hint: signed.user.email)
        )
    }

    func authorizationURL(
        _ oidc: OIDCClient,
        state: String,
        flow: OIDCFlows.Flow,
        stepUp: Bool,
        hint: String? = nil
    ) async throws -> String {
        do {
            return try await oidc.authorizationURL(
                redirectURI: redirectURI,
                state: state,
                nonce: flow.nonce,
                verifier: flow.verifier,
                stepUp: stepUp,
                loginHint: hint
            )
        } catch let error as OIDCError {
            throw Problem(status: .badGateway, title: "Sign-in provider unavailable", detail: error.description)
        } catch {
            throw Problem(status: .badGateway, title: "Sign-in provider unavailable", detail: "\(error)")
        }
    }

    func oidcCallback(_ request: Request) async throws -> Response {
        guard let oidc else {
            throw Problem(status: .notFound, title: "Not found", detail: "no sign-in provider is configured")
        }
        let query = request.uri.queryParameters
        let now = Date()
        func refused(_ detail: String) -> Problem {
            Problem(status: .forbidden, title: "Sign-in refused", detail: detail)
        }
        if let error = query["error"] {
            throw refused("the provider refused: \(error)\(query["error_description"].map { " (\($0))" } ?? "")")
        }
        guard let state = query["state"].map(String.init), let code = query["code"].map(String.init) else {
            throw refused("the provider's answer has no code or state")
        }
        // Sign-in flows are bound to the sign-in cookie, step-ups to the session in use.
        var flow: OIDCFlows.Flow?
        for browser in [WebCookies.value(cookies.signIn, in: request), currentSessionID(request)] {
            if flow == nil, let browser { flow = oidcFlows.finish(state: state, browser: browser, now: now) }
        }
        guard let flow else { throw refused("this sign-in expired or was started in another browser; start again") }
        if let issuer = query["iss"], String(issuer) != oidc.configuration.issuer {
            throw refused("the answer came from another issuer")
        }
        let identity: VerifiedIdentity
        do {
            let idToken = try await oidc.exchange(code: code, verifier: flow.verifier, redirectURI: redirectURI)
            switch flow.purpose {
            case .signIn:
                identity = try await oidc.verify(idToken, nonce: flow.nonce)
            case .stepUp(_, _, let startedAt):
                identity = try await oidc.verify(
                    idToken,
                    nonce: flow.nonce,
                    authenticatedSince: startedAt,
                    requireACR: oidc.configuration.stepUpACR
                )
            }
        } catch let error as OIDCError {
            throw refused(error.description)
        } catch let error as VaultError {
            throw Problem(status: .badGateway, title: "Sign-in provider unavailable", detail: error.description)
        }
        guard let user = try await users.user(email: identity.email), user.disabledAt == nil else {
            throw refused(
                "\(identity.email) is not an approver here; an administrator adds approvers with `countersign users add`"
            )
        }
        let authentication = AuthenticationRecord(
            method: .oidc,
            authTime: identity.authTime ?? now,
            acr: identity.acr,
            amr: identity.amr
        )
        switch flow.purpose {
        case .signIn(let next):
            return try await completeSignIn(user.email, authentication, request, next: next)
        case .stepUp(let requestID, let sessionID, _):
            let signed = try await signedIn(request)
            guard signed.session.id == sessionID, signed.user.email == user.email else {
                throw refused("the step-up was made as \(user.email), not as \(signed.user.email)")
            }
            let cookie = try await startSession(
                for: user.email,
                authentication: authentication,
                replacing: sessionID,
                event: "stepped_up"
            )
            let newID = String(cookie.dropFirst(cookies.session.count + 1).prefix { $0 != "." })
            stepUps.record(authentication, session: newID, request: requestID)
            return WebPages.redirect("/approvals/\(requestID)", headers: [.setCookie: cookie])
        }
    }

    // MARK: Inbox and history

    func inboxData(_ request: Request) async throws -> [String: Any] {
        let level = request.uri.queryParameters["level"].map(String.init).flatMap(RiskLevel.init(rawValue:))
        let agent = request.uri.queryParameters["agent"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let now = Date()
        let pending = try await requests.requests(RequestQuery(states: [.pending], limit: 500)).filter {
            (level == nil || $0.assessment.level == level) && (agent == nil || $0.action.agent == agent)
        }
        var query: [String] = []
        if let level { query.append("level=\(level.rawValue)") }
        if let agent {
            query.append("agent=\(agent.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")")
        }
        return [
            "requests": pending.map { row($0, now: now) },
            "query": query.joined(separator: "&"),
            "agent": agent ?? "",
            "levels": ([nil] + RiskLevel.allCases).map { option -> [String: Any] in
                ["value": option?.rawValue ?? "", "label": option?.title ?? "Any", "selected": option == level]
            },
        ]
    }

    func inbox(_ request: Request) async throws -> Response {
        let signed = try await signedIn(request)
        return WebPages.page("inbox", title: "Inbox", try await inboxData(request), user: signed.layout)
    }

    func rows(_ request: Request) async throws -> Response {
        _ = try await signedIn(request)
        return WebPages.fragment("rows", try await inboxData(request))
    }

    /// `changed` whenever any request changes; the page then fetches its rows again.
    func inboxEvents(_ request: Request) async throws -> Response {
        _ = try await signedIn(request)
        let changes = events.changes()
        return ServerSentEvents.response { sink in
            for await id in changes { sink.yield(ServerSentEvents.frame("changed", ["id": .string(id)])) }
        }
    }

    func history(_ request: Request) async throws -> Response {
        let signed = try await signedIn(request)
        let states = Set(RequestState.allCases).subtracting([.pending])
        let now = Date()
        let decided = try await requests.requests(RequestQuery(states: states, limit: 200))
        return WebPages.page(
            "history",
            title: "History",
            ["requests": decided.map { row($0, now: now) }],
            user: signed.layout
        )
    }

    func row(_ stored: ActionRequest, now: Date) -> [String: Any] {
        let descriptor = catalog.descriptor(for: stored.action.operation)
        return [
            "id": stored.id, "level": stored.assessment.level.rawValue, "levelTitle": stored.assessment.level.title,
            "operation": stored.action.operation.description, "sandbox": descriptor?.sandbox ?? "",
            "isSandbox": descriptor?.sandbox != nil,
            "target": descriptor?.target(of: stored.action.arguments) ?? "",
            "agent": stored.action.agent, "principal": stored.action.principal,
            "createdAt": Timestamp.string(stored.createdAt), "age": Self.age(now.timeIntervalSince(stored.createdAt)),
            "expiresAt": Timestamp.string(stored.expiresAt),
            "remaining": Self.remaining(stored.expiresAt.timeIntervalSince(now)),
            "state": stored.state.rawValue, "stateText": Self.stateText(stored.state),
        ]
    }

    static func age(_ seconds: TimeInterval) -> String {
        switch seconds {
        case ..<60: "just now"
        case ..<3600: "\(Int(seconds / 60)) min ago"
        case ..<86400: "\(Int(seconds / 3600)) h ago"
        default: "\(Int(seconds / 86400)) d ago"
        }
    }

    static func remaining(_ seconds: TimeInterval) -> String {
        guard seconds > 0 else { return "expired" }
        let minutes = Int(seconds / 60)
        return minutes >= 60 ? "\(minutes / 60) h \(minutes % 60) min" : "\(minutes) min \(Int(seconds) % 60) s"
    }

    /// Where a reason comes from, in words for the approver.
    static func source(of reason: RiskReason) -> String {
        switch reason.source {
        case .operationDefault: "operation"
        case .blastRadius: "looked up at the provider just now"
        default: "\(reason.source.rawValue) \(reason.name)"
        }
    }

    static func stateText(_ state: RequestState) -> String {
        switch state {
        case .pending: "waiting for a decision"
        case .approved: "approved, about to run"
        case .autoApproved: "allowed by policy"
        case .executing: "running"
        case .executed: "done"
        case .failed: "failed"
        case .denied: "denied"
        case .expired: "expired undecided"
        case .rejected: "denied by policy"
        case .outcomeUnknown: "outcome unknown"
        }
    }

    // MARK: The request page

    func requestPage(
        _ request: Request,
        id: String,
        flash: String? = nil,
        status: HTTPResponse.Status = .ok,
        signed known: Signed? = nil,
        editedText: String? = nil
    ) async throws -> Response {
        let signed: Signed
        if let known { signed = known } else { signed = try await signedIn(request) }
        let stored = try await approvals.load(id)
        let detail = try await approvals.detail(stored)
        let now = Date()
        let requirements = stored.assessment.requirements
        var data = row(stored, now: now)
        data["csrf"] = signed.csrf
        data["impact"] = stored.impact
        data["connector"] = stored.action.operation.connector
        data["digest"] = stored.digest.description
        data["shortDigest"] = String(stored.digest.description.prefix(19)) + "…"
        data["payload"] = PayloadHTML.render(stored.action.arguments)
        data["reasons"] = stored.assessment.reasons.map { reason -> [String: Any] in
            [
                "level": reason.level.rawValue, "levelTitle": reason.level.title, "text": reason.text,
                "source": Self.source(of: reason),
            ]
        }
        data["scopes"] = stored.scopes.map { ["name": $0, "meaning": ScopeGlossary.meaning($0)] }
        data["scopeList"] = stored.scopes.joined(separator: ", ")
        if let agentReason = stored.agentReason { data["agentReason"] = agentReason }
        if let runID = stored.runID { data["runID"] = runID }
        if let token = detail["token"], let provider = token["provider"]?.stringValue {
            let source = token["source"]?.stringValue ?? "none"
            data["token"] =
                source == "none"
                ? "no \(provider) account is connected for \(stored.action.principal); running it will fail until one is"
                : "\(token["displayName"]?.stringValue ?? provider) via \(source)"
                    + (token["narrowed"] == false ? " (the token carries every scope the account granted)" : "")
        }
        let decisions = detail["decisions"]?.arrayValue ?? []
        data["hasDecisions"] = !decisions.isEmpty
        data["decisions"] = decisions.map { decision -> [String: Any] in
            var entry: [String: Any] = [
                "verdict": decision["verdict"]?.stringValue == "approve" ? "Approved" : "Denied",
                "approver": decision["approver"]?.stringValue ?? "",
                "authentication": decision["authentication"]?.stringValue ?? "",
                "decidedAt": decision["decidedAt"]?.stringValue ?? "",
            ]
            if let reason = decision["reason"]?.stringValue { entry["reason"] = reason }
            return entry
        }
        if let result = stored.result { data["result"] = PayloadHTML.render(result) }
        if let failure = stored.failure { data["failure"] = failure }
        if !stored.isPayloadIntact { data["tampered"] = true }
        if stored.state == .pending {
            data["pending"] = true
            if let confirmText = requirements.confirmText { data["confirmText"] = confirmText }
            if requirements.stepUp {
                if let done = stepUps.fresh(session: signed.session.id, request: id, now: now) {
                    data["steppedUp"] =
                        "You stepped up with \(oidc?.configuration.displayName ?? "single sign-on") at \(Timestamp.string(done.authTime).prefix(19).dropFirst(11)) UTC"
                        + (done.acr.map { " (\($0))" } ?? "") + "; approve within five minutes of it."
                } else {
                    data["stepUp"] = true
                    if signed.user.sealedTOTPSecret != nil { data["stepUpTOTP"] = true }
                    if let oidc { data["stepUpOIDC"] = oidc.configuration.displayName }
                    if signed.user.sealedTOTPSecret == nil {
                        data["stepUpHelp"] =
                            oidc.map {
                                "This request needs step-up: authenticate afresh with \($0.configuration.displayName) first."
                            }
                            ?? "This request needs step-up, and you have no authenticator enrolled: an administrator runs `countersign users totp \(signed.user.email)`."
                    }
                }
            }
            let given = decisions.filter { $0["verdict"]?.stringValue == "approve" }.count
            data["approvalsText"] =
                requirements.approvals > 1
                ? "as approval \(given + 1) of the \(requirements.approvals) it needs"
                : "and Countersign runs it at once"
        }
        if let edit = try await requests.edit(of: id) {
            data["edit"] = [
                "editor": edit.editor, "originalDigest": edit.originalDigest.description,
                "changes": edit.changed.map { path -> [String: Any] in
                    let pointer = JSONPointer(path) ?? JSONPointer(tokens: [])
                    return [
                        "path": path,
                        "before": edit.originalArguments.value(at: pointer).map(PayloadHTML.render) ?? "(absent)",
                        "after": stored.action.arguments.value(at: pointer).map(PayloadHTML.render) ?? "(removed)",
                    ]
                },
            ]
        }
        if stored.state == .pending, decisions.isEmpty, stored.isPayloadIntact {
            data["editable"] = true
            data["argumentsText"] = editedText ?? stored.action.arguments.prettyPrinted()
        }
        if let flash { data["flash"] = flash }
        return WebPages.page(
            "request",
            title: "\(stored.assessment.level.title): \(stored.action.operation)",
            data,
            user: signed.layout,
            status: status
        )
    }

    func approve(_ request: Request, id: String) async throws -> Response {
        let signed = try await signedIn(request)
        let fields = try await form(request, csrf: signed.csrf)
        let stored = try await approvals.load(id)
        let otp = fields["otp"].flatMap { $0.isEmpty ? nil : $0 }
        var authentication = signed.authentication
        if stored.assessment.requirements.stepUp, otp == nil,
            let steppedUp = stepUps.fresh(session: signed.session.id, request: id, now: Date())
        {
            authentication = steppedUp
        } else if stored.assessment.requirements.stepUp && otp == nil {
            return try await requestPage(
                request,
                id: id,
                flash: "This request needs step-up: enter a fresh code from your authenticator.",
                status: .forbidden,
                signed: signed
            )
        }
        let now = Date()
        do {
            _ = try await approvals.approve(
                id: id,
                by: signed.user,
                digest: fields["digest"] ?? "",
                confirmation: fields["confirm"].flatMap { $0.isEmpty ? nil : $0 },
                otp: otp,
                authentication: authentication,
                now: now
            )
            stepUps.use(session: signed.session.id, request: id)
        } catch let problem as Problem {
            return try await requestPage(request, id: id, flash: problem.detail, status: problem.status, signed: signed)
        }
        var headers = HTTPFields()
        if otp != nil {
            // Stepped up: the session is replaced by one that records the fresh authentication.
            headers[.setCookie] = try await startSession(
                for: signed.user.email,
                authentication: AuthenticationRecord(method: .totp, authTime: now, amr: ["pwd", "otp"]),
                replacing: signed.session.id,
                event: "stepped_up"
            )
        }
        return WebPages.redirect("/approvals/\(id)", headers: headers)
    }

    /// Edits the arguments before approving: validated against the schema and assessed again (the
    /// level may rise, never fall); the approval then binds to the new digest.
    func edit(_ request: Request, id: String) async throws -> Response {
        let signed = try await signedIn(request)
        let fields = try await form(request, csrf: signed.csrf)
        let text = fields["arguments"] ?? ""
        func again(_ message: String, _ status: HTTPResponse.Status) async throws -> Response {
            try await requestPage(request, id: id, flash: message, status: status, signed: signed, editedText: text)
        }
        let arguments: JSONValue
        do {
            arguments = try JSONParser().parse(Array(text.utf8))
        } catch {
            return try await again("The edited arguments are not valid JSON: \(error)", .unprocessableContent)
        }
        let stored = try await approvals.load(id)
        guard let digest = fields["digest"].flatMap(ActionDigest.init), stored.digest.matches(digest) else {
            return try await again("The request changed since you opened it; review it again.", .conflict)
        }
        do {
            _ = try await gateway.edit(stored, arguments: arguments, editor: signed.user.email)
        } catch let error as ActionError {
            return try await again("The edit was not accepted: \(error.description)", .unprocessableContent)
        } catch let error as ApprovalError {
            return try await again(ApproverAPI.problem(error).detail, ApproverAPI.problem(error).status)
        }
        return WebPages.redirect("/approvals/\(id)")
    }

    func deny(_ request: Request, id: String) async throws -> Response {
        let signed = try await signedIn(request)
        let fields = try await form(request, csrf: signed.csrf)
        do {
            _ = try await approvals.deny(
                id: id,
                by: signed.user,
                reason: fields["reason"].flatMap {
                    $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0
                },
                digest: fields["digest"],
                authentication: signed.authentication,
                now: Date()
            )
        } catch let problem as Problem {
            return try await requestPage(request, id: id, flash: problem.detail, status: problem.status, signed: signed)
        }
        return WebPages.redirect("/approvals/\(id)")
    }
}

/// What each scope lets the token do, in words for the approver.
enum ScopeGlossary {
    static let meanings: [String: String] = [
        "files:read": "read files in the workspace",
        "files:write": "create, change and append to files in the workspace",
        "files:delete": "delete files and directories in the workspace",
        "shell:exec": "run a program in the workspace with the server's permissions",
        "http:request": "send an HTTP request to an allowed host",
        "chat:write": "post messages as the connected account",
    ]

    static func meaning(_ scope: String) -> String {
        meanings[scope] ?? "as the provider defines this scope"
    }
}
