/// A secret value whose textual forms never show it.
///
/// `description`, `debugDescription` and string interpolation print `<redacted>`; the value is
/// read only through ``reveal()``, which makes every place that handles it easy to find.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    private let value: String

    /// Wraps a secret.
    public init(_ value: String) {
        self.value = value
    }

    /// The secret itself.
    public func reveal() -> String { value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}
