import Crypto
public import Foundation

/// Time-based one-time passwords (RFC 6238, HMAC-SHA1, 30-second steps), as authenticator apps use.
///
/// A code is accepted for the current step and one step either side (clock drift), and only for a
/// step later than the last one accepted for the same user: each code works once.
public struct TOTP: Sendable {
    /// The shared secret.
    private let key: SymmetricKey
    /// Digits in a code.
    public let digits: Int
    /// Seconds in a step.
    public let period: Int

    /// Creates a generator for a raw secret.
    public init(secret: [UInt8], digits: Int = 6, period: Int = 30) {
        self.key = SymmetricKey(data: secret)
        self.digits = digits
        self.period = period
    }

    /// A new random 160-bit secret (the size RFC 4226 recommends).
    public static func generateSecret() -> [UInt8] {
        SymmetricKey(size: SymmetricKeySize(bitCount: 160)).withUnsafeBytes { Array($0) }
    }

    /// The time step a moment falls in.
    public func step(at date: Date) -> Int64 { Int64((date.timeIntervalSince1970 / Double(period)).rounded(.down)) }

    /// The code for a time step.
    public func code(step: Int64) -> String {
        var counter = UInt64(bitPattern: step).bigEndian
        let message = withUnsafeBytes(of: &counter) { Array($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: key))
        let offset = Int(mac[mac.count - 1] & 0x0F)
        let binary =
            (UInt32(mac[offset] & 0x7F) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8)
            | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let value = String(binary % modulus)
        return String(repeating: "0", count: digits - value.count) + value
    }

    /// The code at a moment.
    public func code(at date: Date) -> String { code(step: step(at: date)) }

    /// Checks a code.
    ///
    /// - Parameters:
    ///   - code: What the person typed (spaces are ignored).
    ///   - date: Now.
    ///   - lastUsedStep: The step of the last code accepted for this person, if any.
    /// - Returns: The step the code belongs to, which the caller records as the new last used step,
    ///   or `nil` when the code is wrong, too old, or was already used.
    public func verify(_ code: String, at date: Date, lastUsedStep: Int64?) -> Int64? {
        let typed = Array(code.filter { $0 != " " }.utf8)
        guard typed.count == digits else { return nil }
        let now = step(at: date)
        var matched: Int64?
        // Every candidate is compared, in constant time, whatever matches first.
        for candidate in (now - 1)...(now + 1) where ConstantTime.equals(typed, Array(self.code(step: candidate).utf8))
        {
            matched = candidate
        }
        guard let matched else { return nil }
        if let lastUsedStep, matched <= lastUsedStep { return nil }
        return matched
    }

    /// The `otpauth://` URI that authenticator apps scan.
    public static func provisioningURI(secret: [UInt8], account: String, issuer: String = "Countersign") -> String {
        let allowed = CharacterSet.urlQueryAllowed.subtracting(CharacterSet(charactersIn: ":@&=+$,/?#"))
        let label = (issuer + ":" + account).addingPercentEncoding(withAllowedCharacters: allowed) ?? account
        let issuerParameter = issuer.addingPercentEncoding(withAllowedCharacters: allowed) ?? issuer
        return
            "otpauth://totp/\(label)?secret=\(Base32.encode(secret))&issuer=\(issuerParameter)&algorithm=SHA1&digits=6&period=30"
    }
}

/// RFC 4648 base32, as authenticator apps show secrets.
public enum Base32 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// Encodes bytes without padding.
    public static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 0x1F)])
                bits -= 5
            }
        }
        if bits > 0 { output.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1F)]) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes base32 (either case, spaces and padding ignored); `nil` on any other character.
    public static func decode(_ text: String) -> [UInt8]? {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in text.utf8 where byte != UInt8(ascii: " ") && byte != UInt8(ascii: "=") {
            let upper = (0x61...0x7A).contains(byte) ? byte - 0x20 : byte
            guard let value = alphabet.firstIndex(of: upper) else { return nil }
            buffer = (buffer << 5) | UInt32(value)
            bits += 5
            if bits >= 8 {
                output.append(UInt8((buffer >> UInt32(bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return output
    }
}
