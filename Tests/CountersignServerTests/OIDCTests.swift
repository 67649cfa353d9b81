import AsyncHTTPClient
import Countersign
import CountersignStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Testing

@testable import CountersignServer

/// OpenID Connect sign-in and step-up against an in-test provider that issues real signed ID tokens.
@Suite("OpenID Connect")
struct OIDCTests {
    /// The browser's side: follows the redirects by hand, keeping the cookies.
    struct Browser {
        let client: any TestClientProtocol
        var cookies: [String: String] = [:]

        var cookieHeader: HTTPFields {
            [.cookie: cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ")]
        }

        mutating func remember(_ response: TestResponse) {
            for value in response.headers[values: .setCookie] {
                let pair = value.prefix { $0 != ";" }
                guard let equals = pair.firstIndex(of: "=") else { continue }
                let name = String(pair[..<equals])
                let content = String(pair[pair.index(after: equals)...])
                if content.isEmpty { cookies[name] = nil } else { cookies[name] = content }
            }
        }

        mutating func get(_ uri: String) async throws -> TestResponse {
            let response = try await client.execute(uri: uri, method: .get, headers: cookieHeader)
            remember(response)
            return response
        }

        mutating func post(_ uri: String, _ form: String) async throws -> TestResponse {
            var headers = cookieHeader
            headers[.contentType] = "application/x-www-form-urlencoded"
            let response = try await client.execute(
                uri: uri,
                method: .post,
                headers: headers,
                body: ByteBuffer(string: form)
            )
            remember(response)
            return response
        }

        /// Visits the provider (signed in there already) and comes back to Countersign's callback.
        mutating func throughProvider(_ location: String) async throws -> TestResponse {
            var configuration = HTTPClient.Configuration()
            configuration.redirectConfiguration = .disallow
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            defer { _ = http.shutdown() }
            let answer = try await http.execute(HTTPClientRequest(url: location), timeout: .seconds(10))
            let back = try #require(answer.headers.first(name: "Location"))
            let url = try #require(URL(string: back))
            return try await get(url.path + "?" + (url.query ?? ""))
        }
    }

    func withApp(
        stepUpACR: String? = "phr",
        _ body: @Sendable (inout Browser, AgentAPITests, TestOpenIDProvider) async throws -> Void
    ) async throws {
        let provider = TestOpenIDProvider()
        try await provider.run {
            let api = try await AgentAPITests()
            try await WebAppTests.addApprover(api)
            let context = try api.webContext(
                oidc: OIDCConfiguration(
                    issuer: provider.issuer,
                    clientID: TestOpenIDProvider.clientID,
                    clientSecret: Secret(TestOpenIDProvider.clientSecret),
                    stepUpACR: stepUpACR,
                    displayName: "Acme SSO"
                )
            )
            let app = Application(router: buildRouter(context))
            try await app.test(.router) { client in
                var browser = Browser(client: client)
                try await body(&browser, api, provider)
            }
        }
    }

    /// Signs in through the provider with whatever token it is set to issue.
    func signInWithProvider(_ browser: inout Browser) async throws -> TestResponse {
        let start = try await browser.get("/sign-in/oidc?next=%2Finbox")
        #expect(start.status == .seeOther)
        return try await browser.throughProvider(try #require(start.headers[.location]))
    }

    @Test("a verified ID token signs the approver in; the request carried state, nonce and PKCE S256")
    func signIn() async throws {
        try await withApp { browser, api, provider in
            let page = try await browser.get("/sign-in")
            #expect(String(buffer: page.body).contains("Sign in with Acme SSO"))
            let back = try await signInWithProvider(&browser)
            #expect(back.status == .seeOther && back.headers[.location] == "/inbox")
            let session = try #require(browser.cookies["__Host-countersign"])
            let stored = try #require(try await api.store.session(id: String(session.prefix { $0 != "." })))
            #expect(stored.authentication.method == .oidc && stored.authentication.acr == "phr")
            let query = try #require(provider.authorizations.last?.query)
            #expect(
                query["nonce"]?.count == 43 && query["state"]?.count == 43 && query["code_challenge_method"] == "S256"
            )
            #expect(query["redirect_uri"] == "http://127.0.0.1:8787/sign-in/oidc/callback" && query["prompt"] == nil)
            #expect(try await browser.get("/inbox").status == .ok)
        }
    }

    @Test(
        "ID tokens for another audience, with a foreign signature, an unverified or unknown email are refused",
        arguments: [
            ("audience", TestOpenIDProvider.Issue(audience: "someone-else")),
            ("signature", TestOpenIDProvider.Issue(signWithForeignKey: true)),
            ("unverified", TestOpenIDProvider.Issue(emailVerified: false)),
            ("unknown", TestOpenIDProvider.Issue(email: "mallory@acme.test")),
        ]
    )
    func refusedTokens(_ name: String, _ issue: TestOpenIDProvider.Issue) async throws {
        try await withApp { browser, _, provider in
            provider.nextToken(issue)
            let back = try await signInWithProvider(&browser)
            #expect(back.status == .forbidden, "\(name)")
            #expect(browser.cookies["__Host-countersign"] == nil, "\(name)")
            #expect(try await browser.get("/inbox").status == .seeOther, "\(name)")
        }
    }

