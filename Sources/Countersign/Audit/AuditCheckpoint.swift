import Crypto
public import Foundation

/// A signed statement of the audit log's size and head hash at one moment.
///
/// Checkpoints are appended to a file meant to be copied off the machine; a log that no longer
/// reaches a checkpoint's size, or whose entry at that size has another hash, has been altered.
public struct AuditCheckpoint: Sendable, Hashable, Codable {
    /// How many entries the log had.
    public let treeSize: Int64
    /// The hash of entry `treeSize`, in hex.
    public let headHash: String
    /// When the checkpoint was signed (RFC 3339).
    public let signedAt: String
    /// The first 8 bytes of SHA-256 of the signing public key, in hex.
    public let keyID: String
    /// The Ed25519 signature over ``message``, in hex.
    public let signature: String

    /// The bytes that are signed.
    public var message: [UInt8] {
        Array("countersign-audit-checkpoint/v1\n\(treeSize)\n\(headHash)\n\(signedAt)\n\(keyID)\n".utf8)
    }

    /// Whether the signature is valid for this public key (32 raw Ed25519 bytes).
    public func isValid(publicKey: [UInt8]) -> Bool {
        guard keyID == AuditSigner.keyID(of: publicKey),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey),
            let signatureBytes = Hex.decode(signature)
        else { return false }
        return key.isValidSignature(signatureBytes, for: message)
    }

    /// The checkpoint as one line of canonical JSON.
    public var line: String {
        CanonicalJSON.string(
            .object([
                "treeSize": .number(Double(treeSize)), "headHash": .string(headHash), "signedAt": .string(signedAt),
                "keyID": .string(keyID), "signature": .string(signature),
            ])
        )
    }

    /// Parses a checkpoint file: one JSON object a line; blank lines are skipped.
    ///
    /// - Throws: ``AuditError`` naming the first malformed line.
    public static func parseFile(_ text: String) throws(AuditError) -> [AuditCheckpoint] {
        var checkpoints: [AuditCheckpoint] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.allSatisfy(\.isWhitespace) {
            guard let value = try? JSONParser().parse(String(line)),
                let size = value["treeSize"]?.numberValue, size >= 0, size.rounded() == size,
                let head = value["headHash"]?.stringValue, let signedAt = value["signedAt"]?.stringValue,
                let keyID = value["keyID"]?.stringValue, let signature = value["signature"]?.stringValue
            else { throw .badCheckpoint("line \(number + 1) is not a checkpoint") }
            checkpoints.append(
                AuditCheckpoint(
                    treeSize: Int64(size),
                    headHash: head,
                    signedAt: signedAt,
                    keyID: keyID,
                    signature: signature
                )
            )
        }
        return checkpoints
    }
}

/// Signs checkpoints with an Ed25519 key.
public struct AuditSigner: Sendable {
    private let key: Curve25519.Signing.PrivateKey

    /// Creates a signer from a 32-byte raw Ed25519 private key.
    ///
    /// - Throws: ``AuditError`` when the bytes are not a key.
    public init(rawPrivateKey: [UInt8]) throws(AuditError) {
        do {
            key = try Curve25519.Signing.PrivateKey(rawRepresentation: rawPrivateKey)
        } catch {
            throw .badKey("the key file does not hold a 32-byte Ed25519 key")
        }
    }

    /// A new random key, as raw bytes.
    public static func generateRawPrivateKey() -> [UInt8] {
        Array(Curve25519.Signing.PrivateKey().rawRepresentation)
    }

    /// The public key, as 32 raw bytes.
    public var publicKey: [UInt8] { Array(key.publicKey.rawRepresentation) }

    /// The key's identifier: the first 8 bytes of SHA-256 of the public key, in hex.
    public static func keyID(of publicKey: [UInt8]) -> String {
        Hex.encode(SHA256.hash(data: publicKey).prefix(8))
    }

    /// Signs the log's size and head hash.
    ///
    /// - Throws: ``AuditError`` when signing fails.
    public func checkpoint(treeSize: Int64, headHash: [UInt8], at date: Date) throws(AuditError) -> AuditCheckpoint {
        let unsigned = AuditCheckpoint(
            treeSize: treeSize,
            headHash: Hex.encode(headHash),
            signedAt: Timestamp.string(date),
            keyID: Self.keyID(of: publicKey),
            signature: ""
        )
        let signature: Data
        do {
            signature = try key.signature(for: unsigned.message)
        } catch {
            throw .badKey("signing failed")
        }
        return AuditCheckpoint(
            treeSize: treeSize,
            headHash: unsigned.headHash,
            signedAt: unsigned.signedAt,
            keyID: unsigned.keyID,
            signature: Hex.encode(signature)
        )
    }
}
