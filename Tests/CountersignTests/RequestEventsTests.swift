import Countersign
import Testing

@Suite("Request events")
struct RequestEventsTests {
    @Test("a waiter is woken by a notification for its request, not by another's")
    func wakes() async throws {
        let events = RequestEvents()
        let clock = ContinuousClock()
        let (registered, signal) = AsyncStream.makeStream(of: Void.self)
        let started = clock.now
        async let waited: Void = events.wait(for: "r1", timeout: .seconds(30)) {
            signal.yield()
            return false
        }
        for await _ in registered { break }
        events.notify("r2")
        events.notify("r1")
        await waited
        #expect(clock.now - started < .seconds(10))
    }

    @Test("a settled request is not waited for, and an unnotified wait ends at its timeout")
    func settledAndTimeout() async {
        let events = RequestEvents()
        let clock = ContinuousClock()
        var started = clock.now
        await events.wait(for: "r", timeout: .seconds(30)) { true }
        #expect(clock.now - started < .seconds(5))
        started = clock.now
        await events.wait(for: "r", timeout: .milliseconds(200)) { false }
        #expect(clock.now - started >= .milliseconds(200))
    }
}
