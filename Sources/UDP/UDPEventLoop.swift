// Many sockets and their timers on one thread of their own, blocked in epoll_wait.
//
// Why not libdispatch: a read source per socket costs its single event thread several
// system calls and two thread hand-offs per datagram, and even one epoll set behind one
// read source (the earlier UDPSocketGroup) paid that hand-off whenever the set went
// quiet for a moment, and a DispatchSourceTimer re-arm through the same event thread. A
// lockstep TFTP transfer is one datagram in, one out: per packet this loop makes one
// epoll_wait, one recvmsg and one send, and nothing else, on a thread that sleeps in the
// kernel between packets. Timers are deadlines the loop turns into epoll_wait's timeout.
//
// Everything registered with a loop (sockets' handlers, timers' handlers, `execute`'d
// work) runs on its thread, one at a time, so what they touch needs no lock.
//
// Sleeping costs too: when a turn has handled packets and the next ones are only
// microseconds away (a bench of lockstep transfers, each client answering its DATA at
// once), blocking in epoll_wait means a context switch and a wake-up per packet or two.
// A loop made with `pollBeforeSleeping` keeps asking epoll without blocking for that long
// after each turn that had work, giving its CPU to any other runnable thread between two
// asks (sched_yield), and only then sleeps; idle, it sleeps at once. Where polling does not
// pay (the next datagram is a network round trip away), it backs off: PollSchedule.swift.

#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import Dispatch
import NetworkAddresses
import Synchronization

public final class UDPEventLoop: @unchecked Sendable {
    public typealias TimerID = UInt64

    private struct Member {
        var socket: UDPSocket
        var batch: Int
        var handler: (Datagram) -> Void
    }

    private struct Timer {
        /// Uptime nanoseconds (DispatchTime's clock); nil while not armed.
        var deadline: UInt64?
        var handler: () -> Void
    }

    private let epollFD: Int32
    /// An eventfd: `execute` writes it to wake the loop for queued work.
    private let wakeFD: Int32
    private let pending = Mutex<[@Sendable () -> Void]>([])
    private let label: String
    private let bufferSize: Int
    /// How long to keep polling without blocking after a turn that had work (0: never).
    private let pollBeforeSleepingNanoseconds: UInt64
    /// The schedule's window counts, as of the loop's last sleep (for tests and diagnostics).
    private let publishedWindows = Mutex<(opened: UInt64, paid: UInt64)>((0, 0))
    // Touched only on the loop's thread.
    private var members: [Int32: Member] = [:]
    private var timers: [TimerID: Timer] = [:]
    private var nextTimerID: TimerID = 1
    /// No armed timer is due before this (a lower bound: a cancelled timer may leave it early).
    private var earliestDeadline = UInt64.max
    private var stopping = false
    private var thread = pthread_t()

