import Countersign
import CountersignConnectors
import Foundation
import HTTPTypes
import Testing

/// The GitHub connector against an in-test GitHub that checks every request as GitHub documents it.
@Suite("GitHub connector")
struct GitHubConnectorTests {
    let catalog = OperationCatalog(try! GitHubOperations.descriptors())

    func run(
        _ body: @Sendable (GitHubConnector, TestGitHubServer) async throws -> Void
    ) async throws {
        let server = TestGitHubServer()
        try await server.run {
            try await body(try GitHubConnector(baseURL: server.url), server)
            #expect(server.problems == [])
        }
    }

    static let context = ExecutionContext(
        requestID: "r1",
        principal: "ana@acme.test",
        agent: "bot",
        tokens: StaticTokens(token: TestGitHubServer.token)
    )

    func execute(_ connector: GitHubConnector, _ name: String, _ arguments: JSONValue) async throws -> JSONValue {
        let action = ProposedAction(
            operation: OperationID("github.\(name)")!,
            arguments: arguments,
            principal: "ana@acme.test",
            agent: "bot"
        )
        _ = try catalog.validate(action)
        return try await connector.execute(action.operation, arguments: arguments, context: Self.context)
    }

    static let sha = "7638417db6d59f3c431d3e1f261cc637155684cd"

    @Test(
        "every operation sends GitHub's documented method, path and body, and returns a short result",
        arguments: [
            (
                "create_issue", ["owner": "acme", "repo": "web", "title": "Flaky test", "labels": ["ci"]], "POST",
                "/repos/acme/web/issues", "number"
            ),
            (
                "comment_issue", ["owner": "acme", "repo": "web", "issue_number": 42, "body": "Looking."], "POST",
                "/repos/acme/web/issues/42/comments", "url"
            ),
            (
                "set_issue_state",
                ["owner": "acme", "repo": "web", "issue_number": 42, "state": "closed", "state_reason": "completed"],
                "PATCH", "/repos/acme/web/issues/42", "state"
            ),
            (
                "create_branch", ["owner": "acme", "repo": "web", "branch": "fix/flaky", "sha": .string(sha)], "POST",
                "/repos/acme/web/git/refs", "ref"
            ),
            (
                "put_file",
                [
                    "owner": "acme", "repo": "web", "path": "docs/notes.md", "message": "Add notes", "content": "hello",
                    "branch": "docs",
                ], "PUT", "/repos/acme/web/contents/docs/notes.md", "commit"
            ),
            (
                "create_pull_request",
                ["owner": "acme", "repo": "web", "title": "Fix", "head": "fix/flaky", "base": "main"], "POST",
                "/repos/acme/web/pulls", "number"
            ),
            (
                "merge_pull_request",
                ["owner": "acme", "repo": "web", "pull_number": 7, "merge_method": "squash", "sha": .string(sha)],
                "PUT", "/repos/acme/web/pulls/7/merge", "merged"
            ),
            (
                "create_release", ["owner": "acme", "repo": "web", "tag_name": "v1.0.0", "draft": true], "POST",
                "/repos/acme/web/releases", "tag"
            ),
            (
                "add_collaborator", ["owner": "acme", "repo": "web", "username": "octocat", "permission": "triage"],
                "PUT", "/repos/acme/web/collaborators/octocat", "invited"
            ),
            (
                "set_visibility", ["owner": "acme", "repo": "web", "visibility": "private"], "PATCH", "/repos/acme/web",
                "visibility"
            ),
            ("archive_repository", ["owner": "acme", "repo": "web"], "PATCH", "/repos/acme/web", "archived"),
            (
                "delete_branch", ["owner": "acme", "repo": "web", "branch": "fix/flaky"], "DELETE",
                "/repos/acme/web/git/refs/heads/fix/flaky", "deleted"
            ),
            ("delete_repository", ["owner": "acme", "repo": "web"], "DELETE", "/repos/acme/web", "deleted"),
        ] as [(String, JSONValue, String, String, String)]
    )
    func contract(
        _ name: String,
        _ arguments: JSONValue,
        _ method: String,
        _ path: String,
        _ resultKey: String
    ) async throws {
        try await run { connector, server in
            let result = try await execute(connector, name, arguments)
            let call = try #require(server.received.last)
            #expect(call.method == method && call.path == path, "\(name): \(call.method) \(call.path)")
            #expect(result[resultKey] != nil && result[resultKey] != .null, "\(name): \(result)")
            if name == "put_file" {
                // Contents go base64-encoded, as GitHub's contents API wants.
                #expect(call.body?["content"] == .string(Data("hello".utf8).base64EncodedString()))
            }
            if name == "create_branch" { #expect(call.body?["ref"] == "refs/heads/fix/flaky") }
        }
    }

    @Test("GitHub's errors become outcomes that say what to do, and hold no token")
    func errors() async throws {
        try await run { connector, server in
            let arguments: JSONValue = ["owner": "acme", "repo": "web", "title": "x"]
            let cases: [(TestGitHubServer.Scripted, String)] = [
                (.init(status: .notFound, headers: [:], body: ["message": "Not Found"]), "no such repository"),
                (
                    .init(
                        status: .forbidden,
                        headers: ["X-Accepted-OAuth-Scopes": "repo", "X-OAuth-Scopes": "public_repo"],
                        body: ["message": "Resource not accessible by integration"]
                    ),
                    "it wants the scopes: repo"
                ),
                (
                    .init(
                        status: .forbidden,
                        headers: ["x-ratelimit-remaining": "0", "x-ratelimit-reset": "1900000000"],
                        body: ["message": "API rate limit exceeded"]
                    ),
                    "rate-limited the call; nothing changed. Try again after 2030-03-17"
                ),
                (
                    .init(
                        status: .unprocessableContent,
                        headers: [:],
                        body: [
                            "message": "Validation Failed",
                            "errors": [["resource": "Issue", "field": "title", "code": "missing_field"]],
                        ]
                    ),
                    "title: missing_field"
                ),
                (
                    .init(status: .unauthorized, headers: [:], body: ["message": "Bad credentials"]),
                    "connect GitHub again"
                ),
            ]
            for (answer, expected) in cases {
                server.script(answer)
                do {
                    _ = try await execute(connector, "create_issue", arguments)
                    Issue.record("\(answer.status) was not an error")
                } catch let error as ConnectorError {
                    #expect(error.message.contains(expected), "\(error.message)")
                    #expect(!error.message.contains(TestGitHubServer.token))
                }
            }
        }
    }

    @Test("the in-test GitHub refuses a call that does not carry the vended token")
    func serverChecksToken() async throws {
        let server = TestGitHubServer()
        try await server.run {
            let connector = try GitHubConnector(baseURL: server.url)
            let context = ExecutionContext(
                requestID: "r",
                principal: "ana@acme.test",
                agent: "bot",
                tokens: StaticTokens(token: "gho_other")
            )
            await #expect(throws: ConnectorError.self) {
                _ = try await connector.execute(
                    OperationID("github.create_issue")!,
                    arguments: ["owner": "acme", "repo": "web", "title": "x"],
                    context: context
                )
            }
            #expect(server.problems == ["Authorization is not the vended token"])
        }
    }

