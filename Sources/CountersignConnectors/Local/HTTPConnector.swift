import AsyncHTTPClient
public import Countersign
import Foundation
import NIOCore
import NIOHTTP1

/// A host `http.request` may reach: `api.example.com`, `*.example.com` (its subdomains), with an
/// optional port; and whether it may resolve to loopback, private or link-local addresses.
public struct HTTPAllowlistEntry: Sendable, Hashable, CustomStringConvertible {
    /// The host name in lower case, or `*.` and a domain.
    public let host: String
    /// The only port allowed, when given.
    public let port: Int?
    /// Whether the host may resolve to a non-public address (an internal service, or a test server).
    public let allowsPrivateAddresses: Bool

    /// Parses `host`, `host:port`, `*.domain` or `[v6]:port`.
    ///
    /// - Returns: `nil` when the text is not a host name.
    public init?(_ text: String, allowsPrivateAddresses: Bool = false) {
        var host = text.lowercased()
        var port: Int?
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let rest = host[host.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let value = Int(rest.dropFirst()), (1...65535).contains(value) else { return nil }
                port = value
            } else if !rest.isEmpty {
                return nil
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":"), !host[..<colon].contains(":") {
            guard let value = Int(host[host.index(after: colon)...]), (1...65535).contains(value) else { return nil }
            port = value
            host = String(host[..<colon])
        }
        let name = host.hasPrefix("*.") ? String(host.dropFirst(2)) : host
        guard !name.isEmpty, NetworkAddress(literal: name) != nil || Self.isHostName(name) else { return nil }
        self.host = host
        self.port = port
        self.allowsPrivateAddresses = allowsPrivateAddresses
    }

    static func isHostName(_ name: String) -> Bool {
        name.utf8.count <= 253
            && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
                !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
            }
    }

    /// Whether a request to `host` on `port` is covered.
    public func matches(host candidate: String, port candidatePort: Int) -> Bool {
        if let port, port != candidatePort { return false }
        if host.hasPrefix("*.") { return candidate.hasSuffix(host.dropFirst(1)) && candidate.count > host.count - 1 }
        return candidate == host
    }

    public var description: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port.map { "\(name):\($0)" } ?? name
    }
}

/// Executes `http.request`: one request to an allowlisted host, whose every address (and every
/// redirect's) is checked before it is reached, with the connection pinned to the checked address.
public struct HTTPConnector: Connector {
    public let name = "http"
    public let operations: [OperationDescriptor]
    /// The hosts requests may reach.
    public let allowlist: [HTTPAllowlistEntry]
    /// The most redirects followed.
    public let maximumRedirects: Int
    /// The most response body bytes kept (the rest is not read; `truncated` is set).
    public let maximumResponseBytes: Int
    /// How long the whole request may take, redirects included.
    public let timeout: Duration

    /// Creates the connector.
    public init(
        allowlist: [HTTPAllowlistEntry],
        maximumRedirects: Int = 5,
        maximumResponseBytes: Int = 1_048_576,
        timeout: Duration = .seconds(30)
    ) throws(ConnectorError) {
        self.allowlist = allowlist
        self.maximumRedirects = maximumRedirects
        self.maximumResponseBytes = maximumResponseBytes
        self.timeout = timeout
        operations = try FilesConnector.compile(HTTPOperations.descriptors)
    }

