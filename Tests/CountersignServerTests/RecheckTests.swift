import Countersign
import CountersignConnectors
import CountersignStore
import Foundation
import Hummingbird
import Synchronization
import Testing

@testable import CountersignSandbox

/// Right before execution the target is looked up again and compared with what the approver saw.
@Suite("Re-check before execute")
struct RecheckTests {
    static let token = "ghu_recheck0test0token0000000000000000"

    /// The GitHub sandbox with a token of Dana's it issued, served while `body` runs.
    static func withSandbox(_ body: @Sendable (Sandbox, String) async throws -> Void) async throws {
        let sandbox = try Sandbox(
            directory: FileManager.default.temporaryDirectory.appending(path: "recheck-\(UUID().uuidString)").path
        )
        try sandbox.mutate { world in
            world.grants[1] = SandboxWorld.Grant(
                id: 1,
                service: "github",
                account: "dana",
                scopes: ["delete_repo", "repo"],
                refreshSHA256: "",
                retiredRefreshSHA256s: [],
                revoked: false
            )
            world.tokens[Sandbox.digest(token)] = SandboxWorld.IssuedToken(
                grant: 1,
                scopes: ["delete_repo", "repo"],
                expires: Date().addingTimeInterval(3600)
            )
        }
        let router = Router()
        sandbox.add(to: router)
        let base = Mutex("")
        let run: @Sendable () async throws -> Void = { try await body(sandbox, base.withLock { $0 }) }
        try await serveOnLoopback(router, listening: { url in base.withLock { $0 = url } }, run)
    }

    /// Dana's request to delete her private fork in the sandbox, proposed (with its look-up facts)
    /// and approved, and the executor that will run it.
    func approvedDeletion(_ server: String) async throws -> (Executor, ActionRequest) {
        let api = Sandbox.apiURL(.github, server: server)
        let providers = try ProviderGateway(github: api, slack: "http://127.0.0.1:9/api", token: Self.token)
        let deletion = try await providers.propose(
            "github.delete_repository",
            ["owner": "dana", "repo": "old-prototype"]
        )
        let decided = try await providers.store.decide(
            Decision(
                requestID: deletion.id,
                approver: "bob@acme.test",
                verdict: .approve,
                digest: deletion.digest,
                authentication: AuthenticationRecord(method: .totp, authTime: Date()),
                decidedAt: Date()
            ),
            now: Date()
        )
        #expect(decided.state == .approved)
        let executor = Executor(
            store: providers.store,
            connectors: [try GitHubConnector(baseURL: api)],
            tokens: StaticTokens(token: Self.token)
        )
        return (executor, deletion)
    }

    @Test("a private repository made public after approval is not deleted; the refusal says what changed")
    func madePublic() async throws {
        try await Self.withSandbox { sandbox, server in
            let (executor, deletion) = try await approvedDeletion(server)
            #expect(deletion.assessment.reasons.contains { $0.text.hasPrefix("GitHub: private repository (a fork)") })

            // Someone makes it public between the approval and the execution.
            try sandbox.mutate { $0.github.repositories["dana/old-prototype"]?.isPrivate = false }
            let refused = try #require(try await executor.execute(requestID: deletion.id))
            #expect(refused.state == .failed)
            #expect(
                refused.failure
                    == "refused: the target changed since it was approved: the repository is public now; the approver saw it private. Nothing was executed; propose it again so that the current state is reviewed."
            )
            #expect(sandbox.snapshot()["github"]?["repositories"]?["dana/old-prototype"] != nil)
        }
    }

    @Test("an unchanged target executes; a channel that became large and shared outside is refused")
    func unchangedAndRaised() async throws {
        try await Self.withSandbox { sandbox, server in
            let (executor, deletion) = try await approvedDeletion(server)
            // The last push moved; nothing material did.
            try sandbox.mutate { $0.github.repositories["dana/old-prototype"]?.pushedAt = "2026-11-29T10:00:00Z" }
            let executed = try #require(try await executor.execute(requestID: deletion.id))
            #expect(executed.state == .executed)
            #expect(sandbox.snapshot()["github"]?["repositories"]?["dana/old-prototype"] == nil)
        }
        // The default rule: a fact whose level rose is material.
        let approved = [
            RiskReason(source: .blastRadius, name: "channel_members", level: .low, text: "Slack: #x has 3 members")
        ]
        let current = [
            RiskReason(
                source: .blastRadius,
                name: "external_channel",
                level: .high,
                text: "Slack: the channel is shared with other organisations"
            ),
            RiskReason(source: .blastRadius, name: "channel_members", level: .high, text: "Slack: #x has 4000 members"),
        ]
        let changes = try SlackConnector().materialChanges(
            OperationID("slack.post_message")!,
            approved: approved,
            current: current
        )
        #expect(changes.count == 2)
        #expect(
            changes[1]
                == #"now "Slack: #x has 4000 members" (High), where the approver saw "Slack: #x has 3 members" (Low)"#
        )
    }

    @Test("a pull request whose head moved after approval is not merged; an unmoved one is")
    func headMoved() async throws {
        try await Self.withSandbox { sandbox, server in
            let api = Sandbox.apiURL(.github, server: server)
            let providers = try ProviderGateway(github: api, slack: "http://127.0.0.1:9/api", token: Self.token)
            let executor = Executor(
                store: providers.store,
                connectors: [try GitHubConnector(baseURL: api)],
                tokens: StaticTokens(token: Self.token)
            )
            let head = sandbox.world.withLock { $0.github.repositories["acme/app"]?.branches["faster-sync"] ?? "" }
            let merge = try await providers.propose(
                "github.merge_pull_request",
                ["owner": "acme", "repo": "app", "pull_number": 1, "base": "main"]
            )
            let fact = try #require(merge.assessment.reasons.first { $0.source == .blastRadius })
            #expect(
                fact.text
                    == "GitHub: pull request #1 merges faster-sync (head \(head)) into main, 1 commit, 0 files changed"
            )
            let decided = try await providers.store.decide(
                Decision(
                    requestID: merge.id,
                    approver: "bob@acme.test",
                    verdict: .approve,
                    digest: merge.digest,
                    authentication: AuthenticationRecord(method: .totp, authTime: Date()),
                    decidedAt: Date(),
                    confirmation: merge.assessment.requirements.confirmText
                ),
                now: Date()
            )
            #expect(decided.state == .approved)
            // Someone pushes to the branch after the approval.
            try sandbox.mutate {
                $0.github.repositories["acme/app"]?.branches["faster-sync"] = String(repeating: "b", count: 40)
            }
            let refused = try #require(try await executor.execute(requestID: merge.id))
            #expect(refused.state == .failed)
            #expect(
                refused.failure?.contains(
                    "the pull request's head moved from \(head.prefix(12)) to bbbbbbbbbbbb (commits were pushed since)"
                ) == true
            )
            #expect(
                sandbox.snapshot()["github"]?["repositories"]?["acme/app"]?["pulls"]?.arrayValue?.first?["merged"]
                    == false
            )
        }
    }
}
