public import Countersign
public import Foundation
import Synchronization

/// Carries runs out: proposes each step when the steps it depends on have executed, follows its
/// request through decision and execution, and checkpoints the run after every change.
///
/// Nothing here executes an action: steps are proposed through the ``Gateway`` like any agent's
/// action, and the executor runs each approved request exactly once. A step's request carries the
/// idempotency key `run:<id>:<index>`, so that proposing it again after a restart (the proposal
/// happened, its checkpoint did not) finds the request already made. Steps that do not depend on
/// each other are proposed together, so an approver sees them at once.
public struct RunEngine: Sendable {
    /// Where runs are checkpointed.
    public let runs: any RunStore
    /// Where the steps' requests are read.
    public let requests: any ActionStore
    /// Where the steps are proposed.
    public let gateway: Gateway
    /// Which requests belong to which running run, as last seen by this engine.
    public let watch = RunWatch()
    /// The planner models runs may name, by name (`nil` when there is none by that name).
    public let planners: @Sendable (String) async throws -> ModelPlanner?
    /// Where waiters on a run (by its id) are woken when it is checkpointed here.
    public let events: RequestEvents?
    let now: @Sendable () -> Date

    /// Creates an engine.
    ///
    /// - Parameters:
    ///   - runs: Where runs are checkpointed.
    ///   - requests: Where the steps' requests are read.
    ///   - gateway: Where the steps are proposed.
    ///   - planners: The planner models runs may name.
    ///   - events: Where waiters on a run are woken when it is checkpointed.
    ///   - now: The clock.
    public init(
        runs: any RunStore,
        requests: any ActionStore,
        gateway: Gateway,
        planners: @escaping @Sendable (String) async throws -> ModelPlanner? = { _ in nil },
        events: RequestEvents? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.runs = runs
        self.requests = requests
        self.gateway = gateway
        self.planners = planners
        self.events = events
        self.now = now
    }

    /// Starts a run: asks the planner for the steps, checks each against the catalog (operation
    /// and arguments), records the run with its plan, and proposes the steps that can go first.
    ///
    /// - Throws: ``RunError`` for an empty goal or a plan with a step the catalog refuses, saying
    ///   which; nothing is recorded then.
    public func start(goal: String, principal: String, agent: String, planner: any Planner) async throws -> Run {
        let goal = goal.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !goal.isEmpty, goal.count <= 4000 else {
            throw RunError.invalid("the goal must be given, in at most 4000 characters")
        }
        let steps = try await planner.plan(goal: goal, catalog: gateway.catalog)
        for step in steps {
            do {
                _ = try gateway.catalog.validate(
                    ProposedAction(
                        operation: step.operation,
                        arguments: step.arguments,
                        principal: principal,
                        agent: agent
                    )
                )
            } catch {
                throw RunError.invalid("step \(step.index) (\(step.operation)): \(error)")
            }
        }
        let run = Run(
            goal: goal,
            principal: principal,
            agent: agent,
            planner: planner.name,
            steps: steps,
            createdAt: now()
        )
        try await runs.createRun(run)
        return try await advance(run.id)
    }

    /// Starts a run a planner model plans: records the goal, then asks the model for the first
    /// steps and proposes them.
    ///
    /// - Throws: ``RunError`` for an empty goal or a planner model that is not configured; nothing
    ///   is recorded then.
    public func start(goal: String, principal: String, agent: String, model name: String) async throws -> Run {
        let goal = goal.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !goal.isEmpty, goal.count <= 4000 else {
            throw RunError.invalid("the goal must be given, in at most 4000 characters")
        }
        guard try await planners(name) != nil else {
            throw RunError.invalid(
                "no planner model \"\(name)\"; an administrator sets one with `countersign planners set`"
            )
        }
        let run = Run(
            goal: goal,
            principal: principal,
            agent: agent,
            planner: name,
            steps: [],
            conversation: [["role": "user", "text": .string(goal)]],
            createdAt: now()
        )
        try await runs.createRun(run)
        return try await advance(run.id)
    }

