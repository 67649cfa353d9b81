import ArgumentParser
import Countersign
import CountersignVault
import Foundation

/// The language models runs may plan with; their API keys are sealed in the vault.
struct PlannersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "planners",
        abstract: "The language models runs may plan with (API keys sealed in the vault).",
        subcommands: [SetModel.self, List.self, Remove.self]
    )

    struct SetModel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set (or replace) a planner model; its API key is read from the terminal or standard input.",
            discussion: """
                Examples:
                  countersign planners set gpt --api openai --url https://api.openai.com/v1 --model gpt-4.1
                  countersign planners set claude --api anthropic --url https://api.anthropic.com --model claude-sonnet-4-5
                  countersign planners set local --api openai --url http://127.0.0.1:11434/v1 --model llama3.1
                Runs name it: POST /v1/runs {"goal": …, "onBehalfOf": …, "planner": "gpt"}.
                """
        )

        @Argument(help: "What runs name it by (lower-case letters, digits, - and _).")
        var name: String

        @Option(help: "openai (any OpenAI-compatible chat-completions API) or anthropic (Messages API).")
        var api: String

        @Option(help: "The API's base URL: https, or http on a loopback address.")
        var url: String

        @Option(help: "The model's name at that API.")
        var model: String

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let key = try PasswordInput.readOnce("API key")
            let (_, vault) = try await vaultOptions.open(data)
            do {
                try await vault.setPlannerModel(
                    name: name,
                    api: api,
                    url: url,
                    model: model,
                    apiKey: key,
                    actor: AgentsCommand.actor
                )
            } catch let error as VaultError {
                throw CommandError(error.description)
            }
            print("\(name): \(model) at \(url) (\(api) API; key sealed)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the planner models (never a key).")

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let (_, vault) = try await vaultOptions.open(data)
            let models = try await vault.plannerModels()
            if models.isEmpty {
                print("No planner models; runs use a plan given with them. Set one with `countersign planners set`.")
            }
            for model in models {
                print(
                    "\(model.name): \(model.model) at \(model.url) (\(model.api) API), set \(Timestamp.string(model.updatedAt))"
                )
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a planner model and its key.")

        @Argument(help: "The planner model's name.")
        var name: String

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let (_, vault) = try await vaultOptions.open(data)
            guard try await vault.removePlannerModel(name, actor: AgentsCommand.actor) else {
                throw CommandError("no planner model \"\(name)\"")
            }
            print("\(name): removed")
        }
    }
}
