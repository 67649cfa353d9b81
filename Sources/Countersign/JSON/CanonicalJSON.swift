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
            let keys = members.keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
            for (position, key) in keys.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                writeString(key, into: &output)
                output.append(UInt8(ascii: ":"))
                write(members[key]!, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Writes a string with JCS escaping.
    public static func writeString(_ string: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
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
