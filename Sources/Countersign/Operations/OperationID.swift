/// Names an operation as `connector.operation`, for example `files.write` or `github.delete_repository`.
public struct OperationID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The connector, such as `github`.
    public let connector: String
    /// The operation within the connector, such as `delete_repository`.
    public let name: String
    /// `connector.operation`, made once.
    public let description: String

    /// Parses `connector.operation`.
    ///
    /// Each part is lower-case ASCII letters, digits and underscores, starting with a letter.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, Self.isValidPart(parts[0]), Self.isValidPart(parts[1]) else { return nil }
        self.connector = String(parts[0])
        self.name = String(parts[1])
        self.description = text
    }

    private static func isValidPart(_ part: Substring) -> Bool {
        guard let first = part.utf8.first, first >= 0x61 && first <= 0x7A, part.utf8.count <= 64 else { return false }
        return part.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }

    public static func < (lhs: OperationID, rhs: OperationID) -> Bool { lhs.description < rhs.description }

    public static func == (lhs: OperationID, rhs: OperationID) -> Bool { lhs.description == rhs.description }

    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = OperationID(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "\"\(text)\" is not connector.operation")
            )
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
