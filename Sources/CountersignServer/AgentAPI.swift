import Countersign
import Foundation
import Hummingbird

/// The agent API: propose actions and read their outcome.
///
/// An agent sees only its own requests.
struct AgentAPI: Sendable {
    let gateway: Gateway
    let requests: any ActionStore
    let events: RequestEvents
    let agents: any AgentStore
    let address: ServerAddress
    static let maximumBodyBytes = 1_048_576

    /// The request as the agent sees it: while it waits for a decision, with the approval page's URL
    /// (which the agent can hand to a person; it grants nothing by itself).
    func view(_ stored: ActionRequest) -> JSONValue {
        var members = stored.json.objectValue ?? [:]
        if let sandbox = gateway.catalog.descriptor(for: stored.action.operation)?.sandbox {
            members["sandbox"] = .string(sandbox)
        }
        if stored.state == .pending, let base = address.publicURL {
            members["approvalURL"] = .string("\(base)/approvals/\(stored.id)")
        }
        return .object(members)
    }

    func authenticate(_ request: Request) async throws -> Agent {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw Problem.unauthorized
        }
        guard let agent = try await agents.authenticate(key: String(header.dropFirst(7))) else {
            throw Problem.unauthorized
        }
        return agent
    }

    func catalog(_ request: Request) async throws -> Response {
        _ = try await authenticate(request)
        return .json(["operations": .array(gateway.catalog.descriptors.map(\.json))])
    }

    /// A JSON body of at most 1 MiB.
    ///
    /// - Throws: A 413 or 400 ``Problem``.
    static func jsonBody(_ request: Request) async throws -> JSONValue {
        var request = request
        let body = try await request.collectBody(limit: maximumBodyBytes, limitText: "1 MiB")
        do {
            return try JSONParser().parse(Array(buffer: body))
        } catch {
            throw Problem(status: .badRequest, title: "Malformed JSON", detail: "the body is not valid JSON: \(error)")
        }
    }

    func propose(_ request: Request) async throws -> Response {
        let agent = try await authenticate(request)
        let proposal = try Proposal(try await Self.jsonBody(request))
        let action = ProposedAction(
            operation: proposal.operation,
            arguments: proposal.arguments,
            principal: proposal.onBehalfOf,
            agent: agent.name
        )
        let stored: ActionRequest
        do {
            stored = try await gateway.propose(
                action,
                agentReason: proposal.reason,
                idempotencyKey: proposal.idempotencyKey,
                runID: proposal.runID
            )
        } catch let error as ActionError {
            throw Problem(
                status: error.isUnknownOperation ? .notFound : .unprocessableContent,
                title: error.isUnknownOperation ? "Unknown operation" : "Invalid arguments",
                detail: error.description,
                extensions: [
                    "violations": .array(
                        error.violations.map {
                            [
                                "path": .string($0.instancePath), "keyword": .string($0.keyword),
                                "message": .string($0.message),
                            ]
                        }
                    )
                ]
            )
        } catch let error as StoreError where error.isIdempotencyConflict {
            throw Problem(status: .conflict, title: "Idempotency key reused", detail: error.description)
        }
        return .json(view(stored), status: stored.state == .rejected ? .forbidden : .created)
    }

    /// The request as the agent sees it, with what an approver changed, if they edited it.
    func viewWithEdit(_ stored: ActionRequest) async throws -> JSONValue {
        guard let edit = try await requests.edit(of: stored.id), case .object(var members) = view(stored) else {
            return view(stored)
        }
        members["edited"] = edit.json
        return .object(members)
    }

    /// `POST /v1/actions/{id}/undo`: proposes the action that undoes an executed one (gated).
    func undo(_ request: Request, id: String) async throws -> Response {
        let agent = try await authenticate(request)
        let proposed: ActionRequest
        do {
            proposed = try await gateway.undo(id, agent: agent.name)
        } catch let error as UndoError {
            let status: HTTPResponse.Status =
                switch error {
                case .notFound: .notFound
                case .notExecuted: .conflict
                case .notReversible: .unprocessableContent
                }
            throw Problem(status: status, title: "Cannot undo", detail: error.description)
        }
        return .json(view(proposed), status: proposed.state == .rejected ? .forbidden : .created)
    }

    /// `GET /v1/actions?state=pending,approved&limit=50`: this agent's requests, newest first.
    func list(_ request: Request) async throws -> Response {
        let agent = try await authenticate(request)
        var query = try RequestQuery(request, defaultStates: [], defaultLimit: 50, maximumLimit: 200)
        query.agent = agent.name
        let found = try await requests.requests(query)
        return .json(["actions": .array(found.map(view))])
    }

    /// `POST /v1/actions/{id}/client-decision` `{verdict, digest, reason?}`: the principal's answer from the MCP client.
    ///
    /// For a request whose policy permits a decision in the agent's own client (Low or Medium, one
    /// self-approval, no step-up or confirmation text). Recorded as the principal's decision with
    /// the method `mcp_client`; anything else is refused and waits for an approver.
    func clientDecision(_ request: Request, id: String) async throws -> Response {
        let agent = try await authenticate(request)
        let body = try await ApproverAPI.body(request, allowed: ["verdict", "digest", "reason"])
        let stored = try await load(id, for: agent)
        guard let verdict = body["verdict"]?.stringValue.flatMap(Decision.Verdict.init(rawValue:)) else {
            throw ApproverAPI.invalid("\"verdict\" is required: \"approve\" or \"deny\"")
        }
        guard let text = body["digest"]?.stringValue else {
            throw ApproverAPI.invalid("\"digest\" is required: the digest of the payload the person was shown")
        }
        guard let digest = ActionDigest(text) else {
            throw ApproverAPI.invalid("\"digest\" must be sha256: and 64 hex digits")
        }
        let reason = try ApproverAPI.optionalString(body, "reason")
        let now = Date()
        let decision = Decision(
            requestID: id,
            approver: stored.action.principal,
            verdict: verdict,
            digest: digest,
            authentication: AuthenticationRecord(method: .mcpClient, authTime: now, amr: ["agent:\(agent.name)"]),
            decidedAt: now,
            reason: reason ?? (verdict == .deny ? "declined by \(stored.action.principal) in the agent's client" : nil)
        )
        do {
            // The store admits it (policy's permission included) in the same transaction that records it.
            return .json(view(try await requests.decide(decision, now: now)))
        } catch let error as ApprovalError {
            throw ApproverAPI.problem(error)
        }
    }

    /// The request if this agent made it.
    @inline(__always)
    func load(_ id: String, for agent: Agent) async throws -> ActionRequest {
        guard let stored = try await requests.request(id: id), stored.action.agent == agent.name else {
            throw Problem(status: .notFound, title: "Not found", detail: "no request \(id) made by this agent")
        }
        return stored
    }

    /// `GET /v1/actions/{id}/events`: the request's state now and at every change, as Server-Sent
    /// Events, until it reaches a final state.
    func stream(_ request: Request, id: String) async throws -> Response {
        let agent = try await authenticate(request)
        let first = try await load(id, for: agent)
        let api = self
        return ServerSentEvents.response { sink in
            var sent = first
            sink.yield(ServerSentEvents.frame("state", try await api.viewWithEdit(sent)))
            while !sent.state.isTerminal {
                var latest = sent
                try await api.events.wait(for: id, timeout: .seconds(60)) {
                    latest = try await api.load(id, for: agent)
                    return latest.state != sent.state
                }
                try Task.checkCancellation()
                if latest.state == sent.state { latest = try await api.load(id, for: agent) }
                if latest.state != sent.state {
                    sent = latest
                    sink.yield(ServerSentEvents.frame("state", try await api.viewWithEdit(sent)))
                }
            }
        }
    }

    /// The request; with `?wait=SECONDS` (up to 60), answers as soon as its state changes.
    ///
    /// Ten thousand agents may wait at once, each holding the frames of this function and those
    /// it is waiting in for as long as it waits (and the task keeps its deepest frames for the
    /// connection's life). So the waiting functions are small, keeping the id, the agent, the state
    /// and the deadline: the request is read, and its view rendered, in functions of their own that
    /// return before the wait.
    func show(_ request: Request, id: String) async throws -> Response {
        let wait = request.uri.queryParameters["wait"].map(String.init)
        let agent = try await authenticate(request)
        guard let wait else { return try await respond(id, for: agent) }
        guard let seconds = Int(wait), (0...60).contains(seconds) else {
            throw Problem(
                status: .badRequest,
                title: "Invalid wait",
                detail: "wait is a whole number of seconds from 0 to 60"
            )
        }
        return try await longPoll(id, for: agent, seconds: seconds)
    }

    /// Waits up to `seconds` for the request's state to change, then answers with the request.
    @inline(never)
    private func longPoll(_ id: String, for agent: Agent, seconds: Int) async throws -> Response {
        let initial = try await state(of: id, for: agent)
        if seconds > 0, !initial.isTerminal {
            // A wake-up is a hint to read again: one without a change (all waiters are woken after
            // the instance may have missed another's notification) waits on for the rest of the time.
            let deadline = ContinuousClock.now + .seconds(seconds)
            var current = initial
            repeat {
                try await events.wait(for: id, timeout: deadline - .now) {
                    try await state(of: id, for: agent) != initial
                }
                current = try await state(of: id, for: agent)
            } while current == initial && ContinuousClock.now < deadline && !Task.isCancelled
        }
        return try await respond(id, for: agent)
    }

    /// The request's state (read in a frame of its own, gone before any wait).
    @inline(never)
    private func state(of id: String, for agent: Agent) async throws -> RequestState {
        try await load(id, for: agent).state
    }

    /// The request as the agent sees it, as a response.
    @inline(never)
    private func respond(_ id: String, for agent: Agent) async throws -> Response {
        .json(try await viewWithEdit(try await load(id, for: agent)))
    }
}

