import AsyncHTTPClient
import Countersign
import CountersignTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Several `countersign serve` processes on one PostgreSQL database, each with a data directory of
/// its own holding the same keys, all acting in one workspace, as behind a load balancer.
final class Cluster: Sendable {
    let harness: Harness
    let databaseURL: String
    let workspace: URL
    let policy: URL
    private let servers = Mutex<[String: (process: Process, log: URL, port: Int)]>([:])

    /// The keys every instance must share: audit signing, sealed secrets (TOTP), the vault's master key.
    static let sharedFiles = ["audit-signing.key", "audit-signing.pub", "secrets.key", "vault.key"]

    init(databaseURL: String, rules: String = "") throws {
        harness = try Harness()
        self.databaseURL = databaseURL
        workspace = harness.root.appending(path: "workspace")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        policy = harness.root.appending(path: "policy.yaml")
        try Policy.defaultYAML.replacingOccurrences(of: "\ntests:", with: "\n" + rules + "\ntests:")
            .write(to: policy, atomically: true, encoding: .utf8)
    }

    func data(_ name: String) -> URL { harness.root.appending(path: name) }

    /// Starts `countersign serve` for the instance `name`, with the database in its environment
    /// (never on its command line), and waits until it listens.
    @discardableResult
    func start(_ name: String, lease: Int = 300, arguments: [String] = []) async throws -> Int {
        if name != "a" {
            try FileManager.default.createDirectory(at: data(name), withIntermediateDirectories: true)
            chmod(data(name).path, 0o700)
            for file in Self.sharedFiles
            where !FileManager.default.fileExists(atPath: data(name).appending(path: file).path) {
                try FileManager.default.copyItem(
                    at: data("a").appending(path: file),
                    to: data(name).appending(path: file)
                )
            }
        }
        let log = harness.root.appending(path: "serve-\(name).log")
        let (process, port) = try await Harness.serve(
            [
                "--data", data(name).path, "--port", "0", "--policy", policy.path, "--workspace", workspace.path,
                "--execution-lease", "\(lease)",
            ] + arguments,
            environment: ["COUNTERSIGN_DATABASE_URL": databaseURL],
            log: log
        )
        servers.withLock { $0[name] = (process, log, port) }
        return port
    }

    func port(_ name: String) -> Int { servers.withLock { $0[name]?.port ?? 0 } }

    func log(_ name: String) -> String {
        guard let log = servers.withLock({ $0[name]?.log }) else { return "" }
        return (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    }

    func signal(_ name: String, _ signal: Int32) {
        guard let process = servers.withLock({ $0[name]?.process }) else { return }
        kill(process.processIdentifier, signal)
    }

    /// Runs the CLI against the database (through instance a's data directory, for its keys).
    func cli(_ arguments: [String], input: String? = nil, showsSecret: Bool = false) throws -> CommandResult {
        try harness.run(
            arguments + ["--data", data("a").path],
            input: input,
            environment: ["COUNTERSIGN_DATABASE_URL": databaseURL],
            showsSecret: showsSecret
        )
    }

    /// An agent and an approver with a personal API token.
    func enroll() throws -> (agentKey: String, approverToken: String) {
        let created = try cli(["agents", "create", "fleet-agent"], showsSecret: true)
        let key = try #require(created.output.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("csk_") })
        #expect(try cli(["users", "add", "ana@fleet.test"], input: "canary-fleet-password-5d1c\n").status == 0)
        let issued = try cli(["users", "token", "ana@fleet.test"], showsSecret: true)
        let token = try #require(issued.output.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("cst_") })
        return (String(key), String(token))
    }

    /// An HTTP exchange with one instance.
    func http(
        _ method: HTTPMethod,
        _ name: String,
        _ path: String,
        bearer: String? = nil,
        _ body: JSONValue? = nil,
        timeout: TimeAmount = .seconds(60)
    ) async throws -> (status: UInt, body: JSONValue) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port(name))\(path)")
        request.method = method
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.bytes(body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
        harness.record(text)
        return (response.status.code, (try? JSONParser().parse(Array(text.utf8))) ?? .null)
    }

