import Countersign
import CountersignServer
import Logging
import Synchronization
import Testing

@Suite struct RedactingLogHandlerTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
    }

    @Test("keys, tokens, bearer credentials and secret-named metadata never reach the log")
    func redacts() {
        let sink = Lines()
        var logger = Logger(label: "test") { label in
            RedactingLogHandler(label: label) { line in sink.lines.withLock { $0.append(line) } }
        }
        logger.logLevel = .debug
        let key = APIKey.generate().secret.reveal()
        let token = APIKey.generate(.personal).secret.reveal()
        logger.info(
            "agent sent \(key)",
            metadata: [
                "password": "hunter2-canary", "header": "Authorization: Bearer abc.def-canary",
                "nested": ["token": "nested-canary", "ok": "visible"], "list": [.string(token)],
            ]
        )
        let text = sink.lines.withLock { $0.joined(separator: "\n") }
        for secret in [
            String(key.suffix(64)), String(token.suffix(64)), "hunter2-canary", "abc.def-canary", "nested-canary",
        ] {
            #expect(!text.contains(secret), "\(secret) leaked: \(text)")
        }
        #expect(text.contains(String(key.prefix(20))))
        #expect(text.contains("visible"))
    }
}