    @Test("a state used twice, or from another browser, is refused")
    func stateBinding() async throws {
        try await withApp { browser, _, _ in
            let start = try await browser.get("/sign-in/oidc")
            let location = try #require(start.headers[.location])
            var stranger = Browser(client: browser.client)
            #expect(try await stranger.throughProvider(location).status == .forbidden)
            #expect(stranger.cookies["__Host-countersign"] == nil)
            let signInCookie = browser.cookies["__Host-countersign-signin"]
            #expect(try await browser.throughProvider(location).status == .seeOther)
            // The state works once, even in the browser it belongs to.
            browser.cookies["__Host-countersign"] = nil
            browser.cookies["__Host-countersign-signin"] = signInCookie
            #expect(try await browser.throughProvider(location).status == .forbidden)
        }
    }

    /// Bob signs in with his password and opens a Critical request's page.
    func criticalRequest(_ browser: inout Browser, _ api: AgentAPITests) async throws -> (id: String, csrf: String) {
        let request = try await api.propose(
            browser.client,
            #"{"operation":"shell.run","arguments":{"program":"ls"},"onBehalfOf":"ana@acme.test"}"#
        )
        let id = try #require(try api.json(request)["id"]?.stringValue)
        _ = try await browser.get("/sign-in")
        let signIn = try #require(browser.cookies["__Host-countersign-signin"])
        let signedIn = try await browser.post(
            "/sign-in",
            "csrf=\(signIn)&email=bob%40acme.test&password=correct+horse+battery+staple"
        )
        #expect(signedIn.status == .seeOther)
        let requestPage = try await browser.get("/approvals/\(id)")
        #expect(String(buffer: requestPage.body).contains("Step up with Acme SSO"))
        return (id, try #require(WebAppTests.csrf(in: requestPage)))
    }

    @Test("step-up goes to the provider with prompt=login, max_age=0 and acr_values, and then approves")
    func stepUp() async throws {
        try await withApp { browser, api, provider in
            let (id, csrf) = try await criticalRequest(&browser, api)
            let digest = try #require(try await api.requests.request(id: id)?.digest.description)
            let refused = try await browser.post("/approvals/\(id)/approve", "csrf=\(csrf)&digest=\(digest)")
            #expect(refused.status == .forbidden)

            let oldSession = try #require(browser.cookies["__Host-countersign"])
            let start = try await browser.post("/approvals/\(id)/step-up", "csrf=\(csrf)")
            let back = try await browser.throughProvider(try #require(start.headers[.location]))
            let query = try #require(provider.authorizations.last?.query)
            #expect(query["prompt"] == "login" && query["max_age"] == "0" && query["acr_values"] == "phr")
            #expect(back.status == .seeOther && back.headers[.location] == "/approvals/\(id)")
            #expect(browser.cookies["__Host-countersign"] != oldSession)

            let page = try await browser.get("/approvals/\(id)")
            #expect(String(buffer: page.body).contains("You stepped up with Acme SSO"))
            let newCSRF = try #require(WebAppTests.csrf(in: page))
            let approved = try await browser.post("/approvals/\(id)/approve", "csrf=\(newCSRF)&digest=\(digest)")
            #expect(approved.status == .seeOther)
            #expect(try await api.requests.request(id: id)?.state == .approved)
            let decision = try #require(try await api.requests.decisions(for: id).first)
            #expect(decision.authentication.method == .oidc && decision.authentication.acr == "phr")
        }
    }

    @Test(
        "a step-up with an old or missing auth_time, or without the required acr, is refused",
        arguments: [
            ("old auth_time", TestOpenIDProvider.Issue(authTimeOffset: -600)),
            ("no auth_time", TestOpenIDProvider.Issue(authTimeOffset: nil)),
            ("wrong acr", TestOpenIDProvider.Issue(acr: "pwd")),
            ("no acr", TestOpenIDProvider.Issue(acr: nil)),
        ]
    )
    func stepUpRefused(_ name: String, _ issue: TestOpenIDProvider.Issue) async throws {
        try await withApp { browser, api, provider in
            let (id, csrf) = try await criticalRequest(&browser, api)
            provider.nextToken(issue)
            let start = try await browser.post("/approvals/\(id)/step-up", "csrf=\(csrf)")
            let back = try await browser.throughProvider(try #require(start.headers[.location]))
            #expect(back.status == .forbidden, "\(name)")
            let digest = try #require(try await api.requests.request(id: id)?.digest.description)
            let approve = try await browser.post("/approvals/\(id)/approve", "csrf=\(csrf)&digest=\(digest)")
            #expect(approve.status == .forbidden, "\(name)")
            #expect(try await api.requests.request(id: id)?.state == .pending, "\(name)")
        }
    }
}
