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

    @Test("cancelling a waiting task ends its wait at once and leaves nothing behind")
    func cancellation() async {
        let events = RequestEvents()
        let clock = ContinuousClock()
        let started = clock.now
        let task = Task { await events.wait(for: "r", timeout: .seconds(30)) { false } }
        while events.waiterCount(for: "r") == 0 { await Task.yield() }
        task.cancel()
        await task.value
        #expect(clock.now - started < .seconds(10))
        #expect(events.waiterCount(for: "r") == 0)
    }

    @Test("thousands of waiters are all woken by one notification; any-request waiters by every one")
    func manyWaiters() async {
        let events = RequestEvents()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<5000 {
                group.addTask { await events.wait(for: "r", timeout: .seconds(60)) { false } }
            }
            group.addTask { await events.wait(for: RequestEvents.anyRequest, timeout: .seconds(60)) { false } }
            while events.waiterCount(for: "r") < 5000 || events.waiterCount(for: RequestEvents.anyRequest) < 1 {
                await Task.yield()
            }
            events.notify("r")
            await group.waitForAll()
        }
        #expect(events.waiterCount(for: "r") == 0)
    }
}