    /// Advances a run as far as it can go now: reads the requests of its proposed steps, proposes
    /// the steps they unblock, and ends the run when every step executed or one did not.
    ///
    /// Safe to call at any time, from any instance: a checkpoint applies only over the version it
    /// read, and a step proposed twice finds its request by its idempotency key.
    ///
    /// - Returns: The run as it now stands.
    @discardableResult
    public func advance(_ id: String) async throws -> Run { try await proceed(id).run }

    /// Advances a run as ``advance(_:)`` does.
    ///
    /// - Returns: The run as it now stands, and whether this call ended it.
    public func proceed(_ id: String) async throws -> (run: Run, ended: Bool) {
        for _ in 0..<10 {
            guard let stored = try await runs.run(id: id) else { throw RunError.notFound(id) }
            guard !stored.state.isTerminal else {
                watch.update(stored)
                return (stored, false)
            }
            let (next, changed, audit) = try await step(stored)
            guard changed else {
                watch.update(stored)
                return (stored, false)
            }
            if let saved = try await runs.checkpoint(next, now: now(), audit: audit) {
                watch.update(saved)
                events?.wakeWaiters(on: saved.id)
                return (saved, saved.state.isTerminal)
            }
            // Another instance checkpointed first: read again and go on from there.
        }
        guard let latest = try await runs.run(id: id) else { throw RunError.notFound(id) }
        watch.update(latest)
        return (latest, false)
    }

    /// One round: what the run becomes from its requests' states (and, for a run a model plans, the
    /// model's next turn), whether it changed, and the events to record with its checkpoint.
    func step(_ stored: Run) async throws -> (Run, Bool, [AuditEvent]) {
        var run = stored
        var changed = false
        var audit: [AuditEvent] = []
        var proposing = true
        while proposing {
            try await follow(&run, changed: &changed)
            proposing = false
            if run.conversation != nil, run.state == .running, run.failure == nil,
                !run.steps.contains(where: { $0.state == .planned || $0.state == .proposed })
            {
                let before = run.steps.count
                if let events = try await converse(&run) {
                    audit += events
                    changed = true
                    proposing = run.steps.count > before
                }
            }
        }
        if run.conversation != nil {
            if run.failure != nil, run.state == .running {
                for index in run.steps.indices where run.steps[index].state == .planned {
                    run.steps[index].state = .skipped
                }
                run.state = .failed
                changed = true
            }
            return (run, changed, audit)
        }
        if run.failure != nil, !run.steps.contains(where: { $0.state == .proposed }) {
            // Nothing is left under way: the rest of the plan is not proposed.
            for index in run.steps.indices where run.steps[index].state == .planned {
                run.steps[index].state = .skipped
            }
            run.state = .failed
            changed = true
        } else if run.steps.allSatisfy({ $0.state == .executed }) {
            run.state = .completed
            changed = true
        }
        return (run, changed, audit)
    }

