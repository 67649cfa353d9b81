/// A schema could not be compiled.
public struct SchemaError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable { case invalid, unsupported }
    private let base: Base
    /// Where in the schema the problem is.
    public let schemaPath: JSONPointer
    /// What is wrong.
    public let message: String

    /// The schema is not a valid JSON Schema (draft 2020-12).
    public static func invalid(_ message: String, at path: JSONPointer) -> Self {
        Self(base: .invalid, schemaPath: path, message: message)
    }

    /// The schema uses a feature this validator refuses rather than ignores.
    public static func unsupported(_ message: String, at path: JSONPointer) -> Self {
        Self(base: .unsupported, schemaPath: path, message: message)
    }

    /// Whether the schema uses a feature the validator does not implement.
    public var isUnsupported: Bool { base == .unsupported }

    public var description: String {
        let location = schemaPath.tokens.isEmpty ? "schema root" : "schema \(schemaPath)"
        return "\(location): \(message)"
    }
}

/// One way in which an instance fails its schema.
public struct SchemaViolation: Hashable, Sendable, CustomStringConvertible, Codable {
    /// Where in the instance the problem is, as a JSON Pointer (`/recipients/3`).
    public let instancePath: String
    /// The schema keyword that failed (`type`, `required`, `maxLength`…).
    public let keyword: String
    /// What was expected, in words.
    public let message: String

    /// Creates a violation.
    public init(instancePath: String, keyword: String, message: String) {
        self.instancePath = instancePath
        self.keyword = keyword
        self.message = message
    }

    public var description: String {
        "\(instancePath.isEmpty ? "(arguments)" : instancePath): \(message)"
    }
}
