public import Countersign
import Foundation

/// Anthropic's Messages API.
///
/// `POST {url}/v1/messages` with `x-api-key` and `anthropic-version: 2023-06-01`, the system
/// prompt as `system`, the conversation as alternating `user` and `assistant` messages of content
/// blocks (`text`, `tool_use`, and `tool_result` blocks answering every `tool_use` of the turn
/// before), the catalog as `tools` with `input_schema`; the reply's `content` blocks.
public struct AnthropicMessagesClient: ModelClient {
    /// The API's base URL (`https://api.anthropic.com`), without a trailing slash.
    public let url: String
    /// The model.
    public let model: String
    /// The most tokens a reply may have.
    public let maxTokens: Int
    let key: @Sendable () async throws -> Secret

    /// The API version Countersign speaks.
    public static let version = "2023-06-01"

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - url: The API's base URL.
    ///   - model: The model's name there.
    ///   - maxTokens: The most tokens a reply may have.
    ///   - key: Opens the API key for each call (from the vault).
    public init(
        url: String,
        model: String,
        maxTokens: Int = 4096,
        key: @escaping @Sendable () async throws -> Secret
    ) {
        self.url = ModelHTTP.base(url)
        self.model = model
        self.maxTokens = maxTokens
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
            "max_tokens": .number(Double(maxTokens)),
            "system": .string(system),
            "messages": .array(Self.messages(conversation)),
            "tools": .array(
                tools.map { tool in
                    ["name": .string(tool.name), "description": .string(tool.description), "input_schema": tool.schema]
                }
            ),
        ]
        let answer = try await ModelHTTP.post(
            url + "/v1/messages",
            headers: [("x-api-key", secret.reveal()), ("anthropic-version", Self.version)],
            key: secret,
            body: body,
            service: "the Anthropic API at \(url)"
        )
        guard let blocks = answer["content"]?.arrayValue else {
            throw .permanent("the Anthropic API's answer has no content")
        }
        var text: [String] = []
        var calls: [ModelCall] = []
        for block in blocks {
            switch block["type"]?.stringValue {
            case "text":
                if let words = block["text"]?.stringValue { text.append(words) }
            case "tool_use":
                guard let id = block["id"]?.stringValue, let name = block["name"]?.stringValue else {
                    throw .permanent("the Anthropic API's answer has a tool_use block without an id or name")
                }
                calls.append(ModelCall(id: id, tool: name, arguments: block["input"] ?? .null))
            default:
                continue
            }
        }
        return ModelReply(text: text.joined(separator: "\n"), calls: calls)
    }

    /// The conversation as Messages API messages.
    static func messages(_ conversation: [JSONValue]) -> [JSONValue] {
        conversation.map { turn -> JSONValue in
            switch turn["role"]?.stringValue {
            case "assistant":
                var blocks: [JSONValue] = []
                if let text = turn["text"]?.stringValue, !text.isEmpty {
                    blocks.append(["type": "text", "text": .string(text)])
                }
                for call in turn["calls"]?.arrayValue ?? [] {
                    blocks.append(
                        [
                            "type": "tool_use", "id": call["id"] ?? "", "name": call["tool"] ?? "",
                            "input": call["arguments"]?.objectValue != nil ? call["arguments"]! : [:],
                        ]
                    )
                }
                return ["role": "assistant", "content": .array(blocks)]
            case "tool":
                return [
                    "role": "user",
                    "content": .array(
                        (turn["results"]?.arrayValue ?? []).map { result in
                            [
                                "type": "tool_result", "tool_use_id": result["id"] ?? "",
                                "content": result["content"] ?? "", "is_error": result["error"] ?? false,
                            ]
                        }
                    ),
                ]
            default:
                return ["role": "user", "content": turn["text"] ?? ""]
            }
        }
    }
}
