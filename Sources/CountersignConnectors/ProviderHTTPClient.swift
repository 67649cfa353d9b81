import AsyncHTTPClient
import Countersign
import NIOCore
import NIOHTTP1

/// The HTTP client every provider connector calls its API with: redirects are never followed (a
/// token is not sent on to wherever a redirect points), and time is bounded.
enum ProviderHTTPClient {
    static let shared: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(30))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Sends a call and reads the answer (at most 4 MiB) as status, headers and JSON (`null` when the
    /// body is not JSON).
    ///
    /// - Throws: ``ConnectorError`` `.failed` naming `provider` when it cannot be reached; the
    ///   error never holds the request (or its token).
    static func send(
        _ request: HTTPClientRequest,
        to provider: String
    ) async throws(ConnectorError) -> (status: UInt, headers: HTTPHeaders, body: JSONValue) {
        do {
            let response = try await shared.execute(request, timeout: .seconds(30))
            let bytes = try await response.body.collect(upTo: 4 << 20)
            return (response.status.code, response.headers, (try? JSONParser().parse(Array(buffer: bytes))) ?? .null)
        } catch {
            throw .failed("\(provider) could not be reached; nothing is known to have changed. Try again later.")
        }
    }

    /// A base URL without its trailing slash.
    static func base(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }
}
