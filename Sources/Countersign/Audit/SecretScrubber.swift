import Foundation

/// Removes secrets from what an action's result carries onwards: a result may hold a token
/// someone pasted into an issue, a file or an email, and neither a model's context (what goes back
/// to a planner) nor the audit log's summary of the result is a place for one.
///
/// Members whose name may hold a secret (`token`, `password`, `authorization`, `api_key`…) are
/// replaced whole; in every string, anything shaped like a known credential is replaced by
/// `<redacted>`: GitHub, Slack, Google, OpenAI and Anthropic, AWS and Countersign keys and tokens,
/// JSON Web Tokens, bearer credentials and PEM private keys.
public enum SecretScrubber {
    /// The value without secrets.
    public static func scrub(_ value: JSONValue) -> JSONValue {
        switch value.redactingSecrets() {
        case .string(let text): return .string(scrub(text))
        case .array(let elements): return .array(elements.map(scrub))
        case .object(let members): return .object(members.mapValues(scrub))
        case let other: return other
        }
    }

    /// The text without anything shaped like a credential.
    public static func scrub(_ text: String) -> String {
        var result = text
        var bytes = text
        let candidates = bytes.withUTF8 { utf8 in patterns.filter { $0.mayMatch(utf8) } }
        for pattern in candidates {
            result = pattern.expression.stringByReplacingMatches(
                in: result,
                range: NSRange(result.startIndex..., in: result),
                withTemplate: pattern.template
            )
        }
        return result
    }

    /// A credential's shape, with the text every match of it contains: the expression runs only
    /// on text that has one of them (most text has none, and a byte search costs far less).
    private struct Pattern: Sendable {
        let expression: NSRegularExpression
        let template: String
        /// Each match contains one of these (ASCII; compared ignoring case when `anyCase`).
        let needles: [[UInt8]]
        let anyCase: Bool

        init(_ pattern: String, _ template: String, needles: [String], anyCase: Bool = false) {
            expression = try! NSRegularExpression(pattern: pattern)
            self.template = template
            self.needles = needles.map { Array(anyCase ? $0.lowercased().utf8 : $0.utf8) }
            self.anyCase = anyCase
        }

        func mayMatch(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
            needles.contains { needle in
                guard text.count >= needle.count else { return false }
                var start = 0
                while start + needle.count <= text.count {
                    var index = 0
                    while index < needle.count {
                        let byte = anyCase ? Self.lowercase(text[start + index]) : text[start + index]
                        guard byte == needle[index] else { break }
                        index += 1
                    }
                    if index == needle.count { return true }
                    start += 1
                }
                return false
            }
        }

        private static func lowercase(_ byte: UInt8) -> UInt8 {
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
        }
    }

    private static let patterns: [Pattern] = [
        Pattern(
            "-----BEGIN [A-Z ]*PRIVATE KEY-----[\\s\\S]*?-----END [A-Z ]*PRIVATE KEY-----",
            "<redacted>",
            needles: ["-----BEGIN "]
        ),
        Pattern(
            "\\b(?:gh[opusr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
            "<redacted>",
            needles: ["gho_", "ghp_", "ghu_", "ghs_", "ghr_", "github_pat_"]
        ),
        Pattern("\\bxox[abposre]-[A-Za-z0-9-]{10,}", "<redacted>", needles: ["xox"]),
        Pattern("\\bya29\\.[A-Za-z0-9_.-]{20,}", "<redacted>", needles: ["ya29."]),
        Pattern("\\b1//[A-Za-z0-9_-]{20,}", "<redacted>", needles: ["1//"]),
        Pattern("\\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}", "<redacted>", needles: ["sk-"]),
        Pattern("\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b", "<redacted>", needles: ["AKIA", "ASIA"]),
        Pattern(
            "\\beyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}",
            "<redacted>",
            needles: ["eyJ"]
        ),
        Pattern("\\b(cs[kt]_[0-9a-f]{16}_)[0-9a-fA-F]+", "$1<redacted>", needles: ["csk_", "cst_"]),
        Pattern(
            "(?i)\\b(bearer\\s+)[A-Za-z0-9._~+/=-]{8,}",
            "$1<redacted>",
            needles: ["bearer"],
            anyCase: true
        ),
    ]
}
