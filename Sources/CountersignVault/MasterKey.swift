public import Countersign
import CountersignStore
import Crypto
import Foundation

/// The key that wraps the vault's data keys.
///
/// It is never stored in the database.
/// It comes, in this order, from `$COUNTERSIGN_MASTER_KEY` (64 hex digits or base64 of 32 bytes),
/// from a file named in the configuration, or from the data directory's `vault.key`, created
/// (mode 0600) on first start. A key file readable by anyone but its owner is refused.
public struct MasterKey: Sendable {
    let key: SymmetricKey
    /// Where it came from, for messages (never the key itself).
    public let origin: String

    /// Wraps 32 raw bytes.
    public init(rawKey: [UInt8], origin: String) throws(VaultError) {
        guard rawKey.count == 32 else { throw VaultError(.badKey, "the master key from \(origin) is not 32 bytes") }
        key = SymmetricKey(data: rawKey)
        self.origin = origin
    }

    /// Where the master key is looked for.
    public struct Source: Sendable {
        /// `$COUNTERSIGN_MASTER_KEY`, if set.
        public var environment: String?
        /// A key file named in the configuration, if any.
        public var file: String?
        /// The data directory's key file, created on first start.
        public var defaultFile: String

        /// Creates a source.
        public init(environment: String?, file: String?, defaultFile: String) {
            self.environment = environment
            self.file = file
            self.defaultFile = defaultFile
        }
    }

    /// Loads the master key.
    ///
    /// - Parameters:
    ///   - source: Where to look.
    ///   - create: Whether the default key file may be created (only for a vault that has no data
    ///     keys yet: a missing key for an existing vault is never silently replaced).
    /// - Returns: The key, or `nil` when there is none (the vault then stays sealed).
    /// - Throws: ``VaultError`` when a key is present but unusable: malformed, or in a file that
    ///   others can read.
    public static func load(from source: Source, create: Bool) throws(VaultError) -> MasterKey? {
        if let text = source.environment {
            guard let raw = decode(text) else {
                throw VaultError(.badKey, "$COUNTERSIGN_MASTER_KEY must be 64 hex digits or the base64 of 32 bytes")
            }
            return try MasterKey(rawKey: raw, origin: "$COUNTERSIGN_MASTER_KEY")
        }
        if let path = source.file {
            return try readFile(path).map { raw throws(VaultError) in try MasterKey(rawKey: raw, origin: path) }
        }
        let path = source.defaultFile
        if let raw = try readFile(path) { return try MasterKey(rawKey: raw, origin: path) }
        guard create else { return nil }
        return try MasterKey(rawKey: try createFile(path), origin: path)
    }

    /// 64 hex digits, or standard or URL-safe base64 (padding optional), of 32 bytes.
    static func decode(_ text: String) -> [UInt8]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let raw = Hex.decode(trimmed), raw.count == 32 { return raw }
        var base64 = trimmed.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), data.count == 32 else { return nil }
        return Array(data)
    }

    /// Reads a key file; `nil` when there is none.
    private static func readFile(_ path: String) throws(VaultError) -> [UInt8]? {
        let text: String?
        do {
            text = try SecretFile.readOwnerOnly(path)
        } catch {
            throw VaultError(.badKey, "the master key file: \(error.description)")
        }
        guard let text else { return nil }
        guard let raw = decode(text) else {
            throw VaultError(.badKey, "the master key file \(path) does not hold 64 hex digits")
        }
        return raw
    }

    /// Creates the key file with a new random key.
    ///
    /// - Returns: The key.
    private static func createFile(_ path: String) throws(VaultError) -> [UInt8] {
        let raw = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        do {
            try SecretFile.create(path, contents: Array((Hex.encode(raw) + "\n").utf8))
        } catch {
            throw VaultError(.badKey, "cannot create the master key file \(path): \(error)")
        }
        return raw
    }
}
