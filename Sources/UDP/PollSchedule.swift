// When a UDPEventLoop polls rather than sleeps, learnt from how soon work came.
//
// Polling after a busy turn pays when the next datagram is microseconds away: a bench of
// lockstep clients on the same machine, or many at once. It is pure cost when the next one
// is a network round trip away: a PC's ACK over a real LAN comes 100 µs or more after its
// DATA left, so every window ran out empty and each packet paid the whole window in CPU (4
// lockstep transfers over a link of 0.1 ms each way: 19-21 s of server CPU per GB against
// tftpd-hpa's 15).
//
// So each busy turn is marked near or far: near if its work was found by polling, or came
// within one window's time after the loop went to sleep; far otherwise. While at least 4 of
// the last 8 turns were near, a window follows every busy turn. Otherwise each window that
// runs out before a far turn doubles how many busy turns go by before the next one (1, 3,
// 7, … up to 255); near turns that bring the count back to 4 reset that at once.
// - 32 lockstep clients on one machine: most windows pay, and the ACKs that miss one come
//   microseconds after it, so the polling goes on. (Counting only the windows, a schedule
//   backed off there and moved 98 MB/s where polling on moved 125: each sleep it added let
//   the loop fall into waking once per packet.)
// - PCs over a LAN: the turns are far, one window in 256 turns is left.
//
// Pure: the caller passes its clock's readings (nanoseconds) in.

public struct PollSchedule: Sendable {
    /// How the work of a busy turn was found.
    public enum Wait: Sendable, Equatable {
        /// By asking epoll without blocking, in a window.
        case polled
        /// After sleeping this long (from going to sleep to waking).
        case slept(nanoseconds: UInt64)
    }

    /// How long a window lasts, in nanoseconds (0: the loop never polls).
    public let window: UInt64
    /// The gap between two windows stops growing at 2^8 - 1 busy turns.
    public static let longestBackoff = 8

    /// Windows opened so far, and how many of them found work.
    public private(set) var windowsOpened: UInt64 = 0
    public private(set) var windowsThatPaid: UInt64 = 0

    /// The loop polls until then.
    private var until: UInt64 = 0
    /// A window was opened after the last busy turn (whether or not it has run out since).
    private var windowOpened = false
    /// Whether each of the last 8 busy turns was near (bit 0: the latest). Starts as if all
    /// were: a new loop polls.
    private var recent: UInt8 = 0xFF
    private var backoff = 0
    private var turnsToSkip = 0

    public init(window: UInt64) { self.window = window }

    /// Whether the loop should ask epoll without blocking now (else it sleeps). Called
    /// before each wait.
    public func shouldPoll(now: UInt64) -> Bool { now < until }

    /// After a turn that handled work, found as `wait` says.
    public mutating func handledWork(now: UInt64, after wait: Wait) {
        guard window > 0 else { return }
        let near: Bool
        switch wait {
        case .polled:  // only ever inside a window
            near = true
            windowsThatPaid &+= 1
        case .slept(let nanoseconds):
            near = nanoseconds <= window
        }
        let probed = windowOpened
        windowOpened = false
        recent = recent << 1 | (near ? 1 : 0)
        if recent.nonzeroBitCount >= 4 {
            backoff = 0
            turnsToSkip = 0
        } else if !near && probed {
            backoff = min(backoff + 1, Self.longestBackoff)
            turnsToSkip = (1 << backoff) - 1
        }
        if turnsToSkip > 0 {
            turnsToSkip -= 1
            until = 0
            return
        }
        until = now &+ window
        windowOpened = true
        windowsOpened &+= 1
    }
}
