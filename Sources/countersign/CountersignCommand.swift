import ArgumentParser

@main
struct CountersignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "countersign",
        abstract:
            "An authorization gateway for AI agents: agents propose, policy and people decide, Countersign executes.",
        subcommands: [
            ServeCommand.self, PolicyCommand.self, AuditCommand.self, AgentsCommand.self, UsersCommand.self,
            ApprovalsCommand.self, ConnectionsCommand.self, ProvidersCommand.self, VaultCommand.self, MCPCommand.self,
            MigrateCommand.self, DemoCommand.self,
        ]
    )
}

/// Options shared by commands that use the data directory.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "The data directory (default: $COUNTERSIGN_DATA, else ./.countersign).")
    var data: String?

    var path: String {
        if let data { return data }
        if let environment = Environment.value("COUNTERSIGN_DATA"), !environment.isEmpty { return environment }
        return ".countersign"
    }
}
