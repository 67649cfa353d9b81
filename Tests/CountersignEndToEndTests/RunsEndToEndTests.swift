import Countersign
import Foundation
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A run started from the CLI against the built `countersign serve`, killed with SIGKILL while a
/// step waits for approval, restarted, approved, and completed with every step executed once.
@Suite("End to end: runs", .serialized)
struct RunsEndToEndTests {
    static let plan = """
        steps:
          - operation: files.write
            arguments: { path: notes/plan.md, content: "draft" }
            rationale: Write the plan down
          - operation: files.append
            arguments: { path: log.txt, content: "appended once\\n" }
            rationale: Log that the plan exists
            dependsOn: [0]
          - operation: files.read
            arguments: { path: log.txt }
            rationale: Read the log back
            dependsOn: [1]
        """

    /// Reads the run as its agent until `done` says so (or twenty seconds pass).
    func run(
        _ harness: Harness,
        _ id: String,
        key: String,
        until done: (JSONValue) -> Bool
    ) async throws -> JSONValue {
        var latest: JSONValue = .null
        for _ in 0..<100 {
            latest = try await harness.http(.GET, "/v1/runs/\(id)", bearer: key).body
            if done(latest) { return latest }
            try await Task.sleep(for: .milliseconds(200))
        }
        return latest
    }

    func approve(_ harness: Harness, request id: String, key: String, token: String) async throws -> UInt {
        let request = try await harness.http(.GET, "/v1/actions/\(id)", bearer: key).body
        return try await harness.http(
            .POST,
            "/v1/approvals/\(id)/approve",
            bearer: token,
            ["digest": request["digest"] ?? .null]
        ).status
    }

    @Test("kill -9 while a step waits for approval: after the restart the run goes on, each step executed once")
    func killedMidPlan() async throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let data = ["--data", harness.data.path]
        let created = try harness.run(["agents", "create", "run-agent"] + data, showsSecret: true)
        let key = String(
            try #require(created.output.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("csk_") })
        )
        #expect(
            try harness.run(["users", "add", "bob@runs.test"] + data, input: "canary-runs-password-77\n").status == 0
        )
        let issued = try harness.run(["users", "token", "bob@runs.test"] + data, showsSecret: true)
        let token = String(
            try #require(issued.output.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("cst_") })
        )
        let policy = harness.root.appending(path: "policy.yaml")
        try Policy.defaultYAML.write(to: policy, atomically: true, encoding: .utf8)
        let planFile = harness.root.appending(path: "plan.yaml")
        try Self.plan.write(to: planFile, atomically: true, encoding: .utf8)
        try await harness.start(policy: policy)
        // The server's address changes at each start (a free port).
        var agent: [String: String] { ["COUNTERSIGN_AGENT_KEY": key, "COUNTERSIGN_SERVER": harness.baseURL] }

        let started = try harness.run(
            ["runs", "start", "Write the plan and log it", "--plan", planFile.path, "--on-behalf-of", "ana@runs.test"],
            environment: agent
        )
        #expect(started.status == 0, "\(started.error)")
        let runID = String(
            try #require(started.output.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("run_") })
        )
        var run = try await harness.http(.GET, "/v1/runs/\(runID)", bearer: key).body
        let first = try #require(run["steps"]?.arrayValue?[0]["requestID"]?.stringValue)
        #expect(try await approve(harness, request: first, key: key, token: token) == 200)
        // The write executes; the run service proposes the append, which waits for an approver.
        run = try await self.run(harness, runID, key: key) {
            $0["steps"]?.arrayValue?[1]["state"] == "proposed"
        }
        let second = try #require(run["steps"]?.arrayValue?[1]["requestID"]?.stringValue)

        try harness.stop(SIGKILL)
        try await harness.start(policy: policy)
        run = try await harness.http(.GET, "/v1/runs/\(runID)", bearer: key).body
        #expect(run["state"] == "running")
        #expect(run["steps"]?.arrayValue?.map { $0["state"] } == ["executed", "proposed", "planned"])
        #expect(run["steps"]?.arrayValue?[1]["requestID"]?.stringValue == second)

        #expect(try await approve(harness, request: second, key: key, token: token) == 200)
        run = try await self.run(harness, runID, key: key) { $0["state"] != "running" }
        #expect(run["state"] == "completed")
        #expect(run["steps"]?.arrayValue?.allSatisfy { $0["state"] == "executed" } == true)
        let shown = try harness.run(["runs", "show", runID], environment: agent)
        #expect(shown.output.contains("completed"))

        let workspace = harness.data.appending(path: "workspace")
        #expect(try String(contentsOf: workspace.appending(path: "notes/plan.md"), encoding: .utf8) == "draft")
        #expect(try String(contentsOf: workspace.appending(path: "log.txt"), encoding: .utf8) == "appended once\n")
        let listed = try await harness.http(.GET, "/v1/actions?state=all&limit=200", bearer: key).body
        let mine = listed["actions"]?.arrayValue?.filter { $0["runID"]?.stringValue == runID } ?? []
        #expect(mine.count == 3)
        #expect(mine.allSatisfy { $0["state"] == "executed" })
        try harness.stop(SIGTERM)
        #expect(try harness.run(["audit", "verify"] + data).status == 0)
    }
}
