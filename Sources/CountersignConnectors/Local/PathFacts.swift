/// Facts about a workspace path, found in one pass over its UTF-8 bytes without allocating.
struct PathFacts {
    /// The path is absolute, starts at a home directory, or has a `..` component.
    var escapesRoot = false
    /// A component names a credential, key, CI or version-control file.
    var isSensitive = false

    private static let sensitiveNames: [[UInt8]] = [".git", ".ssh", ".env", ".github", ".aws", ".gnupg"].map {
        Array($0.utf8)
    }
    private static let sensitivePrefixes: [[UInt8]] = ["id_rsa", "id_ed25519"].map { Array($0.utf8) }

    init(_ path: String) {
        // withUTF8 also serves small (inline) strings, from the stack, where the UTF-8 view's
        // contiguous storage is not available.
        var path = path
        self = path.withUTF8(PathFacts.init(bytes:))
    }

    init(bytes: UnsafeBufferPointer<UInt8>) {
        if let first = bytes.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "~") { escapesRoot = true }
        var start = 0
        var index = 0
        while index <= bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: "/") {
                if index > start { inspect(UnsafeBufferPointer(rebasing: bytes[start..<index])) }
                start = index + 1
            }
            index += 1
        }
    }

    private mutating func inspect(_ part: UnsafeBufferPointer<UInt8>) {
        let dot = UInt8(ascii: ".")
        if part.count == 2 && part[0] == dot && part[1] == dot {
            escapesRoot = true
        } else if part[0] == dot && Self.sensitiveNames.contains(where: { Self.equal(part, $0) }) {
            isSensitive = true
        } else if part[0] == UInt8(ascii: "i") && Self.sensitivePrefixes.contains(where: { Self.hasPrefix(part, $0) }) {
            isSensitive = true
        } else if part.count >= 4 && part[part.count - 4] == dot {
            let (a, b, c) = (part[part.count - 3], part[part.count - 2], part[part.count - 1])
            let isPEM = a == UInt8(ascii: "p") && b == UInt8(ascii: "e") && c == UInt8(ascii: "m")
            let isKey = a == UInt8(ascii: "k") && b == UInt8(ascii: "e") && c == UInt8(ascii: "y")
            if isPEM || isKey { isSensitive = true }
        }
    }

    private static func equal(_ part: UnsafeBufferPointer<UInt8>, _ name: [UInt8]) -> Bool {
        part.count == name.count && hasPrefix(part, name)
    }

    private static func hasPrefix(_ part: UnsafeBufferPointer<UInt8>, _ prefix: [UInt8]) -> Bool {
        guard part.count >= prefix.count else { return false }
        for index in 0..<prefix.count where part[index] != prefix[index] { return false }
        return true
    }
}
