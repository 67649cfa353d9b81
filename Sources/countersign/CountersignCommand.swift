import ArgumentParser
import Countersign
import CountersignStore
import Foundation
import Logging

@main
struct CountersignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "countersign",
        abstract:
            "An authorization gateway for AI agents: agents propose, policy and people decide, Countersign executes.",
        subcommands: [
            ServeCommand.self, PolicyCommand.self, AuditCommand.self, AgentsCommand.self, UsersCommand.self,
            ApprovalsCommand.self, ConnectionsCommand.self, ProvidersCommand.self, VaultCommand.self, MCPCommand.self,
            RunsCommand.self, PlannersCommand.self, MigrateCommand.self, DemoCommand.self,
        ]
    )
}

/// Options shared by commands that use the data directory.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "The data directory (default: $COUNTERSIGN_DATA, else ./.countersign).")
    var data: String?

    var path: String {
        if let data { return data }
        if let environment = Environment.value("COUNTERSIGN_DATA"), !environment.isEmpty { return environment }
        return ".countersign"
    }

    @Option(
        name: .long,
        help: """
            A PostgreSQL database shared by several instances, postgres://user[:password]@host[:port]/database \
            (default: $COUNTERSIGN_DATABASE_URL, which keeps the password off the command line; without \
            either, the SQLite file in the data directory).
            """
    )
    var database: String?

    /// The PostgreSQL database's URL, if one is given.
    var databaseURL: String? {
        if let database, !database.isEmpty { return database }
        return Environment.value("COUNTERSIGN_DATABASE_URL").flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Opens the store: the PostgreSQL database when one is given (its schema brought up to date),
    /// else the data directory's SQLite file.
    ///
    /// - Parameters:
    ///   - existing: Refuse to create a SQLite database that is not there.
    ///   - lease: On PostgreSQL, how long a claim holds an execution.
    ///   - logger: Where the PostgreSQL driver logs (by default only its errors, on standard error).
    /// - Returns: The store and the data directory (keys, policy and checkpoints stay there).
    /// - Throws: ``CommandError`` when the database cannot be used (naming its host, never its
    ///   password), `ValidationError` when `existing` and there is no SQLite database.
    func openStore(
        existing: Bool = false,
        lease: TimeInterval = 300,
        logger: Logger? = nil
    ) async throws -> (store: CountersignStorage, directory: DataDirectory) {
        try await Self.openStore(path: path, database: databaseURL, existing: existing, lease: lease, logger: logger)
    }

    /// Opens the PostgreSQL database at `database`, or else the SQLite file in the data directory at `path`.
    ///
    /// - Throws: As ``openStore(existing:lease:logger:)``.
    static func openStore(
        path: String,
        database: String?,
        existing: Bool = false,
        lease: TimeInterval = 300,
        logger: Logger? = nil
    ) async throws -> (store: CountersignStorage, directory: DataDirectory) {
        let directory = DataDirectory(path: path)
        if let url = database {
            var quiet = Logger(label: "countersign.postgres")
            quiet.logLevel = .error
            do {
                return (try await PostgresStore(url: url, lease: lease, logger: logger ?? quiet), directory)
            } catch let error as StoreError {
                // It names the server, never the URL's password.
                throw CommandError("\(error)")
            }
        }
        if existing && !FileManager.default.fileExists(atPath: directory.databasePath) {
            throw ValidationError(
                "no Countersign database in \(directory.url.path); pass --data DIR or set COUNTERSIGN_DATA"
            )
        }
        try directory.prepare()
        return (try SQLiteStore(path: directory.databasePath), directory)
    }
}
