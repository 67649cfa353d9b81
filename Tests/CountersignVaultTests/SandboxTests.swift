import AsyncHTTPClient
import Countersign
import CountersignConnectors
import CountersignServer
import CountersignStore
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Testing

@testable import CountersignVault

/// The demo's sandbox chat through the real server routes, the vault and its connector.
@Suite("Sandbox chat")
struct SandboxTests {
    let files: VaultFiles

    init() throws {
        files = try VaultFiles()
    }

    @Test(
        "an account is connected through the vault, a message is posted with a vended token, and a reused refresh token revokes the grant"
    )
    func connectAndPost() async throws {
        let (vault, store) = try await files.open()
        let chat = SandboxChat(account: "dana")
        let router = Router()
        ConnectRoutes.add(to: router, vault: vault)
        chat.add(to: router)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let server = "http://127.0.0.1:\(try #require(client.port))"
            chat.register(
                clientID: "demo",
                clientSecret: Secret("demo-secret"),
                redirectURI: server + "/oauth/callback",
                issuer: server + "/sandbox"
            )
            try await vault.setProviderClient(
                provider: "sandbox",
                clientID: "demo",
                clientSecret: Secret("demo-secret"),
                redirectURI: server + "/oauth/callback",
                endpoints: [
                    "authorization": server + "/sandbox/oauth/authorize", "token": server + "/sandbox/oauth/token",
                    "account": server + "/sandbox/api/me", "issuer": server + "/sandbox",
                ],
                actor: "test"
            )
            let link = try await vault.beginConnect(
                provider: "sandbox",
                principal: "ana@acme.test",
                scopes: ["chat:write"],
                serverURL: server,
                actor: "test"
            )
            let started = try await ConnectTests.browser.get(url: link.url).get()
            let cookie = String(try #require(started.headers.first(name: "Set-Cookie")).split(separator: ";")[0])
            let consent = try await ConnectTests.browser.get(url: try #require(started.headers.first(name: "Location")))
                .get()
            var callback = HTTPClientRequest(url: try #require(consent.headers.first(name: "Location")))
            callback.headers.add(name: "Cookie", value: cookie)
            let finished = try await ConnectTests.browser.execute(callback, timeout: .seconds(10))
            #expect(finished.status == .ok)
            let connection = try #require(try await vault.connections(principal: "ana@acme.test").first)
            #expect(connection.account == "dana" && connection.scopes == ["chat:write"])

            // The connector posts with a token the vault vends for the executing request.
            let address = SandboxAddress()
            address.set(server)
            let connector = try SandboxConnector(address: address)
            let request = try await VendTests.executingRequest(store, scopes: ["chat:write"])
            let result = try await connector.execute(
                OperationID("sandbox.post_message")!,
                arguments: ["channel": "#releases", "text": "shipped"],
                context: ExecutionContext(requestID: request.id, principal: "ana@acme.test", agent: "a", tokens: vault)
            )
            #expect(result["posted"] == true)
            #expect(chat.messages.map { [$0.channel, $0.text, $0.user] } == [["#releases", "shipped", "dana"]])

            // Presenting the first refresh token again (as after a lost commit) revokes the grant.
            let (_, current) = try await vault.refreshToken(connectionID: connection.id)
            let oauth = try await vault.oauthClient(for: "sandbox")
            _ = try await oauth.refresh(current, scopes: nil)
            let reuse = await vaultError { _ = try await oauth.refresh(current, scopes: nil) }
            #expect(reuse?.code == .needsReconsent)
        }
    }

    @Test("the operation rates a mass mention High and writes its impact from the arguments")
    func operation() throws {
        let descriptor = try #require(try SandboxConnector(address: SandboxAddress()).operations.first)
        #expect(descriptor.scopes == ["chat:write"] && descriptor.defaultLevel == .medium)
        let action = ProposedAction(
            operation: descriptor.id,
            arguments: ["channel": "#all", "text": "@channel lunch"],
            principal: "ana@acme.test",
            agent: "bot"
        )
        let reasons = descriptor.hints.flatMap { $0.evaluate(action) }
        #expect(reasons.map(\.level) == [.high])
        #expect(descriptor.impact(of: ["channel": "#all", "text": "hi"]).contains("Posts to #all"))
    }
}
