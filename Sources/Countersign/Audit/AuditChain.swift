import Crypto
public import Foundation

/// One entry of the hash chain as stored: its sequence number, canonical body and hashes.
public struct AuditEntry: Sendable, Hashable {
    /// The position in the log, from 1.
    public let sequence: Int64
    /// The entry's canonical JSON (RFC 8785), exactly the bytes that were hashed.
    public let body: [UInt8]
    /// The previous entry's hash (32 zero bytes for the first entry).
    public let previousHash: [UInt8]
    /// SHA-256 over the previous hash, the sequence number and the body.
    public let hash: [UInt8]

    /// Creates an entry from stored parts.
    public init(sequence: Int64, body: [UInt8], previousHash: [UInt8], hash: [UInt8]) {
        self.sequence = sequence
        self.body = body
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// The rules of the audit hash chain.
public enum AuditChain {
    /// The previous hash of the first entry.
    public static let genesis = [UInt8](repeating: 0, count: 32)

    /// An event rendered ahead of time, everything but its sequence number, so that the work of
    /// rendering happens outside the transaction that appends it.
    public struct PreparedEvent: Sendable {
        /// The canonical JSON of the entry without `seq`, without its closing brace.
        let head: [UInt8]
        /// The request concerned, if any.
        public let requestID: String?
    }

    /// Checks an event for secrets and renders it.
    ///
    /// - Throws: ``AuditError/secretInEvent`` when the event's data has a member that may hold a secret.
    public static func prepare(_ event: AuditEvent) throws(AuditError) -> PreparedEvent {
        if let key = event.forbiddenKey { throw .secretInEvent(key) }
        var members: [String: JSONValue] = [
            "at": .string(Timestamp.string(event.at)),
            "kind": .string(event.kind),
            "actor": .string(event.actor),
            "data": event.data,
        ]
        if let request = event.requestID { members["request"] = .string(request) }
        var head = CanonicalJSON.bytes(.object(members))
        head.removeLast()  // the closing brace; `seq` sorts after every other member
        return PreparedEvent(head: head, requestID: event.requestID)
    }

    /// Builds the entry that follows `previousHash` for an event.
    ///
    /// - Throws: ``AuditError/secretInEvent`` when the event's data has a member that may hold a secret.
    public static func entry(
        for event: AuditEvent,
        sequence: Int64,
        previousHash: [UInt8]
    ) throws(AuditError)
        -> AuditEntry
    {
        entry(for: try prepare(event), sequence: sequence, previousHash: previousHash)
    }

    /// Builds the entry that follows `previousHash` for a prepared event: the same bytes as the
    /// canonical JSON of the whole entry, `seq` included.
    public static func entry(for prepared: PreparedEvent, sequence: Int64, previousHash: [UInt8]) -> AuditEntry {
        var body = prepared.head
        body.reserveCapacity(body.count + 28)
        body.append(contentsOf: Array(",\"seq\":\(sequence)}".utf8))
        return AuditEntry(
            sequence: sequence,
            body: body,
            previousHash: previousHash,
            hash: hash(previous: previousHash, sequence: sequence, body: body)
        )
    }

    /// SHA-256 over `previous ‖ sequence (8 bytes, big-endian) ‖ body`.
    public static func hash(
        previous: some Collection<UInt8>,
        sequence: Int64,
        body: some Collection<UInt8>
    )
        -> [UInt8]
    {
        var hasher = SHA256()
        hasher.update(data: Array(previous))
        withUnsafeBytes(of: UInt64(bitPattern: sequence).bigEndian) { hasher.update(bufferPointer: $0) }
        hasher.update(data: Array(body))
        return Array(hasher.finalize())
    }

    /// SHA-256 over contiguous buffers, for the verifier's hot loop.
    static func hash(previous: UnsafeRawBufferPointer, sequence: Int64, body: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bufferPointer: previous)
        withUnsafeBytes(of: UInt64(bitPattern: sequence).bigEndian) { hasher.update(bufferPointer: $0) }
        hasher.update(bufferPointer: body)
        return Array(hasher.finalize())
    }
}

/// The audit log could not record or verify something.
public struct AuditError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable { case secretInEvent, unwritable, badKey, badCheckpoint }
    private let base: Base
    private let detail: String

    /// An event's data has a member that may hold a secret; the event (and its operation) is refused.
    public static func secretInEvent(_ key: String) -> Self { Self(base: .secretInEvent, detail: key) }
    /// The log could not be written; the operation it records does not happen.
    public static func unwritable(_ detail: String) -> Self { Self(base: .unwritable, detail: detail) }
    /// The signing key is missing, unreadable or too widely readable.
    public static func badKey(_ detail: String) -> Self { Self(base: .badKey, detail: detail) }
    /// A checkpoint file or line is malformed.
    public static func badCheckpoint(_ detail: String) -> Self { Self(base: .badCheckpoint, detail: detail) }

    public var description: String {
        switch base {
        case .secretInEvent:
            "refused to record an audit event with a member named \"\(detail)\", which may hold a secret"
        case .unwritable: "the audit log could not be written (\(detail)); nothing was done"
        case .badKey: "audit signing key: \(detail)"
        case .badCheckpoint: "audit checkpoint: \(detail)"
        }
    }
}

/// Timestamps as the audit log and the API write them: RFC 3339, UTC, milliseconds.
public enum Timestamp {
    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    /// Formats a date.
    public static func string(_ date: Date) -> String { style.format(date) }

    /// Parses a date written by ``string(_:)`` (or without fractional seconds).
    public static func date(_ text: String) -> Date? {
        (try? style.parse(text)) ?? (try? Date.ISO8601FormatStyle(timeZone: .gmt).parse(text))
    }
}
