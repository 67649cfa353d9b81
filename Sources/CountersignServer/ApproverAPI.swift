import Countersign
import CountersignVault
import Foundation
import Hummingbird

/// The approver API: review requests, approve (with confirmation and step-up as policy requires),
/// deny with a reason, extend, and watch.
///
/// Approvers authenticate with a personal token (`Authorization: Bearer cst_…`).
struct ApproverAPI: Sendable {
    let catalog: OperationCatalog
    let requests: any ActionStore
    let events: RequestEvents
    let users: any UserStore
    let secrets: SecretBox
    /// Says where each provider's tokens come from, for the approver.
    let vault: Vault?
    static let maximumBodyBytes = 65_536

    static let unauthorized = Problem(
        status: .unauthorized,
        title: "Unauthorized",
        detail: "send an approver's personal token as `Authorization: Bearer cst_…`; "
            + "issue one with `countersign users token EMAIL`"
    )

    func authenticate(_ request: Request) async throws -> User {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            let user = try await users.authenticate(token: String(header.dropFirst(7)))
        else { throw Self.unauthorized }
        return user
    }

    func load(_ id: String) async throws -> ActionRequest {
        guard let stored = try await requests.request(id: id) else {
            throw Problem(status: .notFound, title: "Not found", detail: "no request \(id)")
        }
        return stored
    }

    /// Lists requests: `GET /v1/approvals?state=pending&limit=100`.
    func list(_ request: Request) async throws -> Response {
        _ = try await authenticate(request)
        let query = try RequestQuery(request, defaultStates: [.pending], defaultLimit: 100, maximumLimit: 1000)
        let found = try await requests.requests(query)
        return .json(["requests": .array(found.map(view))])
    }

    /// Shows a request with every decision so far: `GET /v1/approvals/{id}`.
    func show(_ request: Request, id: String) async throws -> Response {
        _ = try await authenticate(request)
        return .json(try await detail(try await load(id)))
    }

    func detail(_ stored: ActionRequest) async throws -> JSONValue {
        let decisions = try await requests.decisions(for: stored.id)
        var members = view(stored).objectValue ?? [:]
        members["decisions"] = .array(
            decisions.map { decision in
                var entry: [String: JSONValue] = [
                    "approver": .string(decision.approver),
                    "verdict": .string(decision.verdict.rawValue),
                    "decidedAt": .string(Timestamp.string(decision.decidedAt)),
                    "authentication": .string(decision.authentication.method.rawValue),
                ]
                if let reason = decision.reason { entry["reason"] = .string(reason) }
                return .object(entry)
            }
        )
        members["approvals"] = [
            "given": .number(Double(decisions.filter { $0.verdict == .approve }.count)),
            "required": .number(Double(stored.assessment.requirements.approvals)),
        ]
        if let edit = try await requests.edit(of: stored.id) {
            members["edited"] = edit.json
        }
        if let provider = catalog.descriptor(for: stored.action.operation)?.provider {
            var token: [String: JSONValue] = ["provider": .string(provider)]
            if let source = try await vault?.tokenSource(for: provider) {
                token["displayName"] = .string(source.displayName)
                token["source"] = .string(source.source)
                token["narrowed"] = .bool(source.narrowed)
                token["broadSource"] = .bool(source.broadSource)
            } else {
                token["source"] = "none"
            }
            members["token"] = .object(token)
        }
        return .object(members)
    }

    /// The request as approvers see it: with the name of what it acts on, from its connector.
    func view(_ stored: ActionRequest) -> JSONValue {
        var members = stored.json.objectValue ?? [:]
        if !stored.isPayloadIntact { members["payloadIntact"] = false }
        let descriptor = catalog.descriptor(for: stored.action.operation)
        if let target = descriptor?.target(of: stored.action.arguments) { members["target"] = .string(target) }
        if let sandbox = descriptor?.sandbox { members["sandbox"] = .string(sandbox) }
        return .object(members)
    }

