import Countersign
import Hummingbird

/// The agent API: propose actions and read their outcome.
///
/// An agent sees only its own requests.
struct AgentAPI: Sendable {
    let gateway: Gateway
    let requests: any ActionStore
    let events: RequestEvents
    let agents: any AgentStore
    static let maximumBodyBytes = 1_048_576

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

    func propose(_ request: Request) async throws -> Response {
        let agent = try await authenticate(request)
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maximumBodyBytes)
        } catch {
            throw Problem(
                status: .contentTooLarge,
                title: "Body too large",
                detail: "the request body may be at most 1 MiB"
            )
        }
        let value: JSONValue
        do {
            value = try JSONParser().parse(Array(buffer: body))
        } catch {
            throw Problem(status: .badRequest, title: "Malformed JSON", detail: "the body is not valid JSON: \(error)")
        }
        let proposal = try Proposal(value)
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
        return .json(stored.json, status: stored.state == .rejected ? .forbidden : .created)
    }

    /// The request if this agent made it.
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
            sink.yield(ServerSentEvents.frame("state", sent.json))
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
                    sink.yield(ServerSentEvents.frame("state", sent.json))
                }
            }
        }
    }

    /// The request; with `?wait=SECONDS` (up to 60), answers as soon as its state changes.
    func show(_ request: Request, id: String) async throws -> Response {
        let agent = try await authenticate(request)
        func load() async throws -> ActionRequest { try await self.load(id, for: agent) }
        guard let wait = request.uri.queryParameters["wait"] else { return .json(try await load().json) }
        guard let seconds = Int(wait), (0...60).contains(seconds) else {
            throw Problem(
                status: .badRequest,
                title: "Invalid wait",
                detail: "wait is a whole number of seconds from 0 to 60"
            )
        }
        // Only the state is kept while waiting (ten thousand waiting agents hold ten thousand of these).
        let initial: RequestState
        do {
            let first = try await load()
            guard seconds > 0, !first.state.isTerminal else { return .json(first.json) }
            initial = first.state
        }
        try await events.wait(for: id, timeout: .seconds(seconds)) { try await load().state != initial }
        let latest = try await load()
        return .json(latest.json)
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