    /// Starts the loop's thread. `bufferSize` is the largest datagram delivered whole;
    /// `pollBeforeSleeping`: how long the loop keeps polling without blocking after a turn
    /// that had work, before it sleeps (see the top of this file).
    public init(label: String, bufferSize: Int = 2048, pollBeforeSleeping: Duration = .zero) throws(UDPError) {
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw UDPError("epoll_create1") }
        let wake = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        guard wake >= 0 else { Glibc.close(epoll); throw UDPError("eventfd") }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wake
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, wake, &event) == 0 else {
            Glibc.close(epoll); Glibc.close(wake)
            throw UDPError("epoll_ctl")
        }
        epollFD = epoll
        wakeFD = wake
        self.label = label
        self.bufferSize = bufferSize
        pollBeforeSleepingNanoseconds = UInt64(max(0, pollBeforeSleeping.wholeNanoseconds))
        // The thread holds the loop until `stop` ends it.
        let retained = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { argument in
            let loop = Unmanaged<UDPEventLoop>.fromOpaque(argument!).takeRetainedValue()
            loop.run()
            return nil
        }, retained)
        guard created == 0 else {
            Unmanaged<UDPEventLoop>.fromOpaque(retained).release()
            Glibc.close(epoll); Glibc.close(wake)
            throw UDPError("pthread_create")
        }
        pthread_detach(thread)
    }

    /// Whether the caller runs on this loop's thread.
    public var isCurrent: Bool { pthread_equal(pthread_self(), thread) != 0 }

    /// Runs `work` on the loop's thread, after what is already queued.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        let wasEmpty = pending.withLock { queue in
            let empty = queue.isEmpty
            queue.append(work)
            return empty
        }
        // One wake-up per batch: the loop takes the whole queue after reading the eventfd.
        if wasEmpty {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    /// Runs `work` on the loop's thread and waits for it (inline when already there).
    public func sync<T: Sendable>(_ work: @escaping @Sendable () -> T) -> T {
        if isCurrent { return work() }
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<T?>(nil)
        execute {
            let value = work()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }

    /// Ends the thread once the work queued before has run; the loop's sockets are left
    /// to their owners (not closed).
    public func stop() {
        execute { [self] in stopping = true }
    }

    // MARK: on the loop's thread

    /// Delivers `socket`'s datagrams to `handler`, at most `batch` per turn of the loop (1
    /// for a socket with one datagram in flight, more for one many clients send to). Call
    /// on the loop.
    public func add(_ socket: UDPSocket, batch: Int = 1, handler: @escaping (Datagram) -> Void) throws(UDPError) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = socket.fd
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, socket.fd, &event) == 0 else { throw UDPError("epoll_ctl") }
        members[socket.fd] = Member(socket: socket, batch: max(1, batch), handler: handler)
    }

    /// Stops delivering `socket`'s datagrams; the caller still owns and closes it. Call on the loop.
    public func remove(_ socket: UDPSocket) {
        guard members.removeValue(forKey: socket.fd) != nil else { return }
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, socket.fd, &event)
    }

    /// Sockets being read. Call on the loop.
    public var count: Int { members.count }

    /// A timer that runs `handler` on the loop once per `schedule`. Call on the loop.
    public func makeTimer(_ handler: @escaping () -> Void) -> TimerID {
        let id = nextTimerID
        nextTimerID += 1
        timers[id] = Timer(deadline: nil, handler: handler)
        return id
    }

    /// Arms (or moves) `timer` to fire at `deadline`, in DispatchTime uptime nanoseconds. Call on the loop.
    public func schedule(_ timer: TimerID, at deadline: UInt64) {
        guard timers[timer] != nil else { return }
        timers[timer]!.deadline = deadline
        earliestDeadline = min(earliestDeadline, deadline)
    }

    /// Forgets `timer`; it never fires again. Call on the loop.
    public func removeTimer(_ timer: TimerID) {
        timers[timer] = nil
    }

    private func run() {
        // The thread's name, for top -H and perf (pthread_setname_np is not visible to Swift).
        let comm = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        if comm >= 0 {
            let name = Array(label.utf8.prefix(15))
            _ = name.withUnsafeBytes { write(comm, $0.baseAddress, $0.count) }
            Glibc.close(comm)
        }
        let buffer = ReceiveBuffer(size: bufferSize)
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        // One clock read per turn, after the handlers: it decides which timers are due and
        // then how long the next wait may be (the timers' handlers take microseconds, and a
        // wait a little long only wakes a little late).
        var now = DispatchTime.now().uptimeNanoseconds
        // When this loop polls rather than sleeps: after busy turns, while polling pays.
        var schedule = PollSchedule(window: pollBeforeSleepingNanoseconds)
        var publishedOpened: UInt64 = 0
        while !stopping {
            let polling = schedule.shouldPoll(now: now)
            if !polling && schedule.windowsOpened != publishedOpened {
                // About to sleep: publish the counts, at most once per window opened.
                publishedOpened = schedule.windowsOpened
                let counts = (opened: schedule.windowsOpened, paid: schedule.windowsThatPaid)
                publishedWindows.withLock { $0 = counts }
            }
            let timeout = polling ? 0 : timeoutMilliseconds(now: now)
            let ready = events.withUnsafeMutableBufferPointer {
                epoll_wait(epollFD, $0.baseAddress, Int32($0.count), timeout)
            }
            if ready < 0 && errno != EINTR { break }
            if ready <= 0 && polling {
                // Nothing yet: let a runnable thread on this CPU (the client, when both share
                // it) have it, then ask again. Due timers are checked below as in any turn.
                sched_yield()
                now = DispatchTime.now().uptimeNanoseconds
                fireDueTimers(now: now)
                continue
            }
            // How soon the work came, for the schedule: `now` is when the loop went to sleep.
            let wait: PollSchedule.Wait = polling || ready <= 0 || pollBeforeSleepingNanoseconds == 0
                ? .polled : .slept(nanoseconds: DispatchTime.now().uptimeNanoseconds &- now)
            for i in 0..<Int(max(0, ready)) {
                let fd = events[i].data.fd
                if fd == wakeFD {
                    runPending()
                    continue
                }
                // Up to `batch` datagrams per ready socket per turn: a lockstep transfer has
                // one ACK in flight, so a second read would mostly be an empty recvmsg (the
                // set is level-triggered: whatever is left is reported again). A handler
                // may have removed a socket that is later in this batch, or this one.
                guard let member = members[fd] else { continue }
                for _ in 0..<member.batch {
                    guard let datagram = UDPSocket.receive(fd: fd, buffer: buffer) else { break }
                    member.handler(datagram)
                    if member.batch > 1 && members[fd] == nil { break }
                }
            }
            now = DispatchTime.now().uptimeNanoseconds
            if ready > 0 { schedule.handledWork(now: now, after: wait) }
            fireDueTimers(now: now)
        }
        members = [:]
        timers = [:]
        Glibc.close(epollFD)
        Glibc.close(wakeFD)
    }

    /// Poll windows the loop has opened since it started, and how many of them found work,
    /// as of its last sleep.
    public var pollWindows: (opened: UInt64, paid: UInt64) { publishedWindows.withLock { $0 } }

    private func runPending() {
        // Read the eventfd before taking the queue, so work queued after the take wakes us again.
        var count: UInt64 = 0
        _ = read(wakeFD, &count, 8)
        let work = pending.withLock { queue in
            let taken = queue
            queue = []
            return taken
        }
        for item in work { item() }
    }

    private func timeoutMilliseconds(now: UInt64) -> Int32 {
        guard earliestDeadline != .max else { return -1 }
        guard earliestDeadline > now else { return 0 }
        // Rounded up: waking a little late is fine, waking early costs a turn for nothing.
        return Int32(min((earliestDeadline - now + 999_999) / 1_000_000, 60_000))
    }

    private func fireDueTimers(now: UInt64) {
        guard now >= earliestDeadline else { return }
        var due: [TimerID] = []
        var earliest = UInt64.max
        for (id, timer) in timers {
            guard let deadline = timer.deadline else { continue }
            if deadline <= now { due.append(id) } else { earliest = min(earliest, deadline) }
        }
        earliestDeadline = earliest
        for id in due {
            // A handler may have removed or re-armed another due timer.
            guard let timer = timers[id], let deadline = timer.deadline, deadline <= now else { continue }
            timers[id]!.deadline = nil
            timer.handler()
        }
    }
}
