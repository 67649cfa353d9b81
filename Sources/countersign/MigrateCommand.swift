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

    @OptionGroup var data: DataOptions

    func run() async throws {
        let (store, directory) = try await data.openStore()
        if let postgres = store as? PostgresStore {
            defer { postgres.close() }
            Console.line("PostgreSQL: schema version \(try await postgres.schemaVersion()), up to date")
        } else {
            Console.line("SQLite: \(directory.databasePath) is up to date")
        }
    }
}
