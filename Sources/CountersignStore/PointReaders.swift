import GRDB
import Synchronization

/// Read-only connections for reads by key, each used by one caller at a time on the caller's own
/// thread.
///
/// GRDB's asynchronous read hops to a reader's dispatch queue and back, waking a thread each way
/// for a read that takes less time than either wake. A connection taken from here is read
/// synchronously instead (no other caller has it, so its queue runs the read on the calling
/// thread). Nothing ever waits for one: when all are taken, ``read(_:)`` says so and the caller
/// reads asynchronously as before, so a thread of the cooperative pool never blocks on another
/// task (which, with every thread blocked, could deadlock).
final class PointReaders: Sendable {
    private let free: Mutex<[DatabaseQueue]>

    /// Opens `count` read-only connections to the database at `path` (in WAL mode already).
    init(path: String, count: Int) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        free = Mutex(try (0..<count).map { _ in try DatabaseQueue(path: path, configuration: configuration) })
    }

    /// Runs `body` in a read transaction on a free connection, on the calling thread.
    ///
    /// - Returns: What `body` returns, or `nil` (without running it) when every connection is taken.
    /// - Throws: What `body` throws, or the database's error.
    func read<T>(_ body: (Database) throws -> T) throws -> T? {
        guard let connection = free.withLock({ $0.popLast() }) else { return nil }
        defer { free.withLock { $0.append(connection) } }
        return try connection.read(body)
    }
}
