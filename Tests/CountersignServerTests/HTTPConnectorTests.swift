import Countersign
import CountersignConnectors
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("http connector")
struct HTTPConnectorTests {
    @Test(
        "addresses that are not on the public internet are recognised",
        arguments: [
            ("127.0.0.1", false), ("10.1.2.3", false), ("172.16.0.1", false), ("172.31.255.255", false),
            ("192.168.1.1", false), ("169.254.169.254", false), ("100.64.0.1", false), ("0.0.0.0", false),
            ("224.0.0.1", false), ("::1", false), ("::", false), ("fe80::1", false), ("fc00::1", false),
            ("fd00:ec2::254", false), ("::ffff:127.0.0.1", false), ("::ffff:169.254.169.254", false),
            ("64:ff9b::a9fe:a9fe", false), ("2002:a9fe:a9fe::1", false),
            ("8.8.8.8", true), ("172.32.0.1", true), ("1.1.1.1", true), ("2606:4700:4700::1111", true),
        ]
    )
    func addresses(_ literal: String, isPublic: Bool) throws {
        let address = try #require(NetworkAddress(literal: literal))
        #expect((address.nonPublicReason == nil) == isPublic, "\(literal): \(address.nonPublicReason ?? "public")")
    }

    @Test("allowlist entries parse hosts, wildcards and ports")
    func allowlist() throws {
        let exact = try #require(HTTPAllowlistEntry("API.Example.com"))
        #expect(exact.matches(host: "api.example.com", port: 443))
        #expect(!exact.matches(host: "evil-api.example.com", port: 443))
        let wildcard = try #require(HTTPAllowlistEntry("*.example.com"))
        #expect(wildcard.matches(host: "a.example.com", port: 80))
        #expect(!wildcard.matches(host: "example.com", port: 80))
        #expect(!wildcard.matches(host: "badexample.com", port: 80))
        let ported = try #require(HTTPAllowlistEntry("localhost:8080"))
        #expect(ported.matches(host: "localhost", port: 8080) && !ported.matches(host: "localhost", port: 8081))
        #expect(HTTPAllowlistEntry("[::1]:9000")?.host == "::1")
        for bad in ["", "exa mple.com", "host:99999", "-bad.com", "a..b"] {
            #expect(HTTPAllowlistEntry(bad) == nil, "\(bad)")
        }
    }

    /// A server on loopback that answers the way the tests need.
    static func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/echo") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let echoed: JSONValue = [
                "method": "POST",
                "userAgent": .string(request.headers[.userAgent] ?? ""),
                "test": .string(request.headers[HTTPField.Name("X-Test")!] ?? ""),
                "body": .string(String(buffer: body)),
            ]
            return Response(
                status: .ok,
                headers: [.contentType: "application/json", .setCookie: "session=secret"],
                body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(echoed)))
            )
        }
        router.get("/echo") { _, _ in "GET" }
        router.post("/see-other") { _, _ in Response(status: .seeOther, headers: [.location: "/echo"]) }
        router.get("/to-metadata") { _, _ in
            Response(status: .found, headers: [.location: "http://169.254.169.254/latest/meta-data/"])
        }
        router.get("/loop") { _, _ in Response(status: .found, headers: [.location: "/loop"]) }
        router.get("/big") { _, _ in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: UInt8(ascii: "x"), count: 300_000)))
        }
        return router
    }

    func connector(_ port: Int, privateAllowed: Bool = true) throws -> HTTPConnector {
        try HTTPConnector(
            allowlist: [
                try #require(HTTPAllowlistEntry("127.0.0.1:\(port)", allowsPrivateAddresses: privateAllowed)),
                try #require(HTTPAllowlistEntry("localhost:\(port)")),
                try #require(HTTPAllowlistEntry("169.254.169.254")),
            ],
            maximumRedirects: 3,
            maximumResponseBytes: 100_000
        )
    }

    func request(_ connector: HTTPConnector, _ arguments: JSONValue) async throws(ConnectorError) -> JSONValue {
        try await connector.execute(
            OperationID("http.request")!,
            arguments: arguments,
            context: ExecutionContext(requestID: "r", principal: "ana@acme.test", agent: "planner")
        )
    }

    @Test("a request reaches an allowlisted host with its method, headers and body; redirects are re-checked")
    func live() async throws {
        let app = Application(router: Self.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let http = try connector(port)
            let base = "http://127.0.0.1:\(port)"
            let echoed = try await request(
                http,
                ["method": "POST", "url": .string(base + "/echo"), "headers": ["X-Test": "yes"], "body": "hello"]
            )
            #expect(echoed["status"] == 200)
            let body = try JSONParser().parse(Array((echoed["body"]?.stringValue ?? "").utf8))
            #expect(body["body"] == "hello" && body["test"] == "yes" && body["userAgent"] == "Countersign")
            #expect(echoed["headers"]?["set-cookie"] == "<redacted>")

            let seeOther = try await request(
                http,
                ["method": "POST", "url": .string(base + "/see-other"), "body": "x"]
            )
            #expect(seeOther["status"] == 200 && seeOther["body"] == "GET")
            #expect(seeOther["redirects"]?.arrayValue?.count == 1)

            await #expect(throws: ConnectorError.self) {
                _ = try await request(http, ["method": "GET", "url": .string(base + "/to-metadata")])
            }
            do throws(ConnectorError) {
                _ = try await request(http, ["method": "GET", "url": .string(base + "/to-metadata")])
            } catch {
                #expect(error.message.contains("link-local"))
            }
            do throws(ConnectorError) {
                _ = try await request(http, ["method": "GET", "url": .string(base + "/loop")])
                Issue.record("a redirect loop was followed")
            } catch {
                #expect(error.message.contains("more than 3 redirects"))
            }
            let big = try await request(http, ["method": "GET", "url": .string(base + "/big")])
            #expect(big["truncated"] == true && big["body"]?.stringValue?.utf8.count == 100_000)

            // Loopback is refused unless the entry allows private addresses.
            do throws(ConnectorError) {
                _ = try await request(http, ["method": "GET", "url": .string("http://localhost:\(port)/echo")])
                Issue.record("loopback was reached")
            } catch {
                #expect(error.message.contains("loopback"))
            }
            for url in ["http://example.com/", "http://user:pass@127.0.0.1:\(port)/echo", "ftp://127.0.0.1/"] {
                await #expect(throws: ConnectorError.self, "\(url)") {
                    _ = try await request(http, ["method": "GET", "url": .string(url)])
                }
            }
            await #expect(throws: ConnectorError.self) {
                _ = try await request(
                    http,
                    ["method": "GET", "url": .string(base + "/echo"), "headers": ["Host": "evil"]]
                )
            }
        }
    }
}
