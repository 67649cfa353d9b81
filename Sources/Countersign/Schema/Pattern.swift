import Foundation

/// A compiled regular expression, searched (not anchored) the way JSON Schema's `pattern` is.
///
/// `NSRegularExpression` is immutable once created and documented as safe to use from several
/// threads at once, which is why this wrapper is `@unchecked Sendable`.
public struct Pattern: @unchecked Sendable, CustomStringConvertible {
    /// The source text of the expression.
    public let source: String
    private let expression: NSRegularExpression

    /// Compiles a pattern.
    ///
    /// - Throws: ``PatternError`` when the expression does not compile.
    public init(_ source: String) throws(PatternError) {
        do {
            self.expression = try NSRegularExpression(pattern: source, options: [])
        } catch {
            throw PatternError(source: source)
        }
        self.source = source
    }

    /// Whether the expression matches anywhere in `text`.
    public func matches(_ text: String) -> Bool {
        let range = NSRange(text.startIndex..<text.endIndex, in: text)
        return expression.firstMatch(in: text, options: [], range: range) != nil
    }

    public var description: String { source }
}

/// A regular expression that does not compile.
public struct PatternError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text that failed to compile.
    public let source: String
    public var description: String { "invalid regular expression \"\(source)\"" }
}
