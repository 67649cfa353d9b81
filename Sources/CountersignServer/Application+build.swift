public import Countersign
public import CountersignAgent
public import CountersignSandbox
public import CountersignStore
public import CountersignVault
public import Hummingbird
public import Logging
public import NIOCore
public import ServiceLifecycle
import Synchronization

/// Where the server listens.
public struct ServerConfiguration: Sendable {
    /// The address to bind (loopback by default).
    public var host: String
    /// The port.
    public var port: Int

    /// Creates a configuration.
    public init(host: String = "127.0.0.1", port: Int = 8787) {
        self.host = host
        self.port = port
    }
}

/// Where the server is reached: the address its own MCP tools call, known once it listens, and
/// the public base URL that links for people (the approval page) are built on.
public final class ServerAddress: Sendable {
    private let configured: String?
    private let listeningURL = Mutex<String?>(nil)

    /// Creates an address.
    ///
    /// - Parameter publicURL: The base URL people reach the server at (behind a proxy, say); when
    ///   `nil`, the address it listens on.
    public init(publicURL: String? = nil) {
        configured = publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
    }

    /// Records where the server listens (called once it does).
    public func listening(at url: String) { listeningURL.withLock { $0 = url } }

    /// Where the server's own clients (the MCP tools) reach its API, once it listens.
    public var internalURL: String? { listeningURL.withLock { $0 } }

    /// The base of links for people.
    public var publicURL: String? { configured ?? internalURL }
}

/// What the HTTP API works with.
public struct ServerContext: Sendable {
    /// The intake of proposed actions.
    public let gateway: Gateway
    /// Where requests are read and decided (announcing changes on `events`).
    public let requests: any ActionStore
    /// Announces request changes, for long-polls, event streams and the executor.
    public let events: RequestEvents
    /// Where agent keys are checked.
    public let agents: any AgentStore
    /// Where approvers and their tokens are checked.
    public let users: any UserStore
    /// Where the web app's sessions are kept; without it, the web app is not served.
    public let sessions: (any WebSessionStore)?
    /// The OpenID Connect provider approvers may sign in and step up with.
    public let oidc: OIDCConfiguration?
    /// The audit log and its checkpoints, for the web app's audit page.
    public let audit: AuditSources?
    /// Opens approvers' sealed TOTP secrets for step-up.
    public let secrets: SecretBox
    /// Connected accounts and the tokens vended for them, if the server has a vault.
    public let vault: Vault?
    /// The sandbox providers (GitHub, Slack), served under `/sandbox/` when Countersign runs against them.
    public let sandbox: Sandbox?
    /// MCP over streamable HTTP at `/mcp`.
    public let mcp: MCPEndpoint
    /// Where the server is reached: by its own tools, and by people (links to the approval page).
    public let address: ServerAddress
    /// The database, asked by `/healthz` whether it answers.
    public let database: (any DatabaseHealth)?
    /// Carries out runs (`/v1/runs`), if the server offers them.
    public let runs: RunEngine?

    /// Creates a context.
    public init(
        gateway: Gateway,
        requests: any ActionStore,
        events: RequestEvents,
        agents: any AgentStore,
        users: any UserStore,
        secrets: SecretBox,
        vault: Vault? = nil,
        sandbox: Sandbox? = nil,
        sessions: (any WebSessionStore)? = nil,
        oidc: OIDCConfiguration? = nil,
        audit: AuditSources? = nil,
        database: (any DatabaseHealth)? = nil,
        runs: RunEngine? = nil,
        publicURL: String? = nil
    ) {
        self.database = database
        self.runs = runs
        self.sessions = sessions
        self.oidc = oidc
        self.audit = audit
        self.address = ServerAddress(publicURL: publicURL)
        self.mcp = MCPEndpoint(agents: agents, address: address)
        self.gateway = gateway
        self.requests = requests
        self.events = events
        self.agents = agents
        self.users = users
        self.secrets = secrets
        self.vault = vault
        self.sandbox = sandbox
    }
}

/// The request context: Hummingbird's core, and the peer's address (for rate limits on sign-in).
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The address of the connection's peer (the proxy's, behind a reverse proxy).
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Builds the HTTP application: the agent and approver APIs, health and the OpenAPI document.
///
/// - Parameters:
///   - configuration: Where to listen.
///   - context: What the API works with.
///   - services: Long-running work to run beside the server (executor, sweeper, checkpoints).
///   - logger: The server's logger.
///   - onListening: Called with the port once the server listens (useful with port 0).
/// - Returns: The application, ready to run as a service (its own `run`, which a `Service` runs;
///   Hummingbird's `ApplicationProtocol.run` would not leave out what ``CountersignApplication``
///   does).
public func buildApplication(
    configuration: ServerConfiguration,
    context: ServerContext,
    services: [any Service] = [],
    logger: Logger,
    onListening: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some Service {
    CountersignApplication(
        responder: buildRouter(context, mapsErrors: false).buildResponder(),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "countersign"
        ),
        logger: logger,
        services: services,
        listening: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            // The MCP tools call the agent API of this same server.
            let host = ["0.0.0.0", "::", ""].contains(configuration.host) ? "127.0.0.1" : configuration.host
            context.address.listening(at: "http://\(host.contains(":") ? "[\(host)]" : host):\(port)")
            await onListening(port)
        }
    )
}

