import ArgumentParser
import Countersign
import CountersignConnectors
import CountersignServer
import CountersignStore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Countersign server on the embedded defaults (SQLite, local connectors)."
    )

    @OptionGroup var data: DataOptions
    @OptionGroup var vaultOptions: VaultOptions

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0: any free port, printed when listening).")
    var port = 8787

    @Option(
        help: """
            On PostgreSQL, how many seconds a claim holds an execution, renewed every third of it while \
            the connector runs; another instance ends an execution whose lease ran out as outcome_unknown.
            """
    )
    var executionLease = 300

    @Option(help: "The policy file (default: <data>/policy.yaml, created from the default policy).")
    var policy: String?

    @Option(help: "The directory the files and shell connectors act in (default: <data>/workspace).")
    var workspace: String?

    @Option(
        name: .customLong("http-allow"),
        help:
            "A host http.request may reach (host, host:port or *.domain); repeat for more. Without any, http.request is not offered."
    )
    var httpAllow: [String] = []

    @Option(
        name: .customLong("http-allow-private"),
        help: "A host http.request may reach even at a loopback, private or link-local address (an internal service)."
    )
    var httpAllowPrivate: [String] = []

    @Option(
        name: .customLong("github-api-url"),
        help: "GitHub's REST API (GitHub Enterprise Server: https://HOST/api/v3)."
    )
    var githubAPIURL = "https://api.github.com"

    @Option(name: .customLong("slack-api-url"), help: "Slack's Web API.")
    var slackAPIURL = "https://slack.com/api"

    @Option(name: .customLong("gmail-api-url"), help: "Gmail's API.")
    var gmailAPIURL = "https://gmail.googleapis.com"

    @Option(name: .customLong("calendar-api-url"), help: "Google Calendar's API.")
    var calendarAPIURL = "https://www.googleapis.com/calendar/v3"

    @Option(
        name: .customLong("people-api-url"),
        help: "Google's People API (the directory recipients are looked up in)."
    )
    var peopleAPIURL = "https://people.googleapis.com"

    @Option(
        name: .customLong("public-url"),
        help:
            "The base URL people reach this server at, for links to approval pages (default: the address it listens on)."
    )
    var publicURL: String?

    @Option(
        name: .customLong("oidc-issuer"),
        help:
            "An OpenID Connect issuer approvers may sign in and step up with (its discovery document is read); the client secret, if any, comes from $COUNTERSIGN_OIDC_CLIENT_SECRET."
    )
    var oidcIssuer: String?

    @Option(name: .customLong("oidc-client-id"), help: "Countersign's client id at the OpenID Connect provider.")
    var oidcClientID: String?

    @Option(
        name: .customLong("oidc-step-up-acr"),
        help: "The acr a step-up must return (sent as acr_values); without it, any fresh authentication counts."
    )
    var oidcStepUpACR: String?

    @Option(name: .customLong("oidc-name"), help: "The provider's name on the sign-in page.")
    var oidcName = "single sign-on"

    var oidc: OIDCConfiguration? {
        guard let oidcIssuer, let oidcClientID else { return nil }
        return OIDCConfiguration(
            issuer: oidcIssuer,
            clientID: oidcClientID,
            clientSecret: ProcessInfo.processInfo.environment["COUNTERSIGN_OIDC_CLIENT_SECRET"].map(Secret.init),
            stepUpACR: oidcStepUpACR,
            displayName: oidcName
        )
    }

    func validate() throws {
        guard (3...86_400).contains(executionLease) else {
            throw ValidationError("--execution-lease is a number of seconds from 3 to 86400")
        }
        for (option, value) in [
            ("--github-api-url", githubAPIURL), ("--slack-api-url", slackAPIURL), ("--gmail-api-url", gmailAPIURL),
            ("--calendar-api-url", calendarAPIURL), ("--people-api-url", peopleAPIURL),
        ] {
            guard let url = URL(string: value), url.host != nil,
                url.scheme == "https" || ["127.0.0.1", "localhost"].contains(url.host ?? "")
            else { throw ValidationError("\(option) must be an https URL") }
        }
        if (oidcIssuer == nil) != (oidcClientID == nil) {
            throw ValidationError("--oidc-issuer and --oidc-client-id go together")
        }
        if let oidcIssuer, URL(string: oidcIssuer)?.scheme != "https",
            !(oidcIssuer.hasPrefix("http://127.0.0.1") || oidcIssuer.hasPrefix("http://localhost"))
        {
            throw ValidationError("--oidc-issuer must be an https URL")
        }
        if let publicURL {
            guard let url = URL(string: publicURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil,
                url.query == nil, url.fragment == nil
            else { throw ValidationError("--public-url must be an http(s) URL such as https://countersign.example") }
        }
        for host in httpAllow + httpAllowPrivate where HTTPAllowlistEntry(host) == nil {
            throw ValidationError("\(host) is not a host, host:port or *.domain")
        }
    }

    func run() async throws {
        var logger = Logger(label: "countersign") { RedactingLogHandler(label: $0) }
        logger.logLevel = .info
        let runtime = try await Runtime.open(
            data: data.path,
            database: data.databaseURL,
            executionLease: TimeInterval(executionLease),
            policy: policy,
            workspace: workspace,
            httpAllowlist: httpAllow.compactMap { HTTPAllowlistEntry($0) }
                + httpAllowPrivate.compactMap { HTTPAllowlistEntry($0, allowsPrivateAddresses: true) },
            masterKeyFile: vaultOptions.masterKeyFile,
            githubAPIURL: githubAPIURL,
            slackAPIURL: slackAPIURL,
            gmailAPIURL: gmailAPIURL,
            calendarAPIURL: calendarAPIURL,
            peopleAPIURL: peopleAPIURL,
            logger: logger,
            announce: Console.line
        )
        let (host, directory, workspace) = (host, runtime.directory.url.path, runtime.workspace)
        let application = buildApplication(
            configuration: ServerConfiguration(host: host, port: port),
            context: runtime.context(publicURL: publicURL, oidc: oidc),
            services: runtime.services,
            logger: logger
        ) { port in
            Console.line("Countersign listening on http://\(host):\(port) (data \(directory), workspace \(workspace))")
        }
        try await ServiceGroup(
            configuration: .init(services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        ).run()
    }
}
