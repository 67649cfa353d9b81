public import Foundation
import Logging
import PostgresNIO

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server for the tests.
///
/// The one `$COUNTERSIGN_TEST_POSTGRES_URL` names (CI starts it), or else one this test process
/// starts from the installed PostgreSQL (Debian's `postgresql` package) in a temporary directory on
/// a free loopback port, stopped when the process exits. Each test gets a database of its own.
public enum TestPostgres {
    /// The server's URL without a database.
    static let server: Result<String, TestPostgresError> = {
        if let url = ProcessInfo.processInfo.environment["COUNTERSIGN_TEST_POSTGRES_URL"], !url.isEmpty {
            return .success(url)
        }
        return Result { () throws(TestPostgresError) in try PrivatePostgres().url }
    }()

    /// A new, empty database on the server, by URL.
    public static func freshDatabase(on server: String? = nil) async throws -> String {
        let base = try server ?? Self.server.get()
        let name =
            "countersign_test_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        let admin = PostgresClient(
            configuration: try configuration(base, database: "postgres"),
            backgroundLogger: logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admin.run() }
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
            group.cancelAll()
        }
        return "\(base)/\(name)?sslmode=disable"
    }

    static let logger = Logger(label: "countersign.tests.postgres")

    /// Every value of every table in the database at `url`: `bytea` as its bytes, the rest as text.
    public static func storedValues(_ url: String) async throws -> [Data] {
        guard let components = URLComponents(string: url) else { return [] }
        let database = String(components.path.dropFirst())
        let base = url.components(separatedBy: "/" + database).first ?? url
        let client = PostgresClient(
            configuration: try configuration(base, database: database),
            backgroundLogger: logger
        )
        return try await withThrowingTaskGroup(of: [Data].self) { group in
            group.addTask {
                await client.run()
                return []
            }
            var values: [Data] = []
            let columns = try await client.query(
                "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = 'public'",
                logger: logger
            ).collect()
            for column in columns {
                let (table, name, type) = try column.decode((String, String, String).self)
                let bytea = type == "bytea"
                let sql = bytea ? "SELECT \"\(name)\" FROM \"\(table)\"" : "SELECT \"\(name)\"::text FROM \"\(table)\""
                for row in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect() {
                    let cell = row.makeRandomAccess()[0]
                    if bytea {
                        if let data = try cell.decode(Data?.self) { values.append(data) }
                    } else if let text = try cell.decode(String?.self) {
                        values.append(Data(text.utf8))
                    }
                }
            }
            group.cancelAll()
            return values
        }
    }

    static func configuration(_ base: String, database: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: base), let host = components.host, let user = components.user
        else { throw TestPostgresError("COUNTERSIGN_TEST_POSTGRES_URL must be postgres://user@host:port") }
        return PostgresClient.Configuration(
            host: host,
            port: components.port ?? 5432,
            username: user,
            password: components.password,
            database: database,
            tls: .disable
        )
    }

    /// Runs a program to its end (posix_spawn and waitpid: no run loop needed) with its output
    /// discarded; whether it succeeded.
    @discardableResult
    static func run(_ arguments: [String]) -> Bool {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, arguments[0], &actions, nil, argv, environ) == 0 else { return false }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status == 0
    }

    public static func freePort() -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Why no PostgreSQL server is available for the tests.
public struct TestPostgresError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}

/// A PostgreSQL server of the tests' own, from the installed package (Debian's `postgresql`), in a
/// temporary directory on a free loopback port; it can be killed and started again (on the same
/// port, with the same data), and is stopped when the test process exits.
public final class PrivatePostgres: Sendable {
    /// The server's URL without a database.
    public let url: String
    let root: String
    let binaries: String
    let options: String

    /// Every server started, for the exit handler.
    nonisolated(unsafe) static var started: [(root: String, binaries: String)] = []
    static let lock = NSLock()

    public init() throws(TestPostgresError) {
        let installed =
            (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.sorted().last.map {
                "/usr/lib/postgresql/\($0)/bin"
            }
        guard let bin = installed, FileManager.default.fileExists(atPath: bin + "/initdb") else {
            throw TestPostgresError(
                "PostgreSQL is needed for the store tests: install it (apt-get install postgresql) or set COUNTERSIGN_TEST_POSTGRES_URL"
            )
        }
        let root = "/tmp/countersign-pg-\(getpid())-\(UUID().uuidString.prefix(8))"
        let port = TestPostgres.freePort()
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        if geteuid() == 0 { _ = TestPostgres.run(["/bin/chown", "postgres", root]) }
        guard
            TestPostgres.run(
                Self.prefix + [bin + "/initdb", "-D", root + "/data", "-A", "trust", "-U", "postgres", "--no-sync"]
            )
        else { throw TestPostgresError("initdb failed in \(root)") }
        self.root = root
        binaries = bin
        options = "-c listen_addresses=127.0.0.1 -p \(port) -k \(root) -c fsync=off -c max_connections=1000"
        url = "postgres://postgres@127.0.0.1:\(port)"
        Self.lock.withLock {
            if Self.started.isEmpty {
                atexit {
                    for server in PrivatePostgres.lock.withLock({ PrivatePostgres.started }) {
                        _ = TestPostgres.run(
                            PrivatePostgres.prefix + [
                                server.binaries + "/pg_ctl", "-D", server.root + "/data", "-m", "immediate", "stop",
                            ]
                        )
                        try? FileManager.default.removeItem(atPath: server.root)
                    }
                }
            }
            Self.started.append((root, bin))
        }
        try start()
    }

    /// PostgreSQL refuses to run as root: then it runs as the postgres user.
    static var prefix: [String] { geteuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : [] }

    /// Starts the server (again) and waits until it accepts connections.
    public func start() throws(TestPostgresError) {
        guard
            TestPostgres.run(
                Self.prefix + [
                    binaries + "/pg_ctl", "-D", root + "/data", "-o", options, "-l", root + "/log", "-w", "start",
                ]
            )
        else { throw TestPostgresError("PostgreSQL did not start; see \(root)/log") }
    }

    /// Stops the server at once, as a crash would: connections drop, nothing is shut down cleanly.
    public func kill() {
        TestPostgres.run(Self.prefix + [binaries + "/pg_ctl", "-D", root + "/data", "-m", "immediate", "-w", "stop"])
    }
}
