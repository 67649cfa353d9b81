import Countersign
import CountersignAgent
import Foundation
import Hummingbird

/// Runs for agents: start a goal's plan, follow it step by step.
///
/// `POST /v1/runs` starts one, `GET /v1/runs/{id}` shows the plan with each step's state, `GET
/// /v1/runs` lists the agent's runs. An agent sees only its own runs.
struct RunsAPI: Sendable {
    let agents: AgentAPI
    let engine: RunEngine

    /// The run as its agent sees it.
    static func view(_ run: Run) -> JSONValue {
        var members: [String: JSONValue] = [
            "id": .string(run.id),
            "goal": .string(run.goal),
            "onBehalfOf": .string(run.principal),
            "agent": .string(run.agent),
            "planner": .string(run.planner),
            "state": .string(run.state.rawValue),
            "createdAt": .string(Timestamp.string(run.createdAt)),
            "updatedAt": .string(Timestamp.string(run.updatedAt)),
            "version": .number(Double(run.version)),
            "steps": .array(run.steps.map(\.json)),
        ]
        if let failure = run.failure { members["failure"] = .string(failure) }
        if let summary = run.summary { members["summary"] = .string(summary) }
        return .object(members)
    }

    /// `POST /v1/runs` `{goal, onBehalfOf, plan | planner}`: records the run and proposes its first
    /// steps (a planner model is asked for them first).
    func start(_ request: Request) async throws -> Response {
        let agent = try await agents.authenticate(request)
        let value = try await AgentAPI.jsonBody(request)
        func invalid(_ detail: String) -> Problem {
            Problem(status: .unprocessableContent, title: "Invalid run", detail: detail)
        }
        guard case .object(let members) = value else { throw invalid("the body must be a JSON object") }
        let known: Set<String> = ["goal", "onBehalfOf", "plan", "planner"]
        if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
            throw invalid("unknown member \"\(unknown)\"; expected \(known.sorted().joined(separator: ", "))")
        }
        guard let goal = members["goal"]?.stringValue else {
            throw invalid("\"goal\" is required: what the run is for")
        }
        guard let principal = members["onBehalfOf"]?.stringValue, !principal.isEmpty, principal.count <= 256 else {
            throw invalid("\"onBehalfOf\" is required: the person the run's actions are taken for")
        }
        let plan = members["plan"]
        let planner = members["planner"]
        guard (plan == nil) != (planner == nil) else {
            throw invalid(
                "give either \"plan\" (the steps, [{operation, arguments, rationale, dependsOn}]) or \"planner\" (a planner model's name)"
            )
        }
        do {
            let run: Run
            if let plan {
                run = try await engine.start(
                    goal: goal,
                    principal: principal,
                    agent: agent.name,
                    planner: try PlanFile(json: plan)
                )
            } else {
                guard let name = planner?.stringValue, !name.isEmpty else {
                    throw invalid("\"planner\" is a planner model's name")
                }
                run = try await engine.start(goal: goal, principal: principal, agent: agent.name, model: name)
            }
            return .json(Self.view(run), status: .created)
        } catch let error as RunError {
            throw invalid(error.description)
        }
    }

    /// `GET /v1/runs/{id}[?wait=SECONDS[&version=V]]`: the run; with `wait`, a long-poll that
    /// answers as soon as the run's version differs from `version` (by default, the version it has
    /// now) or it has ended, or when the time is up (at most 60 s).
    func show(_ request: Request, id: String) async throws -> Response {
        let agent = try await agents.authenticate(request)
        guard var run = try await engine.runs.run(id: id), run.agent == agent.name else {
            throw Problem(status: .notFound, title: "Not found", detail: "no run \(id) started by this agent")
        }
        if let text = request.uri.queryParameters["wait"] {
            guard let wait = Int(text), (0...60).contains(wait) else {
                throw Problem(status: .badRequest, title: "Invalid wait", detail: "wait is 0 to 60 seconds")
            }
            var version = run.version
            if let text = request.uri.queryParameters["version"] {
                guard let given = Int(text), given >= 0 else {
                    throw Problem(status: .badRequest, title: "Invalid version", detail: "version is a run's version")
                }
                version = given
            }
            run =
                try await Self.change(
                    of: id,
                    from: version,
                    within: .seconds(wait),
                    runs: engine.runs,
                    events: agents.events
                ) ?? run
        }
        return .json(Self.view(run))
    }

    /// Waits for a run to change.
    ///
    /// The wait is registered before the run is read, so a checkpoint made here in between wakes
    /// it; the run is read again every second besides, for checkpoints made on other instances.
    ///
    /// - Returns: The run once its version is not `version` or it has ended, or as last read when
    ///   `timeout` passes; `nil` when there is no such run.
    static func change(
        of id: String,
        from version: Int,
        within timeout: Duration,
        runs: any RunStore,
        events: RequestEvents
    ) async throws -> Run? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var latest: Run?
        repeat {
            try await events.wait(for: id, timeout: min(.seconds(1), deadline - clock.now)) {
                latest = try await runs.run(id: id)
                guard let latest else { return true }
                return latest.version != version || latest.state.isTerminal
            }
            try Task.checkCancellation()
        } while (latest.map({ $0.version == version && !$0.state.isTerminal }) ?? false) && clock.now < deadline
        return latest
    }

    /// `GET /v1/runs/{id}/events`: the run now and at every change (a step proposed, decided,
    /// executed), as Server-Sent Events `run`, until it ends.
    func stream(_ request: Request, id: String) async throws -> Response {
        let agent = try await agents.authenticate(request)
        guard let first = try await engine.runs.run(id: id), first.agent == agent.name else {
            throw Problem(status: .notFound, title: "Not found", detail: "no run \(id) started by this agent")
        }
        let (runs, events) = (engine.runs, agents.events)
        return ServerSentEvents.response { sink in
            var sent = first
            sink.yield(ServerSentEvents.frame("run", Self.view(sent)))
            while !sent.state.isTerminal {
                guard
                    let latest = try await Self.change(
                        of: id,
                        from: sent.version,
                        within: .seconds(30),
                        runs: runs,
                        events: events
                    )
                else { return }
                if latest.version != sent.version {
                    sent = latest
                    sink.yield(ServerSentEvents.frame("run", Self.view(sent)))
                }
            }
        }
    }

    /// `GET /v1/runs[?state=running|completed|failed|all][&limit=N]`: newest first.
    func list(_ request: Request) async throws -> Response {
        let agent = try await agents.authenticate(request)
        var states: Set<Run.State> = []
        if let text = request.uri.queryParameters["state"], text != "all" {
            for name in text.split(separator: ",") {
                guard let state = Run.State(rawValue: String(name)) else {
                    throw Problem(
                        status: .badRequest,
                        title: "Invalid state",
                        detail: "state is all or a comma-separated list of running, completed, failed"
                    )
                }
                states.insert(state)
            }
        }
        let limit = request.uri.queryParameters["limit"].flatMap { Int($0) } ?? 50
        guard (1...200).contains(limit) else {
            throw Problem(status: .badRequest, title: "Invalid limit", detail: "limit is from 1 to 200")
        }
        let found = try await engine.runs.runs(agent: agent.name, states: states, limit: limit)
        return .json(["runs": .array(found.map(Self.view))])
    }
}