    /// Follows the proposed steps' requests and proposes the steps they unblock, until nothing
    /// more can be proposed now.
    func follow(_ run: inout Run, changed: inout Bool) async throws {
        let planned = run.conversation == nil
        var proposing = true
        while proposing {
            proposing = false
            for index in run.steps.indices {
                let step = run.steps[index]
                switch step.state {
                case .proposed:
                    guard let requestID = step.requestID, let request = try await requests.request(id: requestID)
                    else { continue }
                    if Self.follow(&run.steps[index], request) { changed = true }
                case .planned:
                    guard run.failure == nil,
                        step.dependsOn.allSatisfy({ run.steps[$0].state == .executed })
                    else { continue }
                    let request: ActionRequest
                    do {
                        request = try await gateway.propose(
                            ProposedAction(
                                operation: step.operation,
                                arguments: step.arguments,
                                principal: run.principal,
                                agent: run.agent
                            ),
                            agentReason: step.rationale.isEmpty ? nil : "Run step \(step.index): \(step.rationale)",
                            idempotencyKey: run.idempotencyKey(of: step),
                            runID: run.id,
                            signals: Taint.signal(for: step, in: run).map { [$0] } ?? [],
                            whenPublishedOutside: Taint.publishing(for: step, in: run)
                        )
                    } catch let error as ActionError {
                        // The catalog changed since the run started (a connector no longer
                        // configured): the step cannot be proposed, and the run ends.
                        run.steps[index].state = .failed
                        run.steps[index].failure = "could not be proposed: \(error)"
                        if planned {
                            run.failure = "step \(step.index) (\(step.operation)) could not be proposed: \(error)"
                        }
                        changed = true
                        continue
                    }
                    run.steps[index].state = .proposed
                    run.steps[index].requestID = request.id
                    _ = Self.follow(&run.steps[index], request)
                    changed = true
                    // An auto-approved step executed at once may unblock the next ones.
                    proposing = run.steps[index].state == .executed
                case .executed, .failed, .skipped:
                    continue
                }
                // A written plan ends at a step that did not execute; a model is told, and revises.
                if planned, run.steps[index].state == .failed, run.failure == nil {
                    let failed = run.steps[index]
                    run.failure = "step \(failed.index) (\(failed.operation)) \(failed.failure ?? "did not execute")"
                }
            }
        }
    }

    /// The model's next turn, once every step of its last turn has ended: the outcomes go back,
    /// and its calls become steps (or, without calls, the run completes).
    ///
    /// - Returns: The events to record, or `nil` when the model could not be asked now (a
    ///   transient failure: the run is left as it was, and asked again on its next advance).
    func converse(_ run: inout Run) async throws -> [AuditEvent]? {
        guard var conversation = run.conversation else { return nil }
        guard let planner = try await planners(run.planner) else {
            run.failure = "the planner model \"\(run.planner)\" is no longer configured"
            return []
        }
        let tools = ModelPlanner.tools(gateway.catalog)
        var events: [AuditEvent] = []
        while true {
            if let last = conversation.last, last["role"] == "assistant" {
                conversation.append(try await results(answering: last, in: run))
            }
            let turns = conversation.filter { $0["role"] == "assistant" }.count
            guard turns < ModelPlanner.maximumTurns else {
                run.conversation = conversation
                run.failure = "the planner model took \(turns) turns without finishing"
                return events
            }
            let reply: ModelReply
            do {
                reply = try await planner.client.reply(
                    system: ModelPlanner.system(principal: run.principal),
                    conversation: conversation,
                    tools: tools
                )
            } catch {
                guard !error.isTransient else {
                    // Asked again on the run's next advance; turns already taken are kept.
                    guard !events.isEmpty else { return nil }
                    run.conversation = conversation
                    return events
                }
                run.conversation = conversation
                run.failure = "the planner model failed: \(error.description)"
                return events
            }
            let rationale = String(reply.text.prefix(2000))
            var calls: [JSONValue] = []
            var steps: [RunStep] = []
            var refused: [String] = []
            for (position, call) in reply.calls.enumerated() {
                var record: [String: JSONValue] = [
                    "id": .string(call.id), "tool": .string(call.tool), "arguments": call.arguments,
                ]
                let index = run.steps.count + steps.count
                if let reason = refusal(
                    of: call,
                    position: position,
                    index: index,
                    principal: run.principal,
                    agent: run.agent
                ) {
                    record["refused"] = .string(reason)
                    refused.append("\(call.tool): \(reason)")
                } else if let operation = ModelPlanner.operation(call.tool) {
                    record["step"] = .number(Double(index))
                    steps.append(
                        RunStep(index: index, operation: operation, arguments: call.arguments, rationale: rationale)
                    )
                }
                calls.append(.object(record))
            }
            conversation.append(["role": "assistant", "text": .string(reply.text), "calls": .array(calls)])
            run.steps += steps
            events.append(
                .runPlanned(run, turn: turns, text: rationale, steps: steps, refused: refused, at: now())
            )
            if reply.calls.isEmpty {
                run.conversation = conversation
                run.state = .completed
                return events
            }
            if !steps.isEmpty {
                run.conversation = conversation
                return events
            }
            // Every call was refused: the model is told why, and asked again.
        }
    }

