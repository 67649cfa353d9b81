import Countersign
import Foundation
import Testing

@Suite("RFC 8785 canonical JSON")
struct CanonicalJSONTests {
    @Test("canonicalizes every RFC 8785 test vector byte for byte", arguments: try Fixtures.files(in: "jcs/input"))
    func vector(name: String) throws {
        let input = try Fixtures.data("jcs/input/\(name)")
        let expected = try Fixtures.data("jcs/output/\(name)")
        let value = try JSONParser().parse(Array(input))
        #expect(CanonicalJSON.bytes(value) == Array(expected))
    }

    /// The number serialization table of RFC 8785, appendix B.
    @Test(
        "writes IEEE 754 doubles as ECMAScript does",
        arguments: [
            (0x0000_0000_0000_0000, "0"), (0x8000_0000_0000_0000, "0"), (0x0000_0000_0000_0001, "5e-324"),
            (0x8000_0000_0000_0001, "-5e-324"), (0x7FEF_FFFF_FFFF_FFFF, "1.7976931348623157e+308"),
            (0xFFEF_FFFF_FFFF_FFFF, "-1.7976931348623157e+308"), (0x4340_0000_0000_0000, "9007199254740992"),
            (0xC340_0000_0000_0000, "-9007199254740992"), (0x4430_0000_0000_0000, "295147905179352830000"),
            (0x44B5_2D02_C7E1_4AF5, "9.999999999999997e+22"), (0x44B5_2D02_C7E1_4AF6, "1e+23"),
            (0x44B5_2D02_C7E1_4AF7, "1.0000000000000001e+23"), (0x444B_1AE4_D6E2_EF4E, "999999999999999700000"),
            (0x444B_1AE4_D6E2_EF4F, "999999999999999900000"), (0x444B_1AE4_D6E2_EF50, "1e+21"),
            (0x3EB0_C6F7_A0B5_ED8C, "9.999999999999997e-7"), (0x3EB0_C6F7_A0B5_ED8D, "0.000001"),
            (0x41B3_DE43_5555_5553, "333333333.3333332"), (0x41B3_DE43_5555_5554, "333333333.33333325"),
            (0x41B3_DE43_5555_5555, "333333333.3333333"), (0x41B3_DE43_5555_5556, "333333333.3333334"),
            (0x41B3_DE43_5555_5557, "333333333.33333343"), (0xBECB_F647_612F_3696, "-0.0000033333333333333333"),
            (0x4314_3FF3_C1CB_0959, "1424953923781206.2"),
        ] as [(UInt64, String)]
    )
    func number(bits: UInt64, expected: String) {
        #expect(CanonicalJSON.format(Double(bitPattern: bits)) == expected)
    }

    @Test("sorts member names by UTF-16 code units, not by scalars")
    func sortsByUTF16() throws {
        // U+1F602 (surrogates D83D DE02) sorts before U+FB33 in UTF-16, after it in UTF-32.
        let value = try JSONParser().parse(#"{"\ufb33":1,"\ud83d\ude02":2}"#)
        #expect(CanonicalJSON.string(value) == "{\"\u{1F602}\":2,\"\u{FB33}\":1}")
    }

    @Test("orders names of every script as UTF-16 does, ASCII, accents, private use and emoji mixed")
    func sortsMixedNames() throws {
        let names = [
            "b", "a", "ab", "a\u{7F}", "é", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{FFFD}",
            "\u{FFFF}", "\u{10000}", "\u{1F602}", "\u{10FFFF}", "x\u{E000}", "x\u{1F602}", "", "\"", "\\",
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let shuffled = names.shuffled(using: &generator)
            let value = JSONValue.object(Dictionary(uniqueKeysWithValues: shuffled.map { ($0, JSONValue.null) }))
            let parsed = try JSONParser().parse(CanonicalJSON.string(value))
            let expected = names.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
            let written = CanonicalJSON.string(value)
            var offsets: [String.Index] = []
            for name in expected {
                let member = CanonicalJSON.string(.string(name)) + ":null"
                offsets.append(try #require(written.range(of: member, options: .literal)).lowerBound)
            }
            #expect(offsets == offsets.sorted())
            #expect(parsed == value)
        }
    }

    @Test(
        "refuses what I-JSON forbids",
        arguments: [#"{"a":1,"a":2}"#, #""\ud800""#, "1e400", "[1,]", "01", "\"\u{01}\""]
    )
    func refusesAmbiguousInput(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser().parse(text) }
    }

    @Test("reports the line and column of a syntax error")
    func errorPosition() {
        do {
            _ = try JSONParser().parse("{\n  \"a\": tru\n}")
            Issue.record("parsed invalid JSON")
        } catch {
            #expect(error.line == 2)
            #expect(error.column == 8)
        }
    }

    @Test("refuses nesting beyond the limit instead of overflowing the stack")
    func depthLimit() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONParser().parse(deep) }
    }
}
