import Countersign
import Foundation
public import MCP
import Synchronization

/// Countersign's catalog as MCP tools: every call is a proposal that policy and, where it says so,
/// a human decide; the tool's result is the executed action's result, the denial, or the expiry.
public struct GatedTools: Sendable {
    /// The tool an agent uses to fetch the outcome of a request whose wait outlasted the call.
    public static let statusTool = "countersign_status"
    /// The tool an agent uses to undo an action it ran (the undo is itself authorized like any action).
    public static let undoTool = "countersign_undo"

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

    /// The URI of a request as an MCP resource.
    public static func resourceURI(_ id: String) -> String { "countersign://requests/\(id)" }

    /// What the connected client said it can do, learned when it initializes.
    final class ClientSupport: Sendable {
        private let capabilities = Mutex<Client.Capabilities?>(nil)
        func record(_ value: Client.Capabilities) { capabilities.withLock { $0 = value } }
        var formElicitation: Bool { capabilities.withLock { $0?.elicitation?.form != nil } }
        var urlElicitation: Bool { capabilities.withLock { $0?.elicitation?.url != nil } }
    }

    /// Makes an MCP server that offers the tools and starts it on a transport.
    ///
    /// - Parameter transport: Where the client is (stdio, a streamable HTTP session, in memory).
    /// - Returns: The running server.
    /// - Throws: When the transport cannot be connected.
    public func start(on transport: any Transport) async throws -> Server {
        let support = ClientSupport()
        let server = await server(support)
        try await server.start(transport: transport) { _, capabilities in support.record(capabilities) }
        return server
    }

    func server(_ support: ClientSupport) async -> Server {
        let server = Server(
            name: "countersign",
            version: "0.1.0",
            title: "Countersign",
            instructions: """
                Every tool here is an action that Countersign authorizes before it runs: some run at once, \
                some wait for a human's approval, some are denied by policy. A denial is final: do not retry \
                it or work around it; tell the user. Tokens for the user's accounts never reach you.
                """,
            capabilities: .init(
                resources: .init(subscribe: false, listChanged: false),
                tools: .init(listChanged: false)
            )
        )
        await server.withMethodHandler(ListTools.self) { _ in
            ListTools.Result(tools: try await tools())
        }
        await server.withMethodHandler(CallTool.self) { [self] parameters in
            try await call(parameters, server: server, support: support)
        }
        await server.withMethodHandler(ListResources.self) { [self] _ in
            ListResources.Result(resources: try await api.actions(limit: 50).map(Self.resource))
        }
        await server.withMethodHandler(ListResourceTemplates.self) { _ in
            ListResourceTemplates.Result(templates: [
                Resource.Template(
                    uriTemplate: Self.resourceURI("{id}"),
                    name: "request",
                    title: "A Countersign request",
                    description:
                        "An action this agent proposed: its state, risk, impact and, once settled, its result or why it did not run.",
                    mimeType: "application/json"
                )
            ])
        }
        await server.withMethodHandler(ReadResource.self) { [self] parameters in
            let prefix = Self.resourceURI("")
            guard parameters.uri.hasPrefix(prefix), parameters.uri.count > prefix.count else {
                throw MCPError.invalidParams("expected a URI such as \(Self.resourceURI("ID"))")
            }
            let answer = try await api.action(id: String(parameters.uri.dropFirst(prefix.count)), wait: 0)
            guard answer.status == 200 else {
                throw MCPError.serverError(code: -32002, message: "resource not found: \(AgentAPIError(answer).detail)")
            }
            return ReadResource.Result(contents: [
                .text(answer.body.prettyPrinted(), uri: parameters.uri, mimeType: "application/json")
            ])
        }
        return server
    }