    /// Why a model's call cannot become a step, if it cannot.
    func refusal(of call: ModelCall, position: Int, index: Int, principal: String, agent: String) -> String? {
        guard position < ModelPlanner.maximumCallsPerTurn else {
            return "at most \(ModelPlanner.maximumCallsPerTurn) calls are taken in one turn; make it again later"
        }
        guard index < PlanFile.maximumSteps else { return "a run has at most \(PlanFile.maximumSteps) steps" }
        guard let operation = ModelPlanner.operation(call.tool), gateway.catalog.descriptor(for: operation) != nil
        else { return "there is no tool \(call.tool)" }
        guard call.arguments.objectValue != nil else { return "the arguments must be a JSON object" }
        do {
            _ = try gateway.catalog.validate(
                ProposedAction(operation: operation, arguments: call.arguments, principal: principal, agent: agent)
            )
        } catch {
            return "the arguments are not valid: \(error)"
        }
        return nil
    }

    /// The tool results answering an assistant turn's calls: each step's outcome, or why the call
    /// was refused.
    func results(answering turn: JSONValue, in run: Run) async throws -> JSONValue {
        var results: [JSONValue] = []
        for call in turn["calls"]?.arrayValue ?? [] {
            let id = call["id"] ?? ""
            if let index = call["step"]?.numberValue.flatMap({ Int(exactly: $0) }), run.steps.indices.contains(index) {
                let step = run.steps[index]
                // Only an executed step's result is read; a step that did not execute says why itself.
                var executed: ActionRequest?
                if step.state == .executed, let requestID = step.requestID {
                    executed = try await requests.request(id: requestID)
                }
                let (content, isError) = ModelPlanner.outcome(of: step, request: executed)
                results.append(["id": id, "content": .string(content), "error": .bool(isError)])
            } else {
                let reason = call["refused"]?.stringValue ?? "not taken"
                results.append(
                    [
                        "id": id,
                        "content": .string(CanonicalJSON.string(["status": "refused", "reason": .string(reason)])),
                        "error": true,
                    ]
                )
            }
        }
        return ["role": "tool", "results": .array(results)]
    }

    /// Takes a step's request's outcome into the step.
    ///
    /// The states a request passes through on the way (approved, executing) do not change the
    /// run, so they are not checkpointed: the step keeps the state its request had when it was
    /// proposed until it has an outcome.
    ///
    /// - Returns: Whether the step changed.
    static func follow(_ step: inout RunStep, _ request: ActionRequest) -> Bool {
        let before = step
        if step.requestState == nil || request.state.isTerminal { step.requestState = request.state }
        switch request.state {
        case .executed:
            step.state = .executed
        case let state where state.isTerminal:
            step.state = .failed
            step.failure = "\(request.state.rawValue)" + (request.failure.map { ": \($0)" } ?? "")
        default:
            step.state = .proposed
        }
        return step != before
    }
}

/// The requests of running runs' proposed steps, by request id: the run service advances a run
/// when one of these changes, without reading every request that changes to find out.
public final class RunWatch: Sendable {
    private struct State {
        var runOfRequest: [String: String] = [:]
        var requestsOfRun: [String: Set<String>] = [:]
    }
    private let state = Mutex(State())

    /// Creates an empty watch.
    public init() {}

    /// Takes the run's proposed steps as they now stand (none once it has ended).
    public func update(_ run: Run) {
        let proposed =
            run.state.isTerminal ? [] : Set(run.steps.filter { $0.state == .proposed }.compactMap(\.requestID))
        state.withLock { state in
            for request in state.requestsOfRun[run.id] ?? [] { state.runOfRequest[request] = nil }
            for request in proposed { state.runOfRequest[request] = run.id }
            state.requestsOfRun[run.id] = proposed.isEmpty ? nil : proposed
        }
    }

    /// The running run a request is a proposed step of, if this engine has seen it.
    public func run(of requestID: String) -> String? { state.withLock { $0.runOfRequest[requestID] } }
}
