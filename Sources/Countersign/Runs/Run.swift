public import Foundation

/// A goal carried out as a plan of gated actions, on someone's behalf.
///
/// Every step goes through the same intake, assessment and approval as any action: a step is a
/// proposed action whose request is created with the idempotency key `run:<id>:<index>`, so that
/// proposing it again (after a restart) finds the same request instead of making a second one, and
/// the executor runs each request at most once. The run is checkpointed in the store after every
/// change, so a run that waits for an approval resumes after a restart exactly where it stood.
public struct Run: Sendable, Hashable {
    /// Where a run stands.
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// Proposing its steps, or waiting for their decisions and executions.
        case running
        /// Every step executed.
        case completed
        /// A step was denied, rejected, expired, failed or ended with an unknown outcome; the steps
        /// after it were not proposed.
        case failed

        /// Whether the run is over.
        public var isTerminal: Bool { self != .running }
    }

    /// A unique identifier (`run_` and 24 hex digits).
    public let id: String
    /// What the run is for, in the words of whoever started it.
    public let goal: String
    /// On whose behalf its actions are taken.
    public let principal: String
    /// The agent that proposes its steps.
    public let agent: String
    /// Where the plan came from (`file`, or a model's name).
    public let planner: String
    /// Where it stands.
    public var state: State
    /// The plan, in order.
    public var steps: [RunStep]
    /// Why it failed.
    public var failure: String?
    /// The planner model's conversation, for a run a model plans (`nil` for a written plan): the
    /// goal, each of the model's turns with its tool calls, and the results sent back, in
    /// Countersign's own form (see `ModelClient`).
    public var conversation: [JSONValue]?
    /// When it started.
    public let createdAt: Date
    /// When it last changed.
    public var updatedAt: Date
    /// How many times it was checkpointed: a checkpoint applies only over the version it was read at.
    public var version: Int

    /// Creates a run.
    public init(
        id: String = Run.newID(),
        goal: String,
        principal: String,
        agent: String,
        planner: String,
        state: State = .running,
        steps: [RunStep],
        failure: String? = nil,
        conversation: [JSONValue]? = nil,
        createdAt: Date,
        updatedAt: Date? = nil,
        version: Int = 0
    ) {
        self.id = id
        self.goal = goal
        self.principal = principal
        self.agent = agent
        self.planner = planner
        self.state = state
        self.steps = steps
        self.failure = failure
        self.conversation = conversation
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.version = version
    }

    /// A new random identifier.
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return "run_"
            + (0..<12).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }
            .joined()
    }

    /// The run as its next checkpoint saves it: one version later, changed at `now`.
    public func checkpointed(at now: Date) -> Run {
        var next = self
        next.version += 1
        next.updatedAt = now
        return next
    }

    /// The idempotency key of a step's request.
    public func idempotencyKey(of step: RunStep) -> String { "run:\(id):\(step.index)" }

    /// The planner model's last words, once it finished (its own words, shown as such).
    public var summary: String? {
        guard state == .completed, let last = conversation?.last, last["role"] == "assistant",
            last["calls"]?.arrayValue?.isEmpty ?? true
        else { return nil }
        return last["text"]?.stringValue
    }
}

/// One step of a run's plan: an action the planner proposes, and what became of it.
public struct RunStep: Sendable, Hashable {
    /// Where a step stands.
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// Not proposed yet (a step it depends on has not executed).
        case planned
        /// Proposed: its request waits for a decision or is executing.
        case proposed
        /// Its request executed.
        case executed
        /// Its request ended otherwise (denied, rejected, expired, failed, outcome unknown).
        case failed
        /// Not proposed, because the run failed before it.
        case skipped
    }

    /// Its position in the plan, from 0.
    public let index: Int
    /// The action.
    public let operation: OperationID
    /// The action's arguments.
    public let arguments: JSONValue
    /// Why the planner proposes it: the planner's words, shown as such, never as the impact.
    public let rationale: String
    /// The steps that must execute first.
    public let dependsOn: [Int]
    /// Where it stands.
    public var state: State
    /// Its request, once proposed.
    public var requestID: String?
    /// Its request's state when the step last changed: when it was proposed, then its outcome
    /// (the states on the way, approved or executing, are not checkpointed).
    public var requestState: RequestState?
    /// Why it failed.
    public var failure: String?

    /// Creates a step.
    public init(
        index: Int,
        operation: OperationID,
        arguments: JSONValue,
        rationale: String,
        dependsOn: [Int] = [],
        state: State = .planned,
        requestID: String? = nil,
        requestState: RequestState? = nil,
        failure: String? = nil
    ) {
        self.index = index
        self.operation = operation
        self.arguments = arguments
        self.rationale = rationale
        self.dependsOn = dependsOn
        self.state = state
        self.requestID = requestID
        self.requestState = requestState
        self.failure = failure
    }
}

