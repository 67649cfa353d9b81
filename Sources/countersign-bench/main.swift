import Countersign
import CountersignConnectors
import CountersignStore
import Foundation

// Prints the figures recorded in docs/performance.md. Run it in release mode:
//
//     swift run -c release countersign-bench [--events N]
//
// It measures one thread (one core) for assessments and the audit verifier.

let arguments = CommandLine.arguments
let eventCount = arguments.firstIndex(of: "--events").flatMap { Int(arguments[$0 + 1]) } ?? 1_000_000

func percentile(_ sorted: [Duration], _ fraction: Double) -> Duration {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}

func microseconds(_ duration: Duration) -> String {
    let value = Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
    return String(format: "%.2f µs", value)
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

// MARK: - Risk assessment

let catalog = Catalogs.local()
let policy = try Policy(yaml: BenchmarkPolicy.yaml, catalog: catalog)
precondition(policy.rules.count == 30, "the benchmark policy must have 30 rules")
let workload = BenchmarkPolicy.actions().map { action in (action, try! catalog.validate(action)) }
print("Risk assessment: \(policy.rules.count)-rule policy, \(workload.count) distinct actions, one thread")

var checksum = 0
if let position = arguments.firstIndex(of: "--profile-action").flatMap({ Int(arguments[$0 + 1]) }) {
    // Repeats one action, for a profiler: `valgrind --tool=callgrind countersign-bench --profile-action N`.
    let (action, descriptor) = workload[position]
    for _ in 0..<20_000 { checksum &+= policy.assess(action, operation: descriptor).reasons.count }
    print("checksum \(checksum)")
    exit(0)
}
let warmup = 200_000
for index in 0..<warmup {
    let (action, descriptor) = workload[index % workload.count]
    checksum &+= policy.assess(action, operation: descriptor).reasons.count
}

let iterations = 2_000_000
let clock = ContinuousClock()
let throughputStart = clock.now
for index in 0..<iterations {
    let (action, descriptor) = workload[index % workload.count]
    checksum &+= policy.assess(action, operation: descriptor).reasons.count
}
let throughputElapsed = clock.now - throughputStart
let perSecond = Double(iterations) / seconds(throughputElapsed)

var latencies: [Duration] = []
latencies.reserveCapacity(500_000)
for index in 0..<500_000 {
    let (action, descriptor) = workload[index % workload.count]
    let start = clock.now
    checksum &+= policy.assess(action, operation: descriptor).reasons.count
    latencies.append(clock.now - start)
}
latencies.sort()
print(String(format: "  throughput        %.0f assessments/s", perSecond))
print(
    "  latency           p50 \(microseconds(percentile(latencies, 0.50)))  p99 \(microseconds(percentile(latencies, 0.99)))  p99.9 \(microseconds(percentile(latencies, 0.999)))"
)

if arguments.contains("--by-action") {
    for (action, descriptor) in workload {
        let start = clock.now
        for _ in 0..<2000 { checksum &+= policy.assess(action, operation: descriptor).reasons.count }
        let mean = (clock.now - start) / 2000
        print("    \(microseconds(mean))  \(action.operation) \(CanonicalJSON.string(action.arguments).prefix(60))")
    }
}

// The whole intake: schema validation, assessment and digest.
let intakeStart = clock.now
let intakeIterations = 500_000
for index in 0..<intakeIterations {
    let (action, _) = workload[index % workload.count]
    let descriptor = try catalog.validate(action)
    checksum &+= policy.assess(action, operation: descriptor).reasons.count &+ Int(action.digest.bytes[0])
}
let intakePerSecond = Double(intakeIterations) / seconds(clock.now - intakeStart)
print(
    String(
        format: "  full intake       %.0f actions/s (schema validation + assessment + RFC 8785 digest)",
        intakePerSecond
    )
)

// MARK: - Audit verification

let directory = FileManager.default.temporaryDirectory.appending(path: "countersign-bench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }
let store = try SQLiteStore(path: directory.appending(path: "countersign.sqlite").path)
print("\nAudit log: appending \(eventCount) events…")
let base = Date(timeIntervalSince1970: 1_900_000_000)
let appendStart = clock.now
var written = 0
while written < eventCount {
    var batch: [AuditEvent] = []
    for index in written..<min(eventCount, written + 10_000) {
        let kinds = [AuditKind.proposed, AuditKind.assessed, AuditKind.executed]
        let arguments: JSONValue = ["path": "notes/todo.md", "content": "- ship the release notes"]
        let data: JSONValue = [
            "operation": "files.write", "principal": "ana@acme.test", "arguments": arguments,
            "digest": "sha256:4b250175575463da5be1a3f45ca7a18ddc8b2e186854f68cd1401c8e27867e13",
            "scopes": ["files:write"],
        ]
        let requestID = "9f1c2d3e-4b5a-6978-8a9b-" + String(format: "%012d", index / 3)
        batch.append(
            AuditEvent(
                kind: kinds[index % 3],
                actor: index % 3 == 0 ? "agent:release-bot" : "system",
                requestID: requestID,
                at: base.addingTimeInterval(Double(index)),
                data: data
            )
        )
    }
    try await store.append(contentsOf: batch)
    written += batch.count
}
print(
    String(
        format: "  appended          %.0f events/s (batches of 10,000 per transaction)",
        Double(eventCount) / seconds(clock.now - appendStart)
    )
)

let verifyStart = clock.now
let verification = try await store.verifyAudit(checkpoints: [], publicKey: nil) { _ in }
let verifyElapsed = clock.now - verifyStart
precondition(verification.isIntact && verification.entries == Int64(eventCount))
print(
    String(
        format: "  verify            %d events in %.2f s (%.0f events/s)",
        eventCount,
        seconds(verifyElapsed),
        Double(eventCount) / seconds(verifyElapsed)
    )
)
print("\n(checksum \(checksum))")
