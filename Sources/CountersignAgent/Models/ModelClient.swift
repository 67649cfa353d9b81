import AsyncHTTPClient
public import Countersign
import Foundation
import NIOCore
import NIOHTTP1

/// A tool the model may call: one operation of the catalog.
public struct ModelTool: Sendable, Hashable {
    /// The name the model calls it by (`github-delete_repository`: APIs allow no dots).
    public let name: String
    /// What it does.
    public let description: String
    /// Its arguments' JSON Schema.
    public let schema: JSONValue

    /// Creates a tool.
    public init(name: String, description: String, schema: JSONValue) {
        self.name = name
        self.description = description
        self.schema = schema
    }
}

/// One tool call in a model's reply.
public struct ModelCall: Sendable, Hashable {
    /// The call's id, which its result must carry back.
    public let id: String
    /// The tool called.
    public let tool: String
    /// Its arguments (`null` when the model's text was not a JSON object).
    public let arguments: JSONValue

    /// Creates a call.
    public init(id: String, tool: String, arguments: JSONValue) {
        self.id = id
        self.tool = tool
        self.arguments = arguments
    }
}

/// What a model answered: its words, and the tools it calls (none when it is done).
public struct ModelReply: Sendable, Hashable {
    /// Its text.
    public let text: String
    /// Its tool calls, in order.
    public let calls: [ModelCall]

    /// Creates a reply.
    public init(text: String, calls: [ModelCall]) {
        self.text = text
        self.calls = calls
    }
}

/// Why a model could not be asked, in words that never hold its key.
public struct PlannerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// Whether asking again later may succeed (network, rate limit, the service's own failure).
    public let isTransient: Bool

    /// A failure that may pass.
    public static func transient(_ description: String) -> Self { Self(description: description, isTransient: true) }

    /// A failure that will not pass by itself (a refused key, an unknown model, a malformed answer).
    public static func permanent(_ description: String) -> Self {
        Self(description: description, isTransient: false)
    }
}

/// A language model that answers a conversation with text and tool calls.
///
/// A conversation is a list of turns in Countersign's own form, which each client writes in its
/// API's: `{"role": "user", "text"}`, `{"role": "assistant", "text", "calls": [{"id", "tool",
/// "arguments"}]}`, and `{"role": "tool", "results": [{"id", "content", "error"}]}` answering
/// every call of the assistant turn before it.
public protocol ModelClient: Sendable {
    /// The model's reply to the conversation.
    ///
    /// - Throws: ``PlannerError``, never holding the API key.
    func reply(system: String, conversation: [JSONValue], tools: [ModelTool]) async throws(PlannerError) -> ModelReply
}

/// The HTTP client models are called with: redirects are never followed (the key is not sent on
/// to wherever a redirect points), and time and answers are bounded.
enum ModelHTTP {
    static let shared: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(120))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// A base URL without its trailing slash.
    static func base(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    /// Opens the API key for one call.
    ///
    /// - Throws: ``PlannerError`` (permanent) when it cannot be opened.
    static func open(_ key: @Sendable () async throws -> Secret) async throws(PlannerError) -> Secret {
        do {
            return try await key()
        } catch {
            throw .permanent("the model's API key cannot be opened: \(error)")
        }
    }

    /// The service's words without the key sent to it: a service may echo the key it was given in
    /// its error, and the error becomes a run's failure, which the agent and the audit log see.
    static func withoutKey(_ text: String, _ key: Secret) -> String {
        let key = key.reveal()
        return SecretScrubber.scrub(key.isEmpty ? text : text.replacingOccurrences(of: key, with: "<redacted>"))
    }

    /// Posts a JSON body and reads the JSON answer (at most 8 MiB).
    ///
    /// - Parameters:
    ///   - url: Where.
    ///   - headers: The API's headers, the key's among them.
    ///   - key: The key those headers carry, kept out of any error.
    ///   - body: The request.
    ///   - service: What the service is called in errors.
    /// - Returns: The answer, a JSON object.
    /// - Throws: ``PlannerError`` naming `service`: transient for network failures, 408, 409, 429
    ///   and 5xx; permanent otherwise (with the service's own message when it gave one).
    static func post(
        _ url: String,
        headers: [(String, String)],
        key: Secret,
        body: JSONValue,
        service: String
    ) async throws(PlannerError) -> JSONValue {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Countersign")
        request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.bytes(body)))
        let status: UInt
        let answer: JSONValue?
        do {
            let response = try await shared.execute(request, timeout: .seconds(180))
            status = response.status.code
            let bytes = try await response.body.collect(upTo: 8 << 20)
            answer = try? JSONParser().parse(Array(buffer: bytes))
        } catch {
            throw .transient("\(service) could not be reached")
        }
        guard (200..<300).contains(status) else {
            let message = answer?["error"]?["message"]?.stringValue ?? answer?["error"]?.stringValue
            let detail = message.map { ": \(String(withoutKey($0, key).prefix(300)))" } ?? ""
            switch status {
            case 408, 409, 429, 500...599:
                throw .transient("\(service) answered HTTP \(status)\(detail)")
            case 401, 403:
                throw .permanent("\(service) refused the API key (HTTP \(status))\(detail)")
            default:
                throw .permanent("\(service) refused the request (HTTP \(status))\(detail)")
            }
        }
        guard let answer, answer.objectValue != nil else {
            throw .permanent("\(service) answered with something other than a JSON object")
        }
        return answer
    }
}