/// The body of `POST /v1/actions`.
struct Proposal {
    let operation: OperationID
    let arguments: JSONValue
    let onBehalfOf: String
    let idempotencyKey: String?
    let runID: String?
    let reason: String?

    init(_ value: JSONValue) throws {
        func invalid(_ detail: String) -> Problem {
            Problem(status: .unprocessableContent, title: "Invalid proposal", detail: detail)
        }
        guard case .object(let members) = value else { throw invalid("the body must be a JSON object") }
        let known: Set<String> = ["operation", "arguments", "onBehalfOf", "idempotencyKey", "runID", "reason"]
        if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
            throw invalid("unknown member \"\(unknown)\"; expected \(known.sorted().joined(separator: ", "))")
        }
        guard let name = members["operation"]?.stringValue else {
            throw invalid("\"operation\" is required, as connector.operation (GET /v1/catalog lists them)")
        }
        guard let operation = OperationID(name) else { throw invalid("\"\(name)\" is not connector.operation") }
        guard let principal = members["onBehalfOf"]?.stringValue, !principal.isEmpty, principal.count <= 256 else {
            throw invalid("\"onBehalfOf\" is required: the person the action is taken for")
        }
        func optionalString(_ key: String, limit: Int) throws -> String? {
            guard let member = members[key], member != .null else { return nil }
            guard let text = member.stringValue, !text.isEmpty, text.count <= limit else {
                throw invalid("\"\(key)\" must be a non-empty string of at most \(limit) characters")
            }
            return text
        }
        self.operation = operation
        self.arguments = members["arguments"] ?? .object([:])
        self.onBehalfOf = principal
        self.idempotencyKey = try optionalString("idempotencyKey", limit: 200)
        self.runID = try optionalString("runID", limit: 200)
        self.reason = try optionalString("reason", limit: 2000)
    }
}

