import Countersign
import Foundation

/// A run as both stores keep it: its steps as canonical JSON, the rest in columns.
struct RunRecord {
    let id: String
    let goal: String
    let principal: String
    let agent: String
    let planner: String
    let state: String
    let steps: String
    let failure: String?
    let conversation: String?
    let createdAt: Double
    let updatedAt: Double
    let version: Int

    init(_ run: Run) {
        id = run.id
        goal = run.goal
        principal = run.principal
        agent = run.agent
        planner = run.planner
        state = run.state.rawValue
        steps = CanonicalJSON.string(.array(run.steps.map(\.json)))
        failure = run.failure
        conversation = run.conversation.map { CanonicalJSON.string(.array($0)) }
        createdAt = run.createdAt.timeIntervalSince1970
        updatedAt = run.updatedAt.timeIntervalSince1970
        version = run.version
    }

    init(
        id: String,
        goal: String,
        principal: String,
        agent: String,
        planner: String,
        state: String,
        steps: String,
        failure: String?,
        createdAt: Double,
        updatedAt: Double,
        version: Int,
        conversation: String?
    ) {
        (self.id, self.goal, self.principal, self.agent, self.planner) = (id, goal, principal, agent, planner)
        (self.state, self.steps, self.failure, self.conversation) = (state, steps, failure, conversation)
        (self.createdAt, self.updatedAt, self.version) = (createdAt, updatedAt, version)
    }

    static let columns =
        "id, goal, principal, agent, planner, state, steps, failure, created_at, updated_at, version, conversation"

    func run() throws -> Run {
        guard let state = Run.State(rawValue: state), let stored = try JSONParser().parse(steps).arrayValue else {
            throw StoreError.corrupt("run \(id) is unreadable")
        }
        return Run(
            id: id,
            goal: goal,
            principal: principal,
            agent: agent,
            planner: planner,
            state: state,
            steps: try stored.map { value throws in
                do {
                    return try RunStep(json: value)
                } catch {
                    throw StoreError.corrupt("run \(id) has an unreadable step")
                }
            },
            failure: failure,
            conversation: try conversation.map { text throws in
                guard let turns = try? JSONParser().parse(text).arrayValue else {
                    throw StoreError.corrupt("run \(id) has an unreadable conversation")
                }
                return turns
            },
            createdAt: Date(timeIntervalSince1970: createdAt),
            updatedAt: Date(timeIntervalSince1970: updatedAt),
            version: version
        )
    }
}
