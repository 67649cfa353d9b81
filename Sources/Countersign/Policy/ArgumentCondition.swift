/// A condition on one argument of an action.
///
/// When the argument is an array, `equals`, `oneOf`, `regex` and `contains` hold if any element
/// satisfies them; numeric comparisons apply to numbers, and to the length of strings, arrays and
/// objects (so `recipients` `greaterThan: 20` means "more than 20 recipients").
public struct ArgumentCondition: Sendable {
    /// The test applied to the argument.
    public enum Test: Sendable {
        case equals(JSONValue)
        case oneOf([JSONValue])
        case regex(Pattern)
        case greaterThan(Double)
        case atLeast(Double)
        case lessThan(Double)
        case atMost(Double)
        case exists(Bool)
        case contains(JSONValue)
    }

    /// Which argument, as a JSON Pointer into the arguments.
    public let path: JSONPointer
    /// What must hold.
    public let test: Test
    /// Whether the result is inverted.
    public let negate: Bool
    /// The UTF-8 of a string `contains` needle, made once.
    private let needleBytes: [UInt8]?

    /// Creates a condition.
    public init(path: JSONPointer, test: Test, negate: Bool = false) {
        self.path = path
        self.test = test
        self.negate = negate
        if case .contains(.string(let needle)) = test { needleBytes = Array(needle.utf8) } else { needleBytes = nil }
    }

    /// Whether the condition holds for these arguments.
    public func holds(for arguments: JSONValue) -> Bool {
        evaluate(arguments.value(at: path)) != negate
    }

    private func evaluate(_ value: JSONValue?) -> Bool {
        if case .exists(let expected) = test { return (value != nil) == expected }
        guard let value else { return false }
        switch test {
        case .exists:
            return true
        case .equals(let expected):
            return anyElement(value) { $0.isIdentical(to: expected) }
        case .oneOf(let options):
            return anyElement(value) { candidate in options.contains { $0.isIdentical(to: candidate) } }
        case .regex(let pattern):
            return anyElement(value) { candidate in
                guard case .string(let text) = candidate else { return false }
                return pattern.matches(text)
            }
        case .contains(let needle):
            switch value {
            case .array(let elements):
                return elements.contains { $0.isIdentical(to: needle) }
            case .string(let text):
                guard let needleBytes else { return false }
                return UTF8Search.matches(text, needleBytes, atStart: false, atEnd: false)
            case .object(let members):
                guard case .string(let key) = needle else { return false }
                return members[key] != nil
            default:
                return false
            }
        case .greaterThan(let bound): return magnitude(value).map { $0 > bound } ?? false
        case .atLeast(let bound): return magnitude(value).map { $0 >= bound } ?? false
        case .lessThan(let bound): return magnitude(value).map { $0 < bound } ?? false
        case .atMost(let bound): return magnitude(value).map { $0 <= bound } ?? false
        }
    }

    private func anyElement(_ value: JSONValue, _ predicate: (JSONValue) -> Bool) -> Bool {
        if case .array(let elements) = value, !predicate(value) { return elements.contains(where: predicate) }
        return predicate(value)
    }

    private func magnitude(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let number): number
        case .string(let text): Double(text.unicodeScalars.count)
        case .array(let elements): Double(elements.count)
        case .object(let members): Double(members.count)
        default: nil
        }
    }
}
