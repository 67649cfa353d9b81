import ArgumentParser
import Countersign
import CountersignStore
import Foundation

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Manage approvers: accounts, authenticators for step-up, and personal API tokens.",
        subcommands: [Add.self, List.self, TOTPEnroll.self, Token.self, Disable.self]
    )

    static func email(_ text: String) throws -> String {
        guard let email = User.normalizedEmail(text) else {
            throw ValidationError(UserError.invalidEmail(text).description)
        }
        return email
    }

    static func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as UserError {
            throw CommandError(error.description)
        }
    }
}

extension UsersCommand {
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an approver; the password is prompted for, or read from standard input.",
            discussion: "The password is stored only as a bcrypt hash."
        )

        @Argument(help: "The user's email address.")
        var email: String

        @Option(help: "approver (decides requests) or admin.")
        var role = "approver"

        @OptionGroup var data: DataOptions

        func run() async throws {
            let email = try UsersCommand.email(self.email)
            guard let role = User.Role(rawValue: role) else {
                throw ValidationError("--role must be approver or admin, not \(self.role)")
            }
            let store = try await AgentsCommand.openStore(data)
            let password = try PasswordInput.read(for: email)
            guard Password.isAcceptable(password.reveal()) else {
                throw CommandError(UserError.weakPassword.description)
            }
            let user = User(email: email, role: role, passwordHash: Password.hash(password), createdAt: Date())
            try await UsersCommand.run { try await store.createUser(user, actor: AgentsCommand.actor) }
            print("user \(email) added as \(role.rawValue)")
            print(
                "next: `countersign users totp \(email)` to enroll an authenticator (needed to approve Critical actions)"
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")

        @OptionGroup var data: DataOptions

        func run() async throws {
            let users = try await AgentsCommand.openStore(data).users()
            guard !users.isEmpty else {
                print("no users; add one with `countersign users add EMAIL`")
                return
            }
            print(
                "EMAIL".padding(toLength: 32, withPad: " ", startingAt: 0)
                    + "ROLE      TOTP  CREATED                   STATUS"
            )
            for user in users {
                print(
                    user.email.padding(toLength: 32, withPad: " ", startingAt: 0)
                        + user.role.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                        + (user.hasTOTP ? "yes   " : "no    ") + Timestamp.string(user.createdAt) + "  "
                        + (user.disabledAt.map { "disabled \(Timestamp.string($0))" } ?? "active")
                )
            }
        }
    }

    struct TOTPEnroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "totp",
            abstract: "Enroll (or replace) a user's TOTP authenticator for step-up.",
            discussion: """
                Prints the otpauth:// URI and a QR code to scan with an authenticator app. The secret is \
                stored sealed with the data directory's secrets key, never in plain text.
                """
        )

        @Argument(help: "The user's email address.")
        var email: String

        @Flag(help: "Print the URI and secret only, without the QR code.")
        var noQR = false

        @OptionGroup var data: DataOptions

        func run() async throws {
            let email = try UsersCommand.email(self.email)
            let directory = DataDirectory(path: data.path)
            let store = try await AgentsCommand.openStore(data)
            let box = try directory.loadOrCreateSecretBox()
            let secret = TOTP.generateSecret()
            let sealed = try box.seal(secret, context: email)
            try await UsersCommand.run {
                try await store.enrollTOTP(email: email, sealedSecret: sealed, actor: AgentsCommand.actor, now: Date())
            }
            let uri = TOTP.provisioningURI(secret: secret, account: email)
            print("authenticator enrolled for \(email). Scan this with an authenticator app, or enter the secret:")
            print("")
            if !noQR, let code = try? QRCode(text: uri) { print(code.terminalText) }
            print("    \(uri)")
            print("    secret: \(Base32.encode(secret))")
            print("")
            print("It is shown this once. Any earlier authenticator for \(email) no longer works.")
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a personal API token for the approvals CLI; printed once.",
            discussion: "Use it as COUNTERSIGN_TOKEN. Only a SHA-256 hash is stored."
        )

        @Argument(help: "The user's email address.")
        var email: String

        @OptionGroup var data: DataOptions

        func run() async throws {
            let email = try UsersCommand.email(self.email)
            let store = try await AgentsCommand.openStore(data)
            let key = APIKey.generate(.personal)
            let token = PersonalToken(id: key.id, email: email, hash: key.hash, createdAt: Date())
            try await UsersCommand.run { try await store.createToken(token, actor: AgentsCommand.actor) }
            print("personal token for \(email), shown this once:")
            print("")
            print("    \(key.secret.reveal())")
            print("")
            print("export COUNTERSIGN_TOKEN=… and run `countersign approvals list`.")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a user; their tokens stop working at once.")

        @Argument(help: "The user's email address.")
        var email: String

        @OptionGroup var data: DataOptions

        func run() async throws {
            let email = try UsersCommand.email(self.email)
            let store = try await AgentsCommand.openStore(data)
            try await UsersCommand.run {
                try await store.disableUser(email: email, actor: AgentsCommand.actor, now: Date())
            }
            print("user \(email) disabled")
        }
    }
}
