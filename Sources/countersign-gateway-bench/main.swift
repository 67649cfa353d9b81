import AsyncHTTPClient
import Countersign
import CountersignAgent
import CountersignConnectors
import CountersignServer
import CountersignStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Gateway benchmarks; the figures are recorded in docs/performance.md. Run in release mode:
//
//     swift run -c release countersign-gateway-bench loop [--workers 64] [--seconds 10]
//     swift run -c release countersign-gateway-bench http [--requests 20000]
//     swift run -c release countersign-gateway-bench memory --executable .build/release/countersign [--polls 10000]
//     swift run -c release countersign-gateway-bench postgres --server postgres://postgres@127.0.0.1:5432 [--instances 1,3]
//     swift run -c release countersign-gateway-bench runs --executable .build/release/countersign [--runs 100] [--steps 10] [--json]

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    arguments.firstIndex(of: name).flatMap { arguments.indices.contains($0 + 1) ? Int(arguments[$0 + 1]) : nil }
        ?? fallback
}
func stringOption(_ name: String) -> String? {
    arguments.firstIndex(of: name).flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) / 1e6
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func milliseconds(_ duration: Duration) -> String { String(format: "%.3f ms", seconds(duration) * 1000) }

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appending(path: "countersign-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url.appending(path: "workspace"), withIntermediateDirectories: true)
    try Data("hello\n".utf8).write(to: url.appending(path: "workspace/notes.txt"))
    return url
}

/// Everything asks one approver: each action is proposed, decided, claimed and executed durably.
let askEverything = """
    version: 1
    levels:
      low:      { decision: ask, approvers: 1, ttl: 1h }
      medium:   { decision: ask, approvers: 1, ttl: 1h }
      high:     { decision: ask, approvers: 1, confirm: true, ttl: 1h }
      critical: { decision: ask, approvers: 1, step_up: true, ttl: 1h }
    """

struct Stack {
    let store: SQLiteStore
    let requests: NotifyingStore
    let events: RequestEvents
    let gateway: Gateway
    let executor: Executor

    init(directory: URL, policy: String) throws {
        store = try SQLiteStore(path: directory.appending(path: "countersign.sqlite").path)
        events = RequestEvents()
        requests = NotifyingStore(store, events: events)
        let files = try FilesConnector(root: directory.appending(path: "workspace").path)
        executor = Executor(store: requests, connectors: [files])
        gateway = Gateway(
            catalog: OperationCatalog(files.operations),
            policy: try Policy(yaml: policy, catalog: Catalogs.local()),
            store: requests,
            executor: executor
        )
    }
}

// MARK: - The durable loop

/// Runs `round` in a loop in each of `workers` tasks until `duration` has passed.
///
/// - Returns: How many rounds were done, and in how many seconds.
func loop(
    workers: Int,
    for duration: Duration,
    _ round: @escaping @Sendable (_ worker: Int) async throws -> Void
) async throws -> (rounds: Int, seconds: Double) {
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = start + duration
    let rounds = try await withThrowingTaskGroup(of: Int.self) { group in
        for worker in 0..<workers {
            group.addTask {
                var done = 0
                while clock.now < deadline {
                    try await round(worker)
                    done += 1
                }
                return done
            }
        }
        return try await group.reduce(0, +)
    }
    return (rounds, seconds(clock.now - start))
}

/// The loop's action: agent `worker` reads a file.
@Sendable func readNotes(_ worker: Int) -> ProposedAction {
    ProposedAction(
        operation: OperationID("files.read")!,
        arguments: ["path": "notes.txt"],
        principal: "ana@acme.test",
        agent: "agent-\(worker)"
    )
}

/// The loop's decision: the approver approves the digest shown.
@Sendable func approval(of request: ActionRequest) -> Decision {
    Decision(
        requestID: request.id,
        approver: "bob@acme.test",
        verdict: .approve,
        digest: request.digest,
        authentication: AuthenticationRecord(method: .apiToken, authTime: Date()),
        decidedAt: Date()
    )
}