    /// Approves a request as the approver on one instance, bound to the digest the agent was shown.
    func approve(_ request: JSONValue, on name: String, token: String) async throws -> (status: UInt, body: JSONValue) {
        try await http(
            .POST,
            name,
            "/v1/approvals/\(request["id"]?.stringValue ?? "")/approve",
            bearer: token,
            ["digest": request["digest"] ?? .null]
        )
    }

    /// Proposes an action as the agent on one instance.
    func propose(
        on name: String,
        key: String,
        _ operation: String,
        _ arguments: JSONValue,
        idempotencyKey: String? = nil
    ) async throws -> (status: UInt, body: JSONValue) {
        var body: [String: JSONValue] = [
            "operation": .string(operation), "arguments": arguments, "onBehalfOf": "carol@fleet.test",
        ]
        if let idempotencyKey { body["idempotencyKey"] = .string(idempotencyKey) }
        return try await http(.POST, name, "/v1/actions", bearer: key, .object(body))
    }

    /// Reads a request as its agent on one instance until its state is one of `states`.
    func state(
        of id: String,
        on name: String,
        key: String,
        until states: Set<String>,
        within seconds: Int = 20
    ) async throws -> JSONValue {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var latest: JSONValue = .null
        while ContinuousClock.now < deadline {
            latest = try await http(.GET, name, "/v1/actions/\(id)", bearer: key).body
            if states.contains(latest["state"]?.stringValue ?? "") { return latest }
            try await Task.sleep(for: .milliseconds(200))
        }
        return latest
    }

    func stopAll() {
        if ProcessInfo.processInfo.environment["COUNTERSIGN_TEST_SHOW_LOGS"] != nil {
            for name in ["a", "b", "c"] { print("--- \(name)\n" + log(name)) }
        }
        for (process, log, _) in servers.withLock({ Array($0.values) }) {
            kill(process.processIdentifier, SIGCONT)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            harness.record((try? String(contentsOf: log, encoding: .utf8)) ?? "")
        }
        servers.withLock { $0 = [:] }
        harness.cleanUp()
    }
}

/// A slow HTTP service the `http` connector calls: it counts the calls and holds each answer until
/// the test lets it go, so that a test can stop an instance (or the database) mid-execution.
final class SlowService: Sendable {
    private let state = Mutex<(calls: Int, released: Bool)>((0, false))

    var calls: Int { state.withLock { $0.calls } }

    func release() { state.withLock { $0.released = true } }

    /// Runs the service on a free loopback port while `body` runs.
    func run(_ body: @Sendable (_ port: Int) async throws -> Void) async throws {
        let router = Router()
        router.get("/slow") { _, _ -> String in
            self.state.withLock { $0.calls += 1 }
            while !self.state.withLock({ $0.released }) { try await Task.sleep(for: .milliseconds(50)) }
            return "done"
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            try await body(port)
        }
    }

    /// Waits until the service has been called.
    func waitForCall(within seconds: Int = 20) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while calls == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
    }
}

@Suite("End to end: several instances on PostgreSQL", .serialized)
struct InstancesTests {
    static let slowRule = """
          - name: fleet-slow-service
            reason: The test's slow service is called without approval
            match:
              operation: http.request
            decision: allow
        """

