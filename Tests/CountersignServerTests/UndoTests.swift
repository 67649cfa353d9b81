import Countersign
import CountersignConnectors
import CountersignStore
import Foundation
import Testing

/// Undo: the compensating action of an executed one, proposed and authorized like any action.
@Suite("Undo")
struct UndoTests {
    @Test("an opened issue is undone by closing it as not planned, once, and only by its agent")
    func issue() async throws {
        let github = TestGitHubServer()
        try await github.run {
            let providers = try ProviderGateway(
                github: github.url,
                slack: "http://127.0.0.1:9/api",
                token: TestGitHubServer.token
            )
            let gateway = providers.gateway
            let opened = try await providers.propose(
                "github.create_issue",
                ["owner": "acme", "repo": "web", "title": "Oops"]
            )
            #expect(opened.state == .executed && opened.result?["number"] == 42)
            await #expect(throws: UndoError.notFound) { _ = try await gateway.undo(opened.id, agent: "someone-else") }
            let undo = try await gateway.undo(opened.id, agent: "bot")
            #expect(undo.action.operation.description == "github.set_issue_state")
            #expect(undo.action.arguments["state"] == "closed" && undo.action.arguments["issue_number"] == 42)
            #expect(undo.agentReason == "undo of request \(opened.id) (github.create_issue)")
            #expect(undo.state == .executed)
            #expect(github.received.last.map { "\($0.method) \($0.path)" } == "PATCH /repos/acme/web/issues/42")
            // Asking again is the same undo, not a second one.
            #expect(try await gateway.undo(opened.id, agent: "bot").id == undo.id)

            let deleted = try await providers.propose(
                "github.delete_branch",
                ["owner": "acme", "repo": "web", "branch": "tmp"]
            )
            #expect(deleted.state == .pending)
            await #expect(throws: UndoError.notExecuted(.pending)) {
                _ = try await gateway.undo(deleted.id, agent: "bot")
            }
            #expect(github.problems == [])
        }
    }

    @Test("a posted message is undone by deleting it, which is itself held for approval")
    func message() async throws {
        let slack = TestSlackServer()
        try await slack.run {
            let providers = try ProviderGateway(
                github: "http://127.0.0.1:9",
                slack: slack.url,
                token: TestSlackServer.token,
                policy: """
                    version: 1
                    rules:
                      - name: posts-to-the-team
                        reason: posting to the team channel is routine
                        match: { operation: slack.post_message, arguments: [{ path: channel, equals: C0SMALL001 }] }
                        decision: allow
                    """
            )
            let gateway = providers.gateway
            let posted = try await providers.propose(
                "slack.post_message",
                ["channel": "C0SMALL001", "text": "wrong channel"]
            )
            #expect(posted.state == .executed && posted.result?["ts"] == "1700000000.000100")
            let undo = try await gateway.undo(posted.id, agent: "bot")
            #expect(undo.action.operation.description == "slack.delete_message")
            #expect(undo.action.arguments == ["channel": "C0123456789", "ts": "1700000000.000100"])
            #expect(undo.state == .pending)
            let noUndo = try #require(Catalogs.standard().descriptor(for: OperationID("github.delete_repository")!))
            #expect(!noUndo.hasUndo)
            await #expect(throws: UndoError.notExecuted(.pending)) {
                _ = try await gateway.undo(undo.id, agent: "bot")
            }
            #expect(slack.problems == [])
        }
    }
}