    /// Request headers an agent may not set: Countersign frames the request itself.
    static let reservedHeaders: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
        "proxy-authorization", "proxy-connection",
    ]

    /// Headers dropped when a redirect leaves the original host.
    static let credentialHeaders: Set<String> = ["authorization", "cookie", "x-api-key"]

    public func execute(
        _ operation: OperationID,
        arguments: JSONValue,
        context: ExecutionContext
    ) async throws(ConnectorError) -> JSONValue {
        guard operation.name == "request" else { throw .refused("http has no operation \(operation.name)") }
        var method = arguments["method"]?.stringValue ?? "GET"
        var body = arguments["body"]?.stringValue
        var headers: [(String, String)] = []
        for (name, value) in arguments["headers"]?.objectValue?.sorted(by: { $0.key < $1.key }) ?? [] {
            guard !Self.reservedHeaders.contains(name.lowercased()) else {
                throw .refused("the header \(name) is set by Countersign, not by the request")
            }
            headers.append((name, value.stringValue ?? ""))
        }
        guard var url = URL(string: arguments["url"]?.stringValue ?? "") else { throw .refused("the url is not a URL") }
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000)
        var redirects: [JSONValue] = []
        let firstHost = url.host()?.lowercased()
        while true {
            let (host, entry) = try check(url)
            let address = try await pin(host, entry: entry)
            if host != firstHost { headers.removeAll { Self.credentialHeaders.contains($0.0.lowercased()) } }
            let response = try await send(
                method: method,
                url: url,
                headers: headers,
                body: body,
                pinned: (host, address),
                deadline: deadline
            )
            if [301, 302, 303, 307, 308].contains(response.status), let location = response.location {
                guard redirects.count < maximumRedirects else {
                    throw .refused("more than \(maximumRedirects) redirects; stopped at \(url.absoluteString)")
                }
                guard let next = URL(string: location, relativeTo: url)?.absoluteURL else {
                    throw .failed("the server redirected to something that is not a URL")
                }
                redirects.append(["status": .number(Double(response.status)), "location": .string(next.absoluteString)])
                if response.status == 303 || ([301, 302].contains(response.status) && method == "POST") {
                    method = "GET"
                    body = nil
                }
                url = next
                continue
            }
            var result: [String: JSONValue] = [
                "status": .number(Double(response.status)),
                "url": .string(url.absoluteString),
                "headers": .object(response.headers),
                "truncated": .bool(response.truncated),
                "redirects": .array(redirects),
                "address": .string(address.description),
            ]
            if let text = String(validating: response.body, as: UTF8.self) {
                result["body"] = .string(text)
            } else {
                result["bodyBase64"] = .string(Data(response.body).base64EncodedString())
            }
            return .object(result)
        }
    }

    /// Checks a URL's scheme, credentials and host against the allowlist.
    func check(_ url: URL) throws(ConnectorError) -> (host: String, entry: HTTPAllowlistEntry) {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw .refused("only http and https URLs can be requested, not \(url.absoluteString)")
        }
        guard url.user(percentEncoded: true) == nil, url.password(percentEncoded: true) == nil else {
            throw .refused("URLs with credentials in them are refused; Countersign vends credentials itself")
        }
        guard let host = url.host(percentEncoded: false)?.lowercased(), !host.isEmpty else {
            throw .refused("the URL \(url.absoluteString) has no host")
        }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        guard let entry = allowlist.first(where: { $0.matches(host: host, port: port) }) else {
            throw .refused(
                "\(host):\(port) is not on the http allowlist"
                    + (allowlist.isEmpty ? " (it is empty; serve --http-allow HOST adds hosts)" : "")
            )
        }
        return (host, entry)
    }

    /// Resolves a host and checks every address it has; returns the one to connect to.
    func pin(_ host: String, entry: HTTPAllowlistEntry) async throws(ConnectorError) -> NetworkAddress {
        let addresses: [NetworkAddress]
        if let literal = NetworkAddress(literal: host) {
            addresses = [literal]
        } else {
            let resolved = await withCheckedContinuation { continuation in
                Thread.detachNewThread { continuation.resume(returning: NetworkAddress.resolve(host)) }
            }
            guard let resolved, !resolved.isEmpty else { throw .failed("\(host) does not resolve") }
            addresses = resolved
        }
        if !entry.allowsPrivateAddresses {
            for address in addresses {
                if let reason = address.nonPublicReason {
                    throw .refused("\(host) resolves to \(address), \(reason); requests there are refused")
                }
            }
        }
        return addresses[0]
    }

    struct Response {
        let status: Int
        let headers: [String: JSONValue]
        let location: String?
        let body: [UInt8]
        let truncated: Bool
    }

    func send(
        method: String,
        url: URL,
        headers: [(String, String)],
        body: String?,
        pinned: (host: String, address: NetworkAddress),
        deadline: NIODeadline
    ) async throws(ConnectorError) -> Response {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.dnsOverride = [pinned.host: pinned.address.description]
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(30))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { client.shutdown { _ in } }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if !request.headers.contains(name: "User-Agent") {
            request.headers.add(name: "User-Agent", value: "Countersign")
        }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        do {
            let response = try await client.execute(request, deadline: deadline)
            var collected: [UInt8] = []
            var truncated = false
            for try await chunk in response.body {
                let room = maximumResponseBytes - collected.count
                if chunk.readableBytes > room {
                    collected.append(contentsOf: chunk.readableBytesView.prefix(room))
                    truncated = true
                    break
                }
                collected.append(contentsOf: chunk.readableBytesView)
            }
            var fields: [String: JSONValue] = [:]
            for header in response.headers.prefix(64) {
                let name = header.name.lowercased()
                let value = String(header.value.prefix(8192))
                if Self.credentialHeaders.contains(name) || name == "set-cookie" {
                    fields[name] = .string("<redacted>")
                } else if case .string(let earlier) = fields[name] {
                    fields[name] = .string(earlier + ", " + value)
                } else {
                    fields[name] = .string(value)
                }
            }
            return Response(
                status: Int(response.status.code),
                headers: fields,
                location: response.headers.first(name: "Location"),
                body: collected,
                truncated: truncated
            )
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw .failed("\(url.host() ?? "the server") did not answer in time")
        } catch {
            throw .failed("the request to \(url.host() ?? "the server") failed: \(String(describing: type(of: error)))")
        }
    }
}
