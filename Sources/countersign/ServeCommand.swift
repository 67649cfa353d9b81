import ArgumentParser
import Countersign
import CountersignConnectors
import CountersignServer
import CountersignStore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Countersign server on the embedded defaults (SQLite, local connectors)."
    )

    @OptionGroup var data: DataOptions

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on.")
    var port = 8787

    @Option(help: "The policy file (default: <data>/policy.yaml, created from the default policy).")
    var policy: String?

    @Option(help: "The directory the files and shell connectors act in (default: <data>/workspace).")
    var workspace: String?

    func run() async throws {
        var logger = Logger(label: "countersign")
        logger.logLevel = .info
        let directory = DataDirectory(path: data.path)
        if try directory.prepare() { Console.line("created the data directory \(directory.url.path)") }
        let store = try SQLiteStore(path: directory.databasePath)
        let (signer, createdKey) = try directory.loadOrCreateSigningKey()
        if createdKey {
            Console.line("created the audit signing key \(directory.signingKeyPath) (public key in audit-signing.pub)")
        }
        let policyPath = policy ?? directory.policyPath
        if policy == nil && !FileManager.default.fileExists(atPath: policyPath) {
            try Data(Policy.defaultYAML.utf8).write(to: URL(filePath: policyPath))
            Console.line("wrote the default policy to \(policyPath)")
        }
        let workspacePath = workspace ?? directory.url.appending(path: "workspace").path
        try FileManager.default.createDirectory(atPath: workspacePath, withIntermediateDirectories: true)
        let connectors: [any Connector] = [
            try FilesConnector(root: workspacePath),
            try ShellConnector(root: workspacePath),
        ]
        // The policy is checked against every local operation; agents are offered those that can run here.
        let compiled = try PolicyCommand.load(policyPath, catalog: Catalogs.local())
        let catalog = OperationCatalog(connectors.flatMap(\.operations))
        let events = RequestEvents()
        let requests = NotifyingStore(store, events: events)
        let abandoned = try await requests.abandonExecuting(now: Date())
        for request in abandoned {
            Console.line(
                "request \(request.id) was executing when Countersign stopped: now outcome_unknown (not re-run)"
            )
        }
        let executor = Executor(store: requests, connectors: connectors)
        let gateway = Gateway(catalog: catalog, policy: compiled, store: requests, executor: executor)
        let application = buildApplication(
            configuration: ServerConfiguration(host: host, port: port),
            context: ServerContext(
                gateway: gateway,
                requests: requests,
                events: events,
                agents: store,
                users: store,
                secrets: try directory.loadOrCreateSecretBox()
            ),
            services: [
                ExpirySweeper(store: requests, logger: logger),
                ExecutorService(store: requests, executor: executor, events: events, logger: logger),
                CheckpointService(
                    writer: CheckpointWriter(store: store, signer: signer, path: directory.checkpointsPath)
                ),
            ],
            logger: logger
        )
        Console.line(
            "Countersign listening on http://\(host):\(port) (data \(directory.url.path), workspace \(workspacePath))"
        )
        try await application.runService()
    }
}
