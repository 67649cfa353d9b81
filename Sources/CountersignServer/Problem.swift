import Countersign
import Hummingbird
import NIOCore

/// An RFC 9457 problem: what went wrong and what to do, never an underlying error's text.
struct Problem: Error, Sendable {
    let status: HTTPResponse.Status
    let title: String
    let detail: String
    var extensions: [String: JSONValue] = [:]

    var response: Response {
        var members = extensions
        members["type"] = "about:blank"
        members["title"] = .string(title)
        members["status"] = .number(Double(status.code))
        members["detail"] = .string(detail)
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"countersign\"" }
        return Response(
            status: status,
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(.object(members))))
        )
    }

    static let unauthorized = Problem(
        status: .unauthorized,
        title: "Unauthorized",
        detail:
            "send the agent's API key as `Authorization: Bearer csk_…`; create one with `countersign agents create NAME`"
    )
}

extension Response {
    /// A JSON response with the canonical form of `value`.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(value)))
        )
    }
}

extension Request {
    /// The whole body; one longer than `limit` bytes is refused with a 413 problem that states the
    /// limit (`limitText`, as in "1 MiB").
    mutating func collectBody(limit: Int, limitText: String) async throws -> ByteBuffer {
        do {
            return try await collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Problem(
                status: .contentTooLarge,
                title: "Body too large",
                detail: "the request body may be at most \(limitText)"
            )
        }
    }
}
