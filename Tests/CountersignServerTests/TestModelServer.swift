import Countersign
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// A language model API on 127.0.0.1, OpenAI's chat completions or Anthropic's Messages, that
/// replays scripted replies in order and checks every request the way the API documents it: the
/// key in the right header, the tools' names and schemas, and a conversation the API would
/// accept (every tool call answered by its id, right after the turn that made it; Anthropic's
/// roles alternating from `user`).
final class TestModelServer: Sendable {
    enum API: String, Sendable, CaseIterable, CustomStringConvertible {
        case openai, anthropic
        var description: String { rawValue }
    }

    /// A scripted answer: the model's words and tool calls, or an HTTP failure (whose message may
    /// echo the key it was sent, as a careless service might).
    enum Reply: Sendable {
        case turn(String, [(tool: String, arguments: JSONValue)])
        case failure(HTTPResponse.Status)
        case failureEchoingKey(HTTPResponse.Status)
    }

    static let key = "sk-test-CANARY-model-key-5e6f7a8b9c0d"
    static let model = "test-model-1"

    let api: API
    private let state: Mutex<(script: [Reply], requests: [JSONValue], problems: [String], calls: Int)>
    private let base = Mutex<String>("")

    init(_ api: API, script: [Reply]) {
        self.api = api
        state = Mutex((script, [], [], 0))
    }

