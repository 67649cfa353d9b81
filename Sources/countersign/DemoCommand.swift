import ArgumentParser
import AsyncHTTPClient
import Countersign
import CountersignConnectors
import CountersignSandbox
import CountersignServer
import CountersignStore
import CountersignVault
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract:
            "See Countersign work: a server, an approver, an agent, GitHub, Slack and Google sandboxes, nine actions, two undos.",
        discussion: """
            Starts a server on the embedded defaults in a fresh data directory, with the GitHub, Slack and \
            Google sandboxes that ship with Countersign (local services that speak the real APIs and keep their \
            state in the data directory). Creates a demo approver (with a password and a TOTP \
            authenticator) and a demo agent, connects the demo principal's sandbox accounts through the \
            vault, and has the agent propose a scripted set of actions against a demo workspace and the \
            sandboxes. It then prints what to run to see and approve them, and shows each request's \
            progress until interrupted. With --once it approves them itself (with step-up for the \
            Critical ones), undoes the issue and the chat message it made, prints the outcome and the \
            audit verification, and exits.
            """
    )

    @Option(help: "The port to listen on (default 8787, or any free port when 8787 is taken; 0: any free port).")
    var port: Int?

    @Option(help: "The data directory (default: a new one under the temporary directory).")
    var data: String?

    @Flag(
        help: "Approve everything as the demo approver, print the outcome and the audit verification, and exit."
    )
    var once = false

    static let approverEmail = "approver@demo.countersign.local"
    static let principal = "dana@demo.countersign.local"

    func run() async throws {
        var logger = Logger(label: "countersign") { RedactingLogHandler(label: $0) }
        logger.logLevel = .warning
        let dataPath =
            data
            ?? FileManager.default.temporaryDirectory.appending(
                path: "countersign-demo-\(UUID().uuidString.prefix(8).lowercased())"
            ).path
        // The sandboxes' base URLs are the server's, so the port is chosen before it listens.
        let chosen =
            try port.flatMap { $0 == 0 ? nil : $0 } ?? (port == nil && Self.isFree(8787) ? 8787 : Self.freePort())
        let server = "http://127.0.0.1:\(chosen)"
        let runtime = try await Runtime.open(
            data: dataPath,
            policy: nil,
            workspace: nil,
            sandboxServer: server,
            logger: logger
        ) { _ in }
        guard let sandbox = runtime.sandbox else { throw CommandError("the sandboxes did not open") }
        try Self.seedWorkspace(runtime.workspace)
        let credentials = try await Self.enroll(runtime)
        let (listening, announce) = AsyncStream.makeStream(of: Int.self)
        let application = buildApplication(
            configuration: ServerConfiguration(host: "127.0.0.1", port: chosen),
            context: runtime.context(),
            logger: logger
        ) { port in
            announce.yield(port)
            announce.finish()
        }
        let script = DemoScript(
            runtime: runtime,
            credentials: credentials,
            listening: listening,
            sandbox: sandbox,
            once: once,
            codes: FreshCodes(TOTP(secret: credentials.totpSecret))
        )
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: application)
                ] + runtime.services.map { .init(service: $0) } + [
                    .init(
                        service: script,
                        successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup
                    )
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        if once { try await Self.verifyAudit(runtime) }
    }

    /// Verifies the audit log against the checkpoint written at shutdown, as `audit verify` does.
    static func verifyAudit(_ runtime: Runtime) async throws {
        let checkpoints = try CheckpointWriter.read(runtime.directory.checkpointsPath)
        let key = try DataDirectory.publicKey(from: runtime.directory.publicKeyPath)
        let result = try await runtime.store.verifyAudit(checkpoints: checkpoints, publicKey: key) { _ in }
        if let failure = result.failure {
            throw CommandError("audit verify FAILED at entry \(failure.sequence): \(failure.problem)")
        }
        Console.line(
            """

            Audit log: OK, \(result.entries) entries verified; head \(result.headHash); \
            \(result.checkpointsChecked) of \(checkpoints.count) signed checkpoints matched.
            Check it yourself: countersign audit verify --data \(runtime.directory.url.path)
            """
        )
    }

    /// A loopback port nothing listens on now, from the kernel.
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw CommandError("no socket for finding a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw CommandError("could not find a free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether nothing listens on a loopback port (so the demo can take it).
    static func isFree(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    struct Credentials: Sendable {
        let password: Secret
        let totpSecret: [UInt8]
        let approverToken: Secret
        let agentKey: Secret
    }

    /// Creates the demo approver (password, TOTP, token) and the demo agent.
    static func enroll(_ runtime: Runtime) async throws -> Credentials {
        let password = Secret(Base32.encode(SecretBox.generateRawKey()).prefix(20).lowercased())
        try await runtime.store.createUser(
            User(email: approverEmail, role: .approver, passwordHash: Password.hash(password), createdAt: Date()),
            actor: "system:demo"
        )
        let totpSecret = TOTP.generateSecret()
        try await runtime.store.enrollTOTP(
            email: approverEmail,
            sealedSecret: try runtime.secrets.seal(totpSecret, context: approverEmail),
            actor: "system:demo",
            now: Date()
        )
        let token = APIKey.generate(.personal)
        try await runtime.store.createToken(
            PersonalToken(id: token.id, email: approverEmail, hash: token.hash, createdAt: Date()),
            actor: "system:demo"
        )
        let key = APIKey.generate(.agent)
        try await runtime.store.createAgent(
            Agent(name: "demo-agent", keyID: key.id, keyHash: key.hash, createdAt: Date()),
            actor: "system:demo"
        )
        return Credentials(
            password: password,
            totpSecret: totpSecret,
            approverToken: token.secret,
            agentKey: key.secret
        )
    }

    /// A small project for the agent to work on.
    static func seedWorkspace(_ root: String) throws {
        let files = [
            "notes/todo.md": "- ship the 1.4 release\n- write the changelog\n- clean the build folder\n",
            "notes/changelog-draft.md": "## 1.4\n- faster sync\n- fixed the login loop\n",
            "build/app": "binary placeholder\n",
            "build/app.o": "object placeholder\n",
            "build/cache/index": "cache\n",
        ]
        for (path, content) in files {
            let url = URL(filePath: root).appending(path: path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            if !FileManager.default.fileExists(atPath: url.path) { try Data(content.utf8).write(to: url) }
        }
    }
}

/// The agent's side of the demo, then either the instructions or the approvals.
struct DemoScript: Service {
    let runtime: Runtime
    let credentials: DemoCommand.Credentials
    let listening: AsyncStream<Int>
    let sandbox: Sandbox
    let once: Bool
    let codes: FreshCodes

    struct Step: Sendable {
        let label: String
        let operation: String
        let arguments: JSONValue
        let reason: String
    }

    static let steps = [
        Step(
            label: "read the to-do list",
            operation: "files.read",
            arguments: ["path": "notes/todo.md"],
            reason: "I need the to-do list to plan the release"
        ),
        Step(
            label: "write the release notes",
            operation: "files.write",
            arguments: [
                "path": "notes/release-notes.md", "content": "# 1.4\n\n- Faster sync\n- Fixed the login loop\n",
            ],
            reason: "Turning the changelog draft into release notes"
        ),
        Step(
            label: "delete the build folder",
            operation: "files.delete",
            arguments: ["paths": ["build"], "recursive": true],
            reason: "The to-do list says to clean the build folder"
        ),
        Step(
            label: "archive the notes with tar",
            operation: "shell.run",
            arguments: ["program": "tar", "arguments": ["-czf", "notes-backup.tar.gz", "notes"]],
            reason: "A backup before the release"
        ),
        Step(
            label: "install a package as root",
            operation: "shell.run",
            arguments: ["program": "sudo", "arguments": ["apt-get", "install", "-y", "jq"]],
            reason: "I need jq to parse JSON"
        ),
        Step(
            label: "open the release issue",
            operation: "github.create_issue",
            arguments: [
                "owner": "acme", "repo": "app", "title": "Release 1.4",
                "body": "- [ ] release notes\n- [ ] changelog\n- [ ] announcement", "labels": ["release"],
            ],
            reason: "Tracking the release on GitHub"
        ),
        Step(
            label: "announce the release in chat",
            operation: "slack.post_message",
            arguments: ["channel": "C0RELEASES1", "text": "1.4 is out: faster sync, and the login loop is fixed."],
            reason: "The team should know the release shipped"
        ),
        Step(
            label: "email the notes to a partner",
            operation: "gmail.send_message",
            arguments: [
                "to": ["buyer@partner.example"], "cc": ["bob@demo.countersign.local"], "subject": "Release 1.4",
                "body": "Hello,\n\n1.4 is out: faster sync, and the login loop is fixed.\n\nDana",
            ],
            reason: "The partner asked to hear about releases"
        ),
        Step(
            label: "delete the old prototype repo",
            operation: "github.delete_repository",
            arguments: ["owner": "dana", "repo": "old-prototype"],
            reason: "The prototype is obsolete since 1.0"
        ),
    ]

    func run() async throws {
        var iterator = listening.makeAsyncIterator()
        guard let port = await iterator.next() else { return }
        let server = "http://127.0.0.1:\(port)"
        let agent = APIClient(server: server, token: credentials.agentKey)
        printIntroduction(server: server)
        try await connectSandboxes(server: server)
        var proposed: [(Step, JSONValue)] = []
        Console.line(
            "The agent (demo-agent, over the REST API) proposes \(Self.steps.count) actions for \(DemoCommand.principal):\n"
        )
        for (index, step) in Self.steps.enumerated() {
            let (status, body) = try await agent.exchange(
                .POST,
                "/v1/actions",
                [
                    "operation": .string(step.operation), "arguments": step.arguments,
                    "onBehalfOf": .string(DemoCommand.principal), "reason": .string(step.reason),
                    "idempotencyKey": .string("demo-\(index + 1)"),
                ]
            )
            guard status == 201 || status == 403 else {
                throw CommandError(
                    "the demo agent's proposal was refused with \(status): \(body["detail"]?.stringValue ?? "")"
                )
            }
            proposed.append((step, body))
            Console.line(Self.line(step, body))
        }
        Console.line("")
        if once {
            try await approveAll(proposed, server: server)
        } else {
            printInstructions(proposed, server: server)
            try await follow(proposed)
        }
    }

    /// Registers Countersign's client with the GitHub, Slack and Google sandboxes and connects Dana's
    /// accounts through the vault's real connect flow, playing the browser: the link, the consent
    /// redirect, the callback.
    func connectSandboxes(server: String) async throws {
        let vault = runtime.vault
        let redirect = server + "/oauth/callback"
        let grants: [(Sandbox.Service, [String])] = [
            (.github, ["repo", "delete_repo"]), (.slack, ["chat:write", "channels:read", "groups:read"]),
            (
                .google,
                [
                    "https://www.googleapis.com/auth/gmail.send", "https://www.googleapis.com/auth/calendar.events",
                    "https://www.googleapis.com/auth/directory.readonly",
                ]
            ),
        ]
        for (service, scopes) in grants {
            let secret = Secret(Base32.encode(SecretBox.generateRawKey()))
            try sandbox.register(service, clientID: "countersign-demo", clientSecret: secret, redirectURI: redirect)
            try await vault.setProviderClient(
                provider: service.rawValue,
                clientID: "countersign-demo",
                clientSecret: secret,
                redirectURI: redirect,
                endpoints: Sandbox.endpoints(service, server: server),
                displayName: service.displayName,
                actor: "system:demo"
            )
            let link = try await vault.beginConnect(
                provider: service.rawValue,
                principal: DemoCommand.principal,
                scopes: scopes,
                serverURL: server,
                actor: "system:demo"
            )
            let browser = Browser()
            let consent = try await browser.get(link.url)
            let callback = try await browser.get(try consent.location())
            let page = try await browser.get(try callback.location())
            guard page.status == 200 else {
                throw CommandError(
                    "connecting the \(service.displayName) account failed (\(page.status)): \(page.text)"
                )
            }
        }
        let connections = try await vault.connections(principal: DemoCommand.principal)
        let accounts = connections.map { "\($0.provider) \($0.account)" }.sorted().joined(separator: ", ")
        Console.line(
            """
            Dana's sandbox accounts (\(accounts)) are connected through the vault: OAuth code flow with \
            PKCE, state bound to the browser. Countersign holds their refresh tokens, sealed; the agent \
            never sees a token. What the sandboxes receive: \(server)/sandbox

            """
        )
    }

    static func line(_ step: Step, _ request: JSONValue, afterApproval: Bool = false) -> String {
        let level = (request["risk"]?["level"]?.stringValue ?? "?").uppercased()
        let state = request["state"]?.stringValue ?? "?"
        var outcome: String
        switch state {
        case "executed":
            outcome =
                afterApproval && request["decision"] == "ask" ? "executed once, after approval" : "executed at once"
        case "rejected": outcome = "rejected: \(request["failure"]?.stringValue ?? "")"
        case "pending":
            var needs: [String] = []
            if let text = request["requirements"]?["confirmText"]?.stringValue { needs.append("type \"\(text)\"") }
            if request["requirements"]?["stepUp"] == true { needs.append("step-up") }
            outcome = "waits for a human" + (needs.isEmpty ? "" : " (" + needs.joined(separator: ", ") + ")")
        default: outcome = state
        }
        return "  " + RequestText.column(level, 10) + RequestText.column(step.label, 30) + outcome
    }

    func printIntroduction(server: String) {
        let directory = runtime.directory.url.path
        Console.line(
            """
            Countersign demo: a server on the embedded defaults (SQLite, local connectors, GitHub, Slack and Google sandboxes).
              server     \(server)
              data       \(directory)
              workspace  \(runtime.workspace)

            Approve in your browser: \(server)/inbox
            Demo approver \(DemoCommand.approverEmail)
              password     \(credentials.password.reveal())
              TOTP secret  \(Base32.encode(credentials.totpSecret))  (at sign-in, and for step-up on Critical actions)
            """
        )
        if !once,
            let code = try? QRCode(
                text: TOTP.provisioningURI(secret: credentials.totpSecret, account: DemoCommand.approverEmail)
            )
        {
            Console.line("  Scan it with an authenticator app, or use `oathtool --totp -b SECRET`:\n")
            Console.line(code.terminalText)
        }
        Console.line("")
    }

    func printInstructions(_ proposed: [(Step, JSONValue)], server: String) {
        let command = Self.invocation
        var lines = [
            "Now approve them as the demo approver: in your browser at \(server)/inbox, or in another terminal:",
            "",
            "  export COUNTERSIGN_SERVER=\(server)",
            "  export COUNTERSIGN_TOKEN=\(credentials.approverToken.reveal())",
            "  \(command) approvals list",
        ]
        for (step, request) in proposed where request["state"] == "pending" {
            let id = request["id"]?.stringValue ?? "?"
            var approve = "  \(command) approvals approve \(id)"
            if let text = request["requirements"]?["confirmText"]?.stringValue { approve += " --confirm \(text)" }
            if request["requirements"]?["stepUp"] == true {
                approve += " --otp $(oathtool --totp -b \(Base32.encode(credentials.totpSecret)))"
            }
            lines.append("  \(command) approvals show \(id)      # \(step.label)")
            lines.append(approve)
        }
        lines += [
            "  \(command) approvals deny ID --reason \"…\"       # the agent receives the reason",
            "  \(command) audit verify --data \(runtime.directory.url.path)",
            "",
            "What the GitHub, Slack and Google sandboxes received, and hold: \(server)/sandbox",
            "Undo an executed issue or message as the agent would (the undo is gated like any action):",
            "  curl -X POST -H 'Authorization: Bearer \(credentials.agentKey.reveal())' \(server)/v1/actions/ID/undo",
            "",
            "Watching the demo's requests (Ctrl-C to stop):",
        ]
        Console.line(lines.joined(separator: "\n"))
    }

    /// How the user ran this program, for the commands printed.
    static var invocation: String {
        let path =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first ?? "countersign"
        return path.contains("/.build/") ? "swift run countersign" : "countersign"
    }

    /// Prints each change to the demo's requests until shut down.
    func follow(_ proposed: [(Step, JSONValue)]) async throws {
        let labels = Dictionary(
            proposed.compactMap { step, request in request["id"]?.stringValue.map { ($0, step.label) } },
            uniquingKeysWith: { first, _ in first }
        )
        try await cancelWhenGracefulShutdown {
            for await id in runtime.events.changes() {
                guard let label = labels[id], let request = try await runtime.requests.request(id: id) else { continue }
                var text =
                    "  \(Timestamp.string(Date()).prefix(19).dropFirst(11))  \(request.state.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0))\(label)"
                if let failure = request.failure { text += ": \(failure)" }
                Console.line(text)
            }
        }
    }

    /// Approves every pending request as the demo approver, as a person would with the CLI, then
    /// undoes the issue and the chat message the agent made (each undo gated like any action).
    func approveAll(_ proposed: [(Step, JSONValue)], server: String) async throws {
        let agent = APIClient(server: server, token: credentials.agentKey)
        Console.line("Approving as \(DemoCommand.approverEmail) (--once):")
        for (step, request) in proposed where request["state"] == "pending" {
            try await approve(step.label, request, server: server)
        }
        Console.line("\nOutcome, as the agent sees it:")
        var outcomes: [String: JSONValue] = [:]
        for (step, request) in proposed {
            let latest = try await settle(request, agent: agent)
            outcomes[step.operation] = latest
            Console.line(Self.line(step, latest, afterApproval: true))
            let expected =
                step.operation == "shell.run" && step.arguments["program"] == "sudo" ? "rejected" : "executed"
            guard latest["state"]?.stringValue == expected else {
                throw CommandError("\(step.label) ended \(latest["state"]?.stringValue ?? "?"), not \(expected)")
            }
        }
        let archive = URL(filePath: runtime.workspace).appending(path: "notes-backup.tar.gz").path
        let build = URL(filePath: runtime.workspace).appending(path: "build").path
        guard FileManager.default.fileExists(atPath: archive), !FileManager.default.fileExists(atPath: build) else {
            throw CommandError("the approved actions did not take effect in \(runtime.workspace)")
        }
        Console.line("  (in \(runtime.workspace): notes-backup.tar.gz created, build/ deleted, release notes written)")
        let state = sandbox.snapshot()
        let issueNumber = outcomes["github.create_issue"]?["result"]?["number"]?.numberValue.map { Int($0) } ?? 0
        let releases = state["github"]?["repositories"]?["acme/app"]?["issues"]?.arrayValue ?? []
        let messages = state["slack"]?["channels"]?["C0RELEASES1"]?["messages"]?.arrayValue ?? []
        let opened = releases.contains { issue in
            issue["number"]?.numberValue == Double(issueNumber) && issue["state"] == "open"
        }
        guard opened, let message = messages.last, state["github"]?["repositories"]?["dana/old-prototype"] == nil
        else { throw CommandError("the approved GitHub and Slack actions did not take effect in the sandboxes") }
        let mails = state["google"]?["messages"]?.arrayValue ?? []
        guard mails.contains(where: { $0["subject"] == "Release 1.4" && $0["labels"] == ["SENT"] }) else {
            throw CommandError("the approved email was not sent in the Google sandbox")
        }
        let directory = (outcomes["gmail.send_message"]?["risk"]?["reasons"]?.arrayValue ?? []).first {
            $0["source"] == "blast_radius"
        }
        let slackRequest = outcomes["slack.post_message"]?["id"]?.stringValue
        let vended = try await runtime.store.auditEntries(after: 0, limit: 10_000).compactMap {
            try? JSONParser().parse($0.body)
        }.last { $0["kind"] == .string(AuditKind.tokenVended) && $0["request"]?.stringValue == slackRequest }
        let granted = (vended?["data"]?["scopesGranted"]?.arrayValue ?? []).compactMap(\.stringValue)
        Console.line(
            """
              (in the GitHub sandbox: acme/app issue #\(issueNumber) opened, dana/old-prototype deleted)
              (in the Google sandbox: "Release 1.4" sent; looked up before approval: \(directory?["text"]?.stringValue ?? "?"))
              (in the Slack sandbox #releases, as \(message["user"]?.stringValue ?? "?"): "\(message["text"]?.stringValue ?? "")",
               posted with a token vended just in time for this request (\(granted.joined(separator: " "))); the audit
               keeps its SHA-256 \(vended?["data"]?["tokenSHA256"]?.stringValue?.prefix(16) ?? "?")…, never the token)
            """
        )
        Console.line("\nUndo, as the agent asks for it (POST /v1/actions/{id}/undo; each undo is a gated action):")
        for (label, operation) in [
            ("close the release issue", "github.create_issue"), ("delete the announcement", "slack.post_message"),
        ] {
            let original = outcomes[operation]?["id"]?.stringValue ?? ""
            let (status, undo) = try await agent.exchange(.POST, "/v1/actions/\(original)/undo")
            guard status == 201 else {
                throw CommandError("undoing \(operation) was refused (\(status)): \(undo["detail"]?.stringValue ?? "")")
            }
            let step = Step(label: label, operation: undo["operation"]?.stringValue ?? "?", arguments: [:], reason: "")
            if undo["state"] == "pending" { try await approve(label, undo, server: server) }
            let settled = try await settle(undo, agent: agent)
            Console.line(Self.line(step, settled, afterApproval: true) + "  (\(step.operation))")
            guard settled["state"] == "executed" else { throw CommandError("the undo of \(operation) did not execute") }
        }
        let after = sandbox.snapshot()
        let issues: [JSONValue] = after["github"]?["repositories"]?["acme/app"]?["issues"]?.arrayValue ?? []
        let closed = issues.contains { issue in
            issue["number"]?.numberValue == Double(issueNumber) && issue["state"] == "closed"
        }
        let remaining: [JSONValue] = after["slack"]?["channels"]?["C0RELEASES1"]?["messages"]?.arrayValue ?? []
        guard closed, remaining.isEmpty else { throw CommandError("the undos did not take effect in the sandboxes") }
        Console.line("  (in the sandboxes: issue #\(issueNumber) closed, the announcement deleted)")
    }

    /// Approves one pending request as the demo approver: typing the confirmation for High, with a
    /// fresh TOTP code for Critical (after showing that a click alone is refused).
    func approve(_ label: String, _ request: JSONValue, server: String) async throws {
        let approver = APIClient(server: server, token: credentials.approverToken)
        let id = request["id"]?.stringValue ?? ""
        var body: [String: JSONValue] = ["digest": request["digest"] ?? .null]
        if let text = request["requirements"]?["confirmText"]?.stringValue { body["confirm"] = .string(text) }
        if request["requirements"]?["stepUp"] == true {
            let (status, refusal) = try await approver.exchange(.POST, "/v1/approvals/\(id)/approve", .object(body))
            guard status == 403, refusal["code"] == "step_up_required" else {
                throw CommandError("approving \(label) without step-up was not refused (\(status))")
            }
            Console.line("  \(label): without a code → refused (\(refusal["code"]?.stringValue ?? ""))")
            body["otp"] = .string(try await codes.fresh())
        }
        let (status, decided) = try await approver.exchange(.POST, "/v1/approvals/\(id)/approve", .object(body))
        guard status == 200 else {
            throw CommandError("approving \(label) failed (\(status)): \(decided["detail"]?.stringValue ?? "")")
        }
        let how =
            body["otp"] != nil
            ? "with a fresh TOTP code" : body["confirm"] != nil ? "typing the confirmation" : "with a click"
        Console.line("  \(label): approved \(how)")
    }

    /// The request once it has stopped moving (executed, failed, rejected…), as the agent reads it.
    func settle(_ request: JSONValue, agent: APIClient) async throws -> JSONValue {
        let id = request["id"]?.stringValue ?? ""
        var latest = request
        for _ in 0..<30
        where !["executed", "failed", "rejected", "denied", "expired", "outcome_unknown"].contains(
            latest["state"]?.stringValue ?? ""
        ) {
            latest = try await agent.exchange(.GET, "/v1/actions/\(id)?wait=2").1
        }
        return latest
    }
}

/// The demo approver's authenticator: each code works once, so a second step-up waits for the next one.
final class FreshCodes: Sendable {
    private let totp: TOTP
    private let used = Mutex<Int64?>(nil)

    init(_ totp: TOTP) { self.totp = totp }

    /// A code from a time step not used before, waiting for the next step when needed.
    func fresh() async throws -> String {
        var step = totp.step(at: Date())
        if used.withLock({ $0 }) == step {
            let next = Double((step + 1) * Int64(totp.period))
            let wait = max(0, next - Date().timeIntervalSince1970) + 0.2
            Console.line("  (waiting \(Int(wait.rounded(.up))) s for the next TOTP code: each code works once)")
            try await Task.sleep(for: .seconds(wait))
            step = totp.step(at: Date())
        }
        used.withLock { $0 = step }
        return totp.code(step: step)
    }
}

/// A browser for the demo's connect flow: follows nothing by itself and keeps cookies.
final class Browser: Sendable {
    struct Page {
        let status: UInt
        let headers: HTTPHeaders
        let text: String

        func location() throws -> String {
            guard let location = headers.first(name: "Location") else {
                throw CommandError("expected a redirect, got HTTP \(status): \(text.prefix(200))")
            }
            return location
        }
    }

    private let cookies = Mutex<[String: String]>([:])

    func get(_ url: String) async throws -> Page {
        var request = HTTPClientRequest(url: url)
        let jar = cookies.withLock { $0 }
        if !jar.isEmpty {
            request.headers.add(name: "Cookie", value: jar.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))
        }
        let response = try await Self.client.execute(request, timeout: .seconds(10))
        for header in response.headers[canonicalForm: "Set-Cookie"] {
            let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { cookies.withLock { $0[pair[0]] = pair[1] } }
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        return Page(status: response.status.code, headers: response.headers, text: String(buffer: body))
    }

    private static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
}