    @Test("a merge whose base is not the approved one merges nothing")
    func mergeChecksBase() async throws {
        try await run { connector, server in
            await #expect(throws: ConnectorError.self) {
                _ = try await execute(
                    connector,
                    "merge_pull_request",
                    ["owner": "acme", "repo": "web", "pull_number": 7, "base": "release"]
                )
            }
            #expect(server.received.map(\.method) == ["GET"])
            let merged = try await execute(
                connector,
                "merge_pull_request",
                ["owner": "acme", "repo": "web", "pull_number": 7, "base": "main"]
            )
            #expect(merged["merged"] == true && server.received.map(\.method) == ["GET", "GET", "PUT"])
        }
    }

    func assess(_ name: String, _ arguments: JSONValue) throws -> Assessment {
        let action = ProposedAction(
            operation: OperationID("github.\(name)")!,
            arguments: arguments,
            principal: "ana@acme.test",
            agent: "bot"
        )
        let descriptor = try catalog.validate(action)
        return try Policy(yaml: "version: 1\n", catalog: catalog).assess(action, operation: descriptor)
    }

    @Test("levels follow what the arguments do: deletion and going public are Critical, protected branches High")
    func levels() throws {
        let repo: [String: JSONValue] = ["owner": "acme", "repo": "web"]
        func with(_ extra: [String: JSONValue]) -> JSONValue { .object(repo.merging(extra) { $1 }) }
        #expect(try assess("delete_repository", with([:])).level == .critical)
        #expect(try assess("set_visibility", with(["visibility": "public"])).level == .critical)
        #expect(try assess("set_visibility", with(["visibility": "private"])).level == .high)
        #expect(try assess("add_collaborator", with(["username": "eve", "permission": "admin"])).level == .critical)
        #expect(try assess("add_collaborator", with(["username": "eve", "permission": "pull"])).level == .high)
        #expect(
            try assess("put_file", with(["path": "a.md", "message": "m", "content": "x", "branch": "main"])).level
                == .high
        )
        #expect(
            try assess("put_file", with(["path": "a.md", "message": "m", "content": "x", "branch": "docs"])).level
                == .medium
        )
        #expect(
            try assess(
                "put_file",
                with(["path": ".github/workflows/ci.yml", "message": "m", "content": "x", "branch": "docs"])
            ).level == .high
        )
        #expect(try assess("delete_branch", with(["branch": "release/1.2"])).level == .high)
        #expect(try assess("create_issue", with(["title": "x"])).level == .low)
        #expect(try assess("create_issue", with(["title": "x", "body": "cc @acme/everyone"])).level == .medium)
        #expect(try assess("create_release", with(["tag_name": "v1"])).level == .high)
        #expect(try assess("create_release", with(["tag_name": "v1", "draft": true])).level == .medium)
        // A branch name that is not a git ref name, a path that climbs out: refused by the schema.
        #expect(throws: ActionError.self) { try assess("delete_branch", with(["branch": "a..b"])) }
        #expect(throws: ActionError.self) {
            try assess("put_file", with(["path": "../x", "message": "m", "content": "x"]))
        }
    }

    @Test("the impact is written from the arguments")
    func impact() throws {
        let descriptor = try #require(catalog.descriptor(for: OperationID("github.delete_repository")!))
        #expect(
            descriptor.impact(of: ["owner": "acme", "repo": "web"]).hasPrefix("Deletes acme/web with its code, issues")
        )
        #expect(descriptor.target(of: ["owner": "acme", "repo": "web"]) == "acme/web")
        let visibility = try #require(catalog.descriptor(for: OperationID("github.set_visibility")!))
        #expect(
            visibility.impact(of: ["owner": "acme", "repo": "web", "visibility": "public"]).contains("anyone can read")
        )
    }
}