func durableLoop() async throws {
    let workers = option("--workers", 64)
    let duration = Duration.seconds(option("--seconds", 10))
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let stack = try Stack(directory: directory, policy: askEverything)
    let (mode, synchronous, _) = try await stack.store.durabilitySettings()
    print("Durable loop: propose → approve → claim → execute (files.read), \(workers) concurrent agents")
    print("  journal_mode=\(mode), synchronous=\(synchronous) (2 = FULL)")
    // Warm up.
    for worker in 0..<workers {
        let request = try await stack.gateway.propose(readNotes(worker))
        _ = try await stack.requests.decide(approval(of: request), now: Date())
        _ = try await stack.executor.execute(requestID: request.id)
    }
    let before = stack.store.commitStatistics
    let cpuStart = cpuSeconds()
    let (completed, elapsed) = try await loop(workers: workers, for: duration) { worker in
        let request = try await stack.gateway.propose(readNotes(worker))
        _ = try await stack.requests.decide(approval(of: request), now: Date())
        guard try await stack.executor.execute(requestID: request.id)?.state == .executed else {
            fatalError("an approved request did not execute")
        }
    }
    let cpu = cpuSeconds() - cpuStart
    let after = stack.store.commitStatistics
    let commits = after.commits - before.commits
    let transactions = after.transactions - before.transactions
    let verification = try await stack.store.verifyAudit(checkpoints: [], publicKey: nil) { _ in }
    print(String(format: "  %.0f decisions/s (%d in %.1f s)", Double(completed) / elapsed, completed, elapsed))
    print(String(format: "  CPU %.3f ms per decision (user + system, whole process)", cpu / Double(completed) * 1000))
    print(
        String(
            format:
                "  %d commits for %d transactions: %.1f transactions and %.2f commits (fsyncs of the WAL) per decision",
            commits,
            transactions,
            Double(transactions) / Double(max(commits, 1)),
            Double(commits) / Double(completed)
        )
    )
    print("  audit log: \(verification.entries) entries, intact: \(verification.isIntact)")
}

// MARK: - The durable loop on PostgreSQL, one and several instances

/// CPU seconds used so far by every process named `postgres` on this machine (the benchmark's
/// own server): what the database spends on the loop.
func postgresCPUSeconds() -> Double {
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    var total = 0.0
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
        guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
            stat[stat.index(after: open)..<close] == "postgres"
        else { continue }
        // Fields after the command: state is the 3rd field of the whole line; utime and stime the 14th and 15th.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
        total += (user + system) / ticks
    }
    return total
}

/// The PostgreSQL driver's logger: errors only.
let quietLogger: Logger = {
    var logger = Logger(label: "countersign.postgres")
    logger.logLevel = .error
    return logger
}()

/// Creates an empty database on the server for one run.
func freshPostgresDatabase(server: String) async throws -> String {
    guard let components = URLComponents(string: server), let host = components.host, let user = components.user
    else { throw CancellationError() }
    let name = "countersign_bench_\(UUID().uuidString.prefix(8).lowercased())"
    let admin = PostgresClient(
        configuration: .init(
            host: host,
            port: components.port ?? 5432,
            username: user,
            password: components.password,
            database: "postgres",
            tls: .disable
        ),
        backgroundLogger: quietLogger
    )
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await admin.run() }
        try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: quietLogger)
        group.cancelAll()
    }
    let base = server.hasSuffix("/") ? String(server.dropLast()) : server
    return "\(base)/\(name)?sslmode=disable"
}