    @Test(
        "three instances: 100 approvals spread over them run the action once; a waiting agent hears another's decision"
    )
    func threeInstances() async throws {
        let cluster = try Cluster(databaseURL: try await TestPostgres.freshDatabase())
        defer { cluster.stopAll() }
        try await cluster.start("a")
        async let b = cluster.start("b")
        async let c = cluster.start("c")
        _ = try await (b, c)
        let (key, token) = try cluster.enroll()
        for name in ["a", "b", "c"] {
            let health = try await cluster.http(.GET, name, "/healthz")
            #expect(health.status == 200)
            #expect(health.body["database"]?["kind"] == "postgresql")
            #expect(health.body["database"]?["state"] == "ok")
        }

        // One Medium request; 100 approvals of it at once, spread over the three instances.
        let proposed = try await cluster.propose(
            on: "a",
            key: key,
            "files.append",
            ["path": "ledger.txt", "content": "once\n"]
        )
        #expect(proposed.status == 201)
        #expect(proposed.body["state"] == "pending")
        let id = try #require(proposed.body["id"]?.stringValue)
        let statuses = try await withThrowingTaskGroup(of: UInt.self) { group in
            for attempt in 0..<100 {
                group.addTask {
                    try await cluster.approve(proposed.body, on: ["a", "b", "c"][attempt % 3], token: token).status
                }
            }
            return try await group.reduce(into: [UInt]()) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 200 }.count == 1)
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 409 })
        let executed = try await cluster.state(
            of: id,
            on: "c",
            key: key,
            until: ["executed", "failed", "outcome_unknown"]
        )
        #expect(executed["state"] == "executed")
        // Every instance's executor heard the approval and raced to claim it: the file has one line.
        try await Task.sleep(for: .seconds(1))
        #expect(try String(contentsOf: cluster.workspace.appending(path: "ledger.txt"), encoding: .utf8) == "once\n")

        // An agent long-polling instance a hears a decision made on instance b within a second.
        let second = try await cluster.propose(
            on: "a",
            key: key,
            "files.append",
            ["path": "ledger.txt", "content": "twice\n"]
        )
        let secondID = try #require(second.body["id"]?.stringValue)
        async let waited = cluster.http(.GET, "a", "/v1/actions/\(secondID)?wait=30", bearer: key)
        try await Task.sleep(for: .milliseconds(500))
        let approval = try await cluster.approve(second.body, on: "b", token: token)
        let decided = ContinuousClock.now
        #expect(approval.status == 200)
        let heard = try await waited
        let latency = ContinuousClock.now - decided
        #expect(heard.body["state"] != "pending")
        #expect(latency < .seconds(1), "the agent on a heard b's decision after \(latency)")

        #expect(try cluster.cli(["audit", "verify"]).status == 0)
        let logs = ["a", "b", "c"].map(cluster.log).joined() + cluster.harness.recorded.joined()
        #expect(!logs.contains(key) && !logs.contains(token) && !logs.contains("canary-fleet-password-5d1c"))
        #expect(!logs.contains(cluster.databaseURL))
    }

    @Test("a worker stopped past its lease cannot record its result after another instance took over")
    func stalledWorker() async throws {
        let cluster = try Cluster(databaseURL: try await TestPostgres.freshDatabase(), rules: Self.slowRule)
        defer { cluster.stopAll() }
        let service = SlowService()
        try await service.run { port in
            let allow = ["--http-allow-private", "127.0.0.1:\(port)"]
            try await cluster.start("a", lease: 3, arguments: allow)
            try await cluster.start("b", arguments: allow)
            let (key, _) = try cluster.enroll()
            let arguments: JSONValue = ["method": "GET", "url": .string("http://127.0.0.1:\(port)/slow")]
            // Allowed by policy: instance a claims it and calls the service inside the agent's request.
            async let stalled = try? cluster.propose(
                on: "a",
                key: key,
                "http.request",
                arguments,
                idempotencyKey: "slow-1"
            )
            try await service.waitForCall()
            cluster.signal("a", SIGSTOP)
            // The same idempotency key on b: the same request, not a second one.
            let same = try await cluster.propose(on: "b", key: key, "http.request", arguments, idempotencyKey: "slow-1")
            #expect(same.body["state"] == "executing")
            let id = try #require(same.body["id"]?.stringValue)
            // a renews its lease every second while it runs; stopped, it cannot: b ends the execution.
            let abandoned = try await cluster.state(of: id, on: "b", key: key, until: ["outcome_unknown"])
            #expect(abandoned["state"] == "outcome_unknown")
            service.release()
            cluster.signal("a", SIGCONT)
            let late = await stalled
            #expect(late?.status != 201 || late?.body["state"] != "executed")
            try await Task.sleep(for: .seconds(1))
            let final = try await cluster.http(.GET, "b", "/v1/actions/\(id)", bearer: key).body
            #expect(final["state"] == "outcome_unknown")
            #expect(final["result"] == nil || final["result"] == .null)
            #expect(service.calls == 1)
            #expect(try cluster.cli(["audit", "verify"]).status == 0)
        }
    }

    @Test("the database killed mid-execution: fail closed, nothing twice, decisions refused then taken")
    func databaseKilled() async throws {
        let server = try PrivatePostgres()
        let cluster = try Cluster(
            databaseURL: try await TestPostgres.freshDatabase(on: server.url),
            rules: Self.slowRule
        )
        defer { cluster.stopAll() }
        let service = SlowService()
        try await service.run { port in
            try await cluster.start("a", lease: 3, arguments: ["--http-allow-private", "127.0.0.1:\(port)"])
            let (key, token) = try cluster.enroll()
            let held = try await cluster.propose(
                on: "a",
                key: key,
                "files.append",
                ["path": "held.txt", "content": "one\n"]
            )
            let heldID = try #require(held.body["id"]?.stringValue)
            let arguments: JSONValue = ["method": "GET", "url": .string("http://127.0.0.1:\(port)/slow")]
            async let running = try? cluster.propose(
                on: "a",
                key: key,
                "http.request",
                arguments,
                idempotencyKey: "slow-db"
            )
            try await service.waitForCall()
            server.kill()

            // Fail closed: the instance says it has no database, and a decision is refused, not lost.
            let health = try await cluster.http(.GET, "a", "/healthz")
            #expect(health.status == 503)
            #expect(health.body["database"]?["state"] == "unavailable")
            let reason = health.body["database"]?["reason"]?.stringValue ?? ""
            #expect(reason.contains("127.0.0.1") && !reason.contains("postgres://"))
            let refused = try await cluster.approve(held.body, on: "a", token: token)
            #expect(refused.status == 503)
            #expect(refused.body["title"] == "Database unavailable")
            service.release()
            let unrecorded = await running
            #expect(unrecorded?.body["state"] != "executed")

            try server.start()
            var healthy = false
            for _ in 0..<60 where !healthy {
                healthy = (try? await cluster.http(.GET, "a", "/healthz").status) == 200
                if !healthy { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(healthy)
            let same = try await cluster.propose(
                on: "a",
                key: key,
                "http.request",
                arguments,
                idempotencyKey: "slow-db"
            )
            let id = try #require(same.body["id"]?.stringValue)
            let ended = try await cluster.state(
                of: id,
                on: "a",
                key: key,
                until: ["executed", "failed", "outcome_unknown"]
            )
            let endedState = ended["state"]?.stringValue ?? ""
            #expect(["executed", "failed", "outcome_unknown"].contains(endedState))
            #expect(service.calls == 1)

            // The decision refused during the outage is taken now, and its action runs once.
            let approved = try await cluster.approve(held.body, on: "a", token: token)
            #expect(approved.status == 200)
            let done = try await cluster.state(
                of: heldID,
                on: "a",
                key: key,
                until: ["executed", "failed", "outcome_unknown"]
            )
            #expect(done["state"] == "executed")
            #expect(try String(contentsOf: cluster.workspace.appending(path: "held.txt"), encoding: .utf8) == "one\n")
            #expect(try cluster.cli(["audit", "verify"]).status == 0)
        }
        server.kill()
    }
}
