import AsyncHTTPClient
import Countersign
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The built `countersign` executable, beside the test bundle.
enum Executable {
    static var url: URL {
        get throws {
            var directory = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = directory.appending(path: "countersign")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                directory = directory.deletingLastPathComponent()
            }
            let built = URL(filePath: #filePath).deletingLastPathComponent()
                .appending(path: "../../.build/debug/countersign").standardizedFileURL
            guard FileManager.default.isExecutableFile(atPath: built.path) else {
                throw HarnessError("the countersign executable is not built; run `swift build` first")
            }
            return built
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The result of running the CLI once.
struct CommandResult {
    let status: Int32
    let output: String
    let error: String
}

/// Runs `countersign` commands and a `countersign serve` process, keeping everything they print
/// and every HTTP response, so that the test can look for secrets in all of it.
final class Harness: Sendable {
    let root: URL
    let data: URL
    private let transcript = Mutex<[String]>([])
    private let server = Mutex<(process: Process, log: URL, port: Int)?>(nil)

    init() throws {
        root = FileManager.default.temporaryDirectory.appending(path: "countersign-e2e-\(UUID().uuidString)")
        data = root.appending(path: "data")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    /// Everything recorded that is not a deliberate one-time display of a secret.
    var recorded: [String] { transcript.withLock { $0 } }

    func record(_ text: String) { transcript.withLock { $0.append(text) } }

    /// Runs a command to completion.
    ///
    /// - Parameters:
    ///   - arguments: The command line after `countersign`.
    ///   - input: What to write to its standard input.
    ///   - environment: Variables to add to the environment.
    ///   - showsSecret: The command's purpose is to print a secret once (`agents create`,
    ///     `users totp`, `users token`); its output is not part of the transcript searched for leaks.
    /// - Returns: Its exit status and output.
    /// - Throws: When it cannot be started.
    func run(
        _ arguments: [String],
        input: String? = nil,
        environment: [String: String] = [:],
        showsSecret: Bool = false
    ) throws -> CommandResult {
        let process = Process()
        process.executableURL = try Executable.url
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = root.appending(path: "out-\(UUID().uuidString)")
        let error = root.appending(path: "err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: error.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: error)
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        let result = CommandResult(
            status: process.terminationStatus,
            output: try String(contentsOf: output, encoding: .utf8),
            error: try String(contentsOf: error, encoding: .utf8)
        )
        if !showsSecret { record(result.output + result.error) }
        return result
    }

    /// Starts `countersign serve` on a free port and waits until it listens.
    @discardableResult
    func start(policy: URL) async throws -> Int {
        let log = root.appending(path: "serve-\(UUID().uuidString).log")
        let (process, port) = try await Self.serve(
            ["--data", data.path, "--port", "0", "--policy", policy.path],
            log: log
        )
        server.withLock { $0 = (process, log, port) }
        return port
    }

    /// Runs `countersign serve ARGUMENTS` (add `--port 0`) with its output in `log`, and waits
    /// until it says where it listens.
    ///
    /// - Returns: The process and its port.
    static func serve(
        _ arguments: [String],
        environment: [String: String] = [:],
        log: URL
    ) async throws -> (Process, Int) {
        let process = Process()
        process.executableURL = try Executable.url
        process.arguments = ["serve"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        for _ in 0..<600 {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: "listening on http://127.0.0.1:") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits) { return (process, port) }
            }
            guard process.isRunning else { throw HarnessError("countersign serve exited: \(text)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(process.processIdentifier, SIGKILL)
        throw HarnessError("countersign serve did not start listening")
    }

    /// Stops the server with a signal (SIGTERM: graceful; SIGKILL: a crash).
    func stop(_ signal: Int32) throws {
        guard let (process, log, _) = server.withLock({ $0 }) else { return }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        record(try String(contentsOf: log, encoding: .utf8))
        server.withLock { $0 = nil }
    }

    var serverLog: String {
        guard let log = server.withLock({ $0?.log }) else { return "" }
        return (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    }

    var baseURL: String { "http://127.0.0.1:\(server.withLock { $0?.port ?? 0 })" }

    /// An HTTP exchange with the server; the response body is recorded.
    func http(
        _ method: HTTPMethod,
        _ path: String,
        bearer: String,
        _ body: JSONValue? = nil
    ) async throws -> (status: UInt, body: JSONValue) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.bytes(body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(90))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let text = String(buffer: bytes)
        record(text)
        return (response.status.code, (try? JSONParser().parse(Array(text.utf8))) ?? .null)
    }

    func cleanUp() {
        try? stop(SIGKILL)
        try? FileManager.default.removeItem(at: root)
    }
}
