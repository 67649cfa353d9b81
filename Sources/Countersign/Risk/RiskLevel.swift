/// How much harm an action can do: `low < medium < high < critical`.
public enum RiskLevel: String, Sendable, Hashable, Codable, CaseIterable, Comparable, CustomStringConvertible {
    case low
    case medium
    case high
    case critical

    private var rank: Int {
        switch self {
        case .low: 0
        case .medium: 1
        case .high: 2
        case .critical: 3
        }
    }

    public static func < (lhs: RiskLevel, rhs: RiskLevel) -> Bool { lhs.rank < rhs.rank }

    public var description: String { rawValue }

    /// The level with a capital letter, as a person reads it (`Critical`).
    public var title: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }
}