/// The durable loop with `instances` Countersign instances on one PostgreSQL database: each has
/// its own connection pool, gateway and executor; each agent proposes on one instance, is decided
/// on the next and executed by the one after, so every step crosses instances.
func postgresLoop() async throws {
    guard let server = stringOption("--server") ?? ProcessInfo.processInfo.environment["COUNTERSIGN_BENCH_POSTGRES"]
    else {
        print("postgres needs --server postgres://user@host:port (a server it may create databases on)")
        exit(2)
    }
    let workers = option("--workers", 64)
    let duration = Duration.seconds(option("--seconds", 10))
    let counts = (stringOption("--instances") ?? "1,3").split(separator: ",").compactMap { Int($0) }
    print("Durable loop on PostgreSQL: propose → approve → claim → execute (files.read), \(workers) concurrent agents")
    for count in counts {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = try await freshPostgresDatabase(server: server)
        var instances: [(store: PostgresStore, gateway: Gateway, requests: NotifyingStore, executor: Executor)] = []
        for _ in 0..<count {
            let store = try await PostgresStore(url: url, logger: quietLogger)
            let requests = NotifyingStore(store, events: RequestEvents())
            let files = try FilesConnector(root: directory.appending(path: "workspace").path)
            let executor = Executor(store: requests, connectors: [files])
            let gateway = Gateway(
                catalog: OperationCatalog(files.operations),
                policy: try Policy(yaml: askEverything, catalog: Catalogs.local()),
                store: requests,
                executor: executor
            )
            instances.append((store, gateway, requests, executor))
        }
        let stacks = instances
        @Sendable func round(_ worker: Int) async throws {
            let proposing = stacks[worker % count]
            let deciding = stacks[(worker + 1) % count]
            let executing = stacks[(worker + 2) % count]
            let request = try await proposing.gateway.propose(readNotes(worker))
            _ = try await deciding.requests.decide(approval(of: request), now: Date())
            guard try await executing.executor.execute(requestID: request.id)?.state == .executed else {
                fatalError("an approved request did not execute")
            }
        }
        for worker in 0..<workers { try await round(worker) }
        let (cpuStart, databaseStart) = (cpuSeconds(), postgresCPUSeconds())
        let (completed, elapsed) = try await loop(workers: workers, for: duration, round)
        let (cpu, database) = (cpuSeconds() - cpuStart, postgresCPUSeconds() - databaseStart)
        let verification = try await stacks[0].store.verifyAudit(checkpoints: [], publicKey: nil) { _ in }
        print("  \(count) instance\(count == 1 ? "" : "s"):")
        print(String(format: "    %.0f decisions/s (%d in %.1f s)", Double(completed) / elapsed, completed, elapsed))
        print(
            String(
                format: "    CPU per decision: Countersign %.3f ms, PostgreSQL %.3f ms",
                cpu / Double(completed) * 1000,
                database / Double(completed) * 1000
            )
        )
        print("    audit log: \(verification.entries) entries in one chain, intact: \(verification.isIntact)")
        for stack in stacks { stack.store.close() }
    }
}

// MARK: - An auto-allowed action over HTTP

func httpLatency() async throws {
    let count = option("--requests", 20_000)
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let stack = try Stack(directory: directory, policy: Policy.defaultYAML)
    let key = APIKey.generate()
    try await stack.store.createAgent(
        Agent(name: "bench", keyID: key.id, keyHash: key.hash, createdAt: Date()),
        actor: "bench"
    )
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    let (ports, announce) = AsyncStream.makeStream(of: Int.self)
    let application = buildApplication(
        configuration: ServerConfiguration(host: "127.0.0.1", port: 0),
        context: ServerContext(
            gateway: stack.gateway,
            requests: stack.requests,
            events: stack.events,
            agents: stack.store,
            users: stack.store,
            secrets: try SecretBox(rawKey: SecretBox.generateRawKey())
        ),
        logger: logger
    ) { port in announce.yield(port) }
    let server = Task { try await application.run() }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { return }
    let url = "http://127.0.0.1:\(port)/v1/actions"
    let body = ByteBuffer(
        string: #"{"operation":"files.read","arguments":{"path":"notes.txt"},"onBehalfOf":"ana@acme.test"}"#
    )
    func once() async throws -> Duration {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(key.secret.reveal())")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(body)
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let elapsed = clock.now - start
        guard response.status == .created, String(buffer: bytes).contains(#""state":"executed""#) else {
            fatalError("unexpected response \(response.status)")
        }
        return elapsed
    }
    for _ in 0..<500 { _ = try await once() }
    var latencies: [Duration] = []
    latencies.reserveCapacity(count)
    for _ in 0..<count { latencies.append(try await once()) }
    latencies.sort()
    func percentile(_ fraction: Double) -> Duration {
        latencies[min(latencies.count - 1, Int(Double(latencies.count) * fraction))]
    }
    // The same requests from a client that does almost nothing: the server's latency alone.
    let raw = try await LoopbackClient.latencies(
        port: port,
        request: Array(
            """
            POST /v1/actions HTTP/1.1\r
            Host: 127.0.0.1\r
            Authorization: Bearer \(key.secret.reveal())\r
            Content-Type: application/json\r
            Content-Length: \(body.readableBytes)\r
            \r
            \(String(buffer: body))
            """.utf8
        ),
        count: count
    ).sorted()
    // The same action through the gateway in-process, without HTTP.
    var direct: [Duration] = []
    let directClock = ContinuousClock()
    let readAction = ProposedAction(
        operation: OperationID("files.read")!,
        arguments: ["path": "notes.txt"],
        principal: "ana@acme.test",
        agent: "bench"
    )
    for _ in 0..<5000 {
        let start = directClock.now
        guard try await stack.gateway.propose(readAction).state == .executed else { fatalError("not executed") }
        direct.append(directClock.now - start)
    }
    direct.sort()
    // What the disk alone costs: the request commits twice (record + claim, then the result), each
    // with an fsync of the WAL.
    let probe = open(directory.appending(path: "fsync-probe").path, O_CREAT | O_WRONLY, 0o600)
    let page = [UInt8](repeating: 7, count: 4096)
    var syncs: [Duration] = []
    let probeClock = ContinuousClock()
    for index in 0..<2000 {
        let start = probeClock.now
        _ = page.withUnsafeBytes { pwrite(probe, $0.baseAddress, 4096, off_t(index % 64) * 4096) }
        fdatasync(probe)
        syncs.append(probeClock.now - start)
    }
    close(probe)
    syncs.sort()
    print("Auto-allowed files.read over HTTP on loopback, one client, \(count) requests (keep-alive)")
    print("  (each: authenticate, parse, validate, assess, record durably, claim, read the file, record the result)")
    print(
        "  p50 \(milliseconds(percentile(0.5)))  p99 \(milliseconds(percentile(0.99)))  p99.9 \(milliseconds(percentile(0.999)))"
    )
    print(
        "  from a bare client (one blocking socket on its own thread, the request written in one piece): "
            + "p50 \(milliseconds(raw[raw.count / 2]))  p99 \(milliseconds(raw[raw.count * 99 / 100]))  "
            + "p99.9 \(milliseconds(raw[raw.count * 999 / 1000]))"
    )
    print(
        "  the gateway alone, in-process without HTTP: p50 \(milliseconds(direct[direct.count / 2])), "
            + "p99 \(milliseconds(direct[direct.count * 99 / 100]))"
    )
    print(
        "  the disk: a 4 KiB write + fdatasync takes p50 \(milliseconds(syncs[syncs.count / 2])), "
            + "p99 \(milliseconds(syncs[syncs.count * 99 / 100])); each request waits for two"
    )
    server.cancel()
    _ = await server.result
}

