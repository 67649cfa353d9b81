public import Countersign
public import Foundation

extension SecretContext {
    /// The context of a planner model's API key: bound to the API and URL it was given for, so a
    /// key whose row is pointed at another endpoint does not open.
    public static func plannerKey(of name: String, api: String, url: String) -> SecretContext {
        SecretContext(kind: "planner.api_key", row: name, owner: "countersign", binding: [api, url])
    }
}

extension Vault {
    /// A language model a run's planner may call, without its key.
    public struct PlannerModel: Sendable, Hashable {
        /// What runs name it by.
        public let name: String
        /// `openai` (chat completions with tool calling) or `anthropic` (Messages).
        public let api: String
        /// The API's base URL.
        public let url: String
        /// The model's name at that API.
        public let model: String
        /// When it was set.
        public let updatedAt: Date
    }

    /// The APIs a planner model may speak.
    public static let plannerAPIs = ["anthropic", "openai"]

    /// Sets (or replaces) a planner model; its API key is sealed and never shown again.
    ///
    /// - Parameters:
    ///   - name: What runs name it by: a lower-case letter or digit, then up to 63 of those, `-` or `_`.
    ///   - api: `openai` for any OpenAI-compatible chat-completions endpoint (OpenAI, Azure's v1
    ///     API, vLLM, llama.cpp, Ollama), `anthropic` for Anthropic's Messages API.
    ///   - url: The API's base URL (`https://api.openai.com/v1`, `https://api.anthropic.com`):
    ///     `https`, or `http` on a loopback address.
    ///   - model: The model's name at that API.
    ///   - apiKey: The API key.
    ///   - actor: Who sets it.
    /// - Throws: ``VaultError`` `.invalidInput` saying what is wrong, `.sealed`.
    public func setPlannerModel(
        name: String,
        api: String,
        url: String,
        model: String,
        apiKey: Secret,
        actor: String
    ) async throws {
        guard name.range(of: "^[a-z0-9][a-z0-9_-]{0,63}$", options: .regularExpression) != nil else {
            throw VaultError(
                .invalidInput,
                "a planner model's name is a lower-case letter or digit, then up to 63 of those, - or _"
            )
        }
        guard Self.plannerAPIs.contains(api) else {
            throw VaultError(.invalidInput, "the API is openai or anthropic, not \"\(api)\"")
        }
        try Self.checkEndpoint(url, name: "model API URL")
        let url = url.hasSuffix("/") ? String(url.dropLast()) : url
        guard !model.isEmpty, model.count <= 200, !model.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw VaultError(.invalidInput, "the model is its name at the API, one word of at most 200 characters")
        }
        let key = apiKey.reveal().trimmingCharacters(in: .whitespacesAndNewlines)
        guard !key.isEmpty, key.utf8.count <= 4096, !key.contains(where: \.isWhitespace) else {
            throw VaultError(.invalidInput, "the API key must be one word of at most 4,096 bytes")
        }
        try await withCurrentKey { ring throws in
            let sealed = try ring.seal(Array(key.utf8), context: .plannerKey(of: name, api: api, url: url))
            try await store.setPlannerModel(
                PlannerModelRecord(name: name, api: api, url: url, model: model, apiKey: sealed, updatedAt: clock()),
                actor: actor
            )
        }
    }

    /// The planner models, without keys.
    ///
    /// Works while sealed.
    public func plannerModels() async throws -> [PlannerModel] {
        try await store.plannerModels().map(Self.plannerModel)
    }

    /// A planner model by name, without its key.
    ///
    /// Works while sealed.
    public func plannerModel(_ name: String) async throws -> PlannerModel? {
        try await store.plannerModel(name).map(Self.plannerModel)
    }

    /// Removes a planner model and its key.
    ///
    /// - Returns: Whether there was one by this name.
    public func removePlannerModel(_ name: String, actor: String) async throws -> Bool {
        try await store.removePlannerModel(name, actor: actor, now: clock())
    }

    /// A planner model's API key, opened for the one call the planner is about to make.
    ///
    /// - Throws: ``VaultError`` `.providerNotConfigured` when there is no such model, `.sealed`,
    ///   `.badKey` when the key does not open (its row was changed).
    public func plannerKey(_ name: String) async throws -> Secret {
        guard let record = try await store.plannerModel(name) else {
            throw VaultError(
                .providerNotConfigured,
                "no planner model \"\(name)\"; set one with `countersign planners set \(name)`"
            )
        }
        let opened = try await ring(opening: record.apiKey.keyID).open(
            record.apiKey,
            context: .plannerKey(of: record.name, api: record.api, url: record.url)
        )
        return Secret(String(decoding: opened, as: UTF8.self))
    }

    static func plannerModel(_ record: PlannerModelRecord) -> PlannerModel {
        PlannerModel(
            name: record.name,
            api: record.api,
            url: record.url,
            model: record.model,
            updatedAt: record.updatedAt
        )
    }
}
