import AsyncHTTPClient
import Foundation
import Logging
import MCP
import NIOCore
import NIOHTTP1

/// The client side of MCP's streamable HTTP transport (2025-11-25), over AsyncHTTPClient, so that the
/// SDK's real `Client` can talk to `/mcp` in tests on Linux (the SDK's own HTTP client transport
/// does not read Server-Sent Events there).
///
/// Every request carries the agent's key; the session id the server assigns is sent back on each
/// later request; responses come as JSON or as an event stream, and server-initiated messages
/// (progress notifications, elicitation requests) on the GET stream opened once the session exists.
actor StreamableHTTPClientTransport: Transport {
    nonisolated let logger = Logger(label: "mcp.test.streamable-http")
    let url: String
    private let key: String
    private var session: String?
    private var protocolVersion: String?
    private var listening: Task<Void, Never>?
    private var readers: [Task<Void, Never>] = []
    private let incoming: AsyncThrowingStream<Data, any Error>
    private let sink: AsyncThrowingStream<Data, any Error>.Continuation

    init(url: String, key: String) {
        self.url = url
        self.key = key
        (incoming, sink) = AsyncThrowingStream.makeStream()
    }

    /// The session id the server assigned, once it has.
    var sessionID: String? { session }

    func connect() async throws {}

    func disconnect() async {
        listening?.cancel()
        for reader in readers { reader.cancel() }
        if session != nil {
            var request = request(.DELETE)
            request.headers.replaceOrAdd(name: "Accept", value: "application/json")
            _ = try? await HTTPClient.shared.execute(request, timeout: .seconds(5))
        }
        session = nil
        sink.finish()
    }

    /// Drops the connection without ending the session, as a client that crashes or loses its network.
    func drop() {
        listening?.cancel()
        for reader in readers { reader.cancel() }
        sink.finish()
    }

    func receive() -> AsyncThrowingStream<Data, any Error> { incoming }

    func send(_ data: Data) async throws {
        var request = request(.POST)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: data))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        guard (200..<300).contains(response.status.code) else {
            throw MCPError.internalError("HTTP \(response.status.code) from \(url)")
        }
        if session == nil, let id = response.headers.first(name: "MCP-Session-Id") { session = id }
        if response.status == .accepted {
            // The `initialized` notification: the session is ready for the server's own stream.
            if listening == nil && session != nil { listening = Task { await self.listen() } }
            return
        }
        if response.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true {
            readers.append(Task { await self.read(events: response.body) })
        } else {
            let body = try await response.body.collect(upTo: 4 << 20)
            deliver(Data(body.readableBytesView))
        }
    }

    private func request(_ method: HTTPMethod) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        if let session { request.headers.add(name: "MCP-Session-Id", value: session) }
        if let protocolVersion { request.headers.add(name: "MCP-Protocol-Version", value: protocolVersion) }
        return request
    }

    /// The GET stream of server-initiated messages.
    private func listen() async {
        var request = request(.GET)
        request.headers.replaceOrAdd(name: "Accept", value: "text/event-stream")
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .hours(1)),
            response.status == .ok
        else { return }
        await read(events: response.body)
    }

    /// Reads Server-Sent Events and delivers each event's data as a message.
    private func read(events body: HTTPClientResponse.Body) async {
        var pending: [UInt8] = []
        var data: [String] = []
        do {
            for try await chunk in body {
                pending.append(contentsOf: chunk.readableBytesView)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    var line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    if line.hasSuffix("\r") { line.removeLast() }
                    if line.isEmpty {
                        let message = data.joined(separator: "\n")
                        data = []
                        if !message.isEmpty { deliver(Data(message.utf8)) }
                    } else if line.hasPrefix("data:") {
                        data.append(String(line.dropFirst(5).drop { $0 == " " }))
                    }
                }
            }
        } catch {
            // The stream ended (or was dropped); messages already delivered stand.
        }
    }

    private func deliver(_ message: Data) {
        if protocolVersion == nil,
            let object = try? JSONSerialization.jsonObject(with: message) as? [String: Any],
            let result = object["result"] as? [String: Any],
            let version = result["protocolVersion"] as? String
        {
            protocolVersion = version
        }
        sink.yield(message)
    }
}
