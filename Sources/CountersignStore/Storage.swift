public import Countersign

/// Every store protocol at once: what a running Countersign keeps, on SQLite or PostgreSQL.
public typealias CountersignStorage =
    any ActionStore & AuditStore & AgentStore & UserStore & WebSessionStore & VaultStore & RunStore
    & DatabaseHealth

/// A database that can say whether it answers, for `/healthz`.
public protocol DatabaseHealth: Sendable {
    /// The kind of database: `sqlite` or `postgresql`.
    var databaseKind: String { get }

    /// Asks the database a trivial question.
    ///
    /// - Throws: ``StoreError`` `.unavailable` when it does not answer.
    func checkHealth() async throws
}
