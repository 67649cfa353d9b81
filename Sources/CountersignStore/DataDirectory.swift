public import Countersign
public import Foundation

/// The data directory: the database, the audit signing key, the checkpoint file and the policy.
public struct DataDirectory: Sendable {
    /// The directory.
    public let url: URL

    /// Names a data directory (nothing is created until ``prepare()``).
    public init(path: String) {
        url = URL(filePath: path, directoryHint: .isDirectory).standardizedFileURL
    }

    /// The SQLite database file.
    public var databasePath: String { url.appending(path: "countersign.sqlite").path }
    /// The Ed25519 key that signs audit checkpoints (mode 0600).
    public var signingKeyPath: String { url.appending(path: "audit-signing.key").path }
    /// The public half of the signing key, for verifying copies of the checkpoint file elsewhere.
    public var publicKeyPath: String { url.appending(path: "audit-signing.pub").path }
    /// Signed checkpoints, one JSON object a line; copy this file off the machine.
    public var checkpointsPath: String { url.appending(path: "audit-checkpoints.jsonl").path }
    /// The AES-256 key that seals stored secrets such as TOTP secrets (mode 0600).
    public var secretsKeyPath: String { url.appending(path: "secrets.key").path }
    /// The vault's master key, unless it comes from the environment or another file.
    public var masterKeyPath: String { url.appending(path: "vault.key").path }
    /// The policy in force.
    public var policyPath: String { url.appending(path: "policy.yaml").path }

    /// Creates the directory (mode 0700) if needed.
    ///
    /// - Returns: Whether it was created.
    @discardableResult
    public func prepare() throws -> Bool {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw AuditError.badKey("\(url.path) exists and is not a directory") }
            return false
        }
        try FileManager.default.createDirectory(
            at: url,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        return true
    }

    /// Loads the checkpoint signing key, creating it (mode 0600) if there is none.
    ///
    /// - Returns: The signer and whether the key was created now.
    /// - Throws: ``AuditError`` when the key file is readable by others or malformed.
    public func loadOrCreateSigningKey() throws -> (signer: AuditSigner, created: Bool) {
        if FileManager.default.fileExists(atPath: signingKeyPath) { return (try loadSigningKey(), false) }
        let raw = AuditSigner.generateRawPrivateKey()
        try SecretFile.create(signingKeyPath, contents: Array((Hex.encode(raw) + "\n").utf8))
        let signer = try AuditSigner(rawPrivateKey: raw)
        try Data((Hex.encode(signer.publicKey) + "\n").utf8).write(to: URL(filePath: publicKeyPath), options: .atomic)
        return (signer, true)
    }

    /// Loads the checkpoint signing key.
    ///
    /// - Throws: ``AuditError`` when it is missing, readable by group or others, or malformed.
    public func loadSigningKey() throws -> AuditSigner {
        try AuditSigner(rawPrivateKey: try Self.readKey(at: signingKeyPath))
    }

    /// Loads the key that seals stored secrets, creating it (mode 0600) if there is none.
    ///
    /// - Throws: ``AuditError`` when the key file is readable by others or malformed.
    public func loadOrCreateSecretBox() throws -> SecretBox {
        if !FileManager.default.fileExists(atPath: secretsKeyPath) {
            try SecretFile.create(secretsKeyPath, contents: Array((Hex.encode(SecretBox.generateRawKey()) + "\n").utf8))
        }
        do {
            return try SecretBox(rawKey: try Self.readKey(at: secretsKeyPath))
        } catch let error as SecretBoxError {
            throw AuditError.badKey("\(secretsKeyPath): \(error.description)")
        }
    }

    /// Reads a hex key from a file only its owner can read.
    private static func readKey(at path: String) throws -> [UInt8] {
        let text: String
        do {
            guard let read = try SecretFile.readOwnerOnly(path) else {
                throw AuditError.badKey("\(path) is missing; run `countersign serve` once to create it")
            }
            text = read
        } catch let error as SecretFileError {
            throw AuditError.badKey(error.description)
        }
        guard let raw = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw AuditError.badKey("\(path) does not hold a hex-encoded key")
        }
        return raw
    }

    /// Reads a public key given as 64 hex digits or as a file holding them.
    public static func publicKey(from textOrPath: String) throws -> [UInt8] {
        if let raw = Hex.decode(textOrPath), raw.count == 32 { return raw }
        let text: String
        do {
            text = try String(contentsOfFile: textOrPath, encoding: .utf8)
        } catch {
            throw AuditError.badKey("\(textOrPath) is neither a hex public key nor a readable file")
        }
        guard let raw = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32 else {
            throw AuditError.badKey("\(textOrPath) does not hold a 32-byte hex public key")
        }
        return raw
    }
}
