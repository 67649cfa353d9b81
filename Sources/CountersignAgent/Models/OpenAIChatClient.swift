public import Countersign
import Foundation

/// Any OpenAI-compatible chat-completions API with tool calling: OpenAI, Azure OpenAI's v1 API,
/// vLLM, llama.cpp's server, Ollama.
///
/// `POST {url}/chat/completions` with `Authorization: Bearer KEY`, the conversation as `messages`
/// (`system`, `user`, `assistant` with `tool_calls`, and one `tool` message per call with its
/// `tool_call_id`), the catalog as `tools` of type `function`; the reply is `choices[0].message`.
public struct OpenAIChatClient: ModelClient {
    /// The API's base URL, without a trailing slash.
    public let url: String
    /// The model.
    public let model: String
    let key: @Sendable () async throws -> Secret

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - url: The API's base URL (`https://api.openai.com/v1`).
    ///   - model: The model's name there.
    ///   - key: Opens the API key for each call (from the vault).
    public init(url: String, model: String, key: @escaping @Sendable () async throws -> Secret) {
        self.url = ModelHTTP.base(url)
        self.model = model
        self.key = key
    }

    public func reply(
        system: String,
        conversation: [JSONValue],
        tools: [ModelTool]
    ) async throws(PlannerError) -> ModelReply {
        let secret = try await ModelHTTP.open(key)
        let body: JSONValue = [
            "model": .string(model),
            "messages": .array([["role": "system", "content": .string(system)]] + Self.messages(conversation)),
            "tools": .array(
                tools.map { tool in
                    [
                        "type": "function",
                        "function": [
                            "name": .string(tool.name), "description": .string(tool.description),
                            "parameters": tool.schema,
                        ],
                    ]
                }
            ),
            "tool_choice": "auto",
        ]
        let answer = try await ModelHTTP.post(
            url + "/chat/completions",
            headers: [("Authorization", "Bearer \(secret.reveal())")],
            key: secret,
            body: body,
            service: "the model API at \(url)"
        )
        guard let message = answer["choices"]?.arrayValue?.first?["message"] else {
            throw .permanent("the model API's answer has no choices[0].message")
        }
        var calls: [ModelCall] = []
        for call in message["tool_calls"]?.arrayValue ?? [] {
            guard let id = call["id"]?.stringValue, let name = call["function"]?["name"]?.stringValue else {
                throw .permanent("the model API's answer has a tool call without an id or function name")
            }
            // The arguments are a JSON text, which the model may get wrong.
            let text = call["function"]?["arguments"]?.stringValue ?? "{}"
            let arguments = (try? JSONParser().parse(Array(text.utf8))) ?? .null
            calls.append(ModelCall(id: id, tool: name, arguments: arguments))
        }
        return ModelReply(text: message["content"]?.stringValue ?? "", calls: calls)
    }

    /// The conversation as chat-completions messages.
    static func messages(_ conversation: [JSONValue]) -> [JSONValue] {
        conversation.flatMap { turn -> [JSONValue] in
            switch turn["role"]?.stringValue {
            case "assistant":
                var message: [String: JSONValue] = ["role": "assistant"]
                let text = turn["text"]?.stringValue ?? ""
                message["content"] = text.isEmpty ? .null : .string(text)
                let calls = turn["calls"]?.arrayValue ?? []
                if !calls.isEmpty {
                    message["tool_calls"] = .array(
                        calls.map { call in
                            [
                                "id": call["id"] ?? "", "type": "function",
                                "function": [
                                    "name": call["tool"] ?? "",
                                    "arguments": .string(CanonicalJSON.string(call["arguments"] ?? [:])),
                                ],
                            ]
                        }
                    )
                }
                return [.object(message)]
            case "tool":
                return (turn["results"]?.arrayValue ?? []).map { result in
                    ["role": "tool", "tool_call_id": result["id"] ?? "", "content": result["content"] ?? ""]
                }
            default:
                return [["role": "user", "content": turn["text"] ?? ""]]
            }
        }
    }
}
