import Countersign
import Foundation
import Testing

@Suite("Request identifiers")
struct RequestIDTests {
    @Test("a request identifier is a version 7 UUID of the time it was made")
    func versionSeven() throws {
        let now = Date(timeIntervalSince1970: 1_795_000_000.123)
        let id = RequestID.make(now: now)
        let uuid = try #require(UUID(uuidString: id))
        #expect(id == uuid.uuidString.lowercased())
        let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
        #expect(bytes[6] >> 4 == 7)
        #expect(bytes[8] >> 6 == 0b10)
        let milliseconds = bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(milliseconds == 1_795_000_000_123)
    }

    @Test("identifiers made later sort later, and none repeats")
    func ordered() {
        let start = Date()
        let earlier = (0..<1000).map { RequestID.make(now: start.addingTimeInterval(Double($0) / 1000)) }
        #expect(earlier == earlier.sorted())
        #expect(Set(earlier).count == earlier.count)
        let sameInstant = (0..<10_000).map { _ in RequestID.make(now: start) }
        #expect(Set(sameInstant).count == sameInstant.count)
    }
}
