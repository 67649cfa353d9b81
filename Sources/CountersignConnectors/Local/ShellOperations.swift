public import Countersign

/// The `shell` connector: run one program with arguments (never a shell string) in the workspace.
public enum ShellOperations {
    /// Every `shell` operation.
    public static func descriptors() throws(SchemaError) -> [OperationDescriptor] {
        [try run()]
    }

    static func run() throws(SchemaError) -> OperationDescriptor {
        try OperationDescriptor(
            id: OperationID("shell.run")!,
            summary: "Run a program with arguments in the workspace",
            schema: [
                "type": "object", "required": ["program"], "additionalProperties": false,
                "properties": [
                    "program": ["type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^\\u0000]+$"],
                    "arguments": ["type": "array", "items": ["type": "string", "maxLength": 8192], "maxItems": 256],
                    "timeoutSeconds": ["type": "integer", "minimum": 1, "maximum": 600],
                ],
            ],
            scopes: ["shell:exec"],
            defaultLevel: .critical,
            hints: [
                RiskHint("destructive_program") { arguments in
                    let program = baseName(arguments["program"]?.stringValue ?? "")
                    let flags = (arguments["arguments"]?.arrayValue ?? []).compactMap(\.stringValue)
                    if program == "rm"
                        && flags.contains(where: { $0.hasPrefix("-") && ($0.contains("r") || $0.contains("R")) })
                    {
                        return (.critical, "rm with a recursive flag deletes whole directory trees")
                    }
                    if destructivePrograms.contains(program) {
                        return (.critical, "\(program) destroys data")
                    }
                    return nil
                },
                RiskHint("privilege") { arguments in
                    let program = baseName(arguments["program"]?.stringValue ?? "")
                    return privilegePrograms.contains(program)
                        ? (.critical, "\(program) runs a program with another user's privileges") : nil
                },
                RiskHint("download_and_run") { arguments in
                    let program = baseName(arguments["program"]?.stringValue ?? "")
                    let text = (arguments["arguments"]?.arrayValue ?? []).compactMap(\.stringValue).joined(
                        separator: " "
                    )
                    let fetches = text.contains("curl") || text.contains("wget")
                    let interpreters = ["sh", "bash", "zsh", "dash", "python", "python3", "perl", "ruby", "node"]
                    return interpreters.contains(program) && fetches && text.contains("|")
                        ? (.critical, "downloads code from the network and runs it (curl … | sh)") : nil
                },
            ],
            isReversible: false,
            target: { $0["program"]?.stringValue },
            impact: { arguments in
                let program = arguments["program"]?.stringValue ?? "?"
                let argv = (arguments["arguments"]?.arrayValue ?? []).compactMap(\.stringValue)
                let shown = ([program] + argv).map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
                let timeout = arguments["timeoutSeconds"]?.numberValue.map { Int($0) } ?? 60
                return "Runs `\(shown)` in the workspace with your user's permissions, for up to \(timeout) s. "
                    + "It can read and change anything that user can."
            }
        )
    }

    static let destructivePrograms: Set<String> = ["rm", "shred", "dd", "mkfs", "truncate"]
    static let privilegePrograms: Set<String> = ["sudo", "su", "doas", "pkexec"]
    static let interpreters: Set<String> = ["sh", "bash", "zsh", "dash", "python", "python3", "perl", "ruby", "node"]

    static func baseName(_ program: String) -> String {
        guard let slash = program.utf8.lastIndex(of: UInt8(ascii: "/")) else { return program }
        return String(program[program.utf8.index(after: slash)...])
    }
}