extension RequestQuery {
    /// Reads `?state=` (`all`, or a comma-separated list of states) and `?limit=` from a list request.
    ///
    /// - Parameters:
    ///   - request: The HTTP request.
    ///   - defaultStates: The states listed when `state` is absent.
    ///   - defaultLimit: The number listed when `limit` is absent.
    ///   - maximumLimit: The largest `limit` accepted.
    /// - Throws: A 400 ``Problem`` naming the valid values.
    init(_ request: Request, defaultStates: Set<RequestState>, defaultLimit: Int, maximumLimit: Int) throws {
        var states = defaultStates
        if let text = request.uri.queryParameters["state"] {
            states = []
            for name in text.split(separator: ",") where text != "all" {
                guard let state = RequestState(rawValue: String(name)) else {
                    throw Problem(
                        status: .badRequest,
                        title: "Invalid state",
                        detail: "unknown state \"\(name)\"; state is all or a comma-separated list of "
                            + RequestState.allCases.map(\.rawValue).joined(separator: ", ")
                    )
                }
                states.insert(state)
            }
        }
        var limit = defaultLimit
        if let text = request.uri.queryParameters["limit"] {
            guard let value = Int(text), (1...maximumLimit).contains(value) else {
                throw Problem(status: .badRequest, title: "Invalid limit", detail: "limit is from 1 to \(maximumLimit)")
            }
            limit = value
        }
        self.init(states: states, limit: limit)
    }
}
