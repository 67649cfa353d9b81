import AsyncHTTPClient
public import Countersign
import Foundation
import NIOCore
import NIOHTTP1

/// Countersign's agent API, reached with an agent's key: what the MCP tools act through.
///
/// The MCP side holds nothing but the agent's key; every action goes through the server's intake,
/// policy and approvals, exactly as a REST agent's does.
public struct AgentAPIClient: Sendable {
    /// The server's base URL.
    public let server: String
    private let key: Secret

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - server: The Countersign server's base URL (`http://127.0.0.1:8787`).
    ///   - key: The agent's API key (`csk_…`).
    public init(server: String, key: Secret) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.key = key
    }

    /// An answer: the HTTP status and the JSON body (a problem document for errors).
    public struct Answer: Sendable {
        public let status: UInt
        public let body: JSONValue
    }

    /// `GET /v1/catalog`: the operations the key may use.
    func catalog() async throws -> [JSONValue] {
        let answer = try await send(.GET, "/v1/catalog")
        guard answer.status == 200, let operations = answer.body["operations"]?.arrayValue else {
            throw AgentAPIError(answer)
        }
        return operations
    }

    /// `POST /v1/actions`.
    func propose(operation: String, arguments: JSONValue, onBehalfOf principal: String) async throws -> Answer {
        try await send(
            .POST,
            "/v1/actions",
            ["operation": .string(operation), "arguments": arguments, "onBehalfOf": .string(principal)]
        )
    }

    /// `GET /v1/actions/{id}?wait=SECONDS`: answers as soon as the state changes, or after `wait`.
    func action(id: String, wait: Int) async throws -> Answer {
        let escaped =
            id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-"))) ?? ""
        return try await send(.GET, "/v1/actions/\(escaped)\(wait > 0 ? "?wait=\(wait)" : "")")
    }

    private func send(_ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key.reveal())")
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.bytes(body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(90))
        let bytes = try await response.body.collect(upTo: 4 << 20)
        return Answer(
            status: response.status.code,
            body: (try? JSONParser().parse(Array(buffer: bytes))) ?? .null
        )
    }
}

/// The server refused a call, with its problem document's detail.
struct AgentAPIError: Error, CustomStringConvertible {
    let status: UInt
    let detail: String

    init(_ answer: AgentAPIClient.Answer) {
        status = answer.status
        detail = answer.body["detail"]?.stringValue ?? "HTTP \(answer.status)"
    }

    var description: String { "Countersign answered \(status): \(detail)" }
}
