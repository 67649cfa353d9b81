import Countersign
import CountersignConnectors
import CountersignServer
import CountersignStore
import Foundation
import Logging
import Testing

@Suite("Executor service")
struct ExecutorServiceTests {
    @Test("approved and stranded auto-approved requests are executed once, whoever drains them")
    func drainsApproved() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "countersign-exec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: directory.appending(path: "countersign.sqlite").path)
        let files = try FilesConnector(root: directory.path)
        let executor = Executor(store: store, connectors: [files])
        let gateway = Gateway(
            catalog: OperationCatalog(files.operations),
            policy: try Policy(yaml: "version: 1\n", catalog: Catalogs.local()),
            store: store,
            executor: executor
        )
        let action = ProposedAction(
            operation: OperationID("files.append")!,
            arguments: ["path": "log.txt", "content": "once\n"],
            principal: "ana@acme.test",
            agent: "planner"
        )
        let request = try await gateway.propose(action)
        _ = try await store.decide(
            Decision(
                requestID: request.id,
                approver: "bob@acme.test",
                verdict: .approve,
                digest: request.digest,
                authentication: AuthenticationRecord(method: .password, authTime: Date()),
                decidedAt: Date()
            ),
            now: Date()
        )
        // An auto-approved request the gateway recorded but never claimed (as after a crash).
        try "notes".write(to: directory.appending(path: "notes.txt"), atomically: true, encoding: .utf8)
        let read = ProposedAction(
            operation: OperationID("files.read")!,
            arguments: ["path": "notes.txt"],
            principal: "ana",
            agent: "a"
        )
        let descriptor = try #require(files.operations.first { $0.id.name == "read" })
        let stranded = ActionRequest.intake(
            read,
            operation: descriptor,
            assessment: try Policy(yaml: "version: 1\n").assess(read, operation: descriptor),
            now: Date()
        )
        #expect(try await store.create(stranded).state == .autoApproved)
        let services = (0..<3).map { _ in
            ExecutorService(store: store, executor: executor, logger: Logger(label: "test"))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services { group.addTask { try await service.drain() } }
            try await group.waitForAll()
        }
        #expect(try await store.request(id: request.id)?.state == .executed)
        #expect(try String(contentsOf: directory.appending(path: "log.txt"), encoding: .utf8) == "once\n")
        let drained = try await store.request(id: stranded.id)
        #expect(drained?.state == .executed, "\(drained?.state as Any) \(drained?.failure ?? "")")
    }
}
