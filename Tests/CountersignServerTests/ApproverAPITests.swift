import Countersign
import CountersignConnectors
import CountersignServer
import CountersignStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// The approver API through the real router, on a real SQLite file and workspace.
@Suite("Approver API")
struct ApproverAPITests: Sendable {
    let store: SQLiteStore
    let events = RequestEvents()
    let requests: NotifyingStore
    let workspace: URL
    let gateway: Gateway
    let executor: Executor
    let secrets: SecretBox
    let ana: Approver
    let bob: Approver

    struct Approver: Sendable {
        let email: String
        let token: String
        let totp: TOTP

        var headers: HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }
    }

    init() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "countersign-appr-\(UUID().uuidString)")
        workspace = directory.appending(path: "workspace")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        store = try SQLiteStore(path: directory.appending(path: "countersign.sqlite").path)
        let connectors: [any Connector] = [
            try FilesConnector(root: workspace.path), try ShellConnector(root: workspace.path),
        ]
        requests = NotifyingStore(store, events: events)
        executor = Executor(store: requests, connectors: connectors)
        gateway = Gateway(
            catalog: OperationCatalog(connectors.flatMap(\.operations)),
            policy: try Policy(yaml: Policy.defaultYAML, catalog: Catalogs.local()),
            store: requests,
            executor: executor
        )
        secrets = try SecretBox(rawKey: SecretBox.generateRawKey())
        let hash = Password.hash(Secret("correct horse battery staple"), cost: 4)
        var approvers: [Approver] = []
        for email in ["ana@acme.test", "bob@acme.test"] {
            try await store.createUser(
                User(email: email, role: .approver, passwordHash: hash, createdAt: Date()),
                actor: "test"
            )
            let secret = TOTP.generateSecret()
            try await store.enrollTOTP(
                email: email,
                sealedSecret: try secrets.seal(secret, context: email),
                actor: "test",
                now: Date()
            )
            let key = APIKey.generate(.personal)
            try await store.createToken(
                PersonalToken(id: key.id, email: email, hash: key.hash, createdAt: Date()),
                actor: "test"
            )
            approvers.append(Approver(email: email, token: key.secret.reveal(), totp: TOTP(secret: secret)))
        }
        ana = approvers[0]
        bob = approvers[1]
    }

    var context: ServerContext {
        ServerContext(
            gateway: gateway,
            requests: requests,
            events: events,
            agents: store,
            users: store,
            secrets: secrets
        )
    }

    func propose(
        _ operation: String,
        _ arguments: JSONValue,
        for principal: String = "carol@acme.test"
    ) async throws
        -> ActionRequest
    {
        try await gateway.propose(
            ProposedAction(
                operation: OperationID(operation)!,
                arguments: arguments,
                principal: principal,
                agent: "planner"
            )
        )
    }

    func json(_ response: TestResponse) throws -> JSONValue { try JSONParser().parse(Array(buffer: response.body)) }

    func decide(
        _ client: some TestClientProtocol,
        _ id: String,
        _ verb: String,
        _ body: JSONValue,
        as approver: Approver
    ) async throws -> TestResponse {
        try await client.execute(
            uri: "/v1/approvals/\(id)/\(verb)",
            method: .post,
            headers: approver.headers,
            body: ByteBuffer(bytes: CanonicalJSON.bytes(body))
        )
    }

    @Test("approvers list pending requests with a personal token; agent keys and bad tokens are refused")
    func listing() async throws {
        let held = try await propose("files.write", ["path": "a.txt", "content": "x"])
        _ = try await propose("files.read", ["path": "missing.txt"])
        try await Application(router: buildRouter(context)).test(.router) { client in
            try await client.execute(uri: "/v1/approvals", method: .get) { #expect($0.status == .unauthorized) }
            let agentShaped = "csk" + ana.token.dropFirst(3)
            try await client.execute(
                uri: "/v1/approvals",
                method: .get,
                headers: [.authorization: "Bearer \(agentShaped)"]
            ) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/approvals", method: .get, headers: ana.headers) { response in
                #expect(response.status == .ok)
                let listed = try json(response)["requests"]?.arrayValue ?? []
                #expect(listed.map { $0["id"] } == [.string(held.id)])
            }
            try await client.execute(uri: "/v1/approvals?state=bogus", method: .get, headers: ana.headers) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/v1/approvals/\(held.id)", method: .get, headers: ana.headers) { response in
                let body = try json(response)
                #expect(body["digest"] == .string(held.digest.description))
                #expect(body["approvals"] == ["given": 0, "required": 1])
                #expect(body["impact"]?.stringValue?.isEmpty == false)
            }
        }
    }

    @Test("an approval is bound to the digest reviewed; a stale digest is refused")
    func digestBinding() async throws {
        let held = try await propose("files.write", ["path": "a.txt", "content": "x"])
        let other = try await propose("files.write", ["path": "a.txt", "content": "y"])
        try await Application(router: buildRouter(context)).test(.router) { client in
            let missing = try await decide(client, held.id, "approve", [:], as: ana)
            #expect(missing.status == .unprocessableContent)
            let stale = try await decide(
                client,
                held.id,
                "approve",
                ["digest": .string(other.digest.description)],
                as: ana
            )
            #expect(stale.status == .conflict)
            #expect(try json(stale)["code"] == "digest_mismatch")
            let good = try await decide(
                client,
                held.id,
                "approve",
                ["digest": .string(held.digest.description)],
                as: ana
            )
            #expect(good.status == .ok)
            #expect(try json(good)["state"] == "approved")
            let again = try await decide(
                client,
                held.id,
                "approve",
                ["digest": .string(held.digest.description)],
                as: bob
            )
            #expect(again.status == .conflict)
            #expect(try json(again)["code"] == "already_decided")
        }
        #expect(try await executor.execute(requestID: held.id)?.state == .executed)
        #expect(try String(contentsOf: workspace.appending(path: "a.txt"), encoding: .utf8) == "x")
    }

    @Test("High needs the confirmation text; Critical needs a fresh TOTP code, each code once")
    func confirmationAndStepUp() async throws {
        try FileManager.default.createDirectory(
            at: workspace.appending(path: "build"),
            withIntermediateDirectories: true
        )
        let high = try await propose("files.delete", ["paths": ["build"], "recursive": true])
        let critical = try await propose("shell.run", ["program": "touch", "arguments": ["ran.txt"]])
        #expect(critical.assessment.requirements.stepUp)
        let confirmText = try #require(high.assessment.requirements.confirmText)
        try await Application(router: buildRouter(context)).test(.router) { client in
            let digest = JSONValue.string(high.digest.description)
            let unconfirmed = try await decide(client, high.id, "approve", ["digest": digest], as: ana)
            #expect(unconfirmed.status == .forbidden)
            #expect(try json(unconfirmed)["code"] == "confirmation_mismatch")
            let wrong = try await decide(client, high.id, "approve", ["digest": digest, "confirm": "nope"], as: ana)
            #expect(try json(wrong)["code"] == "confirmation_mismatch")
            let confirmed = try await decide(
                client,
                high.id,
                "approve",
                ["digest": digest, "confirm": .string(confirmText)],
                as: ana
            )
            #expect(try json(confirmed)["state"] == "approved")

            let criticalDigest = JSONValue.string(critical.digest.description)
            let noCode = try await decide(client, critical.id, "approve", ["digest": criticalDigest], as: ana)
            #expect(noCode.status == .forbidden)
            #expect(try json(noCode)["code"] == "step_up_required")
            let code = ana.totp.code(at: Date())
            let badCode = code == "000000" ? "111111" : "000000"
            let wrongCode = try await decide(
                client,
                critical.id,
                "approve",
                ["digest": criticalDigest, "otp": .string(badCode)],
                as: ana
            )
            #expect(try json(wrongCode)["code"] == "step_up_failed")
            // A code spent on another decision cannot be used again.
            let other = try await propose("shell.run", ["program": "true"])
            let spent = try await decide(
                client,
                other.id,
                "approve",
                ["digest": .string(other.digest.description), "otp": .string(code)],
                as: ana
            )
            #expect(try json(spent)["state"] == "approved")
            let reused = try await decide(
                client,
                critical.id,
                "approve",
                ["digest": criticalDigest, "otp": .string(code)],
                as: ana
            )
            #expect(reused.status == .forbidden)
            #expect(try json(reused)["code"] == "step_up_failed")
            #expect(try await store.request(id: critical.id)?.state == .pending)
            // Bob's own code works.
            let fresh = try await decide(
                client,
                critical.id,
                "approve",
                ["digest": criticalDigest, "otp": .string(bob.totp.code(at: Date()))],
                as: bob
            )
            #expect(try json(fresh)["state"] == "approved")
            #expect(try json(fresh)["decisions"]?.arrayValue?.last?["authentication"] == "totp")
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.appending(path: "ran.txt").path))
        #expect(try await executor.execute(requestID: critical.id)?.state == .executed)
        #expect(FileManager.default.fileExists(atPath: workspace.appending(path: "ran.txt").path))
    }

    @Test("two-approver rules need two different people; self-approval is barred when policy says so")
    func approverRules() async throws {
        let rm = try await propose("shell.run", ["program": "rm", "arguments": ["-f", "gone.txt"]])
        #expect(rm.assessment.requirements.approvals == 2)
        let paths = JSONValue.array((0..<20).map { .string("f\($0).txt") })
        let mass = try await propose("files.delete", ["paths": paths], for: ana.email)
        try await Application(router: buildRouter(context)).test(.router) { client in
            let digest = JSONValue.string(rm.digest.description)
            let first = try await decide(
                client,
                rm.id,
                "approve",
                ["digest": digest, "otp": .string(ana.totp.code(at: Date()))],
                as: ana
            )
            #expect(try json(first)["state"] == "pending")
            #expect(try json(first)["approvals"]?["given"] == 1)
            let twice = try await decide(
                client,
                rm.id,
                "approve",
                ["digest": digest, "otp": .string(ana.totp.code(at: Date().addingTimeInterval(30)))],
                as: ana
            )
            #expect(try json(twice)["code"] == "duplicate_approver")
            let second = try await decide(
                client,
                rm.id,
                "approve",
                ["digest": digest, "otp": .string(bob.totp.code(at: Date()))],
                as: bob
            )
            #expect(try json(second)["state"] == "approved")

            var body: [String: JSONValue] = [
                "digest": .string(mass.digest.description),
                "otp": .string(ana.totp.code(at: Date().addingTimeInterval(-30))),
            ]
            if let text = mass.assessment.requirements.confirmText { body["confirm"] = .string(text) }
            let own = try await decide(client, mass.id, "approve", .object(body), as: ana)
            #expect(try json(own)["code"] == "self_approval", "\(String(buffer: own.body))")
        }
    }

    @Test("a denial reaches the agent with its reason; extend moves the expiry; the agent's event stream follows")
    func denyExtendAndStream() async throws {
        let held = try await propose("files.write", ["path": "a.txt", "content": "x"])
        let agentKey = APIKey.generate()
        try await store.createAgent(
            Agent(name: "planner", keyID: agentKey.id, keyHash: agentKey.hash, createdAt: Date()),
            actor: "test"
        )
        try await Application(router: buildRouter(context)).test(.router) { client in
            let extended = try await decide(client, held.id, "extend", ["minutes": 30], as: ana)
            #expect(extended.status == .ok)
            let expiry = try #require(try json(extended)["expiresAt"]?.stringValue)
            #expect(expiry == Timestamp.string(held.expiresAt.addingTimeInterval(1800)))
            let tooLong = try await decide(client, held.id, "extend", ["minutes": 5000], as: ana)
            #expect(tooLong.status == .unprocessableContent)

            let noReason = try await decide(client, held.id, "deny", [:], as: ana)
            #expect(noReason.status == .unprocessableContent)

            async let stream = client.execute(
                uri: "/v1/actions/\(held.id)/events",
                method: .get,
                headers: [.authorization: "Bearer \(agentKey.secret.reveal())"]
            )
            try await Task.sleep(for: .milliseconds(200))
            let denied = try await decide(client, held.id, "deny", ["reason": "not on a Friday"], as: ana)
            #expect(try json(denied)["state"] == "denied")
            let events = try await stream
            #expect(events.headers[.contentType] == "text/event-stream")
            let text = String(buffer: events.body)
            #expect(text.hasPrefix("event: state\ndata: "))
            let states = text.split(separator: "\n").filter { $0.hasPrefix("data: ") }.compactMap { line in
                try? JSONParser().parse(Array(line.dropFirst(6).utf8))["state"]?.stringValue
            }
            #expect(states == ["pending", "denied"])
            #expect(text.contains("not on a Friday"))
        }
    }
}
