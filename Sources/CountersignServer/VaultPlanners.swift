import Countersign
public import CountersignAgent
public import CountersignVault

/// The planner models set in the vault (`countersign planners set`), as planners whose clients
/// open the model's key for each call and forget it after.
public struct VaultPlanners: Sendable {
    /// The vault the models and their keys are kept in.
    public let vault: Vault

    /// Creates the planners of a vault.
    public init(vault: Vault) {
        self.vault = vault
    }

    /// The planner model by this name, or `nil` when there is none.
    public func planner(named name: String) async throws -> ModelPlanner? {
        guard let model = try await vault.plannerModel(name) else { return nil }
        let vault = self.vault
        let key: @Sendable () async throws -> Secret = { try await vault.plannerKey(name) }
        let client: any ModelClient =
            model.api == "anthropic"
            ? AnthropicMessagesClient(url: model.url, model: model.model, key: key)
            : OpenAIChatClient(url: model.url, model: model.model, key: key)
        return ModelPlanner(name: name, client: client)
    }
}