/// A keep-alive HTTP/1.1 client that is one blocking socket on a thread of its own: it writes a
/// prepared request in one `write` and reads the response to its end, so what it times is the
/// server and the loopback, not a client library's event loops and task hops.
enum LoopbackClient {
    /// The latency of `count` requests, one after the other, after 500 to warm up.
    static func latencies(port: Int, request: [UInt8], count: Int) async throws -> [Duration] {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try run(port: port, request: request, count: count) })
            }
            thread.start()
        }
    }

    private static func run(port: Int, request: [UInt8], count: Int) throws -> [Duration] {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.EIO) }
        defer { close(socket) }
        var noDelay: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        let clock = ContinuousClock()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var latencies: [Duration] = []
        latencies.reserveCapacity(count)
        for index in 0..<(500 + count) {
            let start = clock.now
            guard request.withUnsafeBytes({ write(socket, $0.baseAddress, $0.count) }) == request.count else {
                throw POSIXError(.EIO)
            }
            // Read the head, then as many body bytes as Content-Length says.
            var received = 0
            var expected: Int?
            while expected.map({ received < $0 }) ?? true {
                if received == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
                let read = buffer.withUnsafeMutableBytes {
                    Glibc.read(socket, $0.baseAddress! + received, $0.count - received)
                }
                guard read > 0 else { throw POSIXError(.ECONNRESET) }
                received += read
                if expected == nil { expected = responseLength(buffer[..<received]) }
            }
            guard buffer.starts(with: Array("HTTP/1.1 201".utf8)) else {
                fatalError("unexpected response: \(String(decoding: buffer[..<received], as: UTF8.self))")
            }
            if index >= 500 { latencies.append(clock.now - start) }
        }
        return latencies
    }

    /// The whole response's length once its head has arrived (head plus Content-Length), else `nil`.
    private static func responseLength(_ bytes: ArraySlice<UInt8>) -> Int? {
        let separator = Array("\r\n\r\n".utf8)
        guard let end = bytes.firstRange(of: separator)?.upperBound else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self).lowercased()
        guard let range = head.range(of: "content-length: ") else { fatalError("a response without Content-Length") }
        return end - bytes.startIndex + (Int(head[range.upperBound...].prefix { $0.isNumber }) ?? 0)
    }
}

