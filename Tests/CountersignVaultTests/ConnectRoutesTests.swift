import AsyncHTTPClient
import Countersign
import CountersignServer
import CountersignStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Testing

@testable import CountersignVault

/// The browser's side of the connect flow through the server's real routes.
@Suite("Connect routes")
struct ConnectRoutesTests {
    let files: VaultFiles

    init() throws {
        files = try VaultFiles()
    }

    func begin(_ vault: Vault) async throws -> Vault.ConnectLink {
        try await vault.beginConnect(
            provider: "github",
            principal: "ana@acme.test",
            scopes: ["repo"],
            serverURL: "http://127.0.0.1:8787",
            actor: "admin@acme.test"
        )
    }

    @Test(
        "the start link sets a bound HttpOnly cookie and redirects; the callback needs that cookie and escapes what it shows"
    )
    func browserFlow() async throws {
        let server = TestAuthorizationServer(.init(dialect: .github))
        try await server.run { base in
            let (vault, _) = try await files.open()
            try await vault.setProviderClient(
                provider: "github",
                clientID: server.configuration.clientID,
                clientSecret: Secret(server.configuration.clientSecret),
                redirectURI: server.configuration.redirectURI,
                endpoints: ["authorization": base + "/authorize", "token": base + "/token", "account": base + "/user"],
                actor: "test"
            )
            let router = Router()
            ConnectRoutes.add(to: router, vault: vault)
            let app = Application(router: router)
            try await app.test(.router) { client in
                let link = try await begin(vault)
                let path = String(link.url.dropFirst("http://127.0.0.1:8787".count))
                let started = try await client.execute(uri: path, method: .get)
                #expect(started.status == .found)
                let cookie = try #require(started.headers[.setCookie])
                #expect(cookie.hasPrefix("countersign-connect="))
                for attribute in ["HttpOnly", "SameSite=Lax", "Path=/oauth/", "Max-Age="] {
                    #expect(cookie.contains(attribute), "cookie lacks \(attribute)")
                }
                #expect(started.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
                #expect(started.headers[.cacheControl] == "no-store")
                let binder = String(cookie.split(separator: ";")[0])

                // The link opens once.
                let again = try await client.execute(uri: path, method: .get)
                #expect(again.status == .badRequest)

                // The provider's consent screen sends the browser back with a code and the state.
                let location = try #require(started.headers[.location])
                let consent = try await ConnectTests.browser.get(url: location).get()
                let back = try #require(consent.headers.first(name: "Location"))
                let callback = "/oauth/callback?" + (URLComponents(string: back)?.percentEncodedQuery ?? "")

                let stranger = try await client.execute(uri: callback, method: .get)
                #expect(stranger.status == .badRequest)
                #expect(String(buffer: stranger.body).contains("Nothing was connected"))
                #expect(String(buffer: stranger.body).contains("connect cookie"))
                // A browser with another cookie burns the flow: then not even the right one finishes it.
                let forged = try await client.execute(
                    uri: callback,
                    method: .get,
                    headers: [.cookie: "countersign-connect=\(Vault.randomToken())"]
                )
                #expect(forged.status == .badRequest)
                let late = try await client.execute(uri: callback, method: .get, headers: [.cookie: binder])
                #expect(late.status == .badRequest)
            }

            // A fresh flow, finished by the right browser.
            try await app.test(.router) { client in
                let link = try await begin(vault)
                let started = try await client.execute(
                    uri: String(link.url.dropFirst("http://127.0.0.1:8787".count)),
                    method: .get
                )
                let binder = String(try #require(started.headers[.setCookie]).split(separator: ";")[0])
                let consent = try await ConnectTests.browser.get(url: try #require(started.headers[.location])).get()
                let back = try #require(consent.headers.first(name: "Location"))
                let finished = try await client.execute(
                    uri: "/oauth/callback?" + (URLComponents(string: back)?.percentEncodedQuery ?? ""),
                    method: .get,
                    headers: [.cookie: "other=1; \(binder)"]
                )
                #expect(finished.status == .ok)
                let page = String(buffer: finished.body)
                #expect(page.contains("github account octocat is connected for ana@acme.test"))
                #expect(!page.contains("CANARY"))
                #expect(finished.headers[values: .setCookie].contains { $0.contains("Max-Age=0") })
                #expect(finished.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)

                let hostile = try await client.execute(
                    uri: "/oauth/callback?state=x&error=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
                    method: .get,
                    headers: [.cookie: binder]
                )
                #expect(hostile.status == .badRequest)
                #expect(!String(buffer: hostile.body).contains("<script>"))
            }
            #expect(try await vault.connections(principal: "ana@acme.test").map(\.account) == ["octocat"])
        }
    }
}
