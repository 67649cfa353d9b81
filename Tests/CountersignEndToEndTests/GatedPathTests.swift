import Countersign
import Foundation
import GRDB
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `countersign` executable as a process on a free port, driven over HTTP and the CLI
/// the way an agent and approvers would.
@Suite("End to end: the gated path", .serialized)
struct GatedPathTests {
    static let password = "canary-password-7f3a91c2e5"

    struct Approver {
        let email: String
        let token: String
        let totp: TOTP
        let secret: [UInt8]
    }

    func approver(_ harness: Harness, _ email: String, password: String) throws -> Approver {
        let data = ["--data", harness.data.path]
        #expect(try harness.run(["users", "add", email] + data, input: password + "\n").status == 0)
        let enrolled = try harness.run(["users", "totp", email, "--no-qr"] + data, showsSecret: true)
        let secretLine = try #require(enrolled.output.split(separator: "\n").first { $0.contains("secret: ") })
        let secret = try #require(Base32.decode(String(secretLine.split(separator: " ").last ?? "")))
        let issued = try harness.run(["users", "token", email] + data, showsSecret: true)
        let token = try #require(issued.output.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("cst_") })
        return Approver(
            email: email,
            token: String(token.trimmingCharacters(in: .whitespacesAndNewlines)),
            totp: TOTP(secret: secret),
            secret: secret
        )
    }

    /// Polls a request as its agent until it leaves `state`.
    func await(
        _ harness: Harness,
        _ id: String,
        key: String,
        leaving states: Set<String>
    ) async throws -> JSONValue {
        var latest: JSONValue = .null
        for _ in 0..<20 {
            latest = try await harness.http(.GET, "/v1/actions/\(id)", bearer: key).body
            if !states.contains(latest["state"]?.stringValue ?? "") { return latest }
            // Answers as soon as the state changes from the one it reads first.
            _ = try await harness.http(.GET, "/v1/actions/\(id)?wait=5", bearer: key)
        }
        return latest
    }

    @Test("agent and approvers over HTTP and the CLI, crashes, expiry, tampering and secrets")
    func gatedPath() async throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let data = ["--data", harness.data.path]
        let policy = harness.root.appending(path: "policy.yaml")
        let rule = """
              - name: e2e-short-lived-appends
                reason: Appends expire quickly in this test
                match:
                  operation: files.append
                ttl: 2s

            tests:
            """
        try Policy.defaultYAML.replacingOccurrences(of: "\ntests:", with: "\n" + rule)
            .write(to: policy, atomically: true, encoding: .utf8)
        #expect(try harness.run(["policy", "check", policy.path]).status == 0)

        let created = try harness.run(["agents", "create", "e2e-agent"] + data, showsSecret: true)
        let key = String(
            try #require(created.output.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("csk_") })
        )
        .trimmingCharacters(in: .whitespacesAndNewlines)
        let ana = try approver(harness, "ana@e2e.test", password: Self.password)
        let bob = try approver(harness, "bob@e2e.test", password: Self.password + "-bob")
        let workspace = harness.data.appending(path: "workspace")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        try "hello".write(to: workspace.appending(path: "notes.txt"), atomically: true, encoding: .utf8)
        try await harness.start(policy: policy)
        var environment = ["COUNTERSIGN_SERVER": harness.baseURL, "COUNTERSIGN_TOKEN": ana.token]

        func propose(_ operation: String, _ arguments: JSONValue) async throws -> JSONValue {
            let (status, body) = try await harness.http(
                .POST,
                "/v1/actions",
                bearer: key,
                ["operation": .string(operation), "arguments": arguments, "onBehalfOf": "carol@e2e.test"]
            )
            #expect(status == 201 || status == 403)
            return body
        }
        func approve(
            _ request: JSONValue,
            as approver: Approver,
            _ extra: [String: JSONValue] = [:]
        ) async throws -> (
            status: UInt, body: JSONValue
        ) {
            let id = request["id"]?.stringValue ?? ""
            var body = extra
            if body["digest"] == nil { body["digest"] = request["digest"] }
            return try await harness.http(.POST, "/v1/approvals/\(id)/approve", bearer: approver.token, .object(body))
        }

