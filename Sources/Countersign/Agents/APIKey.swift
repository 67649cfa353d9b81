import Crypto

/// A bearer key: `<prefix>_<key id>_<secret>`, shown once and stored only as a SHA-256 hash.
///
/// Agents hold keys with the prefix `csk`; approvers hold personal tokens with the prefix `cst`,
/// so that one can never be presented as the other. The secret has 256 bits of entropy, so a
/// plain SHA-256 is the right hash (a slow hash protects low-entropy passwords, not random keys).
public struct APIKey: Sendable {
    /// Who holds a key.
    public enum Kind: String, Sendable, Hashable {
        /// An agent's API key.
        case agent = "csk"
        /// An approver's personal token.
        case personal = "cst"
    }

    /// Who holds it.
    public let kind: Kind
    /// The public part, used to find the holder (16 hex digits).
    public let id: String
    /// The whole key, to give to its holder once.
    public let secret: Secret

    /// A new random key (64-bit identifier, 256 bits of secret).
    public static func generate(_ kind: Kind = .agent) -> APIKey {
        let id = Hex.encode(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0.prefix(8)) })
        let secret = Hex.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        return APIKey(kind: kind, id: id, secret: Secret("\(kind.rawValue)_\(id)_\(secret)"))
    }

    /// The hash that is stored in place of the key.
    public var hash: String { Self.hash(of: secret.reveal()) }

    /// The SHA-256 of a presented key, in hex.
    public static func hash(of key: String) -> String { Hex.encode(SHA256.hash(data: Array(key.utf8))) }

    /// The key id of a presented key, or `nil` when it is not shaped like a key of that kind.
    public static func id(of key: String, kind: Kind = .agent) -> String? {
        let parts = key.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == kind.rawValue, parts[1].utf8.count == 16, parts[2].utf8.count == 64,
            Hex.decode(String(parts[1])) != nil, Hex.decode(String(parts[2])) != nil
        else { return nil }
        return String(parts[1])
    }
}
