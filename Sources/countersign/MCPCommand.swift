import ArgumentParser
import Countersign
import CountersignMCP
import Foundation
import MCP

struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Offer Countersign's catalog as MCP tools over stdio, for clients that launch a command.",
        discussion: """
            Speaks the Model Context Protocol on standard input and output and forwards every tool call to \
            a Countersign server as a proposal by the agent whose key is in $COUNTERSIGN_AGENT_KEY. Calls \
            that policy holds for a human wait (with progress notifications) up to --max-wait seconds, \
            then return the request id; the countersign_status tool fetches the outcome later.
            """
    )

    @Option(help: "The Countersign server (default: $COUNTERSIGN_SERVER, else http://127.0.0.1:8787).")
    var server: String?

    @Option(help: "The principal (an e-mail address) on whose behalf every action is proposed.")
    var onBehalfOf: String

    @Option(help: "How long a call waits for a human's decision before it returns a pending result.")
    var maxWait = 600

    func validate() throws {
        guard onBehalfOf.contains("@"), !onBehalfOf.contains(where: \.isWhitespace) else {
            throw ValidationError("--on-behalf-of must be an e-mail address")
        }
        guard (1...86_400).contains(maxWait) else { throw ValidationError("--max-wait is from 1 to 86400 seconds") }
    }

    func run() async throws {
        let client = try APIClient.agent(server: server)
        let tools = GatedTools(
            api: AgentAPIClient(server: client.server, key: client.token),
            principal: onBehalfOf,
            maximumWait: .seconds(maxWait)
        )
        let server = try await tools.start(on: StdioTransport())
        await server.waitUntilCompleted()
    }
}