    /// A request as an MCP resource.
    static func resource(_ request: JSONValue) -> Resource {
        let id = request["id"]?.stringValue ?? "?"
        return Resource(
            name: "request \(id)",
            uri: resourceURI(id),
            title: "\(request["operation"]?.stringValue ?? "?") (\(request["state"]?.stringValue ?? "?"))",
            description: request["impact"]?.stringValue,
            mimeType: "application/json"
        )
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
                name: Self.undoTool,
                description:
                    "Undo an action this agent ran (by its request id), where the operation can be undone (the catalog's `undo`). The undo is itself authorized by Countersign, like any action.",
                inputSchema: [
                    "type": "object", "required": ["id"], "additionalProperties": false,
                    "properties": ["id": ["type": "string", "description": "The request id of the executed action."]],
                ],
                annotations: .init(
                    readOnlyHint: false,
                    destructiveHint: true,
                    idempotentHint: true,
                    openWorldHint: true
                )
            )
        )
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

    func call(_ parameters: CallTool.Parameters, server: Server, support: ClientSupport) async throws -> CallTool.Result
    {
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
        let proposed: AgentAPIClient.Answer
        if parameters.name == Self.undoTool {
            guard let id = arguments["id"]?.stringValue else {
                return Self.error("`id` is required: the request id of the executed action to undo")
            }
            proposed = try await api.undo(id: id)
        } else {
            proposed = try await api.propose(operation: parameters.name, arguments: arguments, onBehalfOf: principal)
        }
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
        var offer: Offer?
        defer { offer?.task.cancel() }
        while request["state"]?.stringValue.map(Self.waiting.contains) == true {
            guard ContinuousClock.now < deadline else { return pending(request) }
            if offer == nil, request["state"]?.stringValue == "pending" {
                offer = offerDecision(request, server: server, support: support)
            }
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
        if let offer, offer.url {
            // The approval page offered at the client is done with: the request is decided.
            try? await server.notify(ElicitationCompleteNotification.message(.init(elicitationId: offer.id)))
        }
        return outcome(request)
    }

    /// A decision offered to the human at the client while the call waits.
    struct Offer {
        let id: String
        let url: Bool
        let task: Task<Void, Never>
    }

    /// Offers the decision to the human at the client, where the client can show it.
    ///
    /// In a form, for a request whose policy lets the principal approve it in the client (Low or
    /// Medium only), or else as a link to the approval page. The answer never blocks the call, and
    /// approval never depends on it: approvers decide in the web app or the CLI all the same.
    func offerDecision(_ request: JSONValue, server: Server, support: ClientSupport) -> Offer? {
        guard let id = request["id"]?.stringValue else { return nil }
        if support.formElicitation, request["requirements"]?["clientApproval"] == .bool(true),
            let digest = request["digest"]?.stringValue
        {
            let task = Task { [api] in
                guard
                    let answer = try? await server.requestElicitation(
                        message: Self.formMessage(request),
                        requestedSchema: Self.decisionForm
                    )
                else { return }
                let verdict: String
                switch answer.action {
                case .accept where answer.content?["decision"]?.stringValue == "approve": verdict = "approve"
                case .accept, .decline: verdict = "deny"
                case .cancel: return  // No answer: the request waits for an approver.
                }
                let reason = answer.content?["reason"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
                _ = try? await api.clientDecision(id: id, verdict: verdict, digest: digest, reason: reason)
            }
            return Offer(id: id, url: false, task: task)
        }
        if support.urlElicitation, let url = request["approvalURL"]?.stringValue {
            let level = (request["risk"]?["level"]?.stringValue ?? "?").capitalized
            let task = Task {
                _ = try? await server.requestElicitation(
                    message:
                        "An agent asks to run \(request["operation"]?.stringValue ?? "an action") (\(level) risk). An approver reviews the exact payload and decides on Countersign's approval page.",
                    url: url,
                    elicitationId: id
                )
            }
            return Offer(id: id, url: true, task: task)
        }
        return nil
    }

    /// The form a client shows for a decision it may take.
    static let decisionForm = Elicitation.RequestSchema(
        title: "Approve this action?",
        properties: [
            "decision": [
                "type": "string", "title": "Decision", "enum": ["approve", "deny"],
                "enumNames": ["Approve: run it now", "Deny: do not run it"],
            ],
            "reason": ["type": "string", "title": "Reason (told to the agent when you deny)", "maxLength": 2000],
        ],
        required: ["decision"]
    )

    /// What the form shows: what Countersign derived from the payload, never only the agent's words.
    static func formMessage(_ request: JSONValue) -> String {
        let level = (request["risk"]?["level"]?.stringValue ?? "?").capitalized
        var lines = [
            "Countersign: an agent asks to run \(request["operation"]?.stringValue ?? "?") on your behalf (\(level) risk).",
            "Impact: \(request["impact"]?.stringValue ?? "?")",
        ]
        let reasons = (request["risk"]?["reasons"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }
        if !reasons.isEmpty { lines.append("Why \(level): \(reasons.joined(separator: "; "))") }
        let scopes = (request["scopes"]?.arrayValue ?? []).compactMap(\.stringValue)
        if !scopes.isEmpty { lines.append("Access it gets: \(scopes.joined(separator: ", "))") }
        lines.append("Payload: \(CanonicalJSON.string(request["arguments"] ?? .null))")
        if let reason = request["agentReason"]?.stringValue { lines.append("The agent's own words: \"\(reason)\"") }
        lines.append("Digest: \(request["digest"]?.stringValue ?? "?")")
        return lines.joined(separator: "\n")
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
            var content: [Tool.Content] = [
                .text(text: CanonicalJSON.string(request["result"] ?? .null), annotations: nil, _meta: nil)
            ]
            if let edited = request["edited"] {
                let changed = (edited["changed"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ")
                content.append(
                    .text(
                        text:
                            "An approver (\(edited["by"]?.stringValue ?? "?")) edited the arguments before approving; changed: \(changed). The result above is of the action as edited: \(CanonicalJSON.string(request["arguments"] ?? .null))",
                        annotations: nil,
                        _meta: nil
                    )
                )
            }
            return CallTool.Result(
                content: content,
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

    /// Still waiting for a human: the request id, where a person approves it, and where to look later.
    func pending(_ request: JSONValue) -> CallTool.Result {
        let id = request["id"]?.stringValue ?? "?"
        var structured: [String: Value] = [
            "id": .string(id), "state": .string(request["state"]?.stringValue ?? "pending"),
            "resource": .string(Self.resourceURI(id)),
        ]
        var approval = "an approver sees it with `countersign approvals show \(id)`"
        if let url = request["approvalURL"]?.stringValue {
            structured["approvalURL"] = .string(url)
            approval = "an approver decides at \(url) (or with `countersign approvals show \(id)`)"
        }
        return CallTool.Result(
            content: [
                .text(
                    text:
                        "Waiting for a human to approve (request \(id), \(Self.progressText(request))). Nothing has run yet; \(approval). Call \(Self.statusTool) with {\"id\": \"\(id)\"} later, or read the resource \(Self.resourceURI(id)), to get the outcome.",
                    annotations: nil,
                    _meta: nil
                ),
                .resourceLink(
                    uri: Self.resourceURI(id),
                    name: "request \(id)",
                    title: "Countersign request \(id)",
                    mimeType: "application/json"
                ),
            ],
            structuredContent: Optional.some(Value.object(structured)),
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
