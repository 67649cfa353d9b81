import AsyncHTTPClient
import Countersign
import Foundation
import NIOCore
import NIOHTTP1

/// Talks to a Countersign server as an approver, with a personal token.
struct APIClient {
    let server: String
    let token: Secret

    static let defaultServer = "http://127.0.0.1:8787"

    /// A client for a server with a token (an approver's, or an agent's for the demo).
    init(server: String, token: Secret) {
        self.server = server
        self.token = token
    }

    /// The server and the approver's token from the options and the environment.
    init(server: String?) throws {
        guard let token = Environment.value("COUNTERSIGN_TOKEN"), !token.isEmpty else {
            throw CommandError(
                "set COUNTERSIGN_TOKEN to your personal token (issue one with `countersign users token EMAIL`)"
            )
        }
        self.init(server: try Self.base(server), token: Secret(token))
    }

    /// The server from the options and the environment, and the agent's key from `$COUNTERSIGN_AGENT_KEY`.
    static func agent(server: String?) throws -> APIClient {
        guard let key = Environment.value("COUNTERSIGN_AGENT_KEY"), !key.isEmpty else {
            throw CommandError(
                "set COUNTERSIGN_AGENT_KEY to the agent's key (create one with `countersign agents create NAME`)"
            )
        }
        return APIClient(server: try base(server), token: Secret(key))
    }

    /// The server's base URL: the option, else `$COUNTERSIGN_SERVER`, else the local default.
    static func base(_ server: String?) throws -> String {
        let base =
            server ?? Environment.value("COUNTERSIGN_SERVER").flatMap { $0.isEmpty ? nil : $0 } ?? defaultServer
        guard let url = URL(string: base), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw CommandError("--server must be an http:// or https:// URL, not \(base)")
        }
        return base.hasSuffix("/") ? String(base.dropLast()) : base
    }

    /// `GET path`, the JSON body of a success, or the server's problem as a ``CommandError``.
    func get(_ path: String) async throws -> JSONValue { try await send(.GET, path) }

    /// `POST path` with a JSON body, as ``get(_:)``.
    func post(_ path: String, _ body: JSONValue) async throws -> JSONValue { try await send(.POST, path, body) }

    /// Sends a request and returns the status and JSON body, whatever the status.
    func exchange(_ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil) async throws -> (UInt, JSONValue) {
        let (status, bytes) = try await perform(method, path, body)
        return (status, (try? JSONParser().parse(Array(buffer: bytes))) ?? .null)
    }

    private func send(_ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
        let (status, bytes) = try await perform(method, path, body)
        guard (200..<300).contains(status) else { throw try Self.failure(status, bytes) }
        return try JSONParser().parse(Array(buffer: bytes))
    }

    private func perform(_ method: HTTPMethod, _ path: String, _ body: JSONValue?) async throws -> (UInt, ByteBuffer) {
        var request = authorized(HTTPClientRequest(url: server + path))
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.bytes(body)))
        }
        let response = try await execute(request, deadline: .now() + .seconds(90))
        return (response.status.code, try await response.body.collect(upTo: 16 << 20))
    }

    /// Reads Server-Sent Events until the server ends the stream.
    func events(_ path: String, _ handle: (String, JSONValue) async throws -> Void) async throws {
        var request = authorized(HTTPClientRequest(url: server + path))
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await execute(request, deadline: .distantFuture)
        guard response.status == .ok else {
            throw try Self.failure(response.status.code, try await response.body.collect(upTo: 1 << 20))
        }
        var pending: [UInt8] = []
        var event = "message"
        for try await buffer in response.body {
            pending.append(contentsOf: buffer.readableBytesView)
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if line.hasPrefix("event: ") {
                    event = String(line.dropFirst(7))
                } else if line.hasPrefix("data: ") {
                    try await handle(event, try JSONParser().parse(Array(line.dropFirst(6).utf8)))
                } else if line.isEmpty {
                    event = "message"
                }
            }
        }
    }

    private func authorized(_ request: HTTPClientRequest) -> HTTPClientRequest {
        var request = request
        request.headers.add(name: "Authorization", value: "Bearer \(token.reveal())")
        return request
    }

    private func execute(_ request: HTTPClientRequest, deadline: NIODeadline) async throws -> HTTPClientResponse {
        do {
            return try await HTTPClient.shared.execute(request, deadline: deadline)
        } catch {
            throw CommandError("cannot reach Countersign at \(server): is `countersign serve` running there?")
        }
    }

    /// A problem document as a command error: its title, detail and code.
    private static func failure(_ status: UInt, _ body: ByteBuffer) throws -> CommandError {
        guard let problem = try? JSONParser().parse(Array(buffer: body)), let detail = problem["detail"]?.stringValue
        else { return CommandError("the server answered \(status)") }
        let code = problem["code"]?.stringValue.map { " [\($0)]" } ?? ""
        return CommandError("\(problem["title"]?.stringValue ?? "refused")\(code): \(detail)")
    }
}