    /// Approves: `POST /v1/approvals/{id}/approve` `{digest, confirm?, otp?}`.
    func approve(_ request: Request, id: String) async throws -> Response {
        let user = try await authenticate(request)
        let body = try await Self.body(request, allowed: ["digest", "confirm", "otp"])
        guard let text = body["digest"]?.stringValue else {
            throw Self.invalid(
                "\"digest\" is required: the digest of the payload you reviewed (GET /v1/approvals/\(id))"
            )
        }
        var otp: String?
        if let member = body["otp"] {
            guard let code = member.stringValue else { throw Self.invalid("\"otp\" must be a string of digits") }
            otp = code
        }
        let now = Date()
        let decided = try await approve(
            id: id,
            by: user,
            digest: text,
            confirmation: try Self.optionalString(body, "confirm"),
            otp: otp,
            authentication: AuthenticationRecord(method: .apiToken, authTime: now),
            now: now
        )
        return .json(try await detail(decided))
    }

    /// Records an approval, for the API and the web app alike.
    ///
    /// Everything but the one-time code is checked first (as if it were right), so that a refused
    /// decision does not spend it; the store checks it all again, atomically, when it records it.
    ///
    /// - Parameters:
    ///   - id: The request.
    ///   - user: The approver.
    ///   - text: The digest the approver reviewed.
    ///   - confirmation: The confirmation text typed, for High requests.
    ///   - otp: A one-time code for step-up, if given.
    ///   - authentication: How the approver is authenticated without a code (token or session).
    ///   - now: The time of the decision.
    /// - Returns: The request after the decision.
    /// - Throws: A ``Problem`` saying why the approval was refused.
    func approve(
        id: String,
        by user: User,
        digest text: String,
        confirmation: String?,
        otp: String?,
        authentication: AuthenticationRecord,
        now: Date
    ) async throws -> ActionRequest {
        guard let digest = ActionDigest(text) else {
            throw Self.invalid("\"digest\" must be sha256: and 64 hex digits")
        }
        func decision(with authentication: AuthenticationRecord) -> Decision {
            Decision(
                requestID: id,
                approver: user.email,
                verdict: .approve,
                digest: digest,
                authentication: authentication,
                decidedAt: now,
                confirmation: confirmation
            )
        }
        let stored = try await load(id)
        let provisional = decision(
            with: otp == nil ? authentication : AuthenticationRecord(method: .totp, authTime: now)
        )
        let prior = try await requests.decisions(for: id)
        do {
            _ = try stored.admit(provisional, prior: prior, now: now)
        } catch {
            throw Self.problem(error)
        }
        var authentication = authentication
        if let otp {
            do {
                authentication = try await users.stepUp(user, code: otp, box: secrets, now: now)
            } catch let error as UserError {
                throw Problem(
                    status: .forbidden,
                    title: "Step-up failed",
                    detail: error.description,
                    extensions: ["code": "step_up_failed"]
                )
            } catch is SecretBoxError {
                throw Problem(
                    status: .forbidden,
                    title: "Step-up failed",
                    detail: "your authenticator cannot be read with this server's secrets key; enroll again",
                    extensions: ["code": "step_up_failed"]
                )
            }
        }
        return try await decide(decision(with: authentication))
    }

    /// Denies: `POST /v1/approvals/{id}/deny` `{reason, digest?}`.
    func deny(_ request: Request, id: String) async throws -> Response {
        let user = try await authenticate(request)
        let body = try await Self.body(request, allowed: ["reason", "digest"])
        let now = Date()
        let decided = try await deny(
            id: id,
            by: user,
            reason: try Self.optionalString(body, "reason"),
            digest: try Self.optionalString(body, "digest"),
            authentication: AuthenticationRecord(method: .apiToken, authTime: now),
            now: now
        )
        return .json(try await detail(decided))
    }

