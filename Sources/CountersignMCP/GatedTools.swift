import Countersign
import Foundation
public import MCP

/// Countersign's catalog as MCP tools: every call is a proposal that policy and, where it says so,
/// a human decide; the tool's result is the executed action's result, the denial, or the expiry.
public struct GatedTools: Sendable {
    /// The tool an agent uses to fetch the outcome of a request whose wait outlasted the call.
    public static let statusTool = "countersign_status"

    let api: AgentAPIClient
    let principal: String
    let maximumWait: Duration

    /// Creates the tools.
    ///
    /// - Parameters:
    ///   - api: The agent API, with the agent's key.
    ///   - principal: On whose behalf every action is proposed.
    ///   - maximumWait: How long a call waits for a human before it returns a pending result.
    public init(api: AgentAPIClient, principal: String, maximumWait: Duration = .seconds(600)) {
        self.api = api
        self.principal = principal
        self.maximumWait = maximumWait
    }

    /// Makes an MCP server that offers the tools.
    public func server() async -> Server {
        let server = Server(
            name: "countersign",
            version: "0.1.0",
            title: "Countersign",
            instructions: """
                Every tool here is an action that Countersign authorizes before it runs: some run at once, \
                some wait for a human's approval, some are denied by policy. A denial is final: do not retry \
                it or work around it; tell the user. Tokens for the user's accounts never reach you.
                """,
            capabilities: .init(tools: .init(listChanged: false))
        )
        await server.withMethodHandler(ListTools.self) { _ in
            ListTools.Result(tools: try await tools())
        }
        await server.withMethodHandler(CallTool.self) { [self] parameters in
            try await call(parameters, server: server)
        }
        return server
    }

    /// The catalog as tools, and the status tool.
    func tools() async throws -> [Tool] {
        var tools = try await api.catalog().compactMap { operation -> Tool? in
            guard let name = operation["operation"]?.stringValue else { return nil }
            let readOnly = operation["readOnly"]?.boolValue ?? false
            let reversible = operation["reversible"]?.boolValue ?? false
            let connector = name.split(separator: ".").first.map(String.init) ?? ""
            return Tool(
                name: name,
                description: (operation["summary"]?.stringValue ?? name)
                    + ". Authorized by Countersign before it runs (default risk: \(operation["defaultLevel"]?.stringValue ?? "?")).",
                inputSchema: Self.value(operation["argumentsSchema"] ?? ["type": "object"]),
                annotations: .init(
                    readOnlyHint: readOnly,
                    destructiveHint: !readOnly && !reversible,
                    idempotentHint: readOnly,
                    openWorldHint: !["files", "shell"].contains(connector)
                )
            )
        }
        tools.append(
            Tool(
                name: Self.statusTool,
                description:
                    "The state and outcome of an action proposed earlier (by its request id), waiting up to `waitSeconds` for a change.",
                inputSchema: [
                    "type": "object", "required": ["id"], "additionalProperties": false,
                    "properties": [
                        "id": ["type": "string", "description": "The request id a pending result gave."],
                        "waitSeconds": ["type": "integer", "minimum": 0, "maximum": 60],
                    ],
                ],
                annotations: .init(
                    readOnlyHint: true,
                    destructiveHint: false,
                    idempotentHint: true,
                    openWorldHint: false
                )
            )
        )
        return tools
    }

    func call(_ parameters: CallTool.Parameters, server: Server) async throws -> CallTool.Result {
        let arguments = JSONValue.object((parameters.arguments ?? [:]).mapValues(Self.json))
        if parameters.name == Self.statusTool {
            guard let id = arguments["id"]?.stringValue else {
                return Self.error("`id` is required: the request id of a pending result")
            }
            let wait = min(60, max(0, Int(arguments["waitSeconds"]?.numberValue ?? 0)))
            let answer = try await api.action(id: id, wait: wait)
            guard answer.status == 200 else { return Self.error(AgentAPIError(answer).description) }
            return outcome(answer.body)
        }
        let proposed = try await api.propose(operation: parameters.name, arguments: arguments, onBehalfOf: principal)
        switch proposed.status {
        case 201, 200, 403:
            break
        default:
            // Bad arguments and the like: say what to fix; the model may correct and call again.
            return Self.error("Countersign did not accept the call: \(AgentAPIError(proposed).detail)")
        }
        var request = proposed.body
        let token = parameters._meta?.progressToken
        let deadline = ContinuousClock.now + maximumWait
        var step = 0.0
        while request["state"]?.stringValue.map(Self.waiting.contains) == true {
            guard ContinuousClock.now < deadline else { return pending(request) }
            if let token {
                step += 1
                try? await server.notify(
                    ProgressNotification.message(
                        .init(progressToken: token, progress: step, message: Self.progressText(request))
                    )
                )
            }
            let id = request["id"]?.stringValue ?? ""
            let remaining = (deadline - ContinuousClock.now).components.seconds + 1
            let answer = try await api.action(id: id, wait: Int(min(20, max(1, remaining))))
            guard answer.status == 200 else { return Self.error(AgentAPIError(answer).description) }
            request = answer.body
        }
        return outcome(request)
    }

