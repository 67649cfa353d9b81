import AsyncHTTPClient
public import Countersign
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Where the demo's sandbox chat service listens, known once the server is up.
public final class SandboxAddress: Sendable {
    private let base = Mutex<String?>(nil)

    /// Creates an address not yet known.
    public init() {}

    /// Sets the server's base URL (`http://127.0.0.1:PORT`).
    public func set(_ url: String) { base.withLock { $0 = url } }

    /// The base URL, once set.
    public var url: String? { base.withLock { $0 } }
}

/// The demo's chat connector: posts to the sandbox chat service with a token the vault vends for
/// the request, the way a Slack connector does.
public struct SandboxConnector: Connector {
    public let name = "sandbox"
    public let operations: [OperationDescriptor]
    private let address: SandboxAddress

    /// Creates the connector.
    ///
    /// - Throws: ``SchemaError`` if its schema does not compile.
    public init(address: SandboxAddress) throws(SchemaError) {
        self.address = address
        operations = [try Self.postMessage()]
    }

    static func postMessage() throws(SchemaError) -> OperationDescriptor {
        try OperationDescriptor(
            id: OperationID("sandbox.post_message")!,
            summary: "Post a message to a channel of the demo's sandbox chat",
            schema: [
                "type": "object", "required": ["channel", "text"], "additionalProperties": false,
                "properties": [
                    "channel": ["type": "string", "pattern": "^#[a-z0-9][a-z0-9_-]{0,79}$"],
                    "text": ["type": "string", "minLength": 1, "maxLength": 4000],
                ],
            ],
            scopes: ["chat:write"],
            provider: "sandbox",
            defaultLevel: .medium,
            hints: [
                RiskHint("mass_mention") { arguments in
                    let text = arguments["text"]?.stringValue ?? ""
                    return text.contains("@channel") || text.contains("@here") || text.contains("@everyone")
                        ? (.high, "notifies everyone in the channel (@channel, @here or @everyone)") : nil
                }
            ],
            isReversible: false,
            target: { $0["channel"]?.stringValue },
            impact: { arguments in
                let text = arguments["text"]?.stringValue ?? ""
                let shown = text.count > 120 ? String(text.prefix(120)) + "…" : text
                return
                    "Posts to \(arguments["channel"]?.stringValue ?? "?") in the sandbox chat, as the principal, a message of \(text.count) characters: \"\(shown)\""
            }
        )
    }

    public func execute(
        _ operation: OperationID,
        arguments: JSONValue,
        context: ExecutionContext
    ) async throws(ConnectorError) -> JSONValue {
        guard operation.name == "post_message" else { throw .refused("no operation \(operation)") }
        guard let base = address.url else { throw .failed("the sandbox chat service is not running") }
        let token = try await context.accessToken(provider: "sandbox")
        var request = HTTPClientRequest(url: base + "/sandbox/api/chat.postMessage")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token.secret.reveal())")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(
            ByteBuffer(
                bytes: CanonicalJSON.bytes([
                    "channel": arguments["channel"] ?? .null, "text": arguments["text"] ?? .null,
                ])
            )
        )
        let answer: JSONValue
        let status: UInt
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            status = response.status.code
            answer = try JSONParser().parse(Array(buffer: try await response.body.collect(upTo: 1 << 16)))
        } catch {
            throw .failed("the sandbox chat service could not be reached")
        }
        guard status == 200, answer["ok"] == true else {
            throw .failed(
                "the sandbox chat refused the message (HTTP \(status), \(answer["error"]?.stringValue ?? "?"))"
            )
        }
        return ["posted": true, "channel": arguments["channel"] ?? .null, "ts": answer["ts"] ?? .null]
    }
}