extension RunStep {
    /// The step as stored: canonical JSON members.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "index": .number(Double(index)),
            "operation": .string(operation.description),
            "arguments": arguments,
            "rationale": .string(rationale),
            "dependsOn": .array(dependsOn.map { .number(Double($0)) }),
            "state": .string(state.rawValue),
        ]
        if let requestID { members["requestID"] = .string(requestID) }
        if let requestState { members["requestState"] = .string(requestState.rawValue) }
        if let failure { members["failure"] = .string(failure) }
        return .object(members)
    }

    /// Reads a stored step.
    ///
    /// - Throws: ``RunError`` when a member is missing or malformed.
    public init(json: JSONValue) throws(RunError) {
        guard let index = json["index"]?.numberValue.flatMap({ Int(exactly: $0) }),
            let operation = json["operation"]?.stringValue.flatMap(OperationID.init),
            let arguments = json["arguments"],
            let rationale = json["rationale"]?.stringValue,
            let dependsOn = json["dependsOn"]?.arrayValue?.map({ $0.numberValue.flatMap { Int(exactly: $0) } }),
            let state = json["state"]?.stringValue.flatMap(State.init(rawValue:))
        else { throw RunError.invalid("a stored step is unreadable") }
        let requestState = json["requestState"]?.stringValue.flatMap(RequestState.init(rawValue:))
        self.init(
            index: index,
            operation: operation,
            arguments: arguments,
            rationale: rationale,
            dependsOn: dependsOn.compactMap { $0 },
            state: state,
            requestID: json["requestID"]?.stringValue,
            requestState: requestState,
            failure: json["failure"]?.stringValue
        )
    }
}

/// Why a run could not be started or read, in words that say what to fix.
public struct RunError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public let description: String

    /// A plan or goal that cannot be run.
    public static func invalid(_ description: String) -> Self { Self(description: description) }

    /// No such run.
    public static func notFound(_ id: String) -> Self { Self(description: "no run \(id)") }
}

/// Where runs are kept and checkpointed.
public protocol RunStore: Sendable {
    /// Records a new run, audited as `run.started` with its plan.
    func createRun(_ run: Run) async throws

    /// The run with this id.
    func run(id: String) async throws -> Run?

    /// Runs, newest first: of one agent when given, and only those in `states` when not empty.
    func runs(agent: String?, states: Set<Run.State>, limit: Int) async throws -> [Run]

    /// Saves the run over the version it was read at, incrementing its version; audits the run's
    /// end (`run.finished`) when it reaches a terminal state.
    ///
    /// - Parameters:
    ///   - run: The run as it now stands, at the version it was read.
    ///   - now: The time.
    ///   - audit: Events recorded with the checkpoint, in its transaction (`run.planned`).
    /// - Returns: The run as saved, or `nil` when another writer checkpointed it first (read it
    ///   again and carry on from there).
    /// - Throws: When the store cannot be written.
    func checkpoint(_ run: Run, now: Date, audit: [AuditEvent]) async throws -> Run?
}

extension RunStore {
    /// Saves the run over the version it was read at, as ``checkpoint(_:now:audit:)`` does, with
    /// no other event.
    ///
    /// - Returns: The run as saved, or `nil` when another writer checkpointed it first.
    /// - Throws: When the store cannot be written.
    public func checkpoint(_ run: Run, now: Date) async throws -> Run? {
        try await checkpoint(run, now: now, audit: [])
    }
}

extension AuditKind {
    /// A run started, with its plan.
    public static let runStarted = "run.started"
    /// A run ended: completed or failed.
    public static let runFinished = "run.finished"
    /// A planner model proposed more steps (or none, and finished): its words and the steps.
    public static let runPlanned = "run.planned"
}

extension AuditEvent {
    /// The audit event of a run's start: its goal and its plan (the planner's words as such).
    public static func runStarted(_ run: Run) -> AuditEvent {
        AuditEvent(
            kind: AuditKind.runStarted,
            actor: "agent:\(run.agent)",
            at: run.createdAt,
            data: [
                "run": .string(run.id),
                "goal": .string(run.goal),
                "principal": .string(run.principal),
                "planner": .string(run.planner),
                "plan": .array(
                    run.steps.map { step in
                        [
                            "operation": .string(step.operation.description),
                            "rationale": .string(step.rationale),
                            "dependsOn": .array(step.dependsOn.map { .number(Double($0)) }),
                        ]
                    }
                ),
            ]
        )
    }

    /// The audit event of a planner model's turn: its words, the steps it proposed and the calls
    /// refused before they became steps (the planner's words as such; never a tool's result).
    public static func runPlanned(
        _ run: Run,
        turn: Int,
        text: String,
        steps: [RunStep],
        refused: [String],
        at: Date
    ) -> AuditEvent {
        AuditEvent(
            kind: AuditKind.runPlanned,
            actor: "planner:\(run.planner)",
            at: at,
            data: [
                "run": .string(run.id),
                "turn": .number(Double(turn)),
                "text": .string(text),
                "steps": .array(
                    steps.map { ["index": .number(Double($0.index)), "operation": .string($0.operation.description)] }
                ),
                "refused": .array(refused.map(JSONValue.string)),
            ]
        )
    }

    /// The audit event of a run's end.
    public static func runFinished(_ run: Run, at: Date) -> AuditEvent {
        var data: [String: JSONValue] = [
            "run": .string(run.id),
            "state": .string(run.state.rawValue),
            "steps": .array(
                run.steps.map { step in
                    var member: [String: JSONValue] = ["state": .string(step.state.rawValue)]
                    if let requestID = step.requestID { member["request"] = .string(requestID) }
                    return .object(member)
                }
            ),
        ]
        if let failure = run.failure { data["failure"] = .string(failure) }
        return AuditEvent(kind: AuditKind.runFinished, actor: "system", at: at, data: .object(data))
    }
}
