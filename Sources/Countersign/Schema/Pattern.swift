import Foundation

/// A compiled regular expression, searched (not anchored) the way JSON Schema's `pattern` is.
///
/// Patterns that are plain text with optional `^` and `$` anchors (`^docs/`, `\.env$`, `acme`)
/// are matched by comparing UTF-8 bytes, which gives the same answer as the regular expression
/// engine without its cost; every other pattern runs on `NSRegularExpression`. That class is
/// immutable once created and documented as safe to use from several threads at once, which is why
/// this wrapper is `@unchecked Sendable`.
public struct Pattern: @unchecked Sendable, CustomStringConvertible {
    /// The source text of the expression.
    public let source: String
    private let expression: NSRegularExpression
    private let literal: LiteralPattern?

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
        self.literal = LiteralPattern(source)
    }

    /// Whether the expression matches anywhere in `text`.
    public func matches(_ text: String) -> Bool {
        if let literal, let answer = literal.matches(text) { return answer }
        let range = NSRange(text.startIndex..<text.endIndex, in: text)
        return expression.firstMatch(in: text, options: [], range: range) != nil
    }

    public var description: String { source }
}

/// A pattern that is literal text, optionally anchored at either end.
struct LiteralPattern: Sendable {
    let bytes: [UInt8]
    let anchoredAtStart: Bool
    let anchoredAtEnd: Bool

    init?(_ source: String) {
        var scalars = Array(source.unicodeScalars)
        anchoredAtStart = scalars.first == "^"
        if anchoredAtStart { scalars.removeFirst() }
        var endAnchor = false
        if scalars.last == "$" {
            // An escaped dollar (`\$`) is a literal character, not an anchor.
            let backslashes = scalars.dropLast().reversed().prefix { $0 == "\\" }.count
            if backslashes % 2 == 0 {
                endAnchor = true
                scalars.removeLast()
            }
        }
        anchoredAtEnd = endAnchor
        let metacharacters: Set<Unicode.Scalar> = [
            "\\", ".", "^", "$", "|", "?", "*", "+", "(", ")", "[", "]", "{", "}",
        ]
        var text = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "\\" {
                // Only escapes of punctuation are literal; \d, \w, \b and friends are not.
                guard index + 1 < scalars.count, scalars[index + 1].isASCII,
                    !scalars[index + 1].properties.isAlphabetic, !("0"..."9").contains(scalars[index + 1])
                else { return nil }
                text.append(scalars[index + 1])
                index += 2
                continue
            }
            if metacharacters.contains(scalar) { return nil }
            text.append(scalar)
            index += 1
        }
        bytes = Array(String(text).utf8)
    }

    /// The answer, or `nil` when the regular expression engine must decide (a `$` anchor before a
    /// final newline, which ICU treats as an end).
    func matches(_ text: String) -> Bool? {
        if anchoredAtEnd && text.utf8.last == 0x0A { return nil }
        return UTF8Search.matches(text, bytes, atStart: anchoredAtStart, atEnd: anchoredAtEnd)
    }
}

/// Byte-level string searches that avoid bridging to Foundation.
enum UTF8Search {
    /// Whether `needle` occurs in `text` (at its start, at its end, or both, when asked).
    static func matches(_ text: String, _ needle: [UInt8], atStart: Bool, atEnd: Bool) -> Bool {
        var text = text
        return text.withUTF8 { haystack in
            let count = needle.count
            guard count <= haystack.count else { return false }
            if atStart && atEnd { return count == haystack.count && equal(haystack, 0, needle) }
            if atStart { return equal(haystack, 0, needle) }
            if atEnd { return equal(haystack, haystack.count - count, needle) }
            if count == 0 { return true }
            let first = needle[0]
            var position = 0
            while position + count <= haystack.count {
                if haystack[position] == first && equal(haystack, position, needle) { return true }
                position += 1
            }
            return false
        }
    }

    /// Whether `needle`'s UTF-8 occurs anywhere in `text`.
    static func contains(_ text: String, _ needle: String) -> Bool {
        matches(text, Array(needle.utf8), atStart: false, atEnd: false)
    }

    private static func equal(_ haystack: UnsafeBufferPointer<UInt8>, _ offset: Int, _ needle: [UInt8]) -> Bool {
        for index in 0..<needle.count where haystack[offset + index] != needle[index] { return false }
        return true
    }
}

/// A regular expression that does not compile.
public struct PatternError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text that failed to compile.
    public let source: String
    public var description: String { "invalid regular expression \"\(source)\"" }
}
