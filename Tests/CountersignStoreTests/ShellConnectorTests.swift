import Countersign
import CountersignConnectors
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Shell connector")
struct ShellConnectorTests {
    let directory: TemporaryDirectory
    let shell: ShellConnector
    let context = ExecutionContext(requestID: "r", principal: "ana@acme.test", agent: "planner")

    init() throws {
        directory = try TemporaryDirectory()
        shell = try ShellConnector(root: directory.url.path, maximumOutputBytes: 1024)
    }

    func run(_ program: String, _ arguments: [String] = [], timeout: Int? = nil) async throws -> JSONValue {
        var members: [String: JSONValue] = [
            "program": .string(program), "arguments": .array(arguments.map(JSONValue.string)),
        ]
        if let timeout { members["timeoutSeconds"] = .number(Double(timeout)) }
        return try await shell.execute(OperationID("shell.run")!, arguments: .object(members), context: context)
    }

    @Test("runs a program with arguments in the workspace and returns its output and exit code")
    func runs() async throws {
        let echo = try await run("echo", ["hello", "a b"])
        #expect(echo["stdout"] == "hello a b\n")
        #expect(echo["exitCode"] == 0)
        let pwd = try await run("pwd")
        #expect(pwd["stdout"]?.stringValue == shell.root + "\n")
        let failing = try await run("sh", ["-c", "echo oops >&2; exit 3"])
        #expect(failing["exitCode"] == 3)
        #expect(failing["stderr"] == "oops\n")
    }

    @Test("arguments are passed as they are, never through a shell")
    func noShellInterpretation() async throws {
        let result = try await run("echo", ["$HOME", ";", "rm", "-rf", "*"])
        #expect(result["stdout"] == "$HOME ; rm -rf *\n")
    }

    /// Without setting a variable of its own: `setenv` while other tests start processes (which
    /// copy the environment) crashed the test process.
    @Test("the child does not inherit Countersign's environment")
    func cleanEnvironment() async throws {
        let given: Set<String> = ["PATH", "HOME", "LANG"]
        let ours = Set(ProcessInfo.processInfo.environment.keys).subtracting(given)
        try #require(!ours.isEmpty, "the test process has variables of its own to leave behind")
        let result = try await run("env")
        let lines = (result["stdout"]?.stringValue ?? "").split(separator: "\n")
        let names = Set(lines.map { String($0.prefix { $0 != "=" }) })
        #expect(names == given)
        #expect(names.isDisjoint(with: ours))
        #expect(lines.contains("HOME=\(shell.root)"))
    }

    @Test("output beyond the cap is dropped and reported as truncated")
    func outputCap() async throws {
        let result = try await run("head", ["-c", "200000", "/dev/zero"])
        #expect(result["truncated"] == true)
        #expect(result["stdout"]?.stringValue?.utf8.count == 1024)
        #expect(result["exitCode"] == 0)
    }

    @Test("a program that outlives its timeout is stopped and reported as failed")
    func timeout() async throws {
        let started = ContinuousClock.now
        await #expect(throws: ConnectorError.self) { _ = try await run("sleep", ["30"], timeout: 1) }
        #expect(ContinuousClock.now - started < .seconds(15))
    }

    @Test(
        "unknown programs and relative program paths are refused",
        arguments: ["no-such-program-xyz", "./run.sh", "bin/tool"]
    )
    func refused(program: String) async throws {
        await #expect(throws: ConnectorError.self) { _ = try await run(program) }
    }
}
