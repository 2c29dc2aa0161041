import Foundation

/// A clock that moves only when the test says so: the daemon's timers (the stop's
/// deadlines, the supervisor's ticks) take it the way the protocol code takes its injected
/// clock, so a test decides exactly when a deadline is reached.
public final class TestClock: Clock, @unchecked Sendable {
    public struct Instant: InstantProtocol, Hashable {
        /// Time since the clock was made.
        public var offset: Swift.Duration
        public func advanced(by duration: Swift.Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Swift.Duration { other.offset - offset }
        public static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private struct Sleeper {
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    // Everything below is touched only under `lock`.
    private let lock = NSLock()
    private var current = Instant(offset: .zero)
    private var sleepers: [UInt64: Sleeper] = [:]
    /// Sleeps cancelled before they were registered.
    private var cancelled: Set<UInt64> = []
    private var nextID: UInt64 = 0
    /// Tests waiting for a number of sleepers.
    private var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []

    public init() {}

    public var now: Instant { locked { current } }
    public var minimumResolution: Swift.Duration { .nanoseconds(1) }

    /// The tasks sleeping on this clock now.
    public var sleeperCount: Int { locked { sleepers.count } }

    public func sleep(until deadline: Instant, tolerance: Swift.Duration? = nil) async throws {
        let id = locked { () -> UInt64 in
            nextID += 1
            return nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (outcome, ready) = locked { () -> (Result<Void, any Error>?, [CheckedContinuation<Void, Never>]) in
                    if cancelled.remove(id) != nil { return (.failure(CancellationError()), []) }
                    if deadline <= current { return (.success(()), []) }
                    sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return (nil, takeReadyWatchers())
                }
                if let outcome { continuation.resume(with: outcome) }
                ready.forEach { $0.resume() }
            }
        } onCancel: {
            let sleeper = locked { () -> Sleeper? in
                if let sleeper = sleepers.removeValue(forKey: id) { return sleeper }
                cancelled.insert(id)
                return nil
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock on; every sleep whose deadline is reached is woken (earliest first)
    /// before this returns.
    public func advance(by duration: Swift.Duration) {
        let due = locked { () -> [Sleeper] in
            current = current.advanced(by: duration)
            let due = sleepers.filter { $0.value.deadline <= current }
            for id in due.keys { sleepers[id] = nil }
            return due.values.sorted { $0.deadline < $1.deadline }
        }
        due.forEach { $0.continuation.resume() }
    }

    /// Returns once at least `count` tasks sleep on this clock, so a test moves it only
    /// when the timers it drives are waiting on it.
    public func sleepers(atLeast count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = locked { () -> Bool in
                if sleepers.count >= count { return true }
                watchers.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Under `lock`: the watchers whose count is reached, removed.
    private func takeReadyWatchers() -> [CheckedContinuation<Void, Never>] {
        let ready = watchers.filter { $0.count <= sleepers.count }
        watchers.removeAll { $0.count <= sleepers.count }
        return ready.map(\.continuation)
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
