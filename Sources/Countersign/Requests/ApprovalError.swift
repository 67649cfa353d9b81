/// A decision that cannot be accepted.
public struct ApprovalError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable {
        case notFound, alreadyDecided, expired, digestMismatch, selfApproval, duplicateApprover
        case confirmationMismatch, stepUpRequired, reasonRequired, invalidExtension, tampered, clientApproval
        case editAfterApproval
    }

    private let base: Base
    /// The request's state, when that is why the decision was refused.
    public let state: RequestState?

    private init(_ base: Base, state: RequestState? = nil) {
        self.base = base
        self.state = state
    }

    /// No such request (or not visible to the caller).
    public static let notFound = Self(.notFound)
    /// The request was already decided, or is no longer waiting for a decision.
    public static func alreadyDecided(_ state: RequestState) -> Self { Self(.alreadyDecided, state: state) }
    /// The request expired before the decision.
    public static let expired = Self(.expired)
    /// The digest the approver saw is not the request's digest.
    public static let digestMismatch = Self(.digestMismatch)
    /// Policy bars the principal from approving their own request.
    public static let selfApproval = Self(.selfApproval)
    /// The approver already approved this request; another person must give the next approval.
    public static let duplicateApprover = Self(.duplicateApprover)
    /// The confirmation text does not match the target.
    public static let confirmationMismatch = Self(.confirmationMismatch)
    /// The request needs step-up: a fresh TOTP or OIDC authentication at the time of the decision.
    public static let stepUpRequired = Self(.stepUpRequired)
    /// A denial needs a reason for the agent.
    public static let reasonRequired = Self(.reasonRequired)
    /// The stored payload no longer hashes to the digest recorded at intake: it was changed outside
    /// Countersign and can never be approved.
    public static let tampered = Self(.tampered)
    /// An extension must move the expiry later, by at most a day.
    public static let invalidExtension = Self(.invalidExtension)
    /// The request may not be decided in the agent's own MCP client: policy did not permit it, or it
    /// is High or Critical, or the decision is not the principal's.
    public static let clientApprovalNotPermitted = Self(.clientApproval)
    /// The request already has approvals, which were bound to its payload; it cannot be edited now.
    public static let editAfterApproval = Self(.editAfterApproval)

    /// The HTTP-independent kind, for mapping to status codes: `not_found`, `conflict`, `forbidden`, `invalid`.
    public var category: String {
        switch base {
        case .notFound: "not_found"
        case .alreadyDecided, .expired, .digestMismatch, .duplicateApprover, .tampered, .editAfterApproval: "conflict"
        case .selfApproval, .confirmationMismatch, .stepUpRequired, .clientApproval: "forbidden"
        case .reasonRequired, .invalidExtension: "invalid"
        }
    }

    /// A short machine-readable code.
    public var code: String {
        switch base {
        case .notFound: "not_found"
        case .alreadyDecided: "already_decided"
        case .expired: "expired"
        case .digestMismatch: "digest_mismatch"
        case .selfApproval: "self_approval"
        case .duplicateApprover: "duplicate_approver"
        case .confirmationMismatch: "confirmation_mismatch"
        case .stepUpRequired: "step_up_required"
        case .reasonRequired: "reason_required"
        case .invalidExtension: "invalid_extension"
        case .tampered: "payload_tampered"
        case .clientApproval: "client_approval_not_permitted"
        case .editAfterApproval: "edit_after_approval"
        }
    }

    public var description: String {
        switch base {
        case .notFound: "no such request"
        case .alreadyDecided: "the request is \(state?.rawValue ?? "decided") and no longer waits for a decision"
        case .expired: "the request expired before it was decided; the agent must propose it again"
        case .digestMismatch:
            "the payload changed since you reviewed it (digest mismatch); review the request again before deciding"
        case .selfApproval: "policy does not allow you to approve a request made on your own behalf"
        case .duplicateApprover: "you already approved this request; it needs another approver"
        case .confirmationMismatch: "the confirmation text does not match; type the target's name exactly"
        case .stepUpRequired: "this request needs step-up: authenticate again (a fresh TOTP code) to approve it"
        case .reasonRequired: "a denial needs a reason, which the agent receives"
        case .invalidExtension: "an extension must move the expiry later, by 1 to 1440 minutes"
        case .tampered:
            "the stored payload no longer matches the digest recorded when it was proposed; it was changed outside Countersign and cannot be approved"
        case .editAfterApproval:
            "the request already has approvals of its payload; deny it and let the agent propose the change instead"
        case .clientApproval:
            "this request cannot be decided in the agent's client: policy does not permit it there; an approver decides it in the web app or with `countersign approvals`"
        }
    }
}
