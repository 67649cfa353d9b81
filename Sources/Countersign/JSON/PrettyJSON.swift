extension JSONValue {
    /// The value as indented JSON for people to read: members sorted, strings escaped as in the
    /// canonical form, so what is shown is exactly what was signed off.
    public func prettyPrinted(indent: String = "  ") -> String {
        var output: [UInt8] = []
        write(into: &output, depth: 0, indent: Array(indent.utf8))
        return String(decoding: output, as: UTF8.self)
    }

    private func write(into output: inout [UInt8], depth: Int, indent: [UInt8]) {
        func newline(_ level: Int) {
            output.append(0x0A)
            for _ in 0..<level { output.append(contentsOf: indent) }
        }
        switch self {
        case .object(let members) where !members.isEmpty:
            output.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted(by: { $0.utf16.lexicographicallyPrecedes($1.utf16) }).enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                CanonicalJSON.writeString(key, into: &output)
                output.append(contentsOf: Array(": ".utf8))
                members[key]!.write(into: &output, depth: depth + 1, indent: indent)
            }
            newline(depth)
            output.append(UInt8(ascii: "}"))
        case .array(let elements) where !elements.isEmpty:
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                element.write(into: &output, depth: depth + 1, indent: indent)
            }
            newline(depth)
            output.append(UInt8(ascii: "]"))
        default:
            CanonicalJSON.write(self, into: &output)
        }
    }
}
