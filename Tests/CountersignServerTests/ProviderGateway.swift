import Countersign
import CountersignConnectors
import CountersignStore
import Foundation

/// A gateway over a fresh SQLite store whose GitHub, Slack and Google connectors talk to in-test servers.
struct ProviderGateway {
    let gateway: Gateway
    let store: SQLiteStore

    init(
        github: String,
        slack: String,
        google: String = "http://127.0.0.1:9",
        token: String,
        tokens: [String: String] = [:],
        policy: String = Policy.defaultYAML
    ) throws {
        let directory = FileManager.default.temporaryDirectory.appending(
            path: "countersign-providers-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try SQLiteStore(path: directory.appending(path: "db.sqlite").path)
        let catalog = Catalogs.standard()
        gateway = Gateway(
            catalog: catalog,
            policy: try Policy(yaml: policy, catalog: catalog),
            store: store,
            executor: Executor(
                store: store,
                connectors: [
                    try GitHubConnector(baseURL: github), try SlackConnector(baseURL: slack),
                    try GoogleConnector(
                        .gmail,
                        gmailURL: google,
                        calendarURL: google + "/calendar/v3",
                        peopleURL: google
                    ),
                    try GoogleConnector(
                        .calendar,
                        gmailURL: google,
                        calendarURL: google + "/calendar/v3",
                        peopleURL: google
                    ),
                ],
                tokens: StaticTokens(token: token, byProvider: tokens)
            )
        )
    }

    /// Proposes an action of Ana's by the agent `bot`.
    func propose(_ operation: String, _ arguments: JSONValue) async throws -> ActionRequest {
        try await gateway.propose(
            ProposedAction(
                operation: OperationID(operation)!,
                arguments: arguments,
                principal: "ana@acme.test",
                agent: "bot"
            )
        )
    }
}
