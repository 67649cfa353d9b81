import Countersign
import Foundation
import HTTPTypes
import Hummingbird

/// The approver's view of runs: each run as its plan, with every step's risk and state, and the
/// run's Low and Medium steps that wait for a decision approved together.
///
/// Only Low and Medium steps are approved in a batch, each bound to the digest shown beside it;
/// High and Critical steps are approved one at a time, on their own page (a confirmation, a fresh
/// authentication).
struct WebRuns: Sendable {
    let app: WebApp
    let runs: any RunStore

    /// The most steps approved in one batch.
    static let batchLimit = 50

    func add(to router: Router<AppRequestContext>) {
        let web = router.group().add(middleware: WebMiddleware())
        web.get("/runs") { request, _ in try await list(request) }
        web.get("/runs/{id}") { request, context in
            try await page(request, id: try context.parameters.require("id"))
        }
        web.post("/runs/{id}/approve") { request, context in
            try await approveBatch(request, id: try context.parameters.require("id"))
        }
    }

    func list(_ request: Request) async throws -> Response {
        let signed = try await app.signedIn(request)
        let now = Date()
        let found = try await runs.runs(agent: nil, states: [], limit: 100)
        let rows = found.map { run -> [String: Any] in
            [
                "id": run.id, "goal": run.goal, "agent": run.agent, "principal": run.principal,
                "planner": run.planner, "state": run.state.rawValue, "steps": run.steps.count,
                "waiting": run.steps.filter { $0.state == .proposed }.count,
                "updatedAt": Timestamp.string(run.updatedAt), "age": WebApp.age(now.timeIntervalSince(run.updatedAt)),
            ]
        }
        return WebPages.page("runs", title: "Runs", ["runs": rows], user: signed.layout)
    }

    func page(
        _ request: Request,
        id: String,
        flash: String? = nil,
        status: HTTPResponse.Status = .ok,
        signed known: WebApp.Signed? = nil
    ) async throws -> Response {
        let signed: WebApp.Signed
        if let known { signed = known } else { signed = try await app.signedIn(request) }
        guard let run = try await runs.run(id: id) else {
            return WebPages.error(status: .notFound, title: "Not found", detail: "There is no run \(id).")
        }
        var steps: [[String: Any]] = []
        var batch = 0
        for step in run.steps {
            var row: [String: Any] = [
                "index": step.index, "operation": step.operation.description, "state": step.state.rawValue,
                "rationale": step.rationale,
                "target": app.catalog.descriptor(for: step.operation)?.target(of: step.arguments) ?? "",
            ]
            if let failure = step.failure { row["failure"] = failure }
            if let requestID = step.requestID, let stored = try await app.requests.request(id: requestID) {
                row["request"] = requestID
                row["level"] = stored.assessment.level.rawValue
                row["levelTitle"] = stored.assessment.level.title
                row["impact"] = stored.impact
                row["stateText"] = WebApp.stateText(stored.state)
                if Self.batchable(stored) {
                    row["batchable"] = true
                    row["digest"] = stored.digest.description
                    batch += 1
                } else if stored.state == .pending {
                    row["alone"] = true
                }
            } else {
                row["stateText"] = step.state == .planned ? "Not proposed yet" : "Not proposed"
            }
            steps.append(row)
        }
        var data: [String: Any] = [
            "id": run.id, "goal": run.goal, "agent": run.agent, "principal": run.principal, "planner": run.planner,
            "state": run.state.rawValue, "steps": steps, "csrf": signed.csrf, "batch": batch, "hasBatch": batch > 0,
            "createdAt": Timestamp.string(run.createdAt),
        ]
        if let failure = run.failure { data["failure"] = failure }
        if let summary = run.summary { data["summary"] = summary }
        if let flash { data["flash"] = flash }
        return WebPages.page("run", title: "Run: \(run.goal.prefix(60))", data, user: signed.layout, status: status)
    }

    /// Whether a request may be approved in a batch: pending, Low or Medium, and needing neither a
    /// confirmation nor a step-up.
    static func batchable(_ request: ActionRequest) -> Bool {
        let requirements = request.assessment.requirements
        return request.state == .pending && request.assessment.level <= .medium && requirements.confirmText == nil
            && !requirements.stepUp && request.isPayloadIntact
    }

    /// Approves the run's Low and Medium steps the approver ticked, each bound to the digest shown.
    func approveBatch(_ request: Request, id: String) async throws -> Response {
        let signed = try await app.signedIn(request)
        let fields = try await app.form(request, csrf: signed.csrf)
        guard let run = try await runs.run(id: id) else {
            return WebPages.error(status: .notFound, title: "Not found", detail: "There is no run \(id).")
        }
        func again(_ message: String, _ status: HTTPResponse.Status) async throws -> Response {
            try await page(request, id: id, flash: message, status: status, signed: signed)
        }
        // In the plan's order.
        let order = Dictionary(run.steps.compactMap { step in step.requestID.map { ($0, step.index) } }) { $1 }
        let chosen = fields.filter { $0.key.hasPrefix("approve-") }.map { (String($0.key.dropFirst(8)), $0.value) }
            .sorted { (order[$0.0] ?? .max, $0.0) < (order[$1.0] ?? .max, $1.0) }
        guard !chosen.isEmpty else { return try await again("Tick the steps to approve.", .badRequest) }
        guard chosen.count <= Self.batchLimit else {
            return try await again("At most \(Self.batchLimit) steps are approved at once.", .badRequest)
        }
        var requests: [ActionRequest] = []
        for (requestID, _) in chosen {
            guard order[requestID] != nil, let stored = try await app.requests.request(id: requestID) else {
                return try await again("\(requestID) is not a step of this run; nothing was approved.", .badRequest)
            }
            guard stored.assessment.level <= .medium else {
                return try await again(
                    "\(stored.assessment.level.title) steps are approved one at a time, on their own page; nothing was approved.",
                    .forbidden
                )
            }
            requests.append(stored)
        }
        let now = Date()
        var approved: [Int] = []
        var refused: [String] = []
        for ((requestID, digest), stored) in zip(chosen, requests) {
            let index = order[requestID] ?? -1
            guard Self.batchable(stored) else {
                refused.append("step \(index): it no longer waits for an approval it can have in a batch")
                continue
            }
            do {
                _ = try await app.approvals.approve(
                    id: requestID,
                    by: signed.user,
                    digest: digest,
                    confirmation: nil,
                    otp: nil,
                    authentication: signed.authentication,
                    now: now
                )
                approved.append(index)
            } catch let problem as Problem {
                refused.append("step \(index): \(problem.detail)")
            }
        }
        var message =
            approved.isEmpty
            ? "Nothing was approved."
            : "Approved step\(approved.count == 1 ? "" : "s") \(approved.map(String.init).joined(separator: ", "))."
        if !refused.isEmpty { message += " Not approved: " + refused.joined(separator: "; ") + "." }
        return try await again(message, refused.isEmpty ? .ok : .conflict)
    }
}
