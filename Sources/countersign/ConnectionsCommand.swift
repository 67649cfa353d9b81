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
        MasterKey.Source(
            environment: Environment.value("COUNTERSIGN_MASTER_KEY").flatMap { $0.isEmpty ? nil : $0 },
            file: masterKeyFile,
            defaultFile: directory.masterKeyPath
        )
    }

    /// Opens the store and the vault of a data directory.
    func open(_ data: DataOptions) async throws -> (store: SQLiteStore, vault: Vault) {
        let directory = DataDirectory(path: data.path)
        try directory.prepare()
        let store = try SQLiteStore(path: directory.databasePath)
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
        subcommands: [Import.self, List.self, Revoke.self]
    )
}

extension ConnectionsCommand {
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

        @OptionGroup var data: DataOptions
        @OptionGroup var vaultOptions: VaultOptions

        func run() async throws {
            let token = try PasswordInput.readOnce("refresh token")
            let (_, vault) = try await vaultOptions.open(data)
            do {
                let connection = try await vault.importConnection(
                    provider: provider,
                    principal: principal,
                    account: account,
                    scopes: scopes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) },
                    refreshToken: token,
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
                    "no connections; record one with `countersign connections import PROVIDER --principal EMAIL --account NAME`"
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
            // No OAuth client is configured for any provider yet, so the grant cannot be revoked at
            // the provider from here; say so rather than claim it was.
            let provider = Provider.named(connection.provider)?.displayName ?? connection.provider
            let revocation = "not attempted: no OAuth client is configured for \(connection.provider)"
            try await vault.deleteConnection(id: id, providerRevocation: revocation, actor: AgentsCommand.actor)
            print("connection \(id) removed; its sealed refresh token is destroyed in Countersign.")
            print(
                "It was NOT revoked at \(provider) (\(revocation)): revoke the grant in \(provider)'s settings for \(connection.account)."
            )
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