/// Builds the router (exposed for in-process tests).
///
/// - Parameters:
///   - context: What the API works with.
///   - mapsErrors: Whether the router turns handlers' errors into problem+json responses itself
///     (``ProblemMiddleware``); the server's application does it instead, a frame higher.
/// - Returns: The router with every route.
public func buildRouter(_ context: ServerContext, mapsErrors: Bool = true) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    if mapsErrors { router.add(middleware: ProblemMiddleware()) }
    router.get("/healthz") { _, _ in
        var health: [String: JSONValue] = ["status": "ok"]
        switch await context.vault?.status {
        case .unsealed: health["vault"] = ["state": "unsealed"]
        case .sealed(let reason): health["vault"] = ["state": "sealed", "reason": .string(reason)]
        case nil: health["vault"] = ["state": "absent"]
        }
        guard let database = context.database else { return Response.json(.object(health)) }
        do {
            try await database.checkHealth()
            health["database"] = ["kind": .string(database.databaseKind), "state": "ok"]
            return Response.json(.object(health))
        } catch {
            // A load balancer takes the instance out; nothing it would do without its database is done.
            health["status"] = "unavailable"
            health["database"] = [
                "kind": .string(database.databaseKind), "state": "unavailable", "reason": .string("\(error)"),
            ]
            return Response.json(.object(health), status: .serviceUnavailable)
        }
    }
    if let vault = context.vault { ConnectRoutes.add(to: router, vault: vault) }
    context.sandbox?.add(to: router)
    context.mcp.add(to: router)
    router.get("/openapi.json") { _, _ in
        Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json))
        )
    }
    let agents = AgentAPI(
        gateway: context.gateway,
        requests: context.requests,
        events: context.events,
        agents: context.agents,
        address: context.address
    )
    router.get("/v1/catalog") { request, _ in try await agents.catalog(request) }
    if let engine = context.runs {
        let runs = RunsAPI(agents: agents, engine: engine)
        router.post("/v1/runs") { request, _ in try await runs.start(request) }
        router.get("/v1/runs") { request, _ in try await runs.list(request) }
        router.get("/v1/runs/{id}") { request, context in
            try await runs.show(request, id: try context.parameters.require("id"))
        }
        router.get("/v1/runs/{id}/events") { request, context in
            try await runs.stream(request, id: try context.parameters.require("id"))
        }
    }
    router.post("/v1/actions") { request, _ in try await agents.propose(request) }
    router.get("/v1/actions") { request, _ in try await agents.list(request) }
    router.post("/v1/actions/{id}/undo") { request, context in
        try await agents.undo(request, id: try context.parameters.require("id"))
    }
    router.post("/v1/actions/{id}/client-decision") { request, context in
        try await agents.clientDecision(request, id: try context.parameters.require("id"))
    }
    router.get("/v1/actions/{id}") { request, context in
        try await agents.show(request, id: try context.parameters.require("id"))
    }
    router.get("/v1/actions/{id}/events") { request, context in
        try await agents.stream(request, id: try context.parameters.require("id"))
    }
    let approvers = ApproverAPI(
        catalog: context.gateway.catalog,
        requests: context.requests,
        events: context.events,
        users: context.users,
        secrets: context.secrets,
        vault: context.vault
    )
    router.get("/v1/approvals") { request, _ in try await approvers.list(request) }
    router.get("/v1/approvals/events") { request, _ in try await approvers.watch(request) }
    router.get("/v1/approvals/{id}") { request, context in
        try await approvers.show(request, id: try context.parameters.require("id"))
    }
    router.post("/v1/approvals/{id}/approve") { request, context in
        try await approvers.approve(request, id: try context.parameters.require("id"))
    }
    router.post("/v1/approvals/{id}/deny") { request, context in
        try await approvers.deny(request, id: try context.parameters.require("id"))
    }
    router.post("/v1/approvals/{id}/extend") { request, context in
        try await approvers.extend(request, id: try context.parameters.require("id"))
    }
    if let sessions = context.sessions {
        let web = WebApp(
            gateway: context.gateway,
            requests: context.requests,
            events: context.events,
            users: context.users,
            sessions: sessions,
            approvals: approvers,
            catalog: context.gateway.catalog,
            address: context.address,
            oidc: context.oidc.map(OIDCClient.init)
        )
        web.add(to: router)
        if let runs = context.runs { WebRuns(app: web, runs: runs.runs).add(to: router) }
        WebAdmin(app: web, agents: context.agents, vault: context.vault, audit: context.audit).add(to: router)
    }
    return router
}

/// Turns ``Problem``s into problem+json responses, and any other error into a 500 that says nothing
/// of its cause (which is logged instead).
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            return Self.response(to: error, logger: context.logger)
        }
    }

    /// The problem+json response to an error a handler threw.
    static func response(to error: any Error, logger: Logger) -> Response {
        switch error {
        case let problem as Problem:
            return problem.response
        case let error as StoreError where error.isUnavailable:
            logger.error("request failed: the database is unavailable", metadata: ["error": "\(error)"])
            return Problem(
                status: .serviceUnavailable,
                title: "Database unavailable",
                detail:
                    "Countersign cannot reach its database, so it records, decides and executes nothing now; try again shortly"
            ).response
        case let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed:
            return Problem(status: error.status, title: "Not found", detail: "no such endpoint; see /openapi.json")
                .response
        default:
            logger.error("request failed", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return Problem(
                status: .internalServerError,
                title: "Internal error",
                detail: "Countersign could not complete the request; nothing was approved or executed by it"
            ).response
        }
    }
}
