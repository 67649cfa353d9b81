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

    /// The server and token from the options and the environment.
    init(server: String?) throws {
        let base =
            server ?? Environment.value("COUNTERSIGN_SERVER").flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultServer
        guard let url = URL(string: base), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw CommandError("--server must be an http:// or https:// URL, not \(base)")
        }
        guard let token = Environment.value("COUNTERSIGN_TOKEN"), !token.isEmpty else {
            throw CommandError(
                "set COUNTERSIGN_TOKEN to your personal token (issue one with `countersign users token EMAIL`)"
            )
        }
        self.server = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.token = Secret(token)
    }

    func get(_ path: String) async throws -> JSONValue {
        try await send(HTTPClientRequest(url: server + path))
    }

    func post(_ path: String, _ body: JSONValue) async throws -> JSONValue {
        var request = HTTPClientRequest(url: server + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.bytes(body)))
        return try await send(request)
    }

    /// Sends a request and returns the status and JSON body, whatever the status.
    func exchange(_ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil) async throws -> (UInt, JSONValue) {
        var request = authorized(HTTPClientRequest(url: server + path))
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.bytes(body)))
        }
        let response = try await execute(request, deadline: .now() + .seconds(90))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return (response.status.code, (try? JSONParser().parse(Array(buffer: bytes))) ?? .null)
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

    private func send(_ request: HTTPClientRequest) async throws -> JSONValue {
        let response = try await execute(authorized(request), deadline: .now() + .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        guard (200..<300).contains(response.status.code) else { throw try Self.failure(response.status.code, body) }
        return try JSONParser().parse(Array(buffer: body))
    }

    /// A problem document as a command error: its title, detail and code.
    private static func failure(_ status: UInt, _ body: ByteBuffer) throws -> CommandError {
        guard let problem = try? JSONParser().parse(Array(buffer: body)), let detail = problem["detail"]?.stringValue
        else { return CommandError("the server answered \(status)") }
        let code = problem["code"]?.stringValue.map { " [\($0)]" } ?? ""
        return CommandError("\(problem["title"]?.stringValue ?? "refused")\(code): \(detail)")
    }
}