        // Low: executed at once, the result in the response.
        let low = try await propose("files.read", ["path": "notes.txt"])
        #expect(low["state"] == "executed")
        #expect(low["result"]?["content"] == "hello")

        // Critical: held; no code → refused; a used code → refused; a fresh code → executed once.
        let warmUp = try await propose("shell.run", ["program": "true"])
        let used = ana.totp.code(at: Date())
        let warmedUp = try harness.run(
            [
                "approvals", "approve", warmUp["id"]?.stringValue ?? "", "--otp", used, "--digest",
                warmUp["digest"]?.stringValue ?? "",
            ],
            environment: environment
        )
        #expect(warmedUp.status == 0, "\(warmedUp.error)")
        let critical = try await propose("shell.run", ["program": "mkdir", "arguments": ["once"]])
        #expect(critical["state"] == "pending")
        #expect(critical["risk"]?["level"] == "critical")
        let criticalID = try #require(critical["id"]?.stringValue)
        let noCode = try harness.run(["approvals", "approve", criticalID], environment: environment)
        #expect(noCode.status != 0)
        #expect(noCode.error.contains("step_up_required"))
        let reused = try await approve(critical, as: ana, ["otp": .string(used)])
        #expect(reused.status == 403)
        #expect(reused.body["code"] == "step_up_failed")
        #expect(!FileManager.default.fileExists(atPath: workspace.appending(path: "once").path))
        let fresh = try harness.run(
            ["approvals", "approve", criticalID, "--otp", ana.totp.code(at: Date().addingTimeInterval(30))],
            environment: environment
        )
        #expect(fresh.status == 0, "\(fresh.error)")
        let executed = try await self.await(harness, criticalID, key: key, leaving: ["approved", "executing"])
        #expect(executed["state"] == "executed")
        #expect(FileManager.default.fileExists(atPath: workspace.appending(path: "once").path))

