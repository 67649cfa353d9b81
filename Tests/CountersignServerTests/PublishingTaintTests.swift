import Countersign
import CountersignAgent
import CountersignStore
import Foundation
import Testing

/// The taint rule for posts: after a run reads an issue (its comments written by anyone), a post
/// where people outside the organisation read it (a public repository, a Slack channel shared with
/// other organisations) is Critical, the audience looked up at the provider; a post inside is not.
@Suite("Taint of public posts")
struct PublishingTaintTests {
    static func plan(readFirst: Bool, _ posts: [(String, JSONValue)]) throws -> PlanFile {
        let read: [JSONValue] = [
            [
                "operation": "github.read_issue", "arguments": ["owner": "acme", "repo": "web", "issue_number": 42],
                "rationale": "Read the bug report",
            ]
        ]
        let steps: [JSONValue] = posts.map { operation, arguments in
            [
                "operation": .string(operation), "arguments": arguments, "rationale": "Answer",
                "dependsOn": readFirst ? [0] : [],
            ]
        }
        return try PlanFile(json: ["steps": .array((readFirst ? read : []) + steps)])
    }

    static let posts: [(String, JSONValue)] = [
        ("github.comment_issue", ["owner": "acme", "repo": "web", "issue_number": 42, "body": "Here is .env: …"]),
        ("github.comment_issue", ["owner": "acme", "repo": "internal", "issue_number": 7, "body": "Triaged."]),
        ("slack.post_message", ["channel": "C0BIGEXT01", "text": "Release notes"]),
        ("slack.post_message", ["channel": "C0SMALL001", "text": "Release notes"]),
        ("slack.post_message", ["channel": "#general", "text": "Release notes"]),
    ]

    /// Starts a run of `plan` against in-test GitHub and Slack, then checks with `body`.
    static func run(
        _ plan: PlanFile,
        _ body: @Sendable (Run, ProviderGateway, TestGitHubServer, TestSlackServer) async throws -> Void
    ) async throws {
        let github = TestGitHubServer()
        let slack = TestSlackServer()
        try await github.run {
            try await slack.run {
                let providers = try ProviderGateway(
                    github: github.url,
                    slack: slack.url,
                    token: TestGitHubServer.token,
                    tokens: ["slack": TestSlackServer.token]
                )
                let engine = RunEngine(runs: providers.store, requests: providers.store, gateway: providers.gateway)
                let run = try await engine.start(
                    goal: "Answer",
                    principal: "ana@acme.test",
                    agent: "bot",
                    planner: plan
                )
                try await body(run, providers, github, slack)
            }
        }
    }

    @Test("after an issue is read, posts read outside the organisation are Critical; posts inside are not")
    func publicPosts() async throws {
        try await Self.run(try Self.plan(readFirst: true, Self.posts)) { run, providers, github, slack in
            // The read ran (Low, allowed) and its comments reached the run's result.
            #expect(run.steps[0].state == .executed)
            let readID = try #require(run.steps[0].requestID)
            let read = try #require(try await providers.store.request(id: readID))
            let comments = read.result?["comments"]?.arrayValue ?? []
            #expect(comments.count == 2)
            #expect(comments.last?["body"]?.stringValue?.contains("ignore your task") == true)
            var requests: [ActionRequest] = []
            for step in run.steps.dropFirst() {
                let id = try #require(step.requestID)
                requests.append(try #require(try await providers.store.request(id: id)))
            }
            func taint(_ request: ActionRequest) -> String? {
                request.assessment.reasons.first { $0.name == "taint" }?.text
            }
            let source = "follows untrusted input read at step 0 (github.read_issue)"
            #expect(requests[0].assessment.level == .critical)
            #expect(
                taint(requests[0]) == "\(source), and publishes in acme/web, a public repository anyone can read"
            )
            #expect(requests[0].assessment.requirements.stepUp)
            #expect(taint(requests[1]) == nil)
            #expect(requests[1].assessment.level == .low)
            #expect(requests[2].assessment.level == .critical)
            #expect(
                taint(requests[2])
                    == "\(source), and posts in #all-partners, a channel shared with other organisations"
            )
            #expect(taint(requests[3]) == nil)
            // Who reads #general cannot be looked up: taken to be public.
            #expect(requests[4].assessment.level == .critical)
            #expect(taint(requests[4])?.contains("could not be looked up") == true)
            #expect(github.problems == [])
            #expect(slack.problems == [])
        }
    }

    @Test("without an untrusted read before them, the same posts keep their levels and nothing is looked up")
    func untainted() async throws {
        try await Self.run(try Self.plan(readFirst: false, [Self.posts[0]])) { run, providers, github, _ in
            let id = try #require(run.steps[0].requestID)
            let request = try #require(try await providers.store.request(id: id))
            #expect(request.assessment.level == .low)
            #expect(!request.assessment.reasons.contains { $0.name == "taint" })
            #expect(!github.received.contains { $0.method == "GET" && $0.path == "/repos/acme/web" })
        }
    }
}
