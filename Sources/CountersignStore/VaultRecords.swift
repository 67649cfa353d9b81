import Countersign
import Foundation

/// What both stores record and read the same way for the vault: its audit events, the scopes'
/// stored form, and the refusal of a secret sealed with a key that is no longer active.
enum VaultRecords {
    /// The audit event of a connection made or made again: who, which account, which scopes.
    static func connectionEvent(_ connection: Connection, _ change: String, actor: String, at: Date) -> AuditEvent {
        AuditEvent(
            kind: AuditKind.connectionChanged,
            actor: actor,
            at: at,
            data: [
                "connection": .string(connection.id),
                "change": .string(change),
                "principal": .string(connection.principal),
                "provider": .string(connection.provider),
                "account": .string(connection.account),
                "scopes": .array(connection.scopes.map(JSONValue.string)),
            ]
        )
    }

    /// The audit event of a connection removed, with what the provider said about revoking it.
    static func connectionDeleted(
        id: String,
        principal: String,
        provider: String,
        account: String,
        providerRevocation: String,
        actor: String,
        at: Date
    ) -> AuditEvent {
        AuditEvent(
            kind: AuditKind.connectionChanged,
            actor: actor,
            at: at,
            data: [
                "connection": .string(id),
                "change": "deleted",
                "principal": .string(principal),
                "provider": .string(provider),
                "account": .string(account),
                "providerRevocation": .string(providerRevocation),
            ]
        )
    }

    /// The audit event of a change to a connection that only its id and a word describe.
    static func connectionChange(
        _ connectionID: String,
        _ change: String,
        reason: String? = nil,
        actor: String,
        at: Date
    ) -> AuditEvent {
        var data: [String: JSONValue] = ["connection": .string(connectionID), "change": .string(change)]
        if let reason { data["reason"] = .string(reason) }
        return AuditEvent(kind: AuditKind.connectionChanged, actor: actor, at: at, data: .object(data))
    }

    /// The audit event of a data key added or retired.
    static func keyEvent(_ keyID: String, _ change: String, actor: String, at: Date) -> AuditEvent {
        AuditEvent(
            kind: AuditKind.vaultKeyChanged,
            actor: actor,
            at: at,
            data: ["key": .string(keyID), "change": .string(change)]
        )
    }

    /// The audit event of a planner model set or removed: never its key.
    static func plannerModelEvent(
        name: String,
        change: String,
        _ record: PlannerModelRecord?,
        actor: String,
        at: Date
    ) -> AuditEvent {
        var data: [String: JSONValue] = ["name": .string(name), "change": .string(change)]
        if let record {
            data["api"] = .string(record.api)
            data["url"] = .string(record.url)
            data["model"] = .string(record.model)
        }
        return AuditEvent(kind: AuditKind.plannerModelChanged, actor: actor, at: at, data: .object(data))
    }

    /// The audit event of a provider's client registration set: never its secret.
    static func providerClientEvent(_ record: ProviderClientRecord, actor: String) -> AuditEvent {
        AuditEvent(
            kind: AuditKind.providerClientChanged,
            actor: actor,
            at: record.updatedAt,
            data: [
                "provider": .string(record.provider),
                "clientID": .string(record.clientID),
                "redirectURI": .string(record.redirectURI),
                "source": .string(record.source),
                // `token` and `authorization` are names the audit refuses, as they may hold secrets.
                "settings": .object(
                    Dictionary(
                        uniqueKeysWithValues: record.settings.map {
                            (record.source == "oauth" ? "\($0.key)Endpoint" : $0.key, .string($0.value))
                        }
                    )
                ),
            ]
        )
    }

    /// A list of scopes as stored: canonical JSON.
    static func scopesText(_ scopes: [String]) -> String {
        CanonicalJSON.string(.array(scopes.map(JSONValue.string)))
    }

    /// A provider's settings as stored: canonical JSON.
    static func settingsText(_ settings: [String: String]) -> String {
        CanonicalJSON.string(.object(settings.mapValues(JSONValue.string)))
    }

    /// Reads a stored list of scopes.
    static func scopes(_ text: String, of id: String) throws -> [String] {
        guard let scopes = try JSONParser().parse(text).arrayValue?.compactMap(\.stringValue) else {
            throw StoreError.corrupt("the scopes of \(id) are unreadable")
        }
        return scopes
    }

    /// Reads a provider's stored settings.
    static func settings(_ text: String, of provider: String) throws -> [String: String] {
        guard case .object(let members) = try JSONParser().parse(text) else {
            throw StoreError.corrupt("the client registration of \(provider) is unreadable")
        }
        return members.compactMapValues(\.stringValue)
    }

    /// What to run to connect an account again.
    static func reconnectHint(_ connection: Connection) -> String {
        "run `countersign connections connect \(connection.provider) --principal \(connection.principal)`"
    }

    /// The connection can no longer be refreshed.
    static func needsReconsent(_ connection: Connection) -> VaultError {
        VaultError(
            .needsReconsent,
            "the \(connection.provider) connection of \(connection.principal) needs to be connected again: \(reconnectHint(connection))"
        )
    }

    /// The words both schemas refuse a secret sealed with a data key that is not active with.
    static let staleKeyMessage = "sealed with a data key that is not active"

    /// What the vault is told when the schema refused a secret sealed with an old key: it reloads
    /// its keys and seals again.
    static let staleKey = VaultError(
        .staleKey,
        "the data key is no longer active; another process rotated the vault's key"
    )
}
