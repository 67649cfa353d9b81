import Crypto

/// Seals secrets that must be stored but read back (TOTP secrets) with AES-256-GCM.
///
/// The key lives in the data directory, apart from the database, so a copy of the database alone
/// does not reveal them. Each sealed value is bound to a context (the user's address): a value
/// moved to another row does not open.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    /// A box with a raw 32-byte key.
    ///
    /// - Throws: ``SecretBoxError`` when the key is not 32 bytes.
    public init(rawKey: [UInt8]) throws(SecretBoxError) {
        guard rawKey.count == 32 else { throw SecretBoxError("the secrets key must be 32 bytes") }
        key = SymmetricKey(data: rawKey)
    }

    /// A new random 32-byte key.
    public static func generateRawKey() -> [UInt8] { SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) } }

    /// Seals a value: nonce, ciphertext and tag together.
    public func seal(_ plaintext: [UInt8], context: String) throws(SecretBoxError) -> [UInt8] {
        do {
            guard let combined = try AES.GCM.seal(plaintext, using: key, authenticating: Array(context.utf8)).combined
            else { throw SecretBoxError("sealing failed") }
            return Array(combined)
        } catch let error as SecretBoxError {
            throw error
        } catch {
            throw SecretBoxError("sealing failed")
        }
    }

    /// Opens a sealed value.
    ///
    /// - Throws: ``SecretBoxError`` when the value was not sealed with this key and context, or was altered.
    public func open(_ sealed: [UInt8], context: String) throws(SecretBoxError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(context.utf8)))
        } catch {
            throw SecretBoxError("a sealed secret does not open with this data directory's secrets key")
        }
    }
}

/// A secret that cannot be sealed or opened.
public struct SecretBoxError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}