// MARK: - Memory

func residentMegabytes(_ pid: Int32) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return -1 }
    let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    return kilobytes / 1024
}

/// A `countersign serve` process (the executable given) on a fresh data directory, with an agent
/// `bench` and an approver.
struct Served {
    let executable: String
    let directory: URL
    let data: String
    let agentKey: String
    let approverToken: String
    private(set) var process: Process
    private(set) var port: Int

    var base: String { "http://127.0.0.1:\(port)" }
    var databasePath: String { data + "/countersign.sqlite" }

    /// Creates the data directory, the agent and the approver, and starts the server.
    static func start(executable: String) async throws -> Served {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let directory = try temporaryDirectory()
        let data = directory.appending(path: "data").path
        func run(_ arguments: [String], input: String? = nil) throws -> String {
            let process = Process()
            process.executableURL = URL(filePath: executable)
            process.arguments = arguments + ["--data", data]
            let output = Pipe()
            let stdin = Pipe()
            process.standardOutput = output
            process.standardInput = stdin
            try process.run()
            if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
            try stdin.fileHandleForWriting.close()
            let bytes = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: bytes, as: UTF8.self)
        }
        func word(_ prefix: String, in text: String) -> String {
            text.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix(prefix) }.map(String.init) ?? ""
        }
        let agentKey = word("csk_", in: try run(["agents", "create", "bench"]))
        _ = try run(["users", "add", "approver@bench.test"], input: "benchmark password\n")
        let token = word("cst_", in: try run(["users", "token", "approver@bench.test"]))
        let (process, port) = try await serve(
            executable: executable,
            data: data,
            log: directory.appending(path: "serve.log")
        )
        return Served(
            executable: executable,
            directory: directory,
            data: data,
            agentKey: agentKey,
            approverToken: token,
            process: process,
            port: port
        )
    }

    private static func serve(executable: String, data: String, log: URL) async throws -> (Process, Int) {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let server = Process()
        server.executableURL = URL(filePath: executable)
        server.arguments = ["serve", "--data", data, "--port", "0"]
        server.standardOutput = try FileHandle(forWritingTo: log)
        server.standardError = server.standardOutput
        try server.run()
        for _ in 0..<200 {
            try await Task.sleep(for: .milliseconds(50))
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: "listening on http://127.0.0.1:") {
                return (server, Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0)
            }
        }
        fatalError("countersign serve did not start; see \(log.path)")
    }

    /// Stops the server (SIGTERM: it closes the database) and starts it again on the same data.
    mutating func restart() async throws {
        stop()
        (process, port) = try await Self.serve(
            executable: executable,
            data: data,
            log: directory.appending(path: "serve-again.log")
        )
    }

    /// Stops the server and waits for it to exit.
    func stop() {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    /// The server's CPU time so far (user and system), from /proc/PID/stat.
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command's name.
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The database's size on disk once its write-ahead log is copied in (the server stopped).
    func databaseBytes() async throws -> Int {
        try await SQLiteStore(path: databasePath).checkpointWAL()
        return (try? FileManager.default.attributesOfItem(atPath: databasePath)[.size] as? Int) ?? 0
    }
}

/// An HTTP client that keeps `connections` connections to one host open.
func benchClient(connections: Int) -> HTTPClient {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(
        idleTimeout: .seconds(120),
        concurrentHTTP1ConnectionsPerHostSoftLimit: connections
    )
    configuration.timeout = .init(connect: .seconds(30), read: .seconds(120))
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}

/// Sends a call and reads the answer's status and body.
@Sendable func call(
    _ client: HTTPClient,
    _ method: HTTPMethod,
    _ url: String,
    _ bearer: String,
    _ body: String? = nil
) async throws -> (UInt, String) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
    if let body {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
    }
    let response = try await client.execute(request, timeout: .seconds(120))
    return (response.status.code, String(buffer: try await response.body.collect(upTo: 4 << 20)))
}

