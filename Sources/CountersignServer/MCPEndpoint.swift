public import Countersign
import CountersignMCP
import Foundation
import HTTPTypes
public import Hummingbird
import MCP
import Synchronization

/// MCP over streamable HTTP at `/mcp`: the same gated tools as `countersign mcp`, for clients that
/// connect by URL.
///
/// Every request carries the agent's key as a bearer token and is authenticated on its own; an MCP
/// session id only routes to the session, and a session answers only the agent that opened it. A
/// personal token or any other credential is refused. The principal is named in the URL
/// (`/mcp?onBehalfOf=ana@acme.test`), and optionally how long a call waits for a human
/// (`&maxWait=SECONDS`, 600 by default).
public final class MCPEndpoint: Sendable {
    private struct Session: Sendable {
        let agentKeyID: String
        let transport: StatefulHTTPServerTransport
        let server: MCP.Server
        var lastUsed: Date
    }

    private let agents: any AgentStore
    private let address: ServerAddress
    private let sessions = Mutex<[String: Session]>([:])
    private let maximumWait: Duration
    /// Sessions unused for this long are closed.
    static let idleTimeout: TimeInterval = 1800

    /// Creates the endpoint.
    ///
    /// - Parameters:
    ///   - agents: Where agent keys are checked.
    ///   - address: The server's own address, which the tools' agent API calls go to.
    ///   - maximumWait: How long a tool call waits for a human before it returns a pending result.
    public init(agents: any AgentStore, address: ServerAddress, maximumWait: Duration = .seconds(600)) {
        self.agents = agents
        self.address = address
        self.maximumWait = maximumWait
    }

    /// Adds `POST`, `GET` and `DELETE /mcp`.
    public func add<Context: Hummingbird.RequestContext>(to router: Router<Context>) {
        for method in [HTTPRequest.Method.post, .get, .delete] {
            router.on("/mcp", method: method) { request, _ in try await self.handle(request) }
        }
    }

    func handle(_ request: Request) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            let agent = try await agents.authenticate(key: String(header.dropFirst(7)))
        else { throw Problem.unauthorized }
        let key = Secret(String(header.dropFirst(7)))
        var request = request
        let body = try await request.collectBody(limit: 1 << 20, limitText: "1 MiB")
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let message = MCP.HTTPRequest(
            method: request.method.rawValue,
            headers: headers,
            body: body.readableBytes > 0 ? Data(body.readableBytesView) : nil,
            path: request.uri.path
        )
        closeIdleSessions()
        if let id = request.headers[HTTPField.Name(HTTPHeaderName.sessionID)!] {
            // The session id routes; the key authenticates. Another agent's session does not exist for this one.
            guard
                let session = sessions.withLock({ sessions -> Session? in
                    guard var session = sessions[id], session.agentKeyID == agent.keyID else { return nil }
                    session.lastUsed = Date()
                    sessions[id] = session
                    return session
                })
            else { throw Problem(status: .notFound, title: "No such session", detail: "start a new MCP session") }
            let answer = await session.transport.handleRequest(message)
            if request.method == .delete {
                sessions.withLock { $0[id] = nil }
                await session.server.stop()
            }
            return Self.response(answer)
        }
        guard request.method == .post else {
            throw Problem(
                status: .badRequest,
                title: "No session",
                detail: "start a session with an initialize request"
            )
        }
        guard let principal = request.uri.queryParameters["onBehalfOf"].map(String.init),
            principal.contains("@"), !principal.contains(where: \.isWhitespace)
        else {
            throw Problem(
                status: .badRequest,
                title: "Principal required",
                detail: "name on whose behalf the agent acts: /mcp?onBehalfOf=ana@acme.test"
            )
        }
        guard let base = address.internalURL else {
            throw Problem(status: .serviceUnavailable, title: "Starting", detail: "the server is starting; try again")
        }
        var wait = maximumWait
        if let text = request.uri.queryParameters["maxWait"] {
            guard let seconds = Int(text), (1...3600).contains(seconds) else {
                throw Problem(
                    status: .badRequest,
                    title: "Invalid maxWait",
                    detail: "maxWait is from 1 to 3600 seconds"
                )
            }
            wait = .seconds(seconds)
        }
        let transport = StatefulHTTPServerTransport()
        let tools = GatedTools(api: AgentAPIClient(server: base, key: key), principal: principal, maximumWait: wait)
        let server = try await tools.start(on: transport)
        let answer = await transport.handleRequest(message)
        if let id = answer.headers[HTTPHeaderName.sessionID] {
            sessions.withLock {
                $0[id] = Session(agentKeyID: agent.keyID, transport: transport, server: server, lastUsed: Date())
            }
        } else {
            await server.stop()
        }
        return Self.response(answer)
    }

    private func closeIdleSessions() {
        let cutoff = Date().addingTimeInterval(-Self.idleTimeout)
        let idle = sessions.withLock { sessions -> [Session] in
            let idle = sessions.filter { $0.value.lastUsed < cutoff }
            for id in idle.keys { sessions[id] = nil }
            return Array(idle.values)
        }
        for session in idle { Task { await session.server.stop() } }
    }

    private static func response(_ answer: MCP.HTTPResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        let status = HTTPResponse.Status(code: answer.statusCode)
        switch answer {
        case .stream(let stream, _):
            return Response(
                status: status,
                headers: fields,
                body: ResponseBody { writer in
                    for try await chunk in stream { try await writer.write(ByteBuffer(bytes: chunk)) }
                    try await writer.finish(nil)
                }
            )
        default:
            return Response(
                status: status,
                headers: fields,
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.bodyData ?? Data()))
            )
        }
    }
}
