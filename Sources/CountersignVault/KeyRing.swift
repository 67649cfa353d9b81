public import Countersign
import Crypto
import Foundation

/// What a sealed secret belongs to.
///
/// Its members are authenticated with the ciphertext, so a ciphertext copied to another row,
/// owner or kind of secret does not open.
public struct SecretContext: Sendable, Hashable {
    /// The kind of secret (`connection.refresh_token`…).
    public let kind: String
    /// The row it is stored in.
    public let row: String
    /// Whom it belongs to.
    public let owner: String
    /// Anything else it is bound to (the provider and account of a connection…).
    public let binding: [String]

    /// Creates a context.
    public init(kind: String, row: String, owner: String, binding: [String] = []) {
        self.kind = kind
        self.row = row
        self.owner = owner
        self.binding = binding
    }

    /// The context of a connection's refresh token.
    public static func refreshToken(of connection: Connection) -> SecretContext {
        SecretContext(
            kind: connection.credential == .refreshToken ? "connection.refresh_token" : "connection.long_lived_token",
            row: connection.id,
            owner: connection.principal,
            binding: [connection.provider, connection.account]
        )
    }

    /// The context of an access token kept in the cache for a connection and scope key.
    public static func accessToken(of connection: Connection, scopeKey: String) -> SecretContext {
        SecretContext(
            kind: "connection.access_token",
            row: connection.id + "#" + scopeKey,
            owner: connection.principal,
            binding: [connection.provider, connection.account]
        )
    }

    /// The context of a provider's client secret.
    public static func clientSecret(of provider: String, clientID: String) -> SecretContext {
        SecretContext(kind: "provider.client_secret", row: provider, owner: "countersign", binding: [clientID])
    }

    /// The context of a connect flow's PKCE verifier.
    public static func verifier(ofFlow id: String) -> SecretContext {
        SecretContext(kind: "connect_flow.verifier", row: id, owner: "countersign")
    }

    /// The associated data: a label, then every member and the key's id, each prefixed by its
    /// length (so no two different contexts give the same bytes).
    func associatedData(keyID: String) -> [UInt8] {
        var bytes = Array("countersign.vault.secret.v1".utf8)
        for member in [kind, row, owner] + binding + [keyID] {
            let utf8 = Array(member.utf8)
            let count = UInt32(utf8.count)
            bytes += [UInt8(count >> 24), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff)]
            bytes += utf8
        }
        return bytes
    }
}

/// The data keys, unwrapped in memory, and which one seals new secrets (envelope encryption: the
/// master key only wraps data keys; data keys seal secrets with AES-256-GCM).
struct KeyRing: Sendable {
    private(set) var keys: [String: SymmetricKey]
    private(set) var activeID: String

    init(keys: [String: SymmetricKey], activeID: String) {
        self.keys = keys
        self.activeID = activeID
    }

    /// A new random data key id (`dk_` and 16 hex digits).
    static func newKeyID() -> String {
        var generator = SystemRandomNumberGenerator()
        return "dk_" + Hex.encode((0..<8).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Makes a data key and wraps it under the master key.
    static func makeDataKey(master: MasterKey) throws(VaultError) -> (id: String, wrapped: [UInt8]) {
        let id = newKeyID()
        let key = SymmetricKey(size: .bits256)
        let raw = key.withUnsafeBytes { Array($0) }
        guard let sealed = try? AES.GCM.seal(raw, using: master.key, authenticating: wrapLabel(id)).combined else {
            throw VaultError(.badKey, "a data key could not be wrapped")
        }
        return (id, Array(sealed))
    }

    /// Unwraps a data key.
    static func unwrap(_ wrapped: [UInt8], id: String, master: MasterKey) throws(VaultError) -> SymmetricKey {
        guard let box = try? AES.GCM.SealedBox(combined: wrapped),
            let raw = try? AES.GCM.open(box, using: master.key, authenticating: wrapLabel(id))
        else {
            throw VaultError(
                .sealed,
                "the master key from \(master.origin) does not open data key \(id): it is not the key this vault was sealed with"
            )
        }
        return SymmetricKey(data: raw)
    }

    private static func wrapLabel(_ id: String) -> [UInt8] { Array("countersign.vault.data-key.v1:\(id)".utf8) }

    /// Forgets data keys that were retired.
    mutating func forget(_ ids: [String]) {
        for id in ids where id != activeID { keys[id] = nil }
    }

    /// Seals a secret with the active key.
    func seal(_ plaintext: [UInt8], context: SecretContext) throws(VaultError) -> SealedSecret {
        guard let key = keys[activeID],
            let sealed = try? AES.GCM.seal(
                plaintext,
                using: key,
                authenticating: context.associatedData(keyID: activeID)
            )
            .combined
        else { throw VaultError(.sealed, "a secret could not be sealed") }
        return SealedSecret(keyID: activeID, bytes: Array(sealed))
    }

    /// Opens a secret sealed with any key still on the ring.
    ///
    /// - Throws: ``VaultError`` when its key is gone, or it was altered or moved to another context.
    func open(_ sealed: SealedSecret, context: SecretContext) throws(VaultError) -> [UInt8] {
        guard let key = keys[sealed.keyID] else {
            throw VaultError(
                .badKey,
                "the \(context.kind) of \(context.row) is sealed with data key \(sealed.keyID), which is not on the ring"
            )
        }
        guard let box = try? AES.GCM.SealedBox(combined: sealed.bytes),
            let plaintext = try? AES.GCM.open(
                box,
                using: key,
                authenticating: context.associatedData(keyID: sealed.keyID)
            )
        else {
            throw VaultError(
                .badKey,
                "the \(context.kind) of \(context.row) does not open: it was altered or belongs to another row"
            )
        }
        return Array(plaintext)
    }
}
