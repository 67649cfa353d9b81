import ArgumentParser
import Countersign
import CountersignStore
import CountersignVault
import Foundation

/// Where the vault's master key comes from, for every command that opens the vault.
struct VaultOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "A file holding the vault's master key (default: $COUNTERSIGN_MASTER_KEY, else <data>/vault.key)."
    )
    var masterKeyFile: String?

    func source(for directory: DataDirectory) -> MasterKey.Source {
        Self.source(file: masterKeyFile, for: directory)
    }

    /// The master key's source: the environment, else `file`, else the data directory's key file.
    static func source(file: String?, for directory: DataDirectory) -> MasterKey.Source {
        MasterKey.Source(
            environment: Environment.value("COUNTERSIGN_MASTER_KEY").flatMap { $0.isEmpty ? nil : $0 },
            file: file,
            defaultFile: directory.masterKeyPath
        )
    }

    /// Opens the store and the vault of a data directory.
    func open(_ data: DataOptions) async throws -> (store: CountersignStorage, vault: Vault) {
        let (store, directory) = try await data.openStore()
        do {
            return (
                store, try await Vault.open(store: store, masterKey: source(for: directory), actor: AgentsCommand.actor)
            )
        } catch let error as VaultError {
            throw CommandError(error.description)
        }
    }
}

struct ConnectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections",
        abstract: "Connected accounts: the refresh tokens Countersign holds, sealed, on principals' behalf.",
        subcommands: [Connect.self, Import.self, List.self, Revoke.self]
    )
}

/// Splits a comma-separated list, dropping blanks.
private func commaList(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

extension ConnectionsCommand {
    struct Connect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect a principal's account: print a link to open in their browser.",
            discussion: """
                The link is good for ten minutes and opens once; the browser that opens it is sent to the \
                provider's consent screen (authorization code with PKCE), and the running Countersign server \
                finishes the connection at its /oauth/callback. Register the provider's client first with \
                `countersign providers set`. Example: countersign connections connect github --principal \
                ana@acme.test --scopes repo
                """
        )

        @Argument(help: "The provider: \(Provider.catalog.map(\.name).joined(separator: ", ")).")
        var provider: String

        @Option(help: "The principal (an e-mail address) on whose behalf the account will act.")
        var principal: String

        @Option(help: "The scopes to ask for, separated by commas.")
        var scopes: String

        @Option(help: "The Countersign server's base URL (default: the origin of the registered redirect URI).")
        var server: String?

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let (_, vault) = try await vaultOptions.open(data)
            do {
                let registered = try await vault.providerClients().first { $0.provider == provider }
                let base = server ?? registered.flatMap { Self.origin(of: $0.redirectURI) } ?? "http://127.0.0.1:8787"
                let link = try await vault.beginConnect(
                    provider: provider,
                    principal: principal,
                    scopes: commaList(scopes),
                    serverURL: base,
                    actor: AgentsCommand.actor
                )
                print("Open this link in \(principal)'s browser (once, before \(Timestamp.string(link.expiresAt))):")
                print("")
                print("  \(link.url)")
                print("")
                print("The Countersign server at \(base) must be running to finish the connection.")
            } catch let error as VaultError {
                throw CommandError(error.description)
            }
        }

        /// `scheme://host[:port]` of a URL.
        static func origin(of url: String) -> String? {
            guard let components = URLComponents(string: url), let scheme = components.scheme,
                let host = components.host
            else { return nil }
            return "\(scheme)://\(host.contains(":") ? "[\(host)]" : host)\(components.port.map { ":\($0)" } ?? "")"
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record an existing refresh token (read from standard input) as a connected account.",
            discussion: """
                For headless set-ups. The token is sealed with the vault's key before it is stored and is \
                never printed. Example: countersign connections import github --principal ana@acme.test \
                --account ana --scopes repo,read:user < token.txt
                """
        )

        @Argument(help: "The provider: \(Provider.catalog.map(\.name).joined(separator: ", ")).")
        var provider: String

        @Option(help: "The principal (an e-mail address) on whose behalf the account acts.")
        var principal: String

        @Option(help: "The account at the provider (a login, a workspace user, an address).")
        var account: String

        @Option(help: "The scopes the provider granted, separated by commas.")
        var scopes: String = ""

        @Flag(help: "The token is a long-lived access token (a GitHub OAuth app's), not a refresh token.")
        var accessToken = false

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let token = try PasswordInput.readOnce(accessToken ? "access token" : "refresh token")
            let (_, vault) = try await vaultOptions.open(data)
            do {
                let connection = try await vault.importConnection(
                    provider: provider,
                    principal: principal,
                    account: account,
                    scopes: commaList(scopes),
                    refreshToken: token,
                    credential: accessToken ? .accessToken : .refreshToken,
                    actor: AgentsCommand.actor
                )
                print("connection \(connection.id) recorded: \(principal) as \(account) at \(provider)")
                print("scopes: \(connection.scopes.isEmpty ? "(none)" : connection.scopes.joined(separator: " "))")
            } catch let error as VaultError {
                throw CommandError(error.description)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List connected accounts (never a secret).")

        @Option(help: "Only this principal's connections.")
        var principal: String?

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let (_, vault) = try await vaultOptions.open(data)
            let connections = try await vault.connections(principal: principal)
            if case .sealed(let reason) = await vault.status {
                StandardError.write("warning: the vault is sealed (\(reason)); its connections cannot be used")
            }
            guard !connections.isEmpty else {
                print(
                    "no connections; make one with `countersign connections connect PROVIDER --principal EMAIL --scopes …`"
                )
                return
            }
            let rows =
                [["ID", "PRINCIPAL", "PROVIDER", "ACCOUNT", "STATUS", "SCOPES"]]
                + connections.map {
                    [
                        $0.id, $0.principal, $0.provider, $0.account, $0.status.rawValue,
                        $0.scopes.joined(separator: " "),
                    ]
                }
            let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(
                    (0..<5).map { row[$0].padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined()
                        + row[5]
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a connected account and destroy its sealed refresh token."
        )

        @Argument(help: "The connection's id (see `connections list`).")
        var id: String

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let (_, vault) = try await vaultOptions.open(data)
            guard let connection = try await vault.connection(id: id) else {
                throw CommandError("no connection \(id); `countersign connections list` shows them")
            }
            let provider = Provider.named(connection.provider)?.displayName ?? connection.provider
            let outcome: Vault.ProviderRevocation
            do {
                outcome = try await vault.revokeConnection(id: id, actor: AgentsCommand.actor)
            } catch let error as VaultError {
                throw CommandError(error.description)
            }
            print("connection \(id) removed; its sealed refresh token is destroyed in Countersign.")
            switch outcome {
            case .revoked:
                print("The grant was revoked at \(provider).")
            case .notPossible(let reason), .failed(let reason):
                // Never reported as success: the grant may still be live at the provider.
                StandardError.write(
                    "The grant was NOT revoked at \(provider) (\(reason)): revoke it in \(provider)'s settings for \(connection.account)."
                )
                throw ExitCode(2)
            }
        }
    }
}

