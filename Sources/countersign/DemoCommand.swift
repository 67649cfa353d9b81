import ArgumentParser
import AsyncHTTPClient
import Countersign
import CountersignConnectors
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
        abstract: "See Countersign work: a server, an approver, an agent, a connected account and six actions.",
        discussion: """
            Starts a server on the embedded defaults in a fresh data directory, creates a demo approver \
            (with a password and a TOTP authenticator) and a demo agent, and has the agent propose a \
            scripted set of actions against a demo workspace. It then prints what to run to see and \
            approve them, and shows each request's progress until interrupted. With --once it approves \
            them itself (with step-up for the Critical one), prints the outcome and the audit \
            verification, and exits.
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
        let address = SandboxAddress()
        let chat = SandboxChat(account: "dana")
        let runtime = try await Runtime.open(
            data: dataPath,
            policy: nil,
            workspace: nil,
            sandbox: (chat, try SandboxConnector(address: address)),
            logger: logger
        ) { _ in }
        try Self.seedWorkspace(runtime.workspace)
        let credentials = try await Self.enroll(runtime)
        let (listening, announce) = AsyncStream.makeStream(of: Int.self)
        let application = buildApplication(
            configuration: ServerConfiguration(host: "127.0.0.1", port: port ?? (Self.isFree(8787) ? 8787 : 0)),
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
            sandbox: (chat, address),
            once: once
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
    let sandbox: (chat: SandboxChat, address: SandboxAddress)
    let once: Bool

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
            label: "announce the release in chat",
            operation: "sandbox.post_message",
            arguments: ["channel": "#releases", "text": "1.4 is out: faster sync, and the login loop is fixed."],
            reason: "The team should know the release shipped"
        ),
    ]

    func run() async throws {
        var iterator = listening.makeAsyncIterator()
        guard let port = await iterator.next() else { return }
        let server = "http://127.0.0.1:\(port)"
        let agent = APIClient(server: server, token: credentials.agentKey)
        printIntroduction(server: server)
        try await connectSandbox(server: server)
        var proposed: [(Step, JSONValue)] = []
        Console.line("The agent (demo-agent, over the REST API) proposes six actions for \(DemoCommand.principal):\n")
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

    /// Registers Countersign's client with the sandbox chat and connects Dana's account through the
    /// vault's real connect flow, playing the browser: the link, the consent redirect, the callback.
    func connectSandbox(server: String) async throws {
        sandbox.address.set(server)
        let secret = Secret(Base32.encode(SecretBox.generateRawKey()))
        let redirect = server + "/oauth/callback"
        sandbox.chat.register(
            clientID: "countersign-demo",
            clientSecret: secret,
            redirectURI: redirect,
            issuer: server + "/sandbox"
        )
        let vault = runtime.vault
        try await vault.setProviderClient(
            provider: "sandbox",
            clientID: "countersign-demo",
            clientSecret: secret,
            redirectURI: redirect,
            endpoints: [
                "authorization": server + "/sandbox/oauth/authorize", "token": server + "/sandbox/oauth/token",
                "revocation": server + "/sandbox/oauth/revoke", "account": server + "/sandbox/api/me",
                "issuer": server + "/sandbox",
            ],
            actor: "system:demo"
        )
        let link = try await vault.beginConnect(
            provider: "sandbox",
            principal: DemoCommand.principal,
            scopes: ["chat:write"],
            serverURL: server,
            actor: "system:demo"
        )
        let browser = Browser()
        let consent = try await browser.get(link.url)
        let callback = try await browser.get(try consent.location())
        let page = try await browser.get(try callback.location())
        guard page.status == 200 else {
            throw CommandError("connecting the sandbox chat account failed (\(page.status)): \(page.text)")
        }
        let connection = try await vault.connections(principal: DemoCommand.principal).first {
            $0.provider == "sandbox"
        }
        Console.line(
            """
            Dana's Sandbox Chat account (\(connection?.account ?? "?")) is connected through the vault: OAuth code flow \
            with PKCE, state bound to the browser, issuer checked. Countersign holds its refresh token, \
            sealed; the agent never sees a token.

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
            Countersign demo: a server on the embedded defaults (SQLite, local connectors, a sandbox chat service).
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

    /// Approves every pending request as the demo approver, as a person would with the CLI.
    func approveAll(_ proposed: [(Step, JSONValue)], server: String) async throws {
        let approver = APIClient(server: server, token: credentials.approverToken)
        let agent = APIClient(server: server, token: credentials.agentKey)
        let totp = TOTP(secret: credentials.totpSecret)
        Console.line("Approving as \(DemoCommand.approverEmail) (--once):")
        for (step, request) in proposed where request["state"] == "pending" {
            let id = request["id"]?.stringValue ?? ""
            var body: [String: JSONValue] = ["digest": request["digest"] ?? .null]
            if let text = request["requirements"]?["confirmText"]?.stringValue { body["confirm"] = .string(text) }
            if request["requirements"]?["stepUp"] == true {
                let (status, refusal) = try await approver.exchange(.POST, "/v1/approvals/\(id)/approve", .object(body))
                guard status == 403, refusal["code"] == "step_up_required" else {
                    throw CommandError("approving \(step.label) without step-up was not refused (\(status))")
                }
                Console.line("  \(step.label): without a code → refused (\(refusal["code"]?.stringValue ?? ""))")
                body["otp"] = .string(totp.code(at: Date()))
            }
            let (status, decided) = try await approver.exchange(.POST, "/v1/approvals/\(id)/approve", .object(body))
            guard status == 200 else {
                throw CommandError(
                    "approving \(step.label) failed (\(status)): \(decided["detail"]?.stringValue ?? "")"
                )
            }
            let how =
                body["otp"] != nil
                ? "with a fresh TOTP code" : body["confirm"] != nil ? "typing the confirmation" : "with a click"
            Console.line("  \(step.label): approved \(how)")
        }
        Console.line("\nOutcome, as the agent sees it:")
        for (step, request) in proposed {
            let id = request["id"]?.stringValue ?? ""
            var latest = request
            for _ in 0..<30
            where !["executed", "failed", "rejected", "denied", "expired", "outcome_unknown"].contains(
                latest["state"]?.stringValue ?? ""
            ) {
                latest = try await agent.exchange(.GET, "/v1/actions/\(id)?wait=2").1
            }
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
        guard let message = sandbox.chat.messages.last else {
            throw CommandError("the approved chat message was not posted")
        }
        let vended = try await runtime.store.auditEntries(after: 0, limit: 10_000).compactMap {
            try? JSONParser().parse($0.body)
        }.last { $0["kind"] == .string(AuditKind.tokenVended) }
        Console.line(
            """
              (in Sandbox Chat \(message.channel), as \(message.user): "\(message.text)", posted with a token vended \
            just in time for chat:write only; the audit keeps its SHA-256 \(vended?["data"]?["tokenSHA256"]?.stringValue?.prefix(16) ?? "?")…, never the token)
            """
        )
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
