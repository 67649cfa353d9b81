import Countersign
import CountersignAgent
import CountersignConnectors
import CountersignSandbox
import CountersignServer
import CountersignStore
import CountersignVault
import Foundation
import Logging
import ServiceLifecycle

/// Everything a running Countersign needs, opened from a data directory: the store, the policy,
/// the connectors, the gateway and the background services.
struct Runtime {
    let directory: DataDirectory
    let store: CountersignStorage
    let requests: NotifyingStore
    let events: RequestEvents
    let gateway: Gateway
    let runs: RunEngine
    let secrets: SecretBox
    let vault: Vault
    let sandbox: Sandbox?
    let workspace: String
    /// The audit signing key's public half, which checkpoints are checked with.
    let auditPublicKey: [UInt8]
    let services: [any Service]

    /// Opens (creating on first start) the data directory, saying what it creates.
    static func open(
        data: String,
        database: String? = nil,
        executionLease: TimeInterval = 300,
        policy: String?,
        workspace: String?,
        httpAllowlist: [HTTPAllowlistEntry] = [],
        masterKeyFile: String? = nil,
        githubAPIURL: String = "https://api.github.com",
        slackAPIURL: String = "https://slack.com/api",
        gmailAPIURL: String = "https://gmail.googleapis.com",
        calendarAPIURL: String = "https://www.googleapis.com/calendar/v3",
        peopleAPIURL: String = "https://people.googleapis.com",
        sandboxServer: String? = nil,
        logger: Logger,
        announce: (String) -> Void
    ) async throws -> Runtime {
        let directory = DataDirectory(path: data)
        if try directory.prepare() { announce("created the data directory \(directory.url.path)") }
        // The driver reports each failed connection attempt at info: only its warnings are kept.
        var databaseLogger = logger
        databaseLogger.logLevel = max(logger.logLevel, .warning)
        let store = try await DataOptions.openStore(
            path: data,
            database: database,
            lease: executionLease,
            logger: databaseLogger
        ).store
        if let postgres = store as? PostgresStore {
            announce(
                "store: PostgreSQL at \(postgres.place), schema version \(try await postgres.schemaVersion()); executions hold a \(Int(executionLease)) s lease"
            )
        }
        let (signer, createdKey) = try directory.loadOrCreateSigningKey()
        if createdKey {
            announce("created the audit signing key \(directory.signingKeyPath) (public key in audit-signing.pub)")
        }
        let secrets = try directory.loadOrCreateSecretBox()
        let vault: Vault
        let hadKeyFile = FileManager.default.fileExists(atPath: directory.masterKeyPath)
        do {
            vault = try await Vault.open(
                store: store,
                masterKey: VaultOptions.source(file: masterKeyFile, for: directory),
                actor: "countersign"
            )
        } catch let error as VaultError {
            throw CommandError(error.description)
        }
        if !hadKeyFile && FileManager.default.fileExists(atPath: directory.masterKeyPath) {
            announce(
                "created the vault's master key \(directory.masterKeyPath) (mode 0600; keep it apart from database backups)"
            )
        }
        if case .sealed(let reason) = await vault.status {
            announce(
                "the vault is SEALED (\(reason)): actions that need a connected account will fail until it is unsealed"
            )
        }
        let policyPath = policy ?? directory.policyPath
        if policy == nil && !FileManager.default.fileExists(atPath: policyPath) {
            try Data(Policy.defaultYAML.utf8).write(to: URL(filePath: policyPath))
            announce("wrote the default policy to \(policyPath)")
        }
        let workspacePath = workspace ?? directory.url.appending(path: "workspace").path
        try FileManager.default.createDirectory(atPath: workspacePath, withIntermediateDirectories: true)
        var connectors: [any Connector] = [
            try FilesConnector(root: workspacePath),
            try ShellConnector(root: workspacePath),
        ]
        if !httpAllowlist.isEmpty { connectors.append(try HTTPConnector(allowlist: httpAllowlist)) }
        // GitHub's, Slack's and Google's operations run with a token the vault vends from the principal's connected account.
        var sandbox: Sandbox?
        if let server = sandboxServer {
            sandbox = try Sandbox(directory: directory.url.appending(path: "sandbox").path)
            // The sandbox providers that ship with Countersign, labelled as such wherever they appear.
            connectors.append(
                try GitHubConnector(
                    baseURL: Sandbox.apiURL(.github, server: server),
                    sandbox: Sandbox.Service.github.displayName
                )
            )
            connectors.append(
                try SlackConnector(
                    baseURL: Sandbox.apiURL(.slack, server: server),
                    sandbox: Sandbox.Service.slack.displayName
                )
            )
        } else {
            connectors.append(try GitHubConnector(baseURL: githubAPIURL))
            connectors.append(try SlackConnector(baseURL: slackAPIURL))
        }
        for service in [GoogleConnector.Service.gmail, .calendar] {
            if let server = sandboxServer {
                connectors.append(
                    try GoogleConnector(
                        service,
                        gmailURL: Sandbox.apiURL(.google, server: server),
                        calendarURL: Sandbox.calendarURL(server: server),
                        peopleURL: Sandbox.apiURL(.google, server: server),
                        sandbox: Sandbox.Service.google.displayName
                    )
                )
            } else {
                connectors.append(
                    try GoogleConnector(
                        service,
                        gmailURL: gmailAPIURL,
                        calendarURL: calendarAPIURL,
                        peopleURL: peopleAPIURL
                    )
                )
            }
        }
        // The policy is checked against every local operation; agents are offered those that can run here.
        let compiled = try PolicyCommand.load(policyPath, catalog: Catalogs.standard())
        let catalog = OperationCatalog(connectors.flatMap(\.operations))
        let events = RequestEvents()
        let requests = NotifyingStore(store, events: events)
        for request in try await requests.abandonExecuting(now: Date()) {
            announce("request \(request.id) was executing when Countersign stopped: now outcome_unknown (not re-run)")
        }
        let executor = Executor(store: requests, connectors: connectors, tokens: vault)
        let gateway = Gateway(catalog: catalog, policy: compiled, store: requests, executor: executor)
        let runs = RunEngine(
            runs: store,
            requests: requests,
            gateway: gateway,
            planners: VaultPlanners(vault: vault).planner(named:),
            events: events
        )
        var services: [any Service] = [
            ExpirySweeper(store: requests, logger: logger),
            ExecutorService(store: requests, executor: executor, events: events, logger: logger),
            CheckpointService(
                writer: CheckpointWriter(store: store, signer: signer, path: directory.checkpointsPath),
                logger: logger
            ),
        ]
        // Runs that waited for an approval when Countersign stopped go on where they stood.
        services.append(RunService(engine: runs, runs: store, events: events, logger: logger))
        if let postgres = store as? PostgresStore {
            // Other instances' changes wake this one's long-polls, event streams and executor.
            services.append(
                ChangeListener(listen: { try await postgres.listenForChanges($0) }, events: events, logger: logger)
            )
        }
        return Runtime(
            directory: directory,
            store: store,
            requests: requests,
            events: events,
            gateway: gateway,
            runs: runs,
            secrets: secrets,
            vault: vault,
            sandbox: sandbox,
            workspace: workspacePath,
            auditPublicKey: signer.publicKey,
            services: services
        )
    }

    /// The server's context.
    ///
    /// - Parameters:
    ///   - publicURL: The base URL people reach the server at, when it is not where it listens.
    ///   - oidc: The OpenID Connect provider approvers sign in with, if any.
    /// - Returns: What the HTTP API works with.
    func context(publicURL: String? = nil, oidc: OIDCConfiguration? = nil) -> ServerContext {
        ServerContext(
            gateway: gateway,
            requests: requests,
            events: events,
            agents: store,
            users: store,
            secrets: secrets,
            vault: vault,
            sandbox: sandbox,
            sessions: store,
            oidc: oidc,
            audit: AuditSources(
                store: store,
                checkpointsPath: directory.checkpointsPath,
                publicKey: auditPublicKey
            ),
            database: store,
            runs: runs,
            publicURL: publicURL
        )
    }
}
