/// Where an action request stands.
///
/// ```
/// pending → approved → executing → executed | failed
/// pending → denied | expired
/// executing → outcome_unknown     (found mid-execution after a crash; never re-run by itself)
/// auto_approved → executing       (policy allowed it outright)
/// rejected                        (policy denied it outright)
/// ```
/// A state never goes back.
public enum RequestState: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case pending
    case approved
    case autoApproved = "auto_approved"
    case executing
    case executed
    case failed
    case denied
    case expired
    case rejected
    case outcomeUnknown = "outcome_unknown"

    /// The states a request may start in.
    public static let initialStates: Set<RequestState> = [.pending, .autoApproved, .rejected]

    /// Every legal (from, to) pair.
    public static let legalTransitions: Set<Pair> = [
        Pair(.pending, .approved), Pair(.pending, .denied), Pair(.pending, .expired),
        Pair(.approved, .executing), Pair(.autoApproved, .executing),
        Pair(.executing, .executed), Pair(.executing, .failed), Pair(.executing, .outcomeUnknown),
    ]

    /// Whether a request may move from this state to `next`.
    public func canTransition(to next: RequestState) -> Bool {
        Self.legalTransitions.contains(Pair(self, next))
    }

    /// Whether no transition leaves this state.
    public var isTerminal: Bool {
        !Self.legalTransitions.contains { $0.from == self }
    }

    public var description: String { rawValue }

    /// A (from, to) pair of states.
    public struct Pair: Sendable, Hashable {
        /// The state before.
        public let from: RequestState
        /// The state after.
        public let to: RequestState

        /// Creates a pair.
        public init(_ from: RequestState, _ to: RequestState) {
            self.from = from
            self.to = to
        }
    }
}

/// A named, legal change of state.
///
/// Only these can be applied to a stored request, so an illegal
/// transition cannot be written in code; the store's schema refuses one written any other way.
public struct RequestTransition: Sendable, Hashable, CustomStringConvertible {
    /// The states the transition may start from.
    public let from: Set<RequestState>
    /// The state it ends in.
    public let to: RequestState
    /// Its name, used in errors and the audit log.
    public let name: String

    private init(_ name: String, from: Set<RequestState>, to: RequestState) {
        self.name = name
        self.from = from
        self.to = to
    }

    /// Enough approvals: pending → approved.
    public static let approve = Self("approve", from: [.pending], to: .approved)
    /// A human said no: pending → denied.
    public static let deny = Self("deny", from: [.pending], to: .denied)
    /// Nobody decided in time: pending → expired.
    public static let expire = Self("expire", from: [.pending], to: .expired)
    /// The executor takes the request, exactly once: approved | auto_approved → executing.
    public static let claim = Self("claim", from: [.approved, .autoApproved], to: .executing)
    /// The connector succeeded: executing → executed.
    public static let succeed = Self("succeed", from: [.executing], to: .executed)
    /// The connector failed (or the request was refused at execution): executing → failed.
    public static let fail = Self("fail", from: [.executing], to: .failed)
    /// Found executing after a restart: executing → outcome_unknown.
    public static let abandon = Self("abandon", from: [.executing], to: .outcomeUnknown)

    /// Every transition.
    public static let all: [RequestTransition] = [.approve, .deny, .expire, .claim, .succeed, .fail, .abandon]

    public var description: String { name }
}
