import Countersign
import Foundation
import Testing

@Suite("Patterns")
struct PatternTests {
    static let patterns = [
        "^docs/", "\\.env$", "acme", "^exact$", "a\\.b", "^$", "x\\$", "\\$$", "é", "^/", "\\\\$", "(^|/)rm$", "\\d+",
    ]
    static let texts = [
        "docs/a.md", "a/docs/", "app/.env", ".env\n", "acme.test", "exact", "exact\n", "a.b", "aXb", "", "x$",
        "cost$", "café", "cafe\u{301}", "/etc", "a\\", "bin/rm", "42",
    ]

    @Test("literal fast paths agree with the regular expression engine", arguments: patterns)
    func agreesWithEngine(source: String) throws {
        let pattern = try Pattern(source)
        let engine = try NSRegularExpression(pattern: source)
        for text in Self.texts {
            let expected = engine.firstMatch(in: text, range: NSRange(text.startIndex..<text.endIndex, in: text)) != nil
            #expect(pattern.matches(text) == expected, "\(source) on \(text.debugDescription)")
        }
    }

    @Test("an invalid expression is refused")
    func invalid() {
        #expect(throws: PatternError.self) { try Pattern("(") }
    }
}