    static let waiting: Set<String> = ["pending", "approved", "auto_approved", "executing"]

    /// The message of a progress notification while a human decides.
    static func progressText(_ request: JSONValue) -> String {
        let level = (request["risk"]?["level"]?.stringValue ?? "?").capitalized
        switch request["state"]?.stringValue {
        case "pending":
            var minutes = ""
            if let text = request["expiresAt"]?.stringValue, let expiry = try? Date(text, strategy: .iso8601) {
                minutes = ", expires in \(max(0, Int(expiry.timeIntervalSinceNow / 60))) min"
            }
            return "waiting for approval by a human, \(level)\(minutes)"
        case "approved", "auto_approved": return "approved; about to run"
        default: return "running"
        }
    }

    /// The result of a request that has settled (or is still waiting).
    func outcome(_ request: JSONValue) -> CallTool.Result {
        let id = request["id"]?.stringValue ?? "?"
        switch request["state"]?.stringValue {
        case "executed":
            return CallTool.Result(
                content: [.text(text: CanonicalJSON.string(request["result"] ?? .null), annotations: nil, _meta: nil)],
                structuredContent: request["result"]?.objectValue.map { Optional.some(Self.value(.object($0))) } ?? nil,
                isError: false
            )
        case "rejected":
            let reasons = (request["risk"]?["reasons"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }
            return Self.error(
                "Denied by Countersign's policy: \(request["failure"]?.stringValue ?? "denied"). "
                    + (reasons.isEmpty ? "" : "Reasons: \(reasons.joined(separator: "; ")). ")
                    + "This is final: do not retry this action or work around it; tell the user."
            )
        case "denied":
            return Self.error(
                "A human denied this action: \(request["failure"]?.stringValue ?? "no reason given"). Do not retry it; tell the user."
            )
        case "expired":
            return Self.error("Nobody approved this action before it expired (request \(id)); it was not run.")
        case "failed":
            return Self.error("The action was approved but failed: \(request["failure"]?.stringValue ?? "unknown").")
        case "outcome_unknown":
            return Self.error(
                "Countersign stopped while this action was running (request \(id)); whether it took effect is unknown, and it will not be re-run."
            )
        default:
            return pending(request)
        }
    }

    /// Still waiting for a human: the request id and where to look later.
    func pending(_ request: JSONValue) -> CallTool.Result {
        let id = request["id"]?.stringValue ?? "?"
        return CallTool.Result(
            content: [
                .text(
                    text:
                        "Waiting for a human to approve (request \(id), \(Self.progressText(request))). Nothing has run yet. Call \(Self.statusTool) with {\"id\": \"\(id)\"} later to get the outcome; the approver sees it with `countersign approvals show \(id)`.",
                    annotations: nil,
                    _meta: nil
                )
            ],
            structuredContent: Optional.some(
                ["id": .string(id), "state": .string(request["state"]?.stringValue ?? "pending")] as Value
            ),
            isError: false
        )
    }

    static func error(_ text: String) -> CallTool.Result {
        CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)], isError: true)
    }

    // MARK: Values

    static func value(_ json: JSONValue) -> Value {
        switch json {
        case .null: .null
        case .bool(let value): .bool(value)
        case .number(let value):
            value.rounded(.towardZero) == value && abs(value) < 9e15 ? .int(Int(value)) : .double(value)
        case .string(let value): .string(value)
        case .array(let values): .array(values.map(value))
        case .object(let members): .object(members.mapValues(value))
        }
    }

    static func json(_ value: Value) -> JSONValue {
        switch value {
        case .null: .null
        case .bool(let value): .bool(value)
        case .int(let value): .number(Double(value))
        case .double(let value): .number(value)
        case .string(let value): .string(value)
        case .data(_, let data): .string(data.base64EncodedString())
        case .array(let values): .array(values.map(json))
        case .object(let members): .object(members.mapValues(json))
        }
    }
}
