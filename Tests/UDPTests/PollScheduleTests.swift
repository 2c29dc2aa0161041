import Testing
import UDP

@Suite("Poll schedule")
struct PollScheduleTests {
    static let window: UInt64 = 30_000

    /// The loop's side, simulated: a busy turn ended at `last`; the next work arrives `gap`
    /// ns later. It is found by polling if the schedule still polls then; otherwise the loop
    /// slept from the window's end (or from `last`, if it opened none) until it came.
    /// Returns whether a window followed the turn at `last`.
    @discardableResult
    static func nextTurn(_ s: inout PollSchedule, last: UInt64, gap: UInt64) -> Bool {
        let polledAfter = s.shouldPoll(now: last)
        let arrival = last + gap
        if polledAfter && s.shouldPoll(now: arrival) {
            s.handledWork(now: arrival, after: .polled)
        } else {
            let asleepFrom = polledAfter ? last + s.window : last
            s.handledWork(now: arrival, after: .slept(nanoseconds: arrival - asleepFrom))
        }
        return polledAfter
    }

    /// Runs turns with these gaps; returns the 1-based turns after which a window opened.
    static func run(_ s: inout PollSchedule, from start: inout UInt64, gaps: [UInt64]) -> [Int] {
        var opened: [Int] = []
        for (i, gap) in gaps.enumerated() {
            let before = s.windowsOpened
            nextTurn(&s, last: start, gap: gap)
            start += gap
            if s.windowsOpened > before { opened.append(i + 1) }
        }
        return opened
    }

    @Test("windows that find work keep the loop polling after every busy turn")
    func windowsThatPay() {
        var s = PollSchedule(window: Self.window)
        var now: UInt64 = 0
        // Each next datagram 5 µs after the last turn, inside the window.
        let opened = Self.run(&s, from: &now, gaps: Array(repeating: 5_000, count: 1000))
        #expect(opened.count == 1000)
        #expect(s.windowsThatPaid == 999)  // the first turn came after a sleep
    }

    @Test("turns a round trip apart: once most of the last 8 were far, each empty window doubles the busy turns before the next, up to 255")
    func backoff() {
        var s = PollSchedule(window: Self.window)
        var now: UInt64 = 0
        // Each next datagram 200 µs after the last turn: every window runs out.
        let opened = Self.run(&s, from: &now, gaps: Array(repeating: 200_000, count: 800))
        // A window after each of the first 4 turns (the last 8 turns still count as near),
        // then gaps of 1, 3, 7, … 255 turns.
        #expect(opened == [1, 2, 3, 4, 6, 10, 18, 34, 66, 130, 258, 514, 770])
        #expect(s.windowsThatPaid == 0)
    }

    @Test("near turns bring polling back: work found by polling, or a few µs after the loop fell asleep")
    func recovery() {
        for gap: UInt64 in [5_000, 10_000] {
            var s = PollSchedule(window: Self.window)
            var now: UInt64 = 0
            _ = Self.run(&s, from: &now, gaps: Array(repeating: 200_000, count: 300))
            // Backed off. A burst: each next datagram `gap` after the last turn. 5 µs: the
            // next probe window finds it; 10 µs: the loop, not polling, wakes 10 µs after it
            // fell asleep. At most 4 near turns later, a window follows every turn.
            let opened = Self.run(&s, from: &now, gaps: Array(repeating: gap, count: 300))
            #expect(opened.count >= 40, "gap \(gap)")
            #expect(Array(opened.suffix(36)) == Array(265...300), "gap \(gap)")
        }
    }

    @Test("a bench under load: some windows run out, the work comes µs later or a round trip away, and polling goes on")
    func someEmpty() {
        var s = PollSchedule(window: Self.window)
        var now: UInt64 = 0
        // In each 8 turns: 3 a round trip away (far), 2 just after the window ran out
        // (40 µs: the loop wakes 10 µs after it fell asleep, near), 3 inside the window.
        let pattern: [UInt64] = [200_000, 40_000, 200_000, 5_000, 40_000, 200_000, 5_000, 5_000]
        let gaps = (0..<100).flatMap { _ in pattern }
        let opened = Self.run(&s, from: &now, gaps: gaps)
        #expect(opened.count == 800)
        #expect(s.windowsThatPaid == 300)
    }

    @Test("a zero window never polls")
    func never() {
        var s = PollSchedule(window: 0)
        var now: UInt64 = 0
        let opened = Self.run(&s, from: &now, gaps: [5, 5, 200_000, 5])
        #expect(opened.isEmpty)
    }
}
