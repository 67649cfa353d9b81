import Crypto

/// An action an agent proposes: an operation, its arguments, on whose behalf and by which agent.
public struct ProposedAction: Sendable, Hashable {
    /// The operation to perform.
    public let operation: OperationID
    /// The operation's arguments.
    public let arguments: JSONValue
    /// The person (or account) on whose behalf the action is taken.
    public let principal: String
    /// The agent that proposed it.
    public let agent: String
    /// The SHA-256 digest of ``canonicalBytes``, computed once when the action is made (its members
    /// cannot change afterwards, so it cannot go stale).
    public let digest: ActionDigest

    /// Creates a proposed action and computes its digest.
    public init(operation: OperationID, arguments: JSONValue, principal: String, agent: String) {
        self.operation = operation
        self.arguments = arguments
        self.principal = principal
        self.agent = agent
        self.digest = ActionDigest(
            hashing: Self.canonicalBytes(operation: operation, arguments: arguments, principal: principal, agent: agent)
        )
    }

    /// The RFC 8785 canonical JSON of `{operation, arguments, principal, agent}`: exactly what is approved.
    public var canonicalBytes: [UInt8] {
        Self.canonicalBytes(operation: operation, arguments: arguments, principal: principal, agent: agent)
    }

    private static func canonicalBytes(
        operation: OperationID,
        arguments: JSONValue,
        principal: String,
        agent: String
    ) -> [UInt8] {
        CanonicalJSON.bytes(
            .object([
                "operation": .string(operation.description),
                "arguments": arguments,
                "principal": .string(principal),
                "agent": .string(agent),
            ])
        )
    }
}

extension ProposedAction: Codable {
    private enum CodingKeys: String, CodingKey {
        case operation, arguments, principal, agent
    }

    /// Decodes the four members and computes the digest afresh (a digest is never read from outside).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            operation: try container.decode(OperationID.self, forKey: .operation),
            arguments: try container.decode(JSONValue.self, forKey: .arguments),
            principal: try container.decode(String.self, forKey: .principal),
            agent: try container.decode(String.self, forKey: .agent)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(operation, forKey: .operation)
        try container.encode(arguments, forKey: .arguments)
        try container.encode(principal, forKey: .principal)
        try container.encode(agent, forKey: .agent)
    }
}

/// The SHA-256 digest of an action's canonical JSON, written `sha256:<64 hex digits>`.
public struct ActionDigest: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    /// Hashes canonical bytes.
    public init(hashing data: [UInt8]) {
        self.bytes = Array(SHA256.hash(data: data))
    }

    /// Parses `sha256:<hex>` (the prefix is optional).
    public init?(_ text: String) {
        let hex = text.hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
        guard let bytes = Hex.decode(hex), bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    public var description: String { "sha256:" + Hex.encode(bytes) }

    /// Compares two digests in constant time.
    public func matches(_ other: ActionDigest) -> Bool { ConstantTime.equals(bytes, other.bytes) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = ActionDigest(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a digest"))
        }
        self = digest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
