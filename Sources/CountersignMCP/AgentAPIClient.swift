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
        try await send(.GET, "/v1/actions/\(Self.escape(id))\(wait > 0 ? "?wait=\(wait)" : "")")
    }

    /// `GET /v1/actions?limit=N`: this agent's requests, newest first.
    func actions(limit: Int) async throws -> [JSONValue] {
        let answer = try await send(.GET, "/v1/actions?limit=\(limit)")
        guard answer.status == 200, let actions = answer.body["actions"]?.arrayValue else {
            throw AgentAPIError(answer)
        }
        return actions
    }

    /// `POST /v1/actions/{id}/undo`: proposes the action that undoes an executed one.
    func undo(id: String) async throws -> Answer {
        try await send(.POST, "/v1/actions/\(Self.escape(id))/undo")
    }

    /// `POST /v1/actions/{id}/client-decision`: the principal's answer given in the MCP client.
    func clientDecision(id: String, verdict: String, digest: String, reason: String?) async throws -> Answer {
        var body: [String: JSONValue] = ["verdict": .string(verdict), "digest": .string(digest)]
        if let reason { body["reason"] = .string(reason) }
        return try await send(.POST, "/v1/actions/\(Self.escape(id))/client-decision", .object(body))
    }

    static func escape(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-"))) ?? ""
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
