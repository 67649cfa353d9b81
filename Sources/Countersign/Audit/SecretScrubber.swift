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
        for (expression, template) in patterns {
            result = expression.stringByReplacingMatches(
                in: result,
                range: NSRange(result.startIndex..., in: result),
                withTemplate: template
            )
        }
        return result
    }

    private static let patterns: [(NSRegularExpression, String)] = [
        ("-----BEGIN [A-Z ]*PRIVATE KEY-----[\\s\\S]*?-----END [A-Z ]*PRIVATE KEY-----", "<redacted>"),
        ("\\b(?:gh[opusr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})", "<redacted>"),
        ("\\bxox[abposre]-[A-Za-z0-9-]{10,}", "<redacted>"),
        ("\\bya29\\.[A-Za-z0-9_.-]{20,}", "<redacted>"),
        ("\\b1//[A-Za-z0-9_-]{20,}", "<redacted>"),
        ("\\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}", "<redacted>"),
        ("\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b", "<redacted>"),
        ("\\beyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}", "<redacted>"),
        ("\\b(cs[kt]_[0-9a-f]{16}_)[0-9a-fA-F]+", "$1<redacted>"),
        ("(?i)\\b(bearer\\s+)[A-Za-z0-9._~+/=-]{8,}", "$1<redacted>"),
    ].map { (try! NSRegularExpression(pattern: $0.0), $0.1) }
}
