import Crypto

/// An agent's API key: `csk_<key id>_<secret>`, shown once and stored only as a SHA-256 hash.
public struct AgentKey: Sendable {
    /// The public part, used to find the agent (16 hex digits).
    public let id: String
    /// The whole key, to give to the agent once.
    public let secret: Secret

    /// A new random key (128-bit identifier space, 256 bits of secret).
    public static func generate() -> AgentKey {
        let id = Hex.encode(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0.prefix(8)) })
        let secret = Hex.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        return AgentKey(id: id, secret: Secret("csk_\(id)_\(secret)"))
    }

    /// The hash that is stored in place of the key.
    public var hash: String { Self.hash(of: secret.reveal()) }

    /// The SHA-256 of a presented key, in hex.
    public static func hash(of key: String) -> String { Hex.encode(SHA256.hash(data: Array(key.utf8))) }

    /// The key id of a presented key, or `nil` when it is not shaped like a Countersign key.
    public static func id(of key: String) -> String? {
        let parts = key.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "csk", parts[1].utf8.count == 16, parts[2].utf8.count == 64,
            Hex.decode(String(parts[1])) != nil, Hex.decode(String(parts[2])) != nil
        else { return nil }
        return String(parts[1])
    }
}