    /// Records a denial, for the API and the web app alike.
    ///
    /// - Parameters:
    ///   - id: The request.
    ///   - user: The approver.
    ///   - reason: Why; the agent receives it.
    ///   - text: The digest the approver reviewed, if given (a denial stands whatever the payload).
    ///   - authentication: How the approver is authenticated.
    ///   - now: The time of the decision.
    /// - Returns: The request after the decision.
    /// - Throws: A ``Problem`` saying why the denial was refused.
    func deny(
        id: String,
        by user: User,
        reason: String?,
        digest text: String?,
        authentication: AuthenticationRecord,
        now: Date
    ) async throws -> ActionRequest {
        guard let reason else { throw Self.invalid("\"reason\" is required: the agent receives it") }
        let stored = try await load(id)
        var digest = stored.digest
        if let text {
            guard let given = ActionDigest(text) else {
                throw Self.invalid("\"digest\" must be sha256: and 64 hex digits")
            }
            digest = given
        }
        let decision = Decision(
            requestID: id,
            approver: user.email,
            verdict: .deny,
            digest: digest,
            authentication: authentication,
            decidedAt: now,
            reason: reason
        )
        return try await decide(decision)
    }

    /// Extends: `POST /v1/approvals/{id}/extend` `{minutes}`.
    func extend(_ request: Request, id: String) async throws -> Response {
        let user = try await authenticate(request)
        let body = try await Self.body(request, allowed: ["minutes"])
        guard case .number(let minutes) = body["minutes"], minutes == minutes.rounded(), (1...1440).contains(minutes)
        else { throw Self.invalid("\"minutes\" is a whole number from 1 to 1440") }
        let stored = try await load(id)
        let now = Date()
        do {
            let extended = try await requests.extend(
                id: id,
                until: stored.expiresAt.addingTimeInterval(minutes * 60),
                actor: user.actor,
                now: now
            )
            return .json(try await detail(extended))
        } catch let error as ApprovalError {
            throw Self.problem(error)
        }
    }

    /// `GET /v1/approvals/events`: every change to any request, as Server-Sent Events, starting
    /// with the requests pending now.
    func watch(_ request: Request) async throws -> Response {
        _ = try await authenticate(request)
        let changes = events.changes()
        let pending = try await requests.requests(RequestQuery(states: [.pending], limit: 1000))
        let api = self
        return ServerSentEvents.response { sink in
            for stored in pending.reversed() { sink.yield(ServerSentEvents.frame("request", api.view(stored))) }
            for await id in changes {
                if let stored = try await api.requests.request(id: id) {
                    sink.yield(ServerSentEvents.frame("request", api.view(stored)))
                }
            }
        }
    }

    private func decide(_ decision: Decision) async throws -> ActionRequest {
        do {
            return try await requests.decide(decision, now: decision.decidedAt)
        } catch let error as ApprovalError {
            throw Self.problem(error)
        }
    }

    static func problem(_ error: ApprovalError) -> Problem {
        let status: HTTPResponse.Status =
            switch error.category {
            case "not_found": .notFound
            case "conflict": .conflict
            case "forbidden": .forbidden
            default: .unprocessableContent
            }
        var extensions: [String: JSONValue] = ["code": .string(error.code)]
        if let state = error.state { extensions["state"] = .string(state.rawValue) }
        return Problem(status: status, title: "Decision refused", detail: error.description, extensions: extensions)
    }

    static func invalid(_ detail: String) -> Problem {
        Problem(status: .unprocessableContent, title: "Invalid decision", detail: detail)
    }

    static func optionalString(_ body: [String: JSONValue], _ key: String) throws -> String? {
        guard let member = body[key], member != .null else { return nil }
        guard let text = member.stringValue, !text.isEmpty, text.count <= 2000 else {
            throw invalid("\"\(key)\" must be a non-empty string of at most 2000 characters")
        }
        return text
    }

    /// Reads a small JSON object body with only the allowed members.
    static func body(_ request: Request, allowed: Set<String>) async throws -> [String: JSONValue] {
        var request = request
        let buffer = try await request.collectBody(limit: maximumBodyBytes, limitText: "64 KiB")
        if buffer.readableBytes == 0 { return [:] }
        let value: JSONValue
        do {
            value = try JSONParser().parse(Array(buffer: buffer))
        } catch {
            throw Problem(status: .badRequest, title: "Malformed JSON", detail: "the body is not valid JSON: \(error)")
        }
        guard case .object(let members) = value else { throw invalid("the body must be a JSON object") }
        if let unknown = members.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw invalid("unknown member \"\(unknown)\"; expected \(allowed.sorted().joined(separator: ", "))")
        }
        return members
    }
}