struct ProvidersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "providers",
        abstract: "Countersign's OAuth client registrations at GitHub, Slack and Google.",
        subcommands: [Register.self, Auth0.self, List.self]
    )
}

extension ProvidersCommand {
    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract:
                "Register (or replace) the OAuth client for a provider; the client secret is read from standard input.",
            discussion: """
                The redirect URI must be registered with the provider exactly as given here, and point at \
                this Countersign server's /oauth/callback. Example: countersign providers set github \
                --client-id Iv1.0123 --redirect-uri https://countersign.acme.test/oauth/callback < secret.txt
                """
        )

        @Argument(help: "The provider: \(Provider.catalog.map(\.name).joined(separator: ", ")).")
        var provider: String

        @Option(help: "The client id the provider issued.")
        var clientID: String

        @Option(help: "The callback registered with the provider (https, or http on 127.0.0.1/localhost).")
        var redirectURI: String

        @Option(
            name: .customLong("endpoint"),
            help:
                "Replace one of the catalog's endpoints, as NAME=URL (authorization, token, revocation, account, issuer); repeatable."
        )
        var endpoints: [String] = []

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            var replaced: [String: String] = [:]
            for entry in endpoints {
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("--endpoint takes NAME=URL, not \(entry)") }
                replaced[parts[0]] = parts[1]
            }
            let secret = try PasswordInput.readOnce("client secret")
            let (_, vault) = try await vaultOptions.open(data)
            do {
                try await vault.setProviderClient(
                    provider: provider,
                    clientID: clientID,
                    clientSecret: secret,
                    redirectURI: redirectURI,
                    endpoints: replaced,
                    actor: AgentsCommand.actor
                )
            } catch let error as VaultError {
                throw CommandError(error.description)
            }
            print("\(provider): client \(clientID) registered (secret sealed), redirect URI \(redirectURI)")
        }
    }

    struct Auth0: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-auth0",
            abstract: "Take a provider's tokens from Auth0 Token Vault (or, with --management, the Management API).",
            discussion: """
                Token Vault: each principal's connection holds their Auth0 refresh token (import it with \
                `connections import`), exchanged at https://DOMAIN/oauth/token for the provider's access \
                token. The client authenticates with its secret (standard input) or, with --private-key-file, \
                private_key_jwt. With --management, the Auth0 Management API reads the identity's token \
                (a machine-to-machine client with read:user_idp_tokens; connections hold Auth0 user ids): \
                it cannot narrow scopes, and approvals and the audit label it broad.
                """
        )

        @Argument(help: "The provider: \(Provider.catalog.map(\.name).joined(separator: ", ")).")
        var provider: String

        @Option(help: "The Auth0 tenant's domain (acme.us.auth0.com).")
        var domain: String

        @Option(
            help: "The Auth0 connection the provider is configured as (github, google-oauth2, sign-in-with-slack…)."
        )
        var connection: String

        @Option(help: "The Auth0 application's client id.")
        var clientID: String

        @Option(help: "An RSA private key (PEM) for private_key_jwt instead of a client secret.")
        var privateKeyFile: String?

        @Option(help: "The private key JWT's algorithm: RS256 or PS256.")
        var alg: String?

        @Option(help: "The credential's key id at Auth0, if any.")
        var kid: String?

        @Flag(help: "Use the Management API fallback (broad tokens) instead of Token Vault.")
        var management = false

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let credential: Secret
            if let privateKeyFile {
                let pem: String?
                do {
                    pem = try SecretFile.readOwnerOnly(privateKeyFile)
                } catch {
                    throw CommandError("\(privateKeyFile): \(error)")
                }
                guard let pem else { throw CommandError("\(privateKeyFile) does not exist") }
                credential = Secret(pem)
            } else {
                credential = try PasswordInput.readOnce("client secret")
            }
            let (_, vault) = try await vaultOptions.open(data)
            do {
                try await vault.setAuth0Source(
                    provider: provider,
                    domain: domain,
                    connection: connection,
                    management: management,
                    clientID: clientID,
                    credential: credential,
                    algorithm: alg,
                    keyID: kid,
                    actor: AgentsCommand.actor
                )
            } catch let error as VaultError {
                throw CommandError(error.description)
            }
            print(
                "\(provider): tokens from \(management ? "the Auth0 Management API (broad: cannot narrow scopes)" : "Auth0 Token Vault") at \(domain), connection \(connection), client \(clientID) (credential sealed)"
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered clients (never a secret).")

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let (_, vault) = try await vaultOptions.open(data)
            let clients = try await vault.providerClients()
            let registered = Dictionary(uniqueKeysWithValues: clients.map { ($0.provider, $0) })
            for provider in Provider.catalog {
                guard let client = registered[provider.name] else {
                    print("\(provider.name): not registered (`countersign providers set \(provider.name)`)")
                    continue
                }
                let replaced = client.settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                if client.source != "oauth" {
                    print(
                        "\(provider.name): tokens from \(client.source)\(client.source == "auth0-management" ? " (broad)" : ""), client \(client.clientID), \(replaced.joined(separator: " "))"
                    )
                    continue
                }
                print(
                    "\(provider.name): client \(client.clientID), redirect URI \(client.redirectURI)"
                        + (replaced.isEmpty ? "" : ", endpoints \(replaced.joined(separator: " "))")
                )
            }
        }
    }
}

