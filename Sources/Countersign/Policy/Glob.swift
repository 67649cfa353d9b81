/// A shell-style pattern: `*` matches any run of characters, `?` any one character.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    private enum Form: Sendable, Hashable {
        case any
        case exact([UInt8])
        case prefix([UInt8])
        case general([UInt8])
    }

    private let form: Form
    /// The pattern as written.
    public let source: String

    /// Compiles a pattern.
    public init(_ source: String) {
        self.source = source
        let bytes = Array(source.utf8)
        let wildcards = bytes.filter { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") }
        if source == "*" {
            form = .any
        } else if wildcards.isEmpty {
            form = .exact(bytes)
        } else if wildcards == [UInt8(ascii: "*")] && bytes.last == UInt8(ascii: "*") {
            form = .prefix(Array(bytes.dropLast()))
        } else {
            form = .general(bytes)
        }
    }

    /// Whether the whole of `text` matches.
    public func matches(_ text: String) -> Bool {
        switch form {
        case .any:
            return true
        case .exact(let bytes):
            return text.utf8.elementsEqual(bytes)
        case .prefix(let bytes):
            return text.utf8.starts(with: bytes)
        case .general(let pattern):
            return Self.match(pattern[...], Array(text.utf8)[...])
        }
    }

    private static func match(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        var p = pattern.startIndex
        var t = text.startIndex
        var starP: Int?
        var starT = text.startIndex
        while t < text.endIndex {
            if p < pattern.endIndex && (pattern[p] == UInt8(ascii: "?") || pattern[p] == text[t]) {
                p += 1
                t += 1
            } else if p < pattern.endIndex && pattern[p] == UInt8(ascii: "*") {
                starP = p
                starT = t
                p += 1
            } else if let star = starP {
                p = star + 1
                starT += 1
                t = starT
            } else {
                return false
            }
        }
        while p < pattern.endIndex && pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.endIndex
    }

    public var description: String { source }
}
