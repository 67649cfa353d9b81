public import Countersign
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Executes `shell.run`: one program with arguments (never a shell string), in the workspace root,
/// with a clean environment, a timeout and a cap on the output it keeps.
///
/// The child gets only `PATH`, `HOME` (the root) and `LANG`: Countersign's own environment, which
/// may hold keys, is never passed on.
public struct ShellConnector: Connector {
    public let name = "shell"
    public let operations: [OperationDescriptor]
    /// The working directory of every program.
    public let root: String
    /// Where bare program names are looked up.
    public let searchPath: [String]
    /// The most bytes kept of each of standard output and standard error.
    public let maximumOutputBytes: Int

    /// Creates the connector.
    ///
    /// - Throws: ``ConnectorError`` when the root is not a directory.
    public init(
        root: String,
        searchPath: [String] = ["/usr/local/bin", "/usr/bin", "/bin"],
        maximumOutputBytes: Int = 65_536
    ) throws(ConnectorError) {
        self.root = try FilesConnector.workspaceRoot(root)
        self.searchPath = searchPath
        self.maximumOutputBytes = maximumOutputBytes
        operations = try FilesConnector.compile(ShellOperations.descriptors)
    }

    public func execute(
        _ operation: OperationID,
        arguments: JSONValue,
        context: ExecutionContext
    ) async throws(ConnectorError)
        -> JSONValue
    {
        guard operation.name == "run" else { throw .refused("shell has no operation \(operation.name)") }
        let program = try resolve(arguments["program"]?.stringValue ?? "")
        let argv = arguments["arguments"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let timeout = Int(arguments["timeoutSeconds"]?.numberValue ?? 60)
        return try await run(program, argv, timeoutSeconds: timeout)
    }

    /// Finds the executable: an absolute path, or a bare name on the search path.
    func resolve(_ program: String) throws(ConnectorError) -> String {
        if program.hasPrefix("/") {
            guard access(program, X_OK) == 0, !FilesConnector.isDirectory(program) else {
                throw .notFound("\(program) is not an executable program")
            }
            return program
        }
        guard !program.contains("/") else {
            throw .refused("\(program): give a program name or an absolute path, not a relative path")
        }
        for directory in searchPath {
            let candidate = directory + "/" + program
            if access(candidate, X_OK) == 0 && !FilesConnector.isDirectory(candidate) { return candidate }
        }
        throw .notFound("no program named \(program) on \(searchPath.joined(separator: ":"))")
    }

    func run(_ program: String, _ arguments: [String], timeoutSeconds: Int) async throws(ConnectorError) -> JSONValue {
        let process = Process()
        process.executableURL = URL(filePath: program)
        process.arguments = arguments
        process.currentDirectoryURL = URL(filePath: root, directoryHint: .isDirectory)
        process.environment = ["PATH": searchPath.joined(separator: ":"), "HOME": root, "LANG": "C.UTF-8"]
        process.standardInput = FileHandle.nullDevice
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let collector = OutputCollector(limit: maximumOutputBytes)
        process.terminationHandler = { finished in collector.terminated(status: finished.terminationStatus) }
        do {
            try process.run()
        } catch {
            throw .failed("\(program) could not be started")
        }
        // Blocking reads on threads of their own, never on the cooperative pool.
        for (stream, pipe) in [output, errors].enumerated() {
            let handle = pipe.fileHandleForReading
            Thread.detachNewThread { collector.drain(handle, stream: stream) }
        }
        let pid = process.processIdentifier
        let finishedInTime = await collector.wait(timeout: .seconds(timeoutSeconds))
        if !finishedInTime {
            kill(pid, SIGTERM)
            if !(await collector.wait(timeout: .seconds(2))) { kill(pid, SIGKILL) }
            _ = await collector.wait(timeout: .seconds(10))
            throw .failed("\(program) did not finish within \(timeoutSeconds) s and was stopped")
        }
        let result = collector.result
        return [
            "exitCode": .number(Double(result.status)),
            "stdout": .string(String(decoding: result.streams[0], as: UTF8.self)),
            "stderr": .string(String(decoding: result.streams[1], as: UTF8.self)),
            "truncated": .bool(result.truncated),
        ]
    }
}

/// Gathers a child's output and exit, and wakes the waiter when both pipes closed and it exited.
///
/// Its state lives in a `Mutex`, which is what makes this class `Sendable`.
final class OutputCollector: Sendable {
    struct State {
        var streams: [[UInt8]] = [[], []]
        var closed = [false, false]
        var status: Int32?
        var truncated = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var isDone: Bool { closed[0] && closed[1] && status != nil }
    }

    private let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Reads a pipe until it closes, keeping at most `limit` bytes (and draining the rest, so the
    /// child never blocks on a full pipe).
    func drain(_ handle: FileHandle, stream: Int) {
        while true {
            let data = handle.readData(ofLength: 65_536)
            update { state in
                if data.isEmpty {
                    state.closed[stream] = true
                } else {
                    let room = max(0, limit - state.streams[stream].count)
                    if data.count > room { state.truncated = true }
                    state.streams[stream].append(contentsOf: data.prefix(room))
                }
            }
            if data.isEmpty { return }
        }
    }

    func terminated(status: Int32) {
        update { $0.status = status }
    }

    private func update(_ change: (inout State) -> Void) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            change(&state)
            guard state.isDone else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until the child exited and both pipes closed.
    ///
    /// - Returns: `false` when `timeout` passed first.
    func wait(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let done = self.state.withLock { state in
                        if state.isDone { return true }
                        state.waiters.append(continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            if !first {
                // Release the waiter that lost the race so the group can finish.
                let waiters = state.withLock { state in
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume() }
            }
            return first
        }
    }

    var result: (streams: [[UInt8]], status: Int32, truncated: Bool) {
        state.withLock { ($0.streams, $0.status ?? -1, $0.truncated) }
    }
}
