/// The JSON Canonicalization Scheme of RFC 8785.
///
/// Object members are sorted by the UTF-16 code units of their names, strings use the minimal
/// escaping of ECMAScript's `JSON.stringify`, and numbers are written as ECMAScript writes doubles.
public enum CanonicalJSON {
    /// The canonical UTF-8 bytes of a value.
    public static func bytes(_ value: JSONValue) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        write(value, into: &output)
        return output
    }

    /// The canonical text of a value.
    public static func string(_ value: JSONValue) -> String {
        String(decoding: bytes(value), as: UTF8.self)
    }

    /// Appends the canonical form of `value` to `output`.
    public static func write(_ value: JSONValue, into output: inout [UInt8]) {
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let number): output.append(contentsOf: format(number).utf8)
        case .string(let string): writeString(string, into: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                write(element, into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            // The members themselves are sorted, so that no value is looked up again by its name.
            for (position, member) in members.sorted(by: { precedes($0.key, $1.key) }).enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                writeString(member.key, into: &output)
                output.append(UInt8(ascii: ":"))
                write(member.value, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Whether `first` sorts before `second` by their UTF-16 code units, as RFC 8785 orders names.
    ///
    /// UTF-8's byte order is the order of code points, which is UTF-16's too except between a
    /// character from U+E000 to U+FFFF and one beyond U+FFFF (a surrogate pair sorts lower). Both
    /// begin with a byte from 0xEE, so names without such a byte (nearly all) are compared as bytes
    /// without transcoding.
    static func precedes(_ first: String, _ second: String) -> Bool {
        var (first, second) = (first, second)
        let ordered: Bool? = first.withUTF8 { a in
            second.withUTF8 { b in
                guard !a.contains(where: { $0 >= 0xEE }), !b.contains(where: { $0 >= 0xEE }) else { return nil }
                return a.lexicographicallyPrecedes(b)
            }
        }
        return ordered ?? first.utf16.lexicographicallyPrecedes(second.utf16)
    }

    /// Writes a string with JCS escaping.
    public static func writeString(_ string: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        // Most strings need no escape at all: copied whole. (`withUTF8` borrows the bytes of a
        // native string, and copies a small one to the stack, not the heap.)
        var string = string
        let plain = string.withUTF8 { bytes in
            guard bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else {
                output.append(contentsOf: bytes)
                return true
            }
            return false
        }
        if plain {
            output.append(UInt8(ascii: "\""))
            return
        }
        for byte in string.utf8 {
            switch byte {
            case 0x22: output.append(contentsOf: [0x5C, 0x22])
            case 0x5C: output.append(contentsOf: [0x5C, 0x5C])
            case 0x08: output.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0C: output.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                output.append(contentsOf: [
                    0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
                ])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Formats a double as ECMAScript's `Number.prototype.toString` does (ECMA-262, 7.1.12.1).
    ///
    /// Swift's `description` already yields the shortest digits that round-trip; this lays them
    /// out with ECMAScript's rules for where the decimal point and exponent go.
    public static func format(_ number: Double) -> String {
        precondition(number.isFinite, "JSON numbers are finite")
        if number == 0 { return "0" }
        let text = number.magnitude.description
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...])!
        }
        var digits: [UInt8] = []
        var pointPosition = 0
        var seenPoint = false
        for byte in mantissa.utf8 {
            if byte == UInt8(ascii: ".") {
                seenPoint = true
            } else {
                digits.append(byte)
                if !seenPoint { pointPosition += 1 }
            }
        }
        var n = pointPosition + exponent
        while let first = digits.first, first == UInt8(ascii: "0") {
            digits.removeFirst()
            n -= 1
        }
        while let last = digits.last, last == UInt8(ascii: "0") { digits.removeLast() }
        let k = digits.count
        var result: [UInt8] = number < 0 ? [UInt8(ascii: "-")] : []
        if k <= n && n <= 21 {
            result += digits
            result += Array(repeating: UInt8(ascii: "0"), count: n - k)
        } else if 0 < n && n <= 21 {
            result += digits[0..<n]
            result.append(UInt8(ascii: "."))
            result += digits[n...]
        } else if -6 < n && n <= 0 {
            result += Array("0.".utf8)
            result += Array(repeating: UInt8(ascii: "0"), count: -n)
            result += digits
        } else {
            result.append(digits[0])
            if k > 1 {
                result.append(UInt8(ascii: "."))
                result += digits[1...]
            }
            result.append(UInt8(ascii: "e"))
            result.append(n - 1 >= 0 ? UInt8(ascii: "+") : UInt8(ascii: "-"))
            result += Array(String((n - 1).magnitude).utf8)
        }
        return String(decoding: result, as: UTF8.self)
    }
}
