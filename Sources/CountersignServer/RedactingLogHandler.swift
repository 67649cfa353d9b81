import Countersign
import Foundation
public import Logging

/// A log handler that never writes a secret: metadata whose name may hold one is replaced by
/// `<redacted>`, and anything shaped like a Countersign key or token, or a bearer credential, is
/// masked wherever it appears, in the message or in metadata.
///
/// Countersign does not log secrets in the first place; this is the second line.
public struct RedactingLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let write: @Sendable (String) -> Void

    /// Creates a handler that writes one line per message to `write` (standard error by default).
    public init(label: String, write: @escaping @Sendable (String) -> Void = RedactingLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    /// Writes a line to standard error.
    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = "\(Timestamp.string(Date())) \(event.level) \(label): \(Self.mask(event.message.description))"
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(Self.redact(key: key, value))"
        }
        write(line)
    }

    static func redact(key: String, _ value: Logger.Metadata.Value) -> String {
        if AuditEvent.forbiddenKeys.contains(key.lowercased()) { return "<redacted>" }
        switch value {
        case .string(let text): return mask(text)
        case .stringConvertible(let convertible): return mask(convertible.description)
        case .array(let values): return "[" + values.map { redact(key: "", $0) }.joined(separator: ", ") + "]"
        case .dictionary(let members):
            return "["
                + members.sorted(by: { $0.key < $1.key }).map { "\($0.key): \(redact(key: $0.key, $0.value))" }
                .joined(separator: ", ") + "]"
        }
    }

    /// Masks keys and tokens (`csk_<id>_<secret>`, `cst_…`) down to their public id, and bearer
    /// credentials entirely.
    static func mask(_ text: String) -> String {
        guard text.contains("_") || text.localizedCaseInsensitiveContains("bearer") else { return text }
        var result = text
        for (expression, template) in masks {
            result = expression.stringByReplacingMatches(
                in: result,
                range: NSRange(result.startIndex..., in: result),
                withTemplate: template
            )
        }
        return result
    }

    private static let masks: [(NSRegularExpression, String)] = [
        (try! NSRegularExpression(pattern: "(cs[kt]_[0-9a-f]{16}_)[0-9a-fA-F]+"), "$1<redacted>"),
        (try! NSRegularExpression(pattern: "(?i)(bearer\\s+)[^\\s\"]+"), "$1<redacted>"),
    ]
}
