import ArgumentParser
import Countersign
import CountersignConnectors
import CountersignStore
import Foundation

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check, explain and apply risk policies.",
        subcommands: [Check.self, Explain.self, Default.self, Apply.self]
    )

    /// Reads and compiles a policy file, printing every problem as FILE:LINE:COLUMN: message.
    static func load(_ path: String, catalog: OperationCatalog) throws -> Policy {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read the policy file \(path)")
        }
        do {
            return try Policy(yaml: text, catalog: catalog)
        } catch {
            for issue in error.issues {
                StandardError.write("\(path):\(issue.line):\(issue.column): error: \(issue.message)")
            }
            StandardError.write("\(error.issues.count) error\(error.issues.count == 1 ? "" : "s") in \(path)")
            throw ExitCode(1)
        }
    }
}

extension PolicyCommand {
    /// Loads a policy and runs its inline tests, printing every failure; exits 1 on any.
    static func loadTested(_ path: String, catalog: OperationCatalog) throws -> Policy {
        let policy = try load(path, catalog: catalog)
        let failures = policy.runTests(catalog: catalog)
        for failure in failures { StandardError.write("\(path):\(failure)") }
        guard failures.isEmpty else {
            StandardError.write("\(failures.count) of \(policy.tests.count) policy tests failed")
            throw ExitCode(1)
        }
        return policy
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a policy file and run its inline tests.",
            discussion: "Every problem is reported with its line and column. Exits 1 when there is any."
        )

        @Argument(help: "The policy file (YAML).")
        var file: String

        func run() throws {
            let policy = try PolicyCommand.loadTested(file, catalog: Catalogs.standard())
            print("\(file): OK — \(policy.rules.count) rules, \(policy.tests.count) tests passed")
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show how a policy rates one action: level, decision, requirements and every reason.",
            discussion: """
                The action file is JSON: {"operation": "files.delete", "arguments": {…}, "onBehalfOf": "…", "agent": "…"}.
                Exit status: 0 when the action would be allowed or asked, 3 when it would be denied, 1 on an error.
                """
        )

        @Option(help: "The policy file (default: the built-in default policy).")
        var policy: String?

        @Option(help: "The action to explain, as a JSON file ('-' for standard input).")
        var action: String

        @Flag(help: "Print the assessment as JSON.")
        var json = false

        func run() throws {
            let catalog = Catalogs.standard()
            let compiled =
                try policy.map { try PolicyCommand.load($0, catalog: catalog) }
                ?? (try Policy(yaml: Policy.defaultYAML, catalog: catalog))
            let proposed = try ActionFile.read(action)
            let descriptor: OperationDescriptor
            do {
                descriptor = try catalog.validate(proposed)
            } catch {
                throw ValidationError("\(action): \(error)")
            }
            let assessment = compiled.assess(proposed, operation: descriptor)
            if json {
                print(ExplainOutput.json(proposed, descriptor: descriptor, assessment: assessment))
            } else {
                print(ExplainOutput.text(proposed, descriptor: descriptor, assessment: assessment))
            }
            if assessment.decision == .deny { throw ExitCode(3) }
        }
    }

    struct Default: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the built-in default policy.")

        func run() {
            print(Policy.defaultYAML)
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a policy, run its tests, and make it the policy of a data directory.",
            discussion: "The change is recorded in the audit log with the old and new policy digests."
        )

        @Argument(help: "The policy file (YAML).")
        var file: String

        @OptionGroup var data: DataOptions

        @Option(help: "Who is making the change, for the audit log.")
        var actor: String = Environment.value("USER").map { "user:\($0)" } ?? "user:unknown"

        func run() async throws {
            let catalog = Catalogs.standard()
            let policy = try PolicyCommand.loadTested(file, catalog: catalog)
            let (store, directory) = try await data.openStore()
            let previous = try? Policy(
                yaml: String(contentsOfFile: directory.policyPath, encoding: .utf8),
                catalog: catalog
            )
            let text = try String(contentsOfFile: file, encoding: .utf8)
            try await store.append(
                AuditEvent(
                    kind: AuditKind.policyChanged,
                    actor: actor,
                    at: Date(),
                    data: [
                        "previous": previous.map { .string($0.sourceDigest) } ?? .null,
                        "current": .string(policy.sourceDigest),
                        "rules": .number(Double(policy.rules.count)),
                    ]
                )
            )
            try Data(text.utf8).write(to: URL(filePath: directory.policyPath), options: .atomic)
            print("policy \(policy.sourceDigest) is now in force in \(directory.url.path)")
        }
    }
}

/// Reads an action from a JSON file.
enum ActionFile {
    static func read(_ path: String) throws -> ProposedAction {
        let bytes: [UInt8]
        if path == "-" {
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read the action file \(path)")
            }
            bytes = Array(data)
        }
        let value: JSONValue
        do {
            value = try JSONParser().parse(bytes)
        } catch {
            throw ValidationError("\(path): \(error)")
        }
        guard let name = value["operation"]?.stringValue else {
            throw ValidationError("\(path): missing \"operation\" (for example \"files.write\")")
        }
        guard let operation = OperationID(name) else {
            throw ValidationError("\(path): \"\(name)\" is not connector.operation")
        }
        let principal = value["onBehalfOf"]?.stringValue ?? value["principal"]?.stringValue ?? "user@example.com"
        return ProposedAction(
            operation: operation,
            arguments: value["arguments"] ?? .object([:]),
            principal: principal,
            agent: value["agent"]?.stringValue ?? "cli"
        )
    }
}
