import Crypto

/// An action an agent proposes: an operation, its arguments, on whose behalf and by which agent.
public struct ProposedAction: Sendable, Hashable, Codable {
    /// The operation to perform.
    public var operation: OperationID
    /// The operation's arguments.
    public var arguments: JSONValue
    /// The person (or account) on whose behalf the action is taken.
    public var principal: String
    /// The agent that proposed it.
    public var agent: String

    /// Creates a proposed action.
    public init(operation: OperationID, arguments: JSONValue, principal: String, agent: String) {
        self.operation = operation
        self.arguments = arguments
        self.principal = principal
        self.agent = agent
    }

    /// The RFC 8785 canonical JSON of `{operation, arguments, principal, agent}`: exactly what is approved.
    public var canonicalBytes: [UInt8] {
        CanonicalJSON.bytes(
            .object([
                "operation": .string(operation.description),
                "arguments": arguments,
                "principal": .string(principal),
                "agent": .string(agent),
            ])
        )
    }

    /// The SHA-256 digest of ``canonicalBytes``.
    public var digest: ActionDigest { ActionDigest(hashing: canonicalBytes) }
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
