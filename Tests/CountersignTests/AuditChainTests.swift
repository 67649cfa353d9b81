import Countersign
import Foundation
import Testing

@Suite struct AuditChainTests {
    @Test("an entry's body is the canonical JSON of the whole entry, seq included", arguments: [1, 9, 10, 123_456_789])
    func preparedBodyIsCanonical(sequence: Int) throws {
        let event = AuditEvent(
            kind: AuditKind.proposed,
            actor: "agent:planner",
            requestID: "r-1",
            at: Date(timeIntervalSince1970: 1_900_000_000.25),
            data: ["operation": "files.write", "arguments": ["path": "é/😀", "n": 1e21], "z": [:]]
        )
        let entry = try AuditChain.entry(for: event, sequence: Int64(sequence), previousHash: AuditChain.genesis)
        let whole: JSONValue = [
            "seq": .number(Double(sequence)), "at": .string(Timestamp.string(event.at)), "kind": .string(event.kind),
            "actor": .string(event.actor), "data": event.data, "request": "r-1",
        ]
        #expect(entry.body == CanonicalJSON.bytes(whole))
        #expect(
            entry.hash == AuditChain.hash(previous: AuditChain.genesis, sequence: Int64(sequence), body: entry.body)
        )
    }

    @Test("an event with a secret-named member is refused before it is rendered")
    func secrets() {
        let event = AuditEvent(kind: AuditKind.tokenVended, actor: "system", at: Date(), data: ["access_token": "x"])
        #expect(throws: AuditError.self) { try AuditChain.prepare(event) }
    }
}
