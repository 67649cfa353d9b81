import Countersign
import CountersignConnectors
import CountersignServer
import CountersignStore
import Foundation
import Logging
import Testing

@Suite("Executor service")
struct ExecutorServiceTests {
    @Test("approved requests are executed once, whoever drains them")
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
        let services = (0..<3).map { _ in
            ExecutorService(store: store, executor: executor, logger: Logger(label: "test"))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services { group.addTask { try await service.drain() } }
            try await group.waitForAll()
        }
        #expect(try await store.request(id: request.id)?.state == .executed)
        #expect(try String(contentsOf: directory.appending(path: "log.txt"), encoding: .utf8) == "once\n")
    }
}