    /// The base URL a planner model is configured with.
    var url: String { api == .openai ? base.withLock { $0 } + "/v1" : base.withLock { $0 } }
    /// Every request's body, in order.
    var requests: [JSONValue] { state.withLock { $0.requests } }
    /// What was wrong with any request.
    var problems: [String] { state.withLock { $0.problems } }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let router = Router()
        router.post(api == .openai ? "/v1/chat/completions" : "/v1/messages") { request, _ in
            try await self.answer(request)
        }
        return try await serveOnLoopback(router, listening: { url in self.base.withLock { $0 = url } }, body)
    }

    private func answer(_ request: Request) async throws -> Response {
        var request = request
        let bytes = try await request.collectBody(upTo: 16 << 20)
        let body = (try? JSONParser().parse(Array(buffer: bytes))) ?? .null
        var problems: [String] = []
        if request.headers[.contentType]?.hasPrefix("application/json") != true { problems.append("not JSON") }
        switch api {
        case .openai:
            if request.headers[.authorization] != "Bearer \(Self.key)" { problems.append("no bearer key") }
            problems += Self.checkOpenAI(body)
        case .anthropic:
            if request.headers[HTTPField.Name("x-api-key")!] != Self.key { problems.append("no x-api-key") }
            if request.headers[HTTPField.Name("anthropic-version")!] != "2023-06-01" {
                problems.append("no anthropic-version")
            }
            if request.headers[.authorization] != nil { problems.append("Authorization sent to Anthropic") }
            problems += Self.checkAnthropic(body)
        }
        let (reply, number) = state.withLock { state -> (Reply?, Int) in
            state.requests.append(body)
            state.problems += problems
            guard problems.isEmpty, !state.script.isEmpty else { return (nil, state.calls) }
            state.calls += 1
            return (state.script.removeFirst(), state.calls)
        }
        guard let reply else {
            return Self.json(.badRequest, ["error": ["message": .string(problems.first ?? "the script is over")]])
        }
        switch reply {
        case .failure(let status):
            return Self.json(status, ["error": ["message": "scripted failure", "type": "overloaded_error"]])
        case .failureEchoingKey(let status):
            return Self.json(
                status,
                ["error": ["message": .string("Invalid API key: \(Self.key)"), "type": "invalid_request_error"]]
            )
        case .turn(let text, let calls):
            return Self.json(
                .ok,
                api == .openai ? Self.openAI(text, calls, number) : Self.anthropic(text, calls, number)
            )
        }
    }

    static func json(_ status: HTTPResponse.Status, _ body: JSONValue) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(body)))
        )
    }

    static func checkTool(name: String?, schema: JSONValue?) -> [String] {
        var problems: [String] = []
        if name?.range(of: "^[a-zA-Z0-9_-]{1,64}$", options: .regularExpression) == nil {
            problems.append("tool name \(name ?? "nil") is not ^[a-zA-Z0-9_-]{1,64}$")
        }
        if schema?["type"] != "object" { problems.append("tool \(name ?? "") schema is not an object schema") }
        return problems
    }

    static func checkOpenAI(_ body: JSONValue) -> [String] {
        var problems: [String] = []
        if body["model"]?.stringValue != model { problems.append("wrong model") }
        for tool in body["tools"]?.arrayValue ?? [] {
            if tool["type"] != "function" { problems.append("a tool that is not a function") }
            problems += checkTool(name: tool["function"]?["name"]?.stringValue, schema: tool["function"]?["parameters"])
        }
        guard let messages = body["messages"]?.arrayValue, messages.first?["role"] == "system" else {
            return problems + ["messages must start with the system message"]
        }
        var awaiting: [String] = []
        for message in messages.dropFirst() {
            let role = message["role"]?.stringValue ?? ""
            if role == "tool" {
                guard let id = message["tool_call_id"]?.stringValue, let at = awaiting.firstIndex(of: id) else {
                    problems.append("a tool message answering no pending call")
                    continue
                }
                if message["content"]?.stringValue == nil { problems.append("tool content must be a string") }
                awaiting.remove(at: at)
                continue
            }
            if !awaiting.isEmpty { problems.append("calls \(awaiting) left unanswered before a \(role) message") }
            guard ["user", "assistant"].contains(role) else {
                problems.append("unknown role \(role)")
                continue
            }
            for call in message["tool_calls"]?.arrayValue ?? [] {
                guard let id = call["id"]?.stringValue, call["type"] == "function",
                    let arguments = call["function"]?["arguments"]?.stringValue,
                    (try? JSONParser().parse(Array(arguments.utf8)))?.objectValue != nil
                else {
                    problems.append("a malformed tool call in the history")
                    continue
                }
                awaiting.append(id)
            }
        }
        if !awaiting.isEmpty { problems.append("calls \(awaiting) left unanswered") }
        return problems
    }

    static func checkAnthropic(_ body: JSONValue) -> [String] {
        var problems: [String] = []
        if body["model"]?.stringValue != model { problems.append("wrong model") }
        if (body["max_tokens"]?.numberValue ?? 0) < 1 { problems.append("max_tokens is required") }
        if body["system"]?.stringValue == nil { problems.append("the system prompt belongs in system") }
        for tool in body["tools"]?.arrayValue ?? [] {
            problems += checkTool(name: tool["name"]?.stringValue, schema: tool["input_schema"])
        }
        guard let messages = body["messages"]?.arrayValue, !messages.isEmpty else { return problems + ["no messages"] }
        var pending: Set<String> = []
        for (index, message) in messages.enumerated() {
            let role = message["role"]?.stringValue
            if role != (index % 2 == 0 ? "user" : "assistant") { problems.append("roles must alternate from user") }
            let blocks = message["content"]?.arrayValue ?? []
            if role == "user" {
                let answered = Set(
                    blocks.filter { $0["type"] == "tool_result" }.compactMap { $0["tool_use_id"]?.stringValue }
                )
                if answered != pending { problems.append("tool_use \(pending) answered with \(answered)") }
                if blocks.contains(where: { $0["type"] == "tool_result" && $0["content"]?.stringValue == nil }) {
                    problems.append("tool_result content must be text")
                }
                pending = []
            } else {
                pending = Set(blocks.filter { $0["type"] == "tool_use" }.compactMap { $0["id"]?.stringValue })
                if blocks.contains(where: { $0["type"] == "tool_use" && $0["input"]?.objectValue == nil }) {
                    problems.append("tool_use input must be an object")
                }
            }
        }
        if messages.last?["role"] != "user" { problems.append("the last message must be the user's") }
        return problems
    }

    static func openAI(_ text: String, _ calls: [(tool: String, arguments: JSONValue)], _ number: Int) -> JSONValue {
        var message: [String: JSONValue] = ["role": "assistant", "content": text.isEmpty ? .null : .string(text)]
        if !calls.isEmpty {
            message["tool_calls"] = .array(
                calls.enumerated().map { offset, call in
                    [
                        "id": .string("call_\(number)_\(offset)"), "type": "function",
                        "function": [
                            "name": .string(call.tool), "arguments": .string(CanonicalJSON.string(call.arguments)),
                        ],
                    ]
                }
            )
        }
        return [
            "id": .string("chatcmpl-\(number)"), "object": "chat.completion", "created": 1_764_400_000,
            "model": .string(model),
            "choices": [
                ["index": 0, "message": .object(message), "finish_reason": calls.isEmpty ? "stop" : "tool_calls"]
            ],
            "usage": ["prompt_tokens": 900, "completion_tokens": 40, "total_tokens": 940],
        ]
    }

    static func anthropic(_ text: String, _ calls: [(tool: String, arguments: JSONValue)], _ number: Int) -> JSONValue {
        var content: [JSONValue] = text.isEmpty ? [] : [["type": "text", "text": .string(text)]]
        for (offset, call) in calls.enumerated() {
            content.append(
                [
                    "type": "tool_use", "id": .string("toolu_\(number)_\(offset)"), "name": .string(call.tool),
                    "input": call.arguments,
                ]
            )
        }
        return [
            "id": .string("msg_\(number)"), "type": "message", "role": "assistant", "model": .string(model),
            "content": .array(content), "stop_reason": calls.isEmpty ? "end_turn" : "tool_use", "stop_sequence": .null,
            "usage": ["input_tokens": 900, "output_tokens": 40],
        ]
    }
}
