import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP application: Hummingbird's, with a leaner way of running each request.
///
/// Each connection is one task, and a task keeps the memory of its deepest frames for as long as
/// the connection lives: with ten thousand agents long-polling, every frame between the
/// connection and the handler costs about 10 MB. So two layers are left out. Hummingbird's
/// `Application` runs every request inside a task-local logger (`withLogger`); Countersign's
/// handlers log through the request context's logger, which carries the same request id. And
/// handlers' errors become problem+json responses here, as ``ProblemMiddleware`` does for a
/// router on its own, rather than in a middleware. The rest (the `Date` and `Server` headers, a
/// malformed request answered by the server) is as in Hummingbird.
///
/// It is a `Service` and not an `ApplicationProtocol`, whose extension's `run` (Hummingbird's own)
/// could otherwise be called on it by mistake.
struct CountersignApplication<Responder: HTTPResponder>: Service
where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
    let responder: Responder
    let configuration: ApplicationConfiguration
    let logger: Logger
    let services: [any Service]
    let listening: @Sendable (any Channel) async -> Void

    func run() async throws {
        let (responder, logger, serverName) = (responder, logger, configuration.serverName)
        let dates = HTTPDate()
        let server = try HTTPServerBuilder.http1().buildServer(
            configuration: HummingbirdCore.ServerConfiguration(
                address: configuration.address,
                serverName: configuration.serverName,
                backlog: configuration.backlog,
                reuseAddress: configuration.reuseAddress
            ),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger
        ) { (request, responseWriter: consuming ResponseWriter, channel) in
            var requestLogger = logger
            requestLogger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
            let context = Responder.Context(source: .init(channel: channel, logger: requestLogger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as HTTPParserError {
                throw error
            } catch {
                response = ProblemMiddleware.response(to: error, logger: requestLogger)
            }
            if response.status == .notFound, response.headers[.contentType] == nil, response.body.contentLength == 0 {
                // The router's own answer for a path no route takes (it answers its `HTTPError`
                // itself, before any error reaches here); Countersign's handlers answer with a problem.
                response = ProblemMiddleware.response(to: HTTPError(.notFound), logger: requestLogger)
            }
            response.headers[.date] = dates.now()
            if let serverName { response.headers[.server] = serverName }
            do {
                try await responseWriter.write(response: response.head, body: response.body)
            } catch is HTTPParserError {
                // Not the parser's error itself: the server would answer it with a second response.
                throw ResponseWriteFailed()
            }
        } onServerRunning: { [listening] channel in
            await listening(channel)
        }
        try await ServiceGroup(configuration: .init(services: services + [server], logger: logger)).run()
    }

    /// The request turned out malformed while its response was being written; the connection is
    /// closed.
    struct ResponseWriteFailed: Error {}
}

/// The `Date` header's value (RFC 9110's IMF-fixdate), formatted once a second.
final class HTTPDate: Sendable {
    private let cache = Mutex<(second: Int, text: String)>((-1, ""))

    /// The current time, as in `Sun, 06 Nov 1994 08:49:37 GMT`.
    func now() -> String {
        let second = time(nil)
        return cache.withLock { cache in
            if cache.second != second { cache = (second, Self.format(second)) }
            return cache.text
        }
    }

    /// The IMF-fixdate of a time in seconds since 1970.
    static func format(_ second: Int) -> String {
        var seconds = time_t(second)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
