public import Foundation

/// Identifiers for requests: UUIDs of version 7 (RFC 9562), in lower case.
///
/// The first 48 bits are the time in milliseconds and the other 74 variable bits are random, so
/// an identifier is still not guessable, while identifiers made one after the other sort together:
/// the store's indexes on them grow at their end instead of at random pages, which keeps the pages
/// a commit writes few.
public enum RequestID {
    /// A new identifier for a request made at `now`.
    public static func make(now: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        let milliseconds = UInt64(max(0, (now.timeIntervalSince1970 * 1000).rounded(.down)))
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index))) }
        let random = generator.next() as UInt64
        let more = generator.next() as UInt64
        for index in 6..<8 { bytes[index] = UInt8(truncatingIfNeeded: random >> (8 * (index - 6))) }
        for index in 8..<16 { bytes[index] = UInt8(truncatingIfNeeded: more >> (8 * (index - 8))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // the RFC 9562 variant
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
