public import Countersign
public import Foundation

/// Signs the audit log's head and appends the checkpoint to the checkpoint file.
public struct CheckpointWriter: Sendable {
    private let store: any AuditStore
    private let signer: AuditSigner
    private let path: String

    /// Creates a writer.
    ///
    /// - Parameters:
    ///   - store: The audit log.
    ///   - signer: The checkpoint signing key.
    ///   - path: The checkpoint file (appended to, and flushed to disk, on every checkpoint).
    public init(store: any AuditStore, signer: AuditSigner, path: String) {
        self.store = store
        self.signer = signer
        self.path = path
    }

    /// Writes a checkpoint for the current head, unless the log is empty or the last checkpoint
    /// in the file already covers it.
    ///
    /// - Returns: The checkpoint written, or `nil` when none was needed.
    @discardableResult
    public func checkpoint(now: Date) async throws -> AuditCheckpoint? {
        let head = try await store.auditHead()
        guard head.size > 0 else { return nil }
        if let last = try Self.read(path).last, last.treeSize == head.size { return nil }
        let checkpoint = try signer.checkpoint(treeSize: head.size, headHash: head.hash, at: now)
        try Self.appendLine(checkpoint.line, to: path)
        return checkpoint
    }

    /// Writes a checkpoint every `interval` until the task is cancelled.
    ///
    /// - Parameters:
    ///   - interval: The time between checkpoints.
    ///   - clock: The clock to wait on (injected, so that tests can advance time).
    ///   - now: The wall-clock time to sign into each checkpoint.
    ///   - onTick: Called after each tick with the checkpoint written, or `nil` when none was needed.
    /// - Throws: When a checkpoint cannot be written; cancellation ends the loop without an error.
    public func run<C: Clock>(
        every interval: C.Duration,
        clock: C,
        now: @escaping @Sendable () -> Date = { Date() },
        onTick: @escaping @Sendable (AuditCheckpoint?) -> Void = { _ in }
    ) async throws {
        while !Task.isCancelled {
            do {
                try await clock.sleep(for: interval)
            } catch is CancellationError {
                return
            }
            onTick(try await checkpoint(now: now()))
        }
    }

    /// Reads the checkpoints in a file; none when the file does not exist.
    public static func read(_ path: String) throws -> [AuditCheckpoint] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try AuditCheckpoint.parseFile(try String(contentsOfFile: path, encoding: .utf8))
    }

    private static func appendLine(_ line: String, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644])
            else { throw AuditError.unwritable("cannot create \(path)") }
        }
        let handle = try FileHandle(forWritingTo: URL(filePath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((line + "\n").utf8))
        try handle.synchronize()
    }
}
