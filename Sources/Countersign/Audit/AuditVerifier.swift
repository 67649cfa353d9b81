/// Where and how an audit log fails verification.
public struct AuditFailure: Sendable, Hashable, CustomStringConvertible {
    /// The first bad sequence number.
    public let sequence: Int64
    /// What is wrong there.
    public let problem: String

    public var description: String { "entry \(sequence): \(problem)" }
}

/// The result of verifying an audit log.
public struct AuditVerification: Sendable, Hashable {
    /// How many entries were checked.
    public let entries: Int64
    /// The hash of the last good entry, in hex.
    public let headHash: String
    /// How many checkpoints were checked against the log.
    public let checkpointsChecked: Int
    /// The first problem, or `nil` when the log is intact.
    public let failure: AuditFailure?

    /// Whether the log verified.
    public var isIntact: Bool { failure == nil }
}

/// Re-computes the hash chain entry by entry, comparing it with stored hashes and checkpoints.
///
/// It detects an edited, deleted, reordered or inserted entry, and truncation
/// behind the last checkpoint, and names the first bad sequence number.
public struct AuditVerifier: Sendable {
    private var checkpoints: [Int64: AuditCheckpoint] = [:]
    private var largestCheckpoint: AuditCheckpoint?
    private var running: [UInt8] = AuditChain.genesis
    private var expected: Int64 = 1
    private var checked = 0
    private(set) var failure: AuditFailure?

    /// Creates a verifier.
    ///
    /// - Parameters:
    ///   - checkpoints: Signed checkpoints to hold the log to.
    ///   - publicKey: The key the checkpoints must be signed with.
    public init(checkpoints: [AuditCheckpoint] = [], publicKey: [UInt8]? = nil) {
        for checkpoint in checkpoints {
            guard let publicKey, checkpoint.isValid(publicKey: publicKey) else {
                failure = AuditFailure(
                    sequence: checkpoint.treeSize,
                    problem: "the checkpoint for \(checkpoint.treeSize) entries has an invalid signature"
                )
                return
            }
            self.checkpoints[checkpoint.treeSize] = checkpoint
            if checkpoint.treeSize > (largestCheckpoint?.treeSize ?? 0) { largestCheckpoint = checkpoint }
        }
    }

    /// Checks the next stored entry.
    ///
    /// - Returns: `false` once a problem is found; later entries are not looked at.
    public mutating func consume(
        sequence: Int64,
        body: UnsafeRawBufferPointer,
        previousHash: UnsafeRawBufferPointer,
        hash: UnsafeRawBufferPointer
    ) -> Bool {
        guard failure == nil else { return false }
        if sequence != expected {
            let problem =
                sequence > expected
                ? "missing: the log jumps from entry \(expected - 1) to \(sequence) (deleted entries)"
                : "out of order: entry \(sequence) appears after \(expected - 1)"
            failure = AuditFailure(sequence: expected, problem: problem)
            return false
        }
        guard ConstantTime.equals(previousHash, running) else {
            failure = AuditFailure(
                sequence: sequence,
                problem: "does not follow entry \(sequence - 1) (an entry was inserted, reordered or rewritten)"
            )
            return false
        }
        let computed = running.withUnsafeBytes { AuditChain.hash(previous: $0, sequence: sequence, body: body) }
        guard ConstantTime.equals(hash, computed) else {
            failure = AuditFailure(sequence: sequence, problem: "was modified: its content does not match its hash")
            return false
        }
        running = computed
        if let checkpoint = checkpoints[sequence] {
            checked += 1
            if checkpoint.headHash != Hex.encode(computed) {
                failure = AuditFailure(
                    sequence: sequence,
                    problem: "the log up to here differs from the checkpoint signed at \(checkpoint.signedAt)"
                )
                return false
            }
        }
        expected += 1
        return true
    }

    /// Checks an entry held in memory.
    public mutating func consume(_ entry: AuditEntry) -> Bool {
        entry.body.withUnsafeBytes { body in
            entry.previousHash.withUnsafeBytes { previous in
                entry.hash.withUnsafeBytes { hash in
                    consume(sequence: entry.sequence, body: body, previousHash: previous, hash: hash)
                }
            }
        }
    }

    /// Ends verification after the last stored entry.
    public func finish() -> AuditVerification {
        let count = expected - 1
        var failure = self.failure
        if failure == nil, let checkpoint = largestCheckpoint, checkpoint.treeSize > count {
            failure = AuditFailure(
                sequence: count + 1,
                problem: "truncated: the checkpoint signed at \(checkpoint.signedAt) covers \(checkpoint.treeSize) "
                    + "entries but the log ends at \(count)"
            )
        }
        return AuditVerification(
            entries: count,
            headHash: Hex.encode(running),
            checkpointsChecked: checked,
            failure: failure
        )
    }
}
