public import Countersign
import CountersignStore
import CountersignVault
import Foundation
import HTTPTypes
import Hummingbird

/// Where the audit page reads the log and its signed checkpoints.
public struct AuditSources: Sendable {
    /// The log.
    public let store: any AuditStore
    /// The file the checkpoint writer appends to.
    public let checkpointsPath: String
    /// The key checkpoints are signed with (32 raw Ed25519 bytes).
    public let publicKey: [UInt8]

    /// Creates the sources.
    public init(store: any AuditStore, checkpointsPath: String, publicKey: [UInt8]) {
        self.store = store
        self.checkpointsPath = checkpointsPath
        self.publicKey = publicKey
    }
}

/// The web app's pages for agents, connected accounts and the audit log.
///
/// Everyone signed in sees the agents and the log; only admins create or revoke agent keys. Each
/// approver sees and manages their own connected accounts; admins see everyone's.
struct WebAdmin: Sendable {
    let app: WebApp
    let agents: any AgentStore
    let vault: Vault?
    let audit: AuditSources?

    func add(to router: Router<AppRequestContext>) {
        let web = router.group().add(middleware: WebMiddleware())
        web.get("/agents") { request, _ in try await agentsPage(request) }
        web.post("/agents") { request, _ in try await createAgent(request) }
        web.post("/agents/{name}/revoke") { request, context in
            try await revokeAgent(request, name: try context.parameters.require("name"))
        }
        web.get("/connections") { request, _ in try await connectionsPage(request) }
        web.post("/connections/connect") { request, _ in try await connect(request) }
        web.post("/connections/{id}/revoke") { request, context in
            try await revokeConnection(request, id: try context.parameters.require("id"))
        }
        web.get("/audit") { request, _ in try await auditPage(request) }
    }

    static func date(_ date: Date) -> String {
        String(Timestamp.string(date).prefix(16)).replacingOccurrences(of: "T", with: " ")
    }

    // MARK: Agents

    func agentsPage(
        _ request: Request,
        signed known: WebApp.Signed? = nil,
        created: [String: Any]? = nil,
        flash: String? = nil,
        status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let signed: WebApp.Signed
        if let known { signed = known } else { signed = try await app.signedIn(request) }
        let isAdmin = signed.user.role == .admin
        var data: [String: Any] = [
            "csrf": signed.csrf, "admin": isAdmin,
            "agents": try await agents.agents().map { agent -> [String: Any] in
                [
                    "name": agent.name, "keyID": agent.keyID, "created": Self.date(agent.createdAt),
                    "active": agent.isActive, "revoked": agent.revokedAt.map(Self.date) ?? "", "admin": isAdmin,
                    "csrf": signed.csrf,
                ]
            },
        ]
        if let created { data["created"] = created }
        if let flash { data["flash"] = flash }
        return WebPages.page("agents", title: "Agents", data, user: signed.layout, status: status)
    }

    func requireAdmin(_ request: Request) async throws -> (WebApp.Signed, [String: String]) {
        let signed = try await app.signedIn(request)
        let fields = try await app.form(request, csrf: signed.csrf)
        guard signed.user.role == .admin else {
            throw Problem(
                status: .forbidden,
                title: "Admins only",
                detail: "only an admin creates or revokes agent keys"
            )
        }
        return (signed, fields)
    }

    func createAgent(_ request: Request) async throws -> Response {
        let (signed, fields) = try await requireAdmin(request)
        let name = (fields["name"] ?? "").trimmingCharacters(in: .whitespaces)
        guard Agent.isValidName(name) else {
            return try await agentsPage(
                request,
                signed: signed,
                flash:
                    "An agent's name is 1 to 64 lower-case letters, digits, -, _ and ., starting with a letter or digit.",
                status: .unprocessableContent
            )
        }
        let key = APIKey.generate(.agent)
        do {
            try await agents.createAgent(
                Agent(name: name, keyID: key.id, keyHash: key.hash, createdAt: Date()),
                actor: "user:\(signed.user.email)"
            )
        } catch let error as AgentError {
            return try await agentsPage(request, signed: signed, flash: error.description, status: .conflict)
        }
        // Shown once, on this response only; the store keeps its hash.
        return try await agentsPage(request, signed: signed, created: ["name": name, "key": key.secret.reveal()])
    }

    func revokeAgent(_ request: Request, name: String) async throws -> Response {
        let (signed, _) = try await requireAdmin(request)
        do {
            try await agents.revokeAgent(named: name, actor: "user:\(signed.user.email)", now: Date())
        } catch let error as AgentError {
            return try await agentsPage(request, signed: signed, flash: error.description, status: .notFound)
        }
        return WebPages.redirect("/agents")
    }

    // MARK: Connections

    func connectionsPage(
        _ request: Request,
        signed known: WebApp.Signed? = nil,
        flash: String? = nil,
        status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let signed: WebApp.Signed
        if let known { signed = known } else { signed = try await app.signedIn(request) }
        guard let vault else {
            throw Problem(
                status: .notFound,
                title: "No vault",
                detail: "this server has no vault for connected accounts"
            )
        }
        let isAdmin = signed.user.role == .admin
        var data: [String: Any] = ["csrf": signed.csrf, "email": signed.user.email, "admin": isAdmin]
        if case .sealed(let reason) = await vault.status {
            data["sealed"] = reason
        } else {
            data["connections"] = try await vault.connections(principal: isAdmin ? nil : signed.user.email).map {
                connection -> [String: Any] in
                [
                    "id": connection.id, "principal": connection.principal, "provider": connection.provider,
                    "account": connection.account, "scopes": connection.scopes.joined(separator: " "),
                    "status": connection.status == .active ? "active" : "needs you to connect again",
                    "healthy": connection.status == .active, "created": Self.date(connection.createdAt),
                    "csrf": signed.csrf,
                ]
            }
            let providers = try await vault.providerClients().filter { $0.source == "oauth" }.map {
                ["name": $0.provider]
            }
            data["providers"] = providers
            data["hasProviders"] = !providers.isEmpty
        }
        if let flash { data["flash"] = flash }
        return WebPages.page("connections", title: "Connected accounts", data, user: signed.layout, status: status)
    }

