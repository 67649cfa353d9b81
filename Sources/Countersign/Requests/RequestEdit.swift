public import Foundation

/// An approver's edit of a pending request's arguments, made before approving.
///
/// The edited action is validated against the operation's schema and assessed again — never below
/// the level the request had — and gets a new digest, which the approval is then bound to. The
/// original arguments and digest are kept, and the agent is told which arguments changed.
public struct RequestEdit: Sendable, Hashable {
    /// The request edited.
    public let requestID: String
    /// Who edited it.
    public let editor: String
    /// When.
    public let editedAt: Date
    /// The digest of the payload the editor was shown (the edit is refused if it changed since).
    public let originalDigest: ActionDigest
    /// The arguments as the agent proposed them.
    public let originalArguments: JSONValue
    /// The action as edited.
    public let action: ProposedAction
    /// The assessment of the edited action.
    public let assessment: Assessment
    /// The impact of the edited action, written by the connector.
    public let impact: String
    /// JSON Pointers to the arguments that differ from the original.
    public let changed: [String]

    /// Creates an edit.
    public init(
        requestID: String,
        editor: String,
        editedAt: Date,
        originalDigest: ActionDigest,
        originalArguments: JSONValue,
        action: ProposedAction,
        assessment: Assessment,
        impact: String,
        changed: [String]
    ) {
        self.requestID = requestID
        self.editor = editor
        self.editedAt = editedAt
        self.originalDigest = originalDigest
        self.originalArguments = originalArguments
        self.action = action
        self.assessment = assessment
        self.impact = impact
        self.changed = changed
    }

    /// The digest of the edited action.
    public var digest: ActionDigest { action.digest }

    /// JSON Pointers to where two values differ: members added, removed or changed, recursively
    /// into objects; an array that differs is named as a whole.
    public static func changes(from old: JSONValue, to new: JSONValue, at pointer: String = "") -> [String] {
        guard old != new else { return [] }
        guard case .object(let before) = old, case .object(let after) = new else {
            return [pointer.isEmpty ? "/" : pointer]
        }
        return Set(before.keys).union(after.keys).sorted().flatMap { key -> [String] in
            let escaped = key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
            return changes(from: before[key] ?? .null, to: after[key] ?? .null, at: pointer + "/" + escaped)
                .map { before[key] == nil || after[key] == nil ? pointer + "/" + escaped : $0 }
        }
    }
}