struct VaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "The vault's keys: status and rotation.",
        subcommands: [Status.self, RotateKey.self]
    )
}

extension VaultCommand {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say whether the vault is sealed, and list its data keys."
        )

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let (store, vault) = try await vaultOptions.open(data)
            switch await vault.status {
            case .unsealed(let active, _): print("unsealed; new secrets are sealed with data key \(active)")
            case .sealed(let reason): print("SEALED: \(reason)")
            }
            for key in try await store.dataKeys() {
                print(
                    "  \(key.id)  \(key.state.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0))  created \(Timestamp.string(key.createdAt))"
                )
            }
        }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Add a new data key and seal every secret again with it.",
            discussion: """
                Secrets stay readable throughout (a running server reloads the keys when it meets the new \
                one). With --retire, old keys that nothing is sealed with any more are destroyed afterwards.
                """
        )

        @Flag(help: "Destroy the old keys once no secret is sealed with them.")
        var retire = false

        @Option(help: "Secrets resealed per transaction.")
        var batchSize = 200

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let (_, vault) = try await vaultOptions.open(data)
            do {
                let report = try await vault.rotateKey(
                    retireOld: retire,
                    batchSize: batchSize,
                    actor: AgentsCommand.actor
                ) {
                    done,
                    total in
                    ProgressBar.draw(done: done, total: total)
                }
                ProgressBar.finish()
                print(
                    "new data key \(report.newKey); \(report.resealed) \(report.resealed == 1 ? "secret" : "secrets") sealed again with it"
                )
                if report.changedMeanwhile > 0 {
                    print("\(report.changedMeanwhile) changed meanwhile and were sealed by their writer")
                }
                if !report.unreadable.isEmpty {
                    print("could not open (altered in the database?): \(report.unreadable.joined(separator: ", "))")
                }
                if retire {
                    print(
                        report.retired.isEmpty ? "no key retired" : "retired: \(report.retired.joined(separator: ", "))"
                    )
                }
                if !report.unreadable.isEmpty { throw ExitCode(1) }
            } catch let error as VaultError {
                throw CommandError(error.description)
            }
        }
    }
}

/// A progress bar on standard error (only on a terminal).
enum ProgressBar {
    static func draw(done: Int, total: Int) {
        guard isatty(2) == 1 else { return }
        let width = 30
        let filled = total == 0 ? width : done * width / max(total, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total)".utf8))
    }

    static func finish() {
        guard isatty(2) == 1 else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