    /// Starts the vault's OAuth connect flow for the signed-in approver's own account.
    func connect(_ request: Request) async throws -> Response {
        let signed = try await app.signedIn(request)
        let fields = try await app.form(request, csrf: signed.csrf)
        guard let vault, let base = app.address.publicURL else {
            throw Problem(
                status: .notFound,
                title: "No vault",
                detail: "this server has no vault for connected accounts"
            )
        }
        let scopes = (fields["scopes"] ?? "").split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        do {
            let link = try await vault.beginConnect(
                provider: fields["provider"] ?? "",
                principal: signed.user.email,
                scopes: scopes,
                serverURL: base,
                actor: "user:\(signed.user.email)"
            )
            return WebPages.redirect(link.url)
        } catch let error as VaultError {
            return try await connectionsPage(
                request,
                signed: signed,
                flash: error.description,
                status: .unprocessableContent
            )
        }
    }

    func revokeConnection(_ request: Request, id: String) async throws -> Response {
        let signed = try await app.signedIn(request)
        _ = try await app.form(request, csrf: signed.csrf)
        guard let vault, let connection = try await vault.connection(id: id),
            connection.principal == signed.user.email || signed.user.role == .admin
        else { throw Problem(status: .notFound, title: "Not found", detail: "no such connected account of yours") }
        let flash: String
        do {
            switch try await vault.revokeConnection(id: id, actor: "user:\(signed.user.email)") {
            case .revoked:
                flash =
                    "Disconnected \(connection.provider) (\(connection.account)); the provider confirmed the revocation."
            case .notPossible(let why):
                flash =
                    "Disconnected \(connection.provider) (\(connection.account)) here; revoke it at the provider too: \(why)"
            case .failed(let why):
                flash =
                    "Disconnected \(connection.provider) (\(connection.account)) here, but the provider did not confirm the revocation (\(why)); revoke it at the provider too."
            }
        } catch let error as VaultError {
            flash = error.description
        }
        return try await connectionsPage(request, signed: signed, flash: flash)
    }

    // MARK: Audit

    func auditPage(_ request: Request) async throws -> Response {
        let signed = try await app.signedIn(request)
        guard let audit else { throw Problem(status: .notFound, title: "Not found", detail: "no audit log here") }
        let query = request.uri.queryParameters
        let requestFilter = query["request"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let actorFilter = query["actor"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let agentFilter = query["agent"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let (size, _) = try await audit.store.auditHead()
        let entries: [AuditEntry]
        if let requestFilter {
            entries = try await audit.store.auditEntries(forRequest: requestFilter)
        } else {
            entries = try await audit.store.auditEntries(after: max(0, size - 5000), limit: 5000)
        }
        let rows = entries.reversed().compactMap { entry -> [String: Any]? in
            guard let body = try? JSONParser().parse(entry.body) else { return nil }
            let actor = body["actor"]?.stringValue ?? ""
            if let actorFilter, !actor.contains(actorFilter) { return nil }
            if let agentFilter, actor != "agent:\(agentFilter)", body["data"]?["agent"]?.stringValue != agentFilter {
                return nil
            }
            var row: [String: Any] = [
                "sequence": entry.sequence, "at": body["at"]?.stringValue ?? "",
                "kind": body["kind"]?.stringValue ?? "",
                "actor": actor, "summary": String(CanonicalJSON.string(body["data"] ?? .null).prefix(60)),
                "data": PayloadHTML.render(body["data"] ?? .null),
            ]
            if let id = body["request"]?.stringValue { row["request"] = id }
            return row
        }.prefix(300)
        let checkpoints = (try? CheckpointWriter.read(audit.checkpointsPath)) ?? []
        let verification = try await audit.store.verifyAudit(
            checkpoints: checkpoints,
            publicKey: checkpoints.isEmpty ? nil : audit.publicKey
        ) { _ in }
        var data: [String: Any] = [
            "entries": Array(rows), "size": size, "request": requestFilter ?? "", "actor": actorFilter ?? "",
            "agent": agentFilter ?? "", "intact": verification.isIntact,
            "verification": verification.isIntact
                ? "Intact: \(verification.entries) entries re-hashed"
                    + (checkpoints.isEmpty
                        ? "; no signed checkpoint to match yet."
                        : "; \(verification.checkpointsChecked) of \(checkpoints.count) signed checkpoints matched.")
                : "Altered: \(verification.failure?.description ?? "unknown"). \(verification.entries) entries verified before it."
                ,
        ]
        if let latest = checkpoints.last {
            data["checkpoint"] = [
                "size": latest.treeSize, "head": latest.headHash, "signedAt": latest.signedAt, "keyID": latest.keyID,
                "valid": latest.isValid(publicKey: audit.publicKey),
            ]
        }
        return WebPages.page("audit", title: "Audit log", data, user: signed.layout)
    }
}
