public import Countersign
public import Hummingbird
public import Logging
public import ServiceLifecycle

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

/// Builds the HTTP application: the agent API, health and the OpenAPI document.
///
/// - Parameters:
///   - configuration: Where to listen.
///   - gateway: The intake of proposed actions.
///   - requests: Where requests are read.
///   - events: Announces request changes, for long-polls.
///   - agents: Where agent keys are checked.
///   - services: Long-running work to run beside the server (sweeper, checkpoints).
///   - logger: The server's logger.
/// - Returns: The application, ready to run as a service.
public func buildApplication(
    configuration: ServerConfiguration,
    gateway: Gateway,
    requests: any ActionStore,
    events: RequestEvents,
    agents: any AgentStore,
    services: [any Service] = [],
    logger: Logger
) -> some ApplicationProtocol {
    let router = buildRouter(gateway: gateway, requests: requests, events: events, agents: agents)
    var application = Application(
        router: router,
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "countersign"
        ),
        logger: logger
    )
    for service in services { application.addServices(service) }
    return application
}

/// Builds the router (exposed for in-process tests).
public func buildRouter(
    gateway: Gateway,
    requests: any ActionStore,
    events: RequestEvents,
    agents: any AgentStore
) -> Router<BasicRequestContext> {
    let router = Router()
    router.add(middleware: ProblemMiddleware())
    router.get("/healthz") { _, _ in Response.json(["status": "ok"]) }
    router.get("/openapi.json") { _, _ in
        Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json))
        )
    }
    let api = AgentAPI(gateway: gateway, requests: requests, events: events, agents: agents)
    router.get("/v1/catalog") { request, _ in try await api.catalog(request) }
    router.post("/v1/actions") { request, _ in try await api.propose(request) }
    router.get("/v1/actions/{id}") { request, context in
        try await api.show(request, id: try context.parameters.require("id"))
    }
    return router
}

/// Turns ``Problem``s into problem+json responses, and any other error into a 500 that says nothing
/// of its cause (which is logged instead).
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return problem.response
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            return Problem(status: error.status, title: "Not found", detail: "no such endpoint; see /openapi.json")
                .response
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return Problem(
                status: .internalServerError,
                title: "Internal error",
                detail: "Countersign could not complete the request; nothing was approved or executed by it"
            ).response
        }
    }
}
