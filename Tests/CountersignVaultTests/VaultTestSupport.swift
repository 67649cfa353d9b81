import Countersign
import CountersignStore
import Foundation
import Synchronization
import Testing

@testable import CountersignVault

/// A fresh directory for one test's database and master key file.
struct VaultFiles {
    let directory: URL
    let databasePath: String
    let keyPath: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appending(path: "countersign-vault-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        databasePath = directory.appending(path: "countersign.sqlite").path
        keyPath = directory.appending(path: "vault.key").path
    }

    /// Opens a store on the database and a vault over it, as a process of its own would.
    func open(clock: TestClock = TestClock(), lease: TimeInterval = 60) async throws -> (Vault, SQLiteStore) {
        let store = try SQLiteStore(path: databasePath)
        let vault = try await Vault.open(
            store: store,
            masterKey: MasterKey.Source(environment: nil, file: nil, defaultFile: keyPath),
            actor: "test",
            clock: clock.now,
            refreshLease: lease
        )
        return (vault, store)
    }
}

/// A clock the test can move forward.
final class TestClock: Sendable {
    let offset = Mutex<TimeInterval>(0)
    func advance(_ seconds: TimeInterval) { offset.withLock { $0 += seconds } }
    var now: @Sendable () -> Date { { Date().addingTimeInterval(self.offset.withLock { $0 }) } }
}

/// The ``VaultError`` that `body` throws, or `nil` (another error is recorded as an issue).
func vaultError(_ body: () async throws -> Void) async -> VaultError? {
    do {
        try await body()
        return nil
    } catch let error as VaultError {
        return error
    } catch {
        Issue.record("unexpected \(error)")
        return nil
    }
}