func memory() async throws {
    let polls = option("--polls", 10_000)
    guard let executable = stringOption("--executable") else {
        print("memory needs --executable PATH (the countersign binary, release build)")
        exit(2)
    }
    let served = try await Served.start(executable: executable)
    defer { try? FileManager.default.removeItem(at: served.directory) }
    let (server, agentKey, token) = (served.process, served.agentKey, served.approverToken)
    try await Task.sleep(for: .seconds(2))
    let idle = residentMegabytes(server.processIdentifier)
    print("Memory of `countersign serve` (resident set size, /proc/PID/status VmRSS)")
    print(String(format: "  idle, after start: %.1f MB", idle))

    let client = benchClient(connections: polls + 100)
    let base = served.base
    @Sendable func send(
        _ method: HTTPMethod,
        _ path: String,
        _ bearer: String,
        _ body: String? = nil
    ) async throws -> (UInt, String) {
        try await call(client, method, base + path, bearer, body)
    }
    // Propose the requests the agents will wait on (Medium: held for a human).
    var ids: [String] = []
    try await withThrowingTaskGroup(of: String.self) { group in
        for index in 0..<polls {
            group.addTask {
                let (_, text) = try await send(
                    .POST,
                    "/v1/actions",
                    agentKey,
                    #"{"operation":"files.write","arguments":{"path":"f\#(index).txt","content":"x"},"onBehalfOf":"ana@acme.test"}"#
                )
                let value = try JSONParser().parse(Array(text.utf8))
                return value["id"]?.stringValue ?? ""
            }
            if index >= 256 { ids.append(try await group.next() ?? "") }
        }
        for try await id in group { ids.append(id) }
    }
    let afterProposals = residentMegabytes(server.processIdentifier)
    print(String(format: "  after %d proposals: %.1f MB", polls, afterProposals))
    let waitingIDs = ids
    let waiting = Task {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for id in waitingIDs {
                group.addTask {
                    let (_, text) = try await send(.GET, "/v1/actions/\(id)?wait=60", agentKey)
                    return text.contains(#""state":"denied""#)
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
    }
    var peak = 0.0
    for _ in 0..<40 {
        try await Task.sleep(for: .milliseconds(250))
        peak = max(peak, residentMegabytes(server.processIdentifier))
    }
    print(String(format: "  with %d agents long-polling at once: %.1f MB", polls, peak))
    let clock = ContinuousClock()
    let start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for (index, id) in ids.enumerated() {
            group.addTask {
                _ = try await send(.POST, "/v1/approvals/\(id)/deny", token, #"{"reason":"benchmark"}"#)
            }
            if index >= 64 { try await group.next() }
        }
        try await group.waitForAll()
    }
    let answeredCount = try await waiting.value
    print(
        String(
            format:
                "  decided all %d over HTTP in %.1f s; %d of %d long-polls answered with the decision; peak %.1f MB",
            ids.count,
            seconds(clock.now - start),
            answeredCount,
            polls,
            max(peak, residentMegabytes(server.processIdentifier))
        )
    )
    try await client.shutdown()
    served.stop()
}

// MARK: - Runs: every step held, approved through the API, resumed

/// N runs × K steps through the API of a `countersign serve` process, the loop LangGraph's
/// interrupt and resume run (`bench/langgraph_interrupts.py`): each run's steps are chained, each
/// one held for an approver (Medium), reviewed and approved over HTTP, executed, and the run
/// resumed to propose the next.
func runsBenchmark() async throws {
    let runs = option("--runs", 100)
    let steps = option("--steps", 10)
    if arguments.contains("--in-process") { return try await runsInProcess(runs: runs, steps: steps) }
    guard let executable = stringOption("--executable") else {
        print("runs needs --executable PATH (the countersign binary, release build)")
        exit(2)
    }
    var served = try await Served.start(executable: executable)
    defer { try? FileManager.default.removeItem(at: served.directory) }
    // The database as a fresh server leaves it, checkpointed: what the runs add is measured from here.
    try await served.restart()
    served.stop()
    let emptyBytes = try await served.databaseBytes()
    try await served.restart()
    let client = benchClient(connections: 2 * runs + 16)
    let (base, agent, approver) = (served.base, served.agentKey, served.approverToken)
    final class Latencies: Sendable {
        let values = Mutex<[Duration]>([])
    }
    let latencies = Latencies()
    @Sendable func json(_ answer: (UInt, String), expect status: UInt) throws -> JSONValue {
        guard answer.0 == status else { fatalError("HTTP \(answer.0): \(answer.1)") }
        return try JSONParser().parse(Array(answer.1.utf8))
    }
    @Sendable func one(_ index: Int) async throws {
        let plan = (0..<steps).map { step in
            #"{"operation":"files.write","arguments":{"path":"r\#(index)/s\#(step).txt","content":"x"},"rationale":"step \#(step)""#
                + (step == 0 ? "}" : #","dependsOn":[\#(step - 1)]}"#)
        }
        var run = try json(
            try await call(
                client,
                .POST,
                base + "/v1/runs",
                agent,
                #"{"goal":"Write \#(steps) files","onBehalfOf":"ana@bench.test","plan":[\#(plan.joined(separator: ","))]}"#
            ),
            expect: 201
        )
        let id = run["id"]?.stringValue ?? ""
        let clock = ContinuousClock()
        for step in 0..<steps {
            let current = run["steps"]?.arrayValue ?? []
            guard current.indices.contains(step), let requestID = current[step]["requestID"]?.stringValue else {
                fatalError("step \(step) of \(id) was not proposed: \(CanonicalJSON.string(run))")
            }
            // The approver reviews the payload, then approves what it reviewed.
            let review = try json(
                try await call(client, .GET, base + "/v1/approvals/\(requestID)", approver),
                expect: 200
            )
            let digest = review["digest"]?.stringValue ?? ""
            let start = clock.now
            _ = try json(
                try await call(
                    client,
                    .POST,
                    base + "/v1/approvals/\(requestID)/approve",
                    approver,
                    #"{"digest":"\#(digest)"}"#
                ),
                expect: 200
            )
            // The agent waits for the run to resume: the step executed, the next one proposed.
            while true {
                let version = Int(run["version"]?.numberValue ?? 0)
                run = try json(
                    try await call(client, .GET, base + "/v1/runs/\(id)?wait=30&version=\(version)", agent),
                    expect: 200
                )
                let now = run["steps"]?.arrayValue ?? []
                let resumed =
                    step + 1 < steps
                    ? now.indices.contains(step + 1) && now[step + 1]["state"] == "proposed"
                    : run["state"] == "completed"
                if resumed { break }
                if run["state"] != "running" { fatalError("run \(id) ended: \(CanonicalJSON.string(run))") }
            }
            let elapsed = clock.now - start
            latencies.values.withLock { $0.append(elapsed) }
        }
    }
    let cpuStart = served.cpuSeconds
    let clock = ContinuousClock()
    let start = clock.now
    try await withThrowingDiscardingTaskGroup { group in
        for index in 0..<runs { group.addTask { try await one(index) } }
    }
    let elapsed = seconds(clock.now - start)
    let cpu = served.cpuSeconds - cpuStart
    try await client.shutdown()
    served.stop()
    let sorted = latencies.values.withLock { $0 }.sorted()
    let bytes = try await served.databaseBytes() - emptyBytes
    print("Runs through the API: \(runs) runs × \(steps) steps, every step held, reviewed and approved over HTTP")
    print("  (Medium files.write steps, chained; the runs in parallel, each waiting on its run's long-poll)")
    printFigures(runs: runs, steps: steps, elapsed: elapsed, cpu: cpu, of: "server", latencies: sorted, bytes: bytes)
}

/// The runs benchmark's figures; with `--json`, also as one JSON line (for bench/compare.sh).
func printFigures(
    runs: Int,
    steps: Int,
    elapsed: Double,
    cpu: Double,
    of process: String,
    latencies sorted: [Duration],
    bytes: Int
) {
    let decisions = runs * steps
    print(String(format: "  %.0f decisions/s (%d in %.2f s)", Double(decisions) / elapsed, decisions, elapsed))
    print("  CPU per decision (\(process)): " + String(format: "%.3f ms", cpu / Double(decisions) * 1000))
    print(
        "  resume latency (approve → the next step proposed): p50 \(milliseconds(sorted[sorted.count / 2])), "
            + "p99 \(milliseconds(sorted[min(sorted.count - 1, sorted.count * 99 / 100)]))"
    )
    print(
        String(
            format: "  storage per decision: %.1f KB (database growth %.1f MB)",
            Double(bytes) / Double(decisions) / 1024,
            Double(bytes) / 1_048_576
        )
    )
    if arguments.contains("--json") {
        let figures: JSONValue = [
            "runs": .number(Double(runs)), "steps": .number(Double(steps)),
            "decisions_per_second": .number(Double(decisions) / elapsed),
            "cpu_ms_per_decision": .number(cpu / Double(decisions) * 1000),
            "resume_p50_ms": .number(seconds(sorted[sorted.count / 2]) * 1000),
            "resume_p99_ms": .number(seconds(sorted[min(sorted.count - 1, sorted.count * 99 / 100)]) * 1000),
            "storage_kb_per_decision": .number(Double(bytes) / Double(decisions) / 1024),
        ]
        print(CanonicalJSON.string(figures))
    }
}

/// The same loop in one process, without HTTP, as LangGraph's graph runs in its driver's process:
/// the run engine proposes each step, the approver's decision is recorded bound to the digest, the
/// executor runs the step, and the engine resumes the run; every change durable (SQLite, WAL,
/// `synchronous=FULL`) and audited.
func runsInProcess(runs: Int, steps: Int) async throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let stack = try Stack(directory: directory, policy: Policy.defaultYAML)
    let engine = RunEngine(runs: stack.store, requests: stack.requests, gateway: stack.gateway)
    try await stack.store.checkpointWAL()
    let database = directory.appending(path: "countersign.sqlite").path
    let emptyBytes = (try? FileManager.default.attributesOfItem(atPath: database)[.size] as? Int) ?? 0
    final class Latencies: Sendable {
        let values = Mutex<[Duration]>([])
    }
    let latencies = Latencies()
    @Sendable func one(_ index: Int) async throws {
        let plan = try PlanFile(
            json: .array(
                (0..<steps).map { step in
                    [
                        "operation": "files.write",
                        "arguments": ["path": .string("r\(index)/s\(step).txt"), "content": "x"],
                        "rationale": .string("step \(step)"),
                        "dependsOn": step == 0 ? [] : [.number(Double(step - 1))],
                    ]
                }
            )
        )
        var run = try await engine.start(
            goal: "Write \(steps) files",
            principal: "ana@bench.test",
            agent: "bench",
            planner: plan
        )
        let clock = ContinuousClock()
        for step in 0..<steps {
            guard let requestID = run.steps[step].requestID, let held = try await stack.requests.request(id: requestID)
            else { fatalError("step \(step) of \(run.id) was not proposed") }
            let start = clock.now
            _ = try await stack.requests.decide(approval(of: held), now: Date())
            guard try await stack.executor.execute(requestID: requestID)?.state == .executed else {
                fatalError("an approved step did not execute")
            }
            run = try await engine.advance(run.id)
            let resumed = step + 1 < steps ? run.steps[step + 1].state == .proposed : run.state == .completed
            guard resumed else { fatalError("run \(run.id) did not resume: \(run.state)") }
            let elapsed = clock.now - start
            latencies.values.withLock { $0.append(elapsed) }
        }
    }
    let cpuStart = cpuSeconds()
    let clock = ContinuousClock()
    let start = clock.now
    try await withThrowingDiscardingTaskGroup { group in
        for index in 0..<runs { group.addTask { try await one(index) } }
    }
    let elapsed = seconds(clock.now - start)
    let cpu = cpuSeconds() - cpuStart
    try await stack.store.checkpointWAL()
    let bytes = ((try? FileManager.default.attributesOfItem(atPath: database)[.size] as? Int) ?? 0) - emptyBytes
    let verification = try await stack.store.verifyAudit(checkpoints: [], publicKey: nil) { _ in }
    let sorted = latencies.values.withLock { $0 }.sorted()
    print("Runs in one process: \(runs) runs × \(steps) steps, every step held, approved, executed and resumed")
    print("  (Medium files.write steps, chained; the runs in parallel; SQLite WAL, synchronous=FULL)")
    print("  audit log: \(verification.entries) entries, intact: \(verification.isIntact)")
    printFigures(
        runs: runs,
        steps: steps,
        elapsed: elapsed,
        cpu: cpu,
        of: "the whole process",
        latencies: sorted,
        bytes: bytes
    )
}

switch arguments.dropFirst().first {
case "loop": try await durableLoop()
case "http": try await httpLatency()
case "memory": try await memory()
case "postgres": try await postgresLoop()
case "runs": try await runsBenchmark()
default:
    print("usage: countersign-gateway-bench loop|http|memory|postgres|runs [options]; see docs/performance.md")
    exit(2)
}
