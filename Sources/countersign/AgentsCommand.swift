import ArgumentParser
import Countersign
import CountersignStore
import Foundation

struct AgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "Register agents and manage their API keys.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    static func openStore(_ data: DataOptions) async throws -> CountersignStorage {
        try await data.openStore().store
    }

    static var actor: String { Environment.value("USER").map { "user:\($0)" } ?? "user:unknown" }
}

extension AgentsCommand {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an agent and print its API key once.",
            discussion: "Only a SHA-256 hash of the key is stored: keep the key now, it cannot be shown again."
        )

        @Argument(help: "The agent's name (lower-case letters, digits, '-', '_', '.').")
        var name: String

        @OptionGroup var data: DataOptions

        func validate() throws {
            guard Agent.isValidName(name) else { throw ValidationError(AgentError.invalidName(name).description) }
        }

        func run() async throws {
            let store = try await AgentsCommand.openStore(data)
            let key = APIKey.generate()
            let agent = Agent(name: name, keyID: key.id, keyHash: key.hash, createdAt: Date())
            do {
                try await store.createAgent(agent, actor: AgentsCommand.actor)
            } catch let error as AgentError {
                throw CommandError(error.description)
            }
            print("agent \(name) created. Its API key, shown this once:")
            print("")
            print("    \(key.secret.reveal())")
            print("")
            print("Give it to the agent as a bearer token (Authorization: Bearer …).")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List agents.")

        @OptionGroup var data: DataOptions

        func run() async throws {
            let agents = try await AgentsCommand.openStore(data).agents()
            guard !agents.isEmpty else {
                print("no agents; create one with `countersign agents create NAME`")
                return
            }
            print(
                "NAME".padding(toLength: 24, withPad: " ", startingAt: 0)
                    + "KEY ID            CREATED                   STATUS"
            )
            for agent in agents {
                let status = agent.revokedAt.map { "revoked \(Timestamp.string($0))" } ?? "active"
                print(
                    agent.name.padding(toLength: 24, withPad: " ", startingAt: 0) + agent.keyID + "  "
                        + Timestamp.string(agent.createdAt) + "  " + status
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an agent's API key at once.")

        @Argument(help: "The agent's name.")
        var name: String

        @OptionGroup var data: DataOptions

        func run() async throws {
            do {
                try await AgentsCommand.openStore(data).revokeAgent(
                    named: name,
                    actor: AgentsCommand.actor,
                    now: Date()
                )
            } catch let error as AgentError {
                throw CommandError(error.description)
            }
            print("agent \(name) revoked; its key no longer works")
        }
    }
}
