public import Foundation

/// An agent registered with Countersign: a name and the hash of its API key.
public struct Agent: Sendable, Hashable, Codable {
    /// The agent's name, unique (`release-bot`).
    public let name: String
    /// The public id of its key.
    public let keyID: String
    /// SHA-256 of its key, in hex.
    public let keyHash: String
    /// When it was created.
    public let createdAt: Date
    /// When its key was revoked, if it was.
    public var revokedAt: Date?

    /// Creates an agent record.
    public init(name: String, keyID: String, keyHash: String, createdAt: Date, revokedAt: Date? = nil) {
        self.name = name
        self.keyID = keyID
        self.keyHash = keyHash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// Whether the key still works.
    public var isActive: Bool { revokedAt == nil }

    /// Whether a name is acceptable: 1 to 64 of lower-case letters, digits, `-`, `_` and `.`, starting with a letter or digit.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 64 else { return false }
        let isLetterOrDigit = { (byte: UInt8) in (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) }
        return isLetterOrDigit(first)
            && name.utf8.allSatisfy { isLetterOrDigit($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }
    }
}

/// Registered agents and their keys.
public protocol AgentStore: Sendable {
    /// Registers an agent with the hash of its key, recording `agent.changed` in the audit log.
    ///
    /// - Throws: ``AgentError/nameTaken`` when an active agent has that name.
    func createAgent(_ agent: Agent, actor: String) async throws

    /// Every agent, by name.
    func agents() async throws -> [Agent]

    /// Revokes an agent's key, recording `agent.changed` in the audit log.
    ///
    /// - Throws: ``AgentError/notFound`` when there is no active agent with that name.
    func revokeAgent(named name: String, actor: String, now: Date) async throws

    /// The agent whose key has this id.
    func agent(keyID: String) async throws -> Agent?
}

extension AgentStore {
    /// Authenticates a presented API key.
    ///
    /// - Returns: The active agent the key belongs to, or `nil` for an unknown, malformed or revoked key.
    public func authenticate(key: String) async throws -> Agent? {
        guard let id = APIKey.id(of: key), let agent = try await agent(keyID: id), agent.isActive else { return nil }
        let presented = APIKey.hash(of: key)
        return ConstantTime.equals(Array(presented.utf8), Array(agent.keyHash.utf8)) ? agent : nil
    }
}

/// An agent operation that cannot be done.
public struct AgentError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable { case nameTaken, notFound, invalidName }
    private let base: Base
    private let name: String

    /// An agent already has this name.
    public static func nameTaken(_ name: String) -> Self { Self(base: .nameTaken, name: name) }
    /// No active agent has this name.
    public static func notFound(_ name: String) -> Self { Self(base: .notFound, name: name) }
    /// The name is not acceptable.
    public static func invalidName(_ name: String) -> Self { Self(base: .invalidName, name: name) }

    public var description: String {
        switch base {
        case .nameTaken: "an active agent named \(name) already exists; revoke it first or choose another name"
        case .notFound: "no active agent named \(name)"
        case .invalidName:
            "\"\(name)\" is not a valid agent name: use 1 to 64 lower-case letters, digits, '-', '_' or '.'"
        }
    }
}
