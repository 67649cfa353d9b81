import ArgumentParser
import Countersign
import CountersignStore
import Logging

/// `countersign migrate`: brings a database's schema up to date and says where it stands.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Bring the database's schema up to date.",
        discussion: """
            With --database (or $COUNTERSIGN_DATABASE_URL), the PostgreSQL database: the migrations run \
            once, in one transaction, under an advisory lock, so it is safe while instances start. \
            Otherwise the SQLite database in the data directory. Servers migrate at start too; run \
            this before rolling out a new version to several instances.
            """
    )

    @Option(
        help:
            "A PostgreSQL database, postgres://user[:password]@host[:port]/database (default: $COUNTERSIGN_DATABASE_URL)."
    )
    var database: String?

    @OptionGroup var data: DataOptions

    func run() async throws {
        if let url = database ?? Environment.value("COUNTERSIGN_DATABASE_URL").flatMap({ $0.isEmpty ? nil : $0 }) {
            var logger = Logger(label: "countersign.postgres")
            logger.logLevel = .error
            let store: PostgresStore
            do {
                store = try await PostgresStore(url: url, logger: logger)
            } catch let error as StoreError {
                // It names the server, never the URL's password.
                throw CommandError("\(error)")
            }
            defer { store.close() }
            Console.line("PostgreSQL: schema version \(try await store.schemaVersion()), up to date")
        } else {
            _ = try AgentsCommand.openStore(data)
            Console.line("SQLite: \(DataDirectory(path: data.path).databasePath) is up to date")
        }
    }
}