        // A stale digest is refused, over HTTP and by the CLI.
        let medium = try await propose("files.write", ["path": "a.txt", "content": "one"])
        let other = try await propose("files.write", ["path": "a.txt", "content": "two"])
        let stale = try await approve(medium, as: ana, ["digest": other["digest"] ?? .null])
        #expect(stale.status == 409)
        #expect(stale.body["code"] == "digest_mismatch")
        let staleCLI = try harness.run(
            ["approvals", "approve", medium["id"]?.stringValue ?? "", "--digest", other["digest"]?.stringValue ?? ""],
            environment: environment
        )
        #expect(staleCLI.status != 0)
        #expect(
            try await harness.http(.GET, "/v1/actions/\(medium["id"]?.stringValue ?? "")", bearer: key).body["state"]
                == "pending"
        )

        // A payload changed in the database after approval is refused at execution, and audited.
        // Long enough that the approval and the edit below land while the (serial) executor is busy with it,
        // even on a loaded machine.
        let slow = try await propose("shell.run", ["program": "sleep", "arguments": ["8"]])
        let target = try await propose("files.write", ["path": "tampered.txt", "content": "approved words"])
        #expect(try await approve(slow, as: bob, ["otp": .string(bob.totp.code(at: Date()))]).status == 200)
        let slowRunning = try await self.await(harness, slow["id"]?.stringValue ?? "", key: key, leaving: ["approved"])
        #expect(slowRunning["state"] == "executing")
        #expect(try await approve(target, as: ana).body["state"] == "approved")
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        let database = try DatabaseQueue(
            path: harness.data.appending(path: "countersign.sqlite").path,
            configuration: configuration
        )
        try await database.write { db in
            try db.execute(
                sql: "UPDATE action_requests SET arguments = ? WHERE id = ?",
                arguments: [#"{"content":"other words","path":"tampered.txt"}"#, target["id"]?.stringValue ?? ""]
            )
        }
        let refused = try await self.await(
            harness,
            target["id"]?.stringValue ?? "",
            key: key,
            leaving: ["approved", "executing"]
        )
        #expect(refused["state"] == "failed")
        #expect(refused["failure"]?.stringValue?.contains("digest") == true)
        #expect(!FileManager.default.fileExists(atPath: workspace.appending(path: "tampered.txt").path))
        let audited = try await database.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT CAST(body AS TEXT) FROM audit_log WHERE request_id = ?",
                arguments: [target["id"]?.stringValue ?? ""]
            )
        }
        #expect(audited.contains { $0.contains("action.failed") && $0.contains("digest") })

        // Expiry ends a request as expired, never denied.
        let shortLived = try await propose("files.append", ["path": "log.txt", "content": "x"])
        #expect(shortLived["state"] == "pending")
        let expired = try await self.await(harness, shortLived["id"]?.stringValue ?? "", key: key, leaving: ["pending"])
        #expect(expired["state"] == "expired")
        let shown = try harness.run(
            ["approvals", "show", shortLived["id"]?.stringValue ?? ""],
            environment: environment
        )
        #expect(shown.output.contains("· expired ·"))

        // kill -9 while executing → outcome_unknown after a restart, never re-run.
        let long = try await propose("shell.run", ["program": "sleep", "arguments": ["20"]])
        #expect(
            try await approve(long, as: bob, ["otp": .string(bob.totp.code(at: Date().addingTimeInterval(30)))]).status
                == 200
        )
        let running = try await self.await(harness, long["id"]?.stringValue ?? "", key: key, leaving: ["approved"])
        #expect(running["state"] == "executing")
        try harness.stop(SIGKILL)
        try await harness.start(policy: policy)
        environment["COUNTERSIGN_SERVER"] = harness.baseURL
        #expect(harness.serverLog.contains("now outcome_unknown"))
        let unknown = try await harness.http(.GET, "/v1/actions/\(long["id"]?.stringValue ?? "")", bearer: key).body
        #expect(unknown["state"] == "outcome_unknown")
        let listed = try harness.run(["approvals", "list", "--state", "outcome_unknown"], environment: environment)
        #expect(listed.output.contains(long["id"]?.stringValue ?? "?"))

        // The audit log verifies; secrets appear nowhere; an edited database fails verification.
        try harness.stop(SIGTERM)
        let verified = try harness.run(["audit", "verify"] + data)
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.output.hasPrefix("OK:"))

        let canaries: [(String, [UInt8])] = [
            ("agent key", Array(key.utf8)), ("password", Array(Self.password.utf8)),
            ("ana's token", Array(ana.token.utf8)), ("bob's token", Array(bob.token.utf8)),
            ("ana's TOTP secret", ana.secret), ("ana's TOTP secret in base32", Array(Base32.encode(ana.secret).utf8)),
            ("ana's TOTP secret in hex", Array(Hex.encode(ana.secret).utf8)),
            ("bob's TOTP secret in base32", Array(Base32.encode(bob.secret).utf8)),
        ]
        let transcript = Array(harness.recorded.joined(separator: "\n").utf8)
        var files: [(String, [UInt8])] = [("everything printed and answered", transcript)]
        for name in try FileManager.default.contentsOfDirectory(atPath: harness.data.path)
        where name.hasPrefix("countersign.sqlite") {
            files.append((name, Array(try Data(contentsOf: harness.data.appending(path: name)))))
        }
        for (place, bytes) in files {
            for (name, canary) in canaries {
                #expect(!bytes.contains(canary), "\(name) found in \(place)")
            }
        }

        try await database.write { db in
            try db.execute(sql: "DROP TRIGGER audit_log_no_update")
            try db.execute(
                sql: """
                    UPDATE audit_log SET body = CAST(replace(CAST(body AS TEXT), 'carol@e2e.test', 'mallory@e2e.test') AS BLOB)
                    WHERE seq = (SELECT min(seq) FROM audit_log WHERE CAST(body AS TEXT) LIKE '%carol@e2e.test%')
                    """
            )
        }
        let broken = try harness.run(["audit", "verify"] + data)
        #expect(broken.status == 1)
        #expect(broken.output.contains("FAILED at entry"))
    }
}

extension Array where Element == UInt8 {
    func contains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { start in self[start..<start + needle.count].elementsEqual(needle)
        }
    }
}
