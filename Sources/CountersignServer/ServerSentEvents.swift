import Countersign
import Hummingbird
import ServiceLifecycle

/// Server-Sent Events (text/event-stream) framing and streaming.
enum ServerSentEvents {
    /// How often a comment is sent on an idle stream, so proxies and clients keep it open (and a
    /// client that went away is noticed).
    static let keepAlive: Duration = .seconds(15)

    /// Where a producer sends frames.
    typealias Sink = AsyncStream<ByteBuffer>.Continuation

    /// A streaming response.
    ///
    /// `produce` sends frames until it returns; it is cancelled when the client goes away or the
    /// server shuts down gracefully, and the stream then ends cleanly.
    static func response(_ produce: @escaping @Sendable (Sink) async throws -> Void) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                let (frames, sink) = AsyncStream.makeStream(
                    of: ByteBuffer.self,
                    bufferingPolicy: .bufferingNewest(1000)
                )
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        defer { sink.finish() }
                        try? await cancelWhenGracefulShutdown { try await produce(sink) }
                    }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: keepAlive)
                            sink.yield(comment)
                        }
                    }
                    defer { group.cancelAll() }
                    for await frame in frames { try await writer.write(frame) }
                }
                try await writer.finish(nil)
            }
        )
    }

    /// One event: its name and one line of JSON.
    static func frame(_ event: String, _ data: JSONValue) -> ByteBuffer {
        ByteBuffer(string: "event: \(event)\ndata: \(String(decoding: CanonicalJSON.bytes(data), as: UTF8.self))\n\n")
    }

    /// A comment line that keeps an idle stream open.
    static let comment = ByteBuffer(string: ": keep-alive\n\n")
}
