import AsyncHTTPClient
import Countersign
import CountersignConnectors
import CountersignServer
import CountersignStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

// Gateway benchmarks; the figures are recorded in docs/performance.md. Run in release mode:
//
//     swift run -c release countersign-gateway-bench loop [--workers 64] [--seconds 10]
//     swift run -c release countersign-gateway-bench http [--requests 20000]
//     swift run -c release countersign-gateway-bench memory --executable .build/release/countersign [--polls 10000]
//     swift run -c release countersign-gateway-bench postgres --server postgres://postgres@127.0.0.1:5432 [--instances 1,3]

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
    let (mode, synchronous) = try await stack.store.durabilitySettings()
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

// MARK: - Memory

func residentMegabytes(_ pid: Int32) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return -1 }
    let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    return kilobytes / 1024
}

func memory() async throws {
    let polls = option("--polls", 10_000)
    guard let executable = stringOption("--executable") else {
        print("memory needs --executable PATH (the countersign binary, release build)")
        exit(2)
    }
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let data = directory.appending(path: "data").path
    func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(filePath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = Pipe()
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }
    let agentKey =
        try run(["agents", "create", "bench", "--data", data])
        .split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("csk_") }.map(String.init) ?? ""
    let userInput = Pipe()
    let add = Process()
    add.executableURL = URL(filePath: executable)
    add.arguments = ["users", "add", "approver@bench.test", "--data", data]
    add.standardInput = userInput
    add.standardOutput = Pipe()
    try add.run()
    userInput.fileHandleForWriting.write(Data("benchmark password\n".utf8))
    try userInput.fileHandleForWriting.close()
    add.waitUntilExit()
    let token =
        try run(["users", "token", "approver@bench.test", "--data", data])
        .split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("cst_") }.map(String.init) ?? ""

    let log = directory.appending(path: "serve.log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let server = Process()
    server.executableURL = URL(filePath: executable)
    server.arguments = ["serve", "--data", data, "--port", "0"]
    server.standardOutput = try FileHandle(forWritingTo: log)
    server.standardError = server.standardOutput
    try server.run()
    var port = 0
    for _ in 0..<200 where port == 0 {
        try await Task.sleep(for: .milliseconds(50))
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        if let range = text.range(of: "listening on http://127.0.0.1:") {
            port = Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0
        }
    }
    try await Task.sleep(for: .seconds(2))
    let idle = residentMegabytes(server.processIdentifier)
    print("Memory of `countersign serve` (resident set size, /proc/PID/status VmRSS)")
    print(String(format: "  idle, after start: %.1f MB", idle))

    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(
        idleTimeout: .seconds(120),
        concurrentHTTP1ConnectionsPerHostSoftLimit: polls + 100
    )
    configuration.timeout = .init(connect: .seconds(30), read: .seconds(120))
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    let base = "http://127.0.0.1:\(port)"
    @Sendable func send(
        _ method: HTTPMethod,
        _ path: String,
        _ bearer: String,
        _ body: String? = nil
    ) async throws -> (
        UInt, String
    ) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(120))
        return (response.status.code, String(buffer: try await response.body.collect(upTo: 1 << 20)))
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
    kill(server.processIdentifier, SIGTERM)
    server.waitUntilExit()
}

switch arguments.dropFirst().first {
case "loop": try await durableLoop()
case "http": try await httpLatency()
case "memory": try await memory()
case "postgres": try await postgresLoop()
default:
    print("usage: countersign-gateway-bench loop|http|memory|postgres [options]; see docs/performance.md")
    exit(2)
}
